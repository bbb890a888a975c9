package peerwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// greet is a handshake in the origin's style: it reads and writes the connection directly.
// The dialler says who it is; the listener checks the name and answers.
func greet(name string, allowed func(string) bool, seen *sync.Map) HandshakeFunc {
	return func(p Peer) error {
		if p.Outbound() {
			hello := []byte(fmt.Sprintf("%-8s", name))
			if _, err := p.Write(hello); err != nil {
				return err
			}
			ok := make([]byte, 2)
			if _, err := io.ReadFull(p, ok); err != nil {
				return err
			}
			if string(ok) != "OK" {
				return fmt.Errorf("refused: %q", ok)
			}
		} else {
			hello := make([]byte, 8)
			if _, err := io.ReadFull(p, hello); err != nil {
				return err
			}
			who := string(bytes.TrimSpace(hello))
			if !allowed(who) {
				_, _ = p.Write([]byte("NO"))
				return fmt.Errorf("%s not allowed", who)
			}
			if err := p.Send([]byte("OK")); err != nil { // Send writes raw bytes here too
				return err
			}
		}
		if seen != nil {
			seen.Store(p, true)
		}
		return nil
	}
}

func TestHandshakeReadsAndWrites(t *testing.T) {
	var srvSeen, cliSeen sync.Map
	srvPeers := make(chan Peer, 1)
	srv := listener(t, TCPTransportOpts{
		HandshakeFunc: greet("server", func(n string) bool { return n == "alice" }, &srvSeen),
		OnPeer:        func(p Peer) error { srvPeers <- p; return nil },
	})
	cli := dialer(t, TCPTransportOpts{HandshakeFunc: greet("alice", nil, &cliSeen)})
	p := dial(t, cli, srv.Addr())
	if _, ok := cliSeen.Load(p); !ok {
		t.Fatal("DialPeer returned a different Peer than the handshake saw")
	}
	if err := p.Send([]byte("after handshake")); err != nil {
		t.Fatal(err)
	}
	rpc := recv(t, srv, 5*time.Second)
	if string(rpc.Payload) != "after handshake" {
		t.Fatalf("got %q", rpc.Payload)
	}
	if _, ok := srvSeen.Load(rpc.Peer); !ok {
		t.Fatal("RPC.Peer is not the Peer the handshake saw")
	}
	if op := <-srvPeers; op != rpc.Peer {
		t.Fatal("OnPeer saw a different Peer")
	}
	// Outside the handshake, Read is refused and Write is a message.
	if _, err := rpc.Peer.Read(make([]byte, 4)); !errors.Is(err, ErrState) {
		t.Fatalf("Read after the handshake: %v", err)
	}
	if _, err := rpc.Peer.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if back := recv(t, cli, 5*time.Second); string(back.Payload) != "reply" {
		t.Fatalf("got %q", back.Payload)
	}
}

func TestHandshakeRejects(t *testing.T) {
	var onPeer atomic.Int32
	srv := listener(t, TCPTransportOpts{
		HandshakeFunc: greet("server", func(n string) bool { return n == "alice" }, nil),
		OnPeer:        func(Peer) error { onPeer.Add(1); return nil },
	})
	cli := dialer(t, TCPTransportOpts{HandshakeFunc: greet("mallory", nil, nil)})
	_, err := cli.DialPeer(context.Background(), srv.Addr())
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("DialPeer: %v, want ErrHandshake", err)
	}
	waitFor(t, 5*time.Second, "the failure to be counted", func() bool {
		st, err := srv.Stats()
		return err == nil && st.HandshakeFailures == 1
	})
	if onPeer.Load() != 0 {
		t.Fatal("OnPeer ran for a rejected connection")
	}
	// The listener still works for a welcome peer.
	good := dialer(t, TCPTransportOpts{HandshakeFunc: greet("alice", nil, nil)})
	dial(t, good, srv.Addr())
}

func TestHandshakePanicIsRecovered(t *testing.T) {
	var calls atomic.Int32
	srv := listener(t, TCPTransportOpts{HandshakeFunc: func(p Peer) error {
		if calls.Add(1) == 1 {
			panic("handshake exploded")
		}
		return nil
	}})
	cli := dialer(t, TCPTransportOpts{})
	// The dialler has no handshake of its own, so its dial may succeed before the
	// listener's rejection closes the connection; what matters is that nothing crashes.
	_, _ = cli.DialPeer(context.Background(), srv.Addr())
	waitFor(t, 5*time.Second, "the panicking handshake to be counted as failed", func() bool {
		st, err := srv.Stats()
		return err == nil && st.HandshakeFailures == 1
	})
	noMessage(t, srv, 50*time.Millisecond)
	// The process and the transport survive; the next connection succeeds.
	p := dial(t, dialer(t, TCPTransportOpts{}), srv.Addr())
	if err := p.Send([]byte("alive")); err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "alive" {
		t.Fatalf("got %q", rpc.Payload)
	}
}

func TestHandshakeTimesOut(t *testing.T) {
	// The listener waits for a greeting that never comes.
	readErr := make(chan error, 1)
	srv := listener(t, TCPTransportOpts{
		HandshakeTimeout: 300 * time.Millisecond,
		HandshakeFunc: func(p Peer) error {
			_, err := io.ReadFull(p, make([]byte, 4))
			readErr <- err
			return err
		},
	})
	gone := make(chan Reason, 1)
	cli := dialer(t, TCPTransportOpts{OnDisconnect: func(p Peer, r Reason) { gone <- r }})
	start := time.Now()
	p := dial(t, cli, srv.Addr()) // no handshake on this side: it connects at once
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the handshake read succeeded")
		}
		t.Logf("listener's read ended with: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the handshake did not time out")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the dialler was not disconnected")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("timing out took %v", el)
	}
	if err := p.Send([]byte("late")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("Send: %v", err)
	}

	// The dialling side's own deadline: DialPeer fails with ErrHandshakeTimeout.
	slow := dialer(t, TCPTransportOpts{
		HandshakeTimeout: 300 * time.Millisecond,
		HandshakeFunc: func(p Peer) error {
			_, err := io.ReadFull(p, make([]byte, 4)) // the listener never writes
			return err
		},
	})
	silent := listener(t, TCPTransportOpts{})
	start = time.Now()
	_, err := slow.DialPeer(context.Background(), silent.Addr())
	if !errors.Is(err, ErrHandshakeTimeout) || !errors.Is(err, ErrHandshake) {
		t.Fatalf("DialPeer: %v, want ErrHandshakeTimeout", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 3*time.Second {
		t.Fatalf("handshake timeout took %v", el)
	}
}

func TestHandshakeReadDeadlineAndClose(t *testing.T) {
	srv := listener(t, TCPTransportOpts{HandshakeFunc: func(p Peer) error {
		p.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := p.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) || !os.IsTimeout(err) {
			return fmt.Errorf("read past the deadline: %v", err)
		}
		p.SetReadDeadline(time.Time{})
		return p.Close() // Close during the handshake rejects the connection
	}})
	cli := dialer(t, TCPTransportOpts{})
	dial(t, cli, srv.Addr())
	waitFor(t, 5*time.Second, "the closed handshake to be counted", func() bool {
		st, err := srv.Stats()
		return err == nil && st.HandshakeFailures == 1 && st.Peers == 0
	})
}

func TestDialPeerHonoursContextDuringHandshake(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{HandshakeFunc: func(p Peer) error {
		_, err := io.ReadFull(p, make([]byte, 4)) // never answered: waits for the 10 s deadline
		return err
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cli.DialPeer(ctx, srv.Addr())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DialPeer: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("DialPeer returned after %v", el)
	}
}

func TestHandshakeHandleIsReleasedOnce(t *testing.T) {
	// Every earlier test closed its transports: their handles must all be gone.
	waitFor(t, 5*time.Second, "earlier tests' handles to be released", func() bool { return liveHandles.Load() == 0 })
	before := int64(0)
	for i := 0; i < 3; i++ {
		srv, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0", HandshakeFunc: greet("s", func(string) bool { return true }, nil)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.ListenAndAccept(); err != nil {
			t.Fatal(err)
		}
		cli, err := NewTCPTransport(TCPTransportOpts{HandshakeFunc: greet("c", nil, nil)})
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.Dial(srv.Addr()); err != nil {
			t.Fatal(err)
		}
		if got := liveHandles.Load(); got != before+2 {
			t.Fatalf("%d live handles, want %d", got, before+2)
		}
		cli.Close()
		srv.Close()
		// Close frees the library transport, which drops the callback's user data.
		waitFor(t, 5*time.Second, "the handles to be released", func() bool { return liveHandles.Load() == before })
	}
	// A transport closed before it started never handed its handle to the library.
	tr, err := NewTCPTransport(TCPTransportOpts{HandshakeFunc: greet("x", nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if got := liveHandles.Load(); got != before {
		t.Fatalf("%d live handles after an unstarted transport, want %d", got, before)
	}
}
