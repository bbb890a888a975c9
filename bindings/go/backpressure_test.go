package peerwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// stalledListener accepts connections and never reads from them, so a sender's queue fills.
func stalledListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// fill sends 1 KiB messages until Send fails; the count is bounded.
func fill(p Peer) (int, error) {
	msg := make([]byte, 1024)
	for i := 0; i < 200_000; i++ {
		if err := p.Send(msg); err != nil {
			return i, err
		}
	}
	return 200_000, nil
}

func TestSendFailsAtOnceWhenTheQueueIsFull(t *testing.T) {
	cli := dialer(t, TCPTransportOpts{SendTimeout: -1, SendQueueBytes: 64 << 10})
	p := dial(t, cli, stalledListener(t))
	n, err := fill(p)
	if !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("after %d messages: %v, want ErrWouldBlock", n, err)
	}
	st, err := cli.Stats()
	if err != nil || st.SendsWouldBlock == 0 {
		t.Fatalf("Stats: %+v, %v", st, err)
	}
}

func TestWriteDeadlineBoundsAFullQueue(t *testing.T) {
	cli := dialer(t, TCPTransportOpts{SendQueueBytes: 64 << 10}) // default: wait for room
	p := dial(t, cli, stalledListener(t))
	p.SetWriteDeadline(time.Now().Add(500 * time.Millisecond)) // bounds the filling too
	if _, err := fill(p); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("fill: %v", err)
	}
	p.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err := p.Write(make([]byte, 1024))
	el := time.Since(start)
	if !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Write past the deadline: %v", err)
	}
	if el < 50*time.Millisecond || el > 3*time.Second {
		t.Fatalf("Write gave up after %v", el)
	}
}

func TestCloseWakesABlockedSender(t *testing.T) {
	cli, err := NewTCPTransport(TCPTransportOpts{SendQueueBytes: 64 << 10, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	p := dial(t, cli, stalledListener(t))
	errc := make(chan error, 1)
	go func() {
		_, err := fill(p) // blocks once the queue is full (no send timeout)
		errc <- err
	}()
	// Wait until the sender is stuck.
	waitFor(t, 10*time.Second, "the send queue to fill", func() bool {
		info, err := p.(*TCPPeer).Info()
		return err == nil && info.SendQueueBytes >= 60<<10
	})
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- cli.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung behind a blocked Send")
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrUnknownPeer) {
			t.Fatalf("blocked Send returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked Send never returned")
	}
}

func TestCloseDuringDial(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	cli, err := NewTCPTransport(TCPTransportOpts{HandshakeFunc: func(p Peer) error {
		_, err := io.ReadFull(p, make([]byte, 1)) // the listener never answers
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := cli.DialPeer(context.Background(), srv.Addr()); errc <- err }()
	time.Sleep(200 * time.Millisecond)
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the dial succeeded on a closed transport")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DialPeer hung after Close")
	}
}

func TestManyConcurrentHandshakes(t *testing.T) {
	var seen sync.Map
	srv := listener(t, TCPTransportOpts{
		HandshakeFunc: greet("server", func(n string) bool { return n != "" }, &seen),
	})
	const clients = 16
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cli, err := NewTCPTransport(TCPTransportOpts{HandshakeFunc: greet(fmt.Sprintf("c%d", i), nil, nil)})
			if err != nil {
				errs <- err
				return
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := cli.DialPeer(ctx, srv.Addr())
			if err != nil {
				errs <- err
				return
			}
			if err := p.Send([]byte(fmt.Sprintf("c%d", i))); err != nil {
				errs <- err
			}
		}(i)
	}
	got := map[string]bool{}
	for len(got) < clients {
		select {
		case rpc := <-srv.Consume():
			if _, ok := seen.Load(rpc.Peer); !ok {
				t.Fatal("message from a peer the handshake did not see")
			}
			got[string(rpc.Payload)] = true
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(15 * time.Second):
			t.Fatalf("%d of %d clients arrived", len(got), clients)
		}
	}
	wg.Wait()
}
