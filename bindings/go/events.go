package peerwire

/*
#include <stdlib.h>
#include "pwshim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Payloads up to slabMax bytes are carved out of shared slabs of slabSize bytes: one Go
// allocation for hundreds of small messages. Larger payloads get their own, so a retained
// small message never pins a large buffer, and a retained small message pins at most one
// slab. slabSize is a size class the allocator serves from its per-P caches (a "large" object
// would come from the page heap, often as fresh pages the kernel has to fault in and zero).
const (
	slabMax  = 256
	slabSize = 16 << 10
)

// run is the event goroutine. One cgo call releases the previous batch and takes the next
// (up to BatchSize events); the events are then delivered in order straight from the
// library's array, each payload copied into Go memory. It exits when Close is called or the
// library reports the transport closed, and closes the Consume() channel on its way out.
func (t *transport) run(h C.pw_transport_h, onPeer func(Peer) error, onDisconnect func(Peer, Reason)) {
	defer close(t.loopDone)
	defer close(t.rpcch)
	n := t.batchSize
	evs := (*C.peerwire_event)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.peerwire_event{}))))
	if evs == nil {
		return
	}
	held := 0 // events of the last batch, released by the next call
	defer func() {
		C.peerwire_events_release(evs, C.size_t(held))
		C.free(unsafe.Pointer(evs))
	}()
	view := unsafe.Slice(evs, n)
	d := dispatcher{t: t, onPeer: onPeer, onDisconnect: onDisconnect}
	for {
		select {
		case <-t.done:
			return
		default:
		}
		r := C.pw_recv_batch(h, evs, C.size_t(n), recvPollMs, C.size_t(held))
		held = 0
		switch Status(r.rc) {
		case StatusOK:
		case StatusTimedOut, StatusEmpty:
			d.idle()
			continue
		default: // StatusClosed, or an error: the transport is gone
			_ = ret("recv", r)
			return
		}
		held = int(r.val)
		if !d.handle(view[:held]) {
			return
		}
	}
}

type dispatcher struct {
	t            *transport
	onPeer       func(Peer) error
	onDisconnect func(Peer, Reason)
	lastID       uint64
	last         *TCPPeer

	slab []byte // the unused rest of the current payload slab
}

// handle delivers a batch in order, straight from the library's event array (released by
// the next receive): each message's payload is copied into a shared slab and its RPC sent to
// the Consume() channel with no timer and, while the channel has room, no blocking select.
// false means stop (Close was called or the transport closed).
func (d *dispatcher) handle(evs []C.peerwire_event) bool {
	ch := d.t.rpcch
	slab := d.slab
	for i := range evs {
		ev := &evs[i]
		if ev.kind != C.PEERWIRE_EVENT_MESSAGE {
			if !d.control(ev) {
				d.slab = slab
				return false
			}
			continue
		}
		id := uint64(ev.peer)
		p := d.last
		if id != d.lastID || p == nil {
			p = d.peer(id)
		}
		size := int(ev.len)
		var payload []byte
		switch {
		case size == 0:
			payload = []byte{} // not nil; no allocation
		case size <= slabMax:
			if size > len(slab) {
				slab = make([]byte, slabSize)
			}
			payload = slab[:size:size]
			slab = slab[size:]
			copy(payload, unsafe.Slice((*byte)(unsafe.Pointer(ev.data)), size))
		default:
			payload = make([]byte, size)
			copy(payload, unsafe.Slice((*byte)(unsafe.Pointer(ev.data)), size))
		}
		rpc := RPC{From: p.addr, Payload: payload, Peer: p}
		select {
		case ch <- rpc:
			continue
		default:
		}
		select {
		case ch <- rpc:
		case <-d.t.done:
			d.slab = slab
			return false
		}
	}
	d.slab = slab
	return true
}

// control delivers one non-message event.
func (d *dispatcher) control(ev *C.peerwire_event) bool {
	t := d.t
	id := uint64(ev.peer)
	switch ev.kind {
	case C.PEERWIRE_EVENT_PEER_CONNECTED:
		addr := ""
		if ev.addr != nil {
			addr = C.GoString(ev.addr)
		}
		p := d.connected(id, addr, bool(ev.outbound))
		if d.onPeer != nil {
			var err error
			if !t.callUser(func() { err = d.onPeer(p) }, &err) {
				return false
			}
			if err != nil {
				_ = p.Close()
			}
		}
	case C.PEERWIRE_EVENT_PEER_DISCONNECTED:
		p := d.peer(id)
		t.forget(id, p)
		d.last, d.lastID = nil, 0
		if d.onDisconnect != nil {
			reason := Reason(ev.reason)
			if !t.callUser(func() { d.onDisconnect(p, reason) }, nil) {
				return false
			}
		}
	case C.PEERWIRE_EVENT_HANDSHAKE_FAILED:
		if id != 0 {
			t.forget(id, nil)
		}
	case C.PEERWIRE_EVENT_TRANSPORT_CLOSED:
		return false
	}
	return true
}

// idle runs when a receive timed out: nothing is pending, so drop what only speeds up the
// next message (the peer cache, the slab's unused rest) rather than keep it alive.
func (d *dispatcher) idle() {
	d.last, d.lastID = nil, 0
	d.slab = nil
}

// peer finds the *TCPPeer for an event, creating it if the library knows a peer the
// binding has not seen yet.
func (d *dispatcher) peer(id uint64) *TCPPeer {
	if id == d.lastID && d.last != nil {
		return d.last
	}
	t := d.t
	t.peersMu.Lock()
	p := t.peers[id]
	t.peersMu.Unlock()
	if p == nil {
		addr := ""
		outbound := false
		if h := t.cHandle(); h != 0 {
			if info, err := t.peerInfo(h, id); err == nil {
				addr, outbound = info.Addr, info.Outbound
			}
		}
		p = newPeer(t, id, addr, outbound)
		t.peersMu.Lock()
		if q := t.peers[id]; q != nil {
			p = q
		} else if !t.closed.Load() {
			t.peers[id] = p
		}
		t.peersMu.Unlock()
	}
	d.lastID, d.last = id, p
	return p
}

// connected registers the peer of a PEER_CONNECTED event (the handshake callback may have
// registered it already: then that object is kept).
func (d *dispatcher) connected(id uint64, addr string, outbound bool) *TCPPeer {
	t := d.t
	t.peersMu.Lock()
	p := t.peers[id]
	if p == nil {
		p = newPeer(t, id, addr, outbound)
		if !t.closed.Load() {
			t.peers[id] = p
		}
	}
	t.peersMu.Unlock()
	d.lastID, d.last = id, p
	return p
}

// callUser runs a user callback (OnPeer, OnDisconnect) on its own goroutine and waits for
// it, so events stay in order, yet a callback that calls Close cannot deadlock Close's wait
// for this goroutine. A panic becomes *errp. It returns false when Close was called.
func (t *transport) callUser(fn func(), errp *error) bool {
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer func() {
			if v := recover(); v != nil && errp != nil {
				*errp = fmt.Errorf("peerwire: callback panicked: %v", v)
			}
		}()
		fn()
	}()
	select {
	case <-finished:
		return true
	case <-t.done:
		return false
	}
}
