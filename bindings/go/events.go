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

// item is one event copied out of the library, so the batch can be released before
// anything is delivered.
type item struct {
	kind     int32
	reason   int32
	outbound bool
	id       uint64
	payload  []byte
	addr     string
}

// Payloads up to this size share one allocation per batch; larger ones get their own, so a
// retained small message never pins a large buffer.
const slabMax = 256

// run is the event goroutine: one cgo call takes a batch of events, one call releases it,
// then the events are delivered in order. It exits when Close is called or the library
// reports the transport closed, and closes the Consume() channel on its way out.
func (t *transport) run(h C.pw_transport_h, onPeer func(Peer) error, onDisconnect func(Peer, Reason)) {
	defer close(t.loopDone)
	defer close(t.rpcch)
	n := t.batchSize
	evs := (*C.peerwire_event)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.peerwire_event{}))))
	if evs == nil {
		return
	}
	defer C.free(unsafe.Pointer(evs))
	view := unsafe.Slice(evs, n)
	items := make([]item, 0, n)
	d := dispatcher{t: t, onPeer: onPeer, onDisconnect: onDisconnect}
	for {
		select {
		case <-t.done:
			return
		default:
		}
		r := C.pw_recv_batch(h, evs, C.size_t(n), recvPollMs)
		switch Status(r.rc) {
		case StatusOK:
		case StatusTimedOut, StatusEmpty:
			continue
		default: // StatusClosed, or an error: the transport is gone
			_ = ret("recv", r)
			return
		}
		got := int(r.val)
		items = copyEvents(view[:got], items[:0])
		C.peerwire_events_release(evs, C.size_t(got))
		ok := d.deliver(items)
		clear(items) // drop payload references early
		if !ok {
			return
		}
	}
}

func copyEvents(evs []C.peerwire_event, items []item) []item {
	total := 0
	for i := range evs {
		if evs[i].kind == C.PEERWIRE_EVENT_MESSAGE && evs[i].len <= slabMax {
			total += int(evs[i].len)
		}
	}
	var slab []byte
	if total > 0 {
		slab = make([]byte, total)
	}
	for i := range evs {
		ev := &evs[i]
		it := item{kind: int32(ev.kind), reason: int32(ev.reason), id: uint64(ev.peer)}
		switch ev.kind {
		case C.PEERWIRE_EVENT_MESSAGE:
			size := int(ev.len)
			var src []byte
			if size > 0 {
				src = unsafe.Slice((*byte)(unsafe.Pointer(ev.data)), size)
			}
			if size <= slabMax {
				it.payload = slab[:size:size]
				slab = slab[size:]
			} else {
				it.payload = make([]byte, size)
			}
			copy(it.payload, src)
			if it.payload == nil {
				it.payload = []byte{}
			}
		case C.PEERWIRE_EVENT_PEER_CONNECTED, C.PEERWIRE_EVENT_HANDSHAKE_FAILED:
			if ev.addr != nil {
				it.addr = C.GoString(ev.addr)
			}
			it.outbound = bool(ev.outbound)
		}
		items = append(items, it)
	}
	return items
}

type dispatcher struct {
	t            *transport
	onPeer       func(Peer) error
	onDisconnect func(Peer, Reason)
	lastID       uint64
	last         *TCPPeer
}

// deliver hands events to Go in order; false means stop (Close was called or the transport
// closed).
func (d *dispatcher) deliver(items []item) bool {
	t := d.t
	for i := range items {
		it := &items[i]
		switch it.kind {
		case C.PEERWIRE_EVENT_MESSAGE:
			p := d.peer(it.id)
			rpc := RPC{From: p.addr, Payload: it.payload, Peer: p}
			select {
			case t.rpcch <- rpc:
			default:
				select {
				case t.rpcch <- rpc:
				case <-t.done:
					return false
				}
			}
		case C.PEERWIRE_EVENT_PEER_CONNECTED:
			p := d.connected(it)
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
			p := d.peer(it.id)
			t.forget(it.id, p)
			if d.last == p {
				d.last, d.lastID = nil, 0
			}
			if d.onDisconnect != nil {
				reason := Reason(it.reason)
				if !t.callUser(func() { d.onDisconnect(p, reason) }, nil) {
					return false
				}
			}
		case C.PEERWIRE_EVENT_HANDSHAKE_FAILED:
			if it.id != 0 {
				t.forget(it.id, nil)
			}
		case C.PEERWIRE_EVENT_TRANSPORT_CLOSED:
			return false
		}
	}
	return true
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

func (d *dispatcher) connected(it *item) *TCPPeer {
	t := d.t
	t.peersMu.Lock()
	p := t.peers[it.id]
	if p == nil {
		p = newPeer(t, it.id, it.addr, it.outbound)
		if !t.closed.Load() {
			t.peers[it.id] = p
		}
	}
	t.peersMu.Unlock()
	d.lastID, d.last = it.id, p
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
