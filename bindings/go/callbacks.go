package peerwire

/*
#include <stdint.h>
#include <peerwire.h>
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync/atomic"
	"time"
)

// hsConfig is what the library's handshake callback carries, through a cgo.Handle.
type hsConfig struct {
	t       *transport
	fn      HandshakeFunc
	timeout time.Duration // the handshake deadline
}

// peerwireGoHandshake is the handshake callback. It runs on a library blocking-pool thread;
// a panic is recovered and rejects the connection (a panic must never unwind into C).
//
//export peerwireGoHandshake
func peerwireGoHandshake(user C.uintptr_t, hs C.uintptr_t) (rc C.int32_t) {
	rc = 1
	defer func() {
		if v := recover(); v != nil {
			rc = 1
		}
	}()
	cfg := cgo.Handle(user).Value().(*hsConfig)
	id, addr, outbound, err := handshakeInfo(uintptr(hs))
	if err != nil {
		return 1
	}
	p := newPeer(cfg.t, id, addr, outbound)
	p.hs = uintptr(hs)
	p.inHandshake.Store(true)
	start := time.Now()
	err = runHandshake(cfg.fn, p)
	p.hsMu.Lock()
	p.hs = 0
	p.inHandshake.Store(false)
	p.hsMu.Unlock()
	if err != nil || p.hsClosed.Load() {
		return 1
	}
	if time.Since(start) >= cfg.timeout {
		// The library has given up on this connection already (and reported it); do not
		// register a peer that will never connect.
		return 1
	}
	// Register the peer now, so OnPeer and RPC.Peer see the object the handshake saw. If
	// the connection still fails (the remote's handshake rejects), the HANDSHAKE_FAILED
	// event removes it.
	t := cfg.t
	t.peersMu.Lock()
	if !t.closed.Load() {
		t.peers[p.id] = p
	}
	t.peersMu.Unlock()
	return 0
}

func runHandshake(fn HandshakeFunc, p *TCPPeer) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("peerwire: HandshakeFunc panicked: %v", v)
		}
	}()
	return fn(p)
}

// peerwireGoRelease is the handshake callback's drop function: the library calls it exactly
// once, after the last handshake call.
//
//export peerwireGoRelease
func peerwireGoRelease(user C.uintptr_t) {
	cgo.Handle(user).Delete()
	liveHandles.Add(-1)
}

// liveHandles counts handshake handles the library has not released yet (for tests: the
// library must release each exactly once).
var liveHandles atomic.Int64
