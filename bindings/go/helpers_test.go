package peerwire

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// listener starts a transport on 127.0.0.1:0 and closes it when the test ends.
func listener(t *testing.T, opts TCPTransportOpts) *TCPTransport {
	t.Helper()
	if opts.ListenAddr == "" {
		opts.ListenAddr = "127.0.0.1:0"
	}
	tr, err := NewTCPTransport(opts)
	if err != nil {
		t.Fatalf("NewTCPTransport: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	if err := tr.ListenAndAccept(); err != nil {
		t.Fatalf("ListenAndAccept: %v", err)
	}
	return tr
}

// dialer makes a transport that only dials.
func dialer(t *testing.T, opts TCPTransportOpts) *TCPTransport {
	t.Helper()
	tr, err := NewTCPTransport(opts)
	if err != nil {
		t.Fatalf("NewTCPTransport: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func dial(t *testing.T, tr *TCPTransport, addr string) Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := tr.DialPeer(ctx, addr)
	if err != nil {
		t.Fatalf("DialPeer(%s): %v", addr, err)
	}
	return p
}

// recv waits for one message.
func recv(t *testing.T, tr *TCPTransport, within time.Duration) RPC {
	t.Helper()
	select {
	case rpc, ok := <-tr.Consume():
		if !ok {
			t.Fatalf("Consume() channel closed")
		}
		return rpc
	case <-time.After(within):
		t.Fatalf("no message within %v", within)
	}
	return RPC{}
}

// noMessage asserts nothing arrives for a while.
func noMessage(t *testing.T, tr *TCPTransport, wait time.Duration) {
	t.Helper()
	select {
	case rpc, ok := <-tr.Consume():
		if ok {
			t.Fatalf("unexpected message %q from %s", rpc.Payload, rpc.From)
		}
	case <-time.After(wait):
	}
}

// waitFor polls cond until it holds or the time runs out.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settleGoroutines waits until at most base goroutines run (bounded), and reports the count.
func settleGoroutines(base int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= base || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<16)
	return string(buf[:runtime.Stack(buf, true)])
}
