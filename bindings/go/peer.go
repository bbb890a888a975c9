package peerwire

/*
#include "pwshim.h"
*/
import "C"

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// TCPPeer is the binding's Peer: a peer id of a transport plus what is known about it.
// There is one *TCPPeer per connection, shared by the HandshakeFunc, OnPeer, RPC.Peer,
// DialPeer and Peers.
type TCPPeer struct {
	t        *transport
	id       uint64
	addr     string
	outbound bool

	gone atomic.Bool // disconnected, or the transport closed

	// Handshake phase: hs is valid only while the HandshakeFunc runs.
	inHandshake atomic.Bool
	hsMu        sync.RWMutex
	hs          uintptr     // the library handshake handle (an id)
	hsClosed    atomic.Bool // Close was called during the handshake: reject

	readDeadline  atomic.Int64 // unix nanoseconds; 0: none
	writeDeadline atomic.Int64

	raddrOnce sync.Once
	raddr     net.Addr
}

var _ Peer = (*TCPPeer)(nil)

func newPeer(t *transport, id uint64, addr string, outbound bool) *TCPPeer {
	return &TCPPeer{t: t, id: id, addr: addr, outbound: outbound}
}

// ID returns the library's peer id.
func (p *TCPPeer) ID() uint64 { return p.id }

// Outbound is true when this side dialled the connection.
func (p *TCPPeer) Outbound() bool { return p.outbound }

// String returns the remote address.
func (p *TCPPeer) String() string { return p.addr }

// RemoteAddr returns the remote address (a *net.TCPAddr when the address parses).
func (p *TCPPeer) RemoteAddr() net.Addr {
	p.raddrOnce.Do(func() { p.raddr = parseAddr(p.addr) })
	return p.raddr
}

// LocalAddr returns the transport's bound address, or an unspecified address when the
// transport does not listen: the C API does not report a connection's own address.
func (p *TCPPeer) LocalAddr() net.Addr {
	if s := p.t.bound.Load(); s != nil {
		return parseAddr(*s)
	}
	return &net.TCPAddr{}
}

type textAddr string

func (a textAddr) Network() string { return "tcp" }
func (a textAddr) String() string  { return string(a) }

func parseAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return textAddr(s)
}

// Send sends one message to the peer. It waits for room in the peer's send queue as the
// SendTimeout option (or a write deadline) says, and fails with ErrTooLarge, ErrWouldBlock,
// ErrUnknownPeer (peer gone) or ErrClosed. During the handshake it writes raw bytes, like
// Write.
func (p *TCPPeer) Send(msg []byte) error {
	if p.inHandshake.Load() {
		if _, err := p.hsWrite(msg); err != nil {
			return err
		}
		return nil
	}
	const op = "send"
	t := p.t
	h, err := t.handle(op)
	if err != nil {
		return err
	}
	var r C.pw_ret
	if dl := p.writeDeadline.Load(); dl != 0 {
		left := time.Until(time.Unix(0, dl))
		ms := int64(0)
		if left > 0 {
			ms = durationMs(left)
		}
		r = C.pw_send_timeout(h, C.uint64_t(p.id), bytesPtr(msg), C.size_t(len(msg)), C.int32_t(ms))
	} else {
		r = C.pw_send(h, C.uint64_t(p.id), bytesPtr(msg), C.size_t(len(msg)))
	}
	if r.rc == C.PEERWIRE_OK {
		return nil
	}
	return t.fail(op, r)
}

// sendManyChunk bounds the scratch buffer SendMany packs messages into; a message this size
// or larger is sent on its own, without the extra copy.
const sendManyChunk = 256 << 10

var sendManyPool = sync.Pool{New: func() any { return new(sendManyBuf) }}

// sendManyBuf is SendMany's reusable scratch: the payloads back to back and their sizes,
// both plain data, so cgo may be handed pointers to them.
type sendManyBuf struct {
	data []byte
	lens []C.size_t
}

// SendMany sends msgs to the peer, in order, through peerwire_transport_send_batch: one cgo
// call, one library lock and one writer wake-up per 256 KiB of small messages (packed into a
// reused buffer) instead of one per message. It waits for room as Send does (SendTimeout, or
// the write deadline), each call's wait bounding a whole batch. It returns how many messages
// were sent, in order; on error the rest were not. A message over MaxFrame fails with
// ErrTooLarge after the messages before it were sent.
func (p *TCPPeer) SendMany(msgs [][]byte) (int, error) {
	if p.inHandshake.Load() || len(msgs) == 1 {
		for i, m := range msgs {
			if err := p.Send(m); err != nil {
				return i, err
			}
		}
		return len(msgs), nil
	}
	const op = "send"
	t := p.t
	h, err := t.handle(op)
	if err != nil {
		return 0, err
	}
	b := sendManyPool.Get().(*sendManyBuf)
	defer sendManyPool.Put(b)
	sent := 0
	for sent < len(msgs) {
		if len(msgs[sent]) >= sendManyChunk {
			if err := p.Send(msgs[sent]); err != nil {
				return sent, err
			}
			sent++
			continue
		}
		b.data, b.lens = b.data[:0], b.lens[:0]
		end := sent
		for end < len(msgs) && len(msgs[end]) < sendManyChunk && len(b.data)+len(msgs[end]) <= sendManyChunk {
			b.data = append(b.data, msgs[end]...)
			b.lens = append(b.lens, C.size_t(len(msgs[end])))
			end++
		}
		r := C.pw_send_batch(h, C.uint64_t(p.id), bytesPtr(b.data), unsafe.SliceData(b.lens),
			C.size_t(len(b.lens)), C.int32_t(p.sendWaitMs()))
		sent += int(r.val)
		if r.rc == C.PEERWIRE_OK {
			continue
		}
		err := t.fail(op, r)
		if isStatus(err, StatusErrTooLarge) && r.val == 0 {
			// The library refuses a batch holding an oversized message as a whole; send
			// the ones before it, then report it.
			for ; sent < end; sent++ {
				if err := p.Send(msgs[sent]); err != nil {
					return sent, err
				}
			}
			continue // one of them fails; if none does, carry on
		}
		return sent, err
	}
	return sent, nil
}

// sendWaitMs is how long a send may wait for room, as the library's timeout argument: the
// write deadline if one is set, else the SendTimeout option (-1: until room).
func (p *TCPPeer) sendWaitMs() int64 {
	if dl := p.writeDeadline.Load(); dl != 0 {
		left := time.Until(time.Unix(0, dl))
		if left <= 0 {
			return 0
		}
		return durationMs(left)
	}
	return int64(p.t.sendWaitMs)
}

// Write is Send during and after the handshake: raw bytes during it, one message after.
func (p *TCPPeer) Write(b []byte) (int, error) {
	if p.inHandshake.Load() {
		return p.hsWrite(b)
	}
	if err := p.Send(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Read reads raw bytes from the connection during the handshake, honouring the read
// deadline (and always the handshake's own deadline); io.EOF when the remote closed. It
// returns what is there, up to len(b): read exactly what the handshake needs (io.ReadFull
// with a sized buffer), or bytes of the first messages may be consumed. After the
// handshake it fails with ErrState: messages arrive through Consume().
func (p *TCPPeer) Read(b []byte) (int, error) {
	const op = "read"
	p.hsMu.RLock()
	defer p.hsMu.RUnlock()
	if p.hs == 0 {
		return 0, newError(op, StatusErrState, "Read works only inside the HandshakeFunc; messages arrive through Consume()")
	}
	if len(b) == 0 {
		return 0, nil
	}
	timeout := int64(-1)
	if dl := p.readDeadline.Load(); dl != 0 {
		left := time.Until(time.Unix(0, dl))
		if left <= 0 {
			return 0, &Error{Op: op, Status: StatusErrTimeout, Message: "read deadline exceeded"}
		}
		timeout = durationMs(left)
	}
	r := C.pw_hs_recv(C.pw_hs_h(p.hs), (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b)), C.int32_t(timeout))
	switch {
	case r.rc == C.PEERWIRE_OK && r.val == 0:
		return 0, io.EOF // the remote closed
	case r.rc == C.PEERWIRE_OK:
		return int(r.val), nil
	case Status(r.rc) == StatusTimedOut, Status(r.rc) == StatusErrTimeout:
		_ = ret(op, r)
		return 0, &Error{Op: op, Status: StatusErrTimeout, Message: "read deadline exceeded"}
	case r.rc > 0:
		return 0, io.EOF
	}
	return 0, ret(op, r)
}

func (p *TCPPeer) hsWrite(b []byte) (int, error) {
	const op = "write"
	p.hsMu.RLock()
	defer p.hsMu.RUnlock()
	if p.hs == 0 {
		// The handshake ended between the caller's check and now: a message, then.
		if err := p.Send(b); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	if err := ret(op, C.pw_hs_send(C.pw_hs_h(p.hs), bytesPtr(b), C.size_t(len(b)))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close disconnects the peer (the remote sees the connection close after queued messages
// were flushed by the library). Called during the handshake, it rejects the connection.
// Closing a peer that is already gone returns nil.
func (p *TCPPeer) Close() error {
	if p.inHandshake.Load() {
		p.hsClosed.Store(true)
		return nil
	}
	if p.gone.Load() {
		return nil
	}
	const op = "close"
	t := p.t
	h, err := t.handle(op)
	if err != nil {
		return nil // the transport closed every peer
	}
	err = t.fail(op, C.pw_disconnect(h, C.uint64_t(p.id)))
	p.gone.Store(true)
	if isStatus(err, StatusErrUnknownPeer) || isStatus(err, StatusErrClosed) {
		return nil
	}
	return err
}

func isStatus(err error, s Status) bool {
	e, ok := err.(*Error)
	return ok && e.Status == s
}

// Info returns the library's counters for this peer.
func (p *TCPPeer) Info() (PeerInfo, error) {
	h, err := p.t.handle("peer_info")
	if err != nil {
		return PeerInfo{}, err
	}
	return p.t.peerInfo(h, p.id)
}

// SetDeadline sets the read and write deadlines.
func (p *TCPPeer) SetDeadline(t time.Time) error {
	p.SetReadDeadline(t)
	p.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline bounds handshake reads (Read is only legal during the handshake).
func (p *TCPPeer) SetReadDeadline(t time.Time) error {
	p.readDeadline.Store(unixNano(t))
	return nil
}

// SetWriteDeadline bounds how long Send/Write wait for room in a full send queue; past
// it they fail with ErrWouldBlock. It does not apply to handshake writes.
func (p *TCPPeer) SetWriteDeadline(t time.Time) error {
	p.writeDeadline.Store(unixNano(t))
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
