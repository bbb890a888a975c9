package peerwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Fatalf("Version() = %q", v)
	}
}

func TestAddrAfterListenOnPortZero(t *testing.T) {
	tr, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got := tr.Addr(); got != "127.0.0.1:0" {
		t.Fatalf("Addr() before listening = %q, want the ListenAddr", got)
	}
	if err := tr.ListenAndAccept(); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(tr.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" || port == "" {
		t.Fatalf("Addr() after listening = %q", tr.Addr())
	}
	// The bound address is real: a plain TCP connect succeeds.
	c, err := net.DialTimeout("tcp", tr.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("cannot connect to Addr(): %v", err)
	}
	c.Close()
}

func TestGoStyleAddresses(t *testing.T) {
	// ":0" listens on every IPv4 interface; ":port" dials this host, as with package net.
	srv := listener(t, TCPTransportOpts{ListenAddr: ":0"})
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "0.0.0.0" || port == "0" {
		t.Fatalf("Addr() = %q", srv.Addr())
	}
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, ":"+port)
	if err := p.Send([]byte("via :port")); err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "via :port" {
		t.Fatalf("got %q", rpc.Payload)
	}
	p2 := dial(t, cli, "localhost:"+port)
	if err := p2.Send([]byte("via localhost")); err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "via localhost" {
		t.Fatalf("got %q", rpc.Payload)
	}
}

func TestMessagesBothWays(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	cli := listener(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr())
	if !p.Outbound() {
		t.Fatal("dialled peer: Outbound() = false")
	}
	if err := p.Send([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	rpc := recv(t, srv, 5*time.Second)
	if string(rpc.Payload) != "ping" {
		t.Fatalf("server got %q", rpc.Payload)
	}
	if rpc.Peer == nil || rpc.Peer.Outbound() {
		t.Fatalf("server side peer should be inbound: %+v", rpc.Peer)
	}
	if rpc.From != rpc.Peer.RemoteAddr().String() || !strings.HasPrefix(rpc.From, "127.0.0.1:") {
		t.Fatalf("From = %q, RemoteAddr = %v", rpc.From, rpc.Peer.RemoteAddr())
	}
	if _, ok := rpc.Peer.RemoteAddr().(*net.TCPAddr); !ok {
		t.Fatalf("RemoteAddr() is %T, want *net.TCPAddr", rpc.Peer.RemoteAddr())
	}
	if _, err := rpc.Peer.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	back := recv(t, cli, 5*time.Second)
	if string(back.Payload) != "pong" {
		t.Fatalf("client got %q", back.Payload)
	}
	if back.Peer != p {
		t.Fatal("RPC.Peer is not the Peer that DialPeer returned")
	}
	if back.From != p.RemoteAddr().String() || back.From != srv.Addr() {
		t.Fatalf("client From = %q, server Addr = %q", back.From, srv.Addr())
	}
}

func TestHundredThousandMessagesInOrder(t *testing.T) {
	const n = 100_000
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr())
	errc := make(chan error, 1)
	go func() {
		msg := make([]byte, 64)
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint64(msg, uint64(i))
			if err := p.Send(msg); err != nil {
				errc <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	deadline := time.After(120 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case rpc, ok := <-srv.Consume():
			if !ok {
				t.Fatalf("channel closed after %d messages", i)
			}
			if len(rpc.Payload) != 64 {
				t.Fatalf("message %d: %d bytes", i, len(rpc.Payload))
			}
			if got := binary.BigEndian.Uint64(rpc.Payload); got != uint64(i) {
				t.Fatalf("message %d carries sequence %d", i, got)
			}
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			errc = nil
			i--
		case <-deadline:
			t.Fatalf("only %d of %d messages within the time limit", i, n)
		}
	}
	if errc != nil {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSendManyAndConcurrentSenders(t *testing.T) {
	const senders, each = 4, 5000
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr()).(*TCPPeer)
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			batch := make([][]byte, 0, 100)
			for i := 0; i < each; i++ {
				m := make([]byte, 9+i%300) // sizes on both sides of the slab limit
				m[0] = byte(s)
				binary.BigEndian.PutUint64(m[1:], uint64(i))
				batch = append(batch, m)
				if len(batch) == cap(batch) || i == each-1 {
					if s%2 == 0 {
						if n, err := p.SendMany(batch); err != nil || n != len(batch) {
							t.Errorf("SendMany: %d, %v", n, err)
							return
						}
					} else {
						for _, m := range batch {
							if err := p.Send(m); err != nil {
								t.Errorf("Send: %v", err)
								return
							}
						}
					}
					batch = batch[:0]
				}
			}
		}(s)
	}
	next := make([]uint64, senders)
	deadline := time.After(60 * time.Second)
	for got := 0; got < senders*each; got++ {
		select {
		case rpc := <-srv.Consume():
			s := int(rpc.Payload[0])
			seq := binary.BigEndian.Uint64(rpc.Payload[1:])
			if seq != next[s] {
				t.Fatalf("sender %d: got %d, want %d", s, seq, next[s])
			}
			if len(rpc.Payload) != 9+int(seq)%300 {
				t.Fatalf("sender %d message %d: %d bytes", s, seq, len(rpc.Payload))
			}
			next[s]++
		case <-deadline:
			t.Fatalf("only %d messages arrived", got)
		}
	}
	wg.Wait()
}

func TestPayloadsAreIndependent(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr()).(*TCPPeer)
	sizes := []int{0, 1, 3, 255, 256, 257, 1000, 1 << 20, 7, 0, 64}
	var msgs [][]byte
	for i, n := range sizes {
		msgs = append(msgs, bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	if _, err := p.SendMany(msgs); err != nil {
		t.Fatal(err)
	}
	var got []RPC
	for range sizes {
		got = append(got, recv(t, srv, 10*time.Second))
	}
	// Growing one payload must not write into the next one's bytes.
	for i := range got {
		got[i].Payload = append(got[i].Payload, 'X', 'Y', 'Z')
	}
	for i, rpc := range got {
		want := append(bytes.Repeat([]byte{byte('a' + i)}, sizes[i]), 'X', 'Y', 'Z')
		if !bytes.Equal(rpc.Payload, want) {
			t.Fatalf("message %d (%d bytes) corrupted", i, sizes[i])
		}
	}
}

func TestOnPeerRunsBeforeThePeersMessages(t *testing.T) {
	var mu sync.Mutex
	known := map[Peer]bool{}
	var inbound, outbound atomic.Int32
	srv, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// As in the origin: OnPeer assigned after construction.
	srv.OnPeer = func(p Peer) error {
		mu.Lock()
		known[p] = true
		mu.Unlock()
		if p.Outbound() {
			outbound.Add(1)
		} else {
			inbound.Add(1)
		}
		return nil
	}
	if err := srv.ListenAndAccept(); err != nil {
		t.Fatal(err)
	}
	var cliPeers atomic.Int32
	cli := dialer(t, TCPTransportOpts{OnPeer: func(p Peer) error {
		if !p.Outbound() {
			t.Errorf("client OnPeer: inbound peer")
		}
		cliPeers.Add(1)
		return nil
	}})
	const conns = 5
	for i := 0; i < conns; i++ {
		p := dial(t, cli, srv.Addr())
		if err := p.Send([]byte("first")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < conns; i++ {
		rpc := recv(t, srv, 5*time.Second)
		mu.Lock()
		ok := known[rpc.Peer]
		mu.Unlock()
		if !ok {
			t.Fatal("a message arrived before OnPeer saw its peer")
		}
	}
	if inbound.Load() != conns || outbound.Load() != 0 {
		t.Fatalf("server OnPeer: %d inbound, %d outbound", inbound.Load(), outbound.Load())
	}
	waitFor(t, 5*time.Second, "client OnPeer calls", func() bool { return cliPeers.Load() == conns })
}

func TestOnPeerErrorOrPanicDisconnects(t *testing.T) {
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			srv := listener(t, TCPTransportOpts{OnPeer: func(p Peer) error {
				if mode == "panic" {
					panic("OnPeer exploded")
				}
				return errors.New("not welcome")
			}})
			gone := make(chan Reason, 1)
			cli := dialer(t, TCPTransportOpts{OnDisconnect: func(p Peer, r Reason) { gone <- r }})
			p := dial(t, cli, srv.Addr())
			select {
			case r := <-gone:
				if r != ReasonRemoteClosed && r != ReasonIOError {
					t.Fatalf("reason %v", r)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the refused peer was not disconnected")
			}
			if err := p.Send([]byte("x")); !errors.Is(err, ErrUnknownPeer) {
				t.Fatalf("Send to a gone peer: %v", err)
			}
			noMessage(t, srv, 100*time.Millisecond)
		})
	}
}

func TestOnDisconnectReasonsAndPeerClose(t *testing.T) {
	srvGone := make(chan Reason, 1)
	srv := listener(t, TCPTransportOpts{OnDisconnect: func(p Peer, r Reason) { srvGone <- r }})
	cliGone := make(chan Reason, 1)
	cli := dialer(t, TCPTransportOpts{OnDisconnect: func(p Peer, r Reason) { cliGone <- r }})
	p := dial(t, cli, srv.Addr())
	if err := p.Send([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Peer.Close: %v", err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "last words" {
		t.Fatalf("got %q", rpc.Payload)
	}
	for name, ch := range map[string]chan Reason{"client": cliGone, "server": srvGone} {
		select {
		case r := <-ch:
			want := ReasonRemoteClosed
			if name == "client" {
				want = ReasonClosedLocally
			}
			if r != want {
				t.Fatalf("%s reason %v (%d), want %v", name, r, r, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no OnDisconnect", name)
		}
	}
	if err := p.Send([]byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("Send after Peer.Close: %v", err)
	}
}

func TestCloseClosesChannelIsIdempotentAndLeavesNoGoroutine(t *testing.T) {
	base := settleGoroutines(0, 0)
	srv, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0", OnPeer: func(Peer) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenAndAccept(); err != nil {
		t.Fatal(err)
	}
	cli, err := NewTCPTransport(TCPTransportOpts{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.DialPeer(context.Background(), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i++ { // more than the channel holds: the event goroutine blocks
		if err := p.Send([]byte("unread")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the server's channel to fill", func() bool { return len(srv.Consume()) == cap(srv.Consume()) })

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func(i int) { defer wg.Done(); errs[i] = srv.Close() }(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	// Every Close has returned: the channel must be closed now (buffered messages are
	// still readable, then it reports closed).
	drained := 0
	for range srv.Consume() {
		drained++
		if drained > cap(srv.Consume()) {
			t.Fatal("the channel is not closed")
		}
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-cli.Consume(); ok {
		t.Fatal("client channel not closed")
	}
	if n := settleGoroutines(base, 5*time.Second); n > base {
		t.Fatalf("%d goroutines before, %d after Close:\n%s", base, n, goroutineDump())
	}
}

func TestCloseBeforeStart(t *testing.T) {
	tr, err := NewTCPTransport(TCPTransportOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-tr.Consume(); ok {
		t.Fatal("channel open after Close")
	}
	if err := tr.ListenAndAccept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListenAndAccept after Close: %v", err)
	}
}

func TestUsingAClosedTransportFails(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	other := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr())
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"ListenAndAccept": cli.ListenAndAccept(),
		"Dial":            cli.Dial(other.Addr()),
		"Send":            p.Send([]byte("x")),
	}
	_, checks["Broadcast"] = cli.Broadcast([]byte("x"))
	_, checks["Stats"] = cli.Stats()
	_, checks["Peers"] = cli.Peers()
	_, checks["Write"] = p.Write([]byte("x"))
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s on a closed transport: %v", name, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("Peer.Close after transport Close: %v", err)
	}
}

func TestCloseFromOnPeerDoesNotDeadlock(t *testing.T) {
	var srv *TCPTransport
	closed := make(chan error, 1)
	srv = listener(t, TCPTransportOpts{OnPeer: func(Peer) error {
		closed <- srv.Close()
		return nil
	}})
	cli := dialer(t, TCPTransportOpts{})
	if err := cli.Dial(srv.Addr()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close inside OnPeer hung")
	}
	select {
	case _, ok := <-srv.Consume():
		if ok {
			t.Fatal("message after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed")
	}
}

func TestFinalizerClosesAnUnreachableTransport(t *testing.T) {
	base := settleGoroutines(0, 0)
	func() {
		tr, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.ListenAndAccept(); err != nil {
			t.Fatal(err)
		}
	}()
	if n := settleGoroutines(base, 10*time.Second); n > base {
		t.Fatalf("event goroutine still running after the transport became unreachable (%d > %d)", n, base)
	}
}

func TestTooLarge(t *testing.T) {
	reasons := make(chan Reason, 1)
	srv := listener(t, TCPTransportOpts{MaxFrame: 1000, OnDisconnect: func(p Peer, r Reason) { reasons <- r }})
	cli := dialer(t, TCPTransportOpts{MaxFrame: 4000})
	p := dial(t, cli, srv.Addr())
	if err := p.Send(make([]byte, 4001)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send over MaxFrame: %v", err)
	}
	if err := p.Send(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, srv, 5*time.Second); len(rpc.Payload) != 1000 {
		t.Fatalf("%d bytes", len(rpc.Payload))
	}
	// Within the sender's limit, over the receiver's: the receiver drops the connection.
	if err := p.Send(make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reasons:
		if r != ReasonFrameTooLarge {
			t.Fatalf("reason %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("oversized frame did not close the connection")
	}
}

func TestBroadcastPeersAndStats(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	var clients []*TCPTransport
	for i := 0; i < 3; i++ {
		c := dialer(t, TCPTransportOpts{})
		dial(t, c, srv.Addr())
		clients = append(clients, c)
	}
	waitFor(t, 5*time.Second, "3 peers", func() bool {
		ps, err := srv.Peers()
		return err == nil && len(ps) == 3
	})
	n, err := srv.Broadcast([]byte("to all"))
	if err != nil || n != 3 {
		t.Fatalf("Broadcast: %d, %v", n, err)
	}
	for _, c := range clients {
		if rpc := recv(t, c, 5*time.Second); string(rpc.Payload) != "to all" {
			t.Fatalf("got %q", rpc.Payload)
		}
	}
	ps, _ := srv.Peers()
	for _, p := range ps {
		if p.Outbound() {
			t.Fatal("server's peers are inbound")
		}
		info, err := p.(*TCPPeer).Info()
		if err != nil || info.MsgsOut != 1 || info.Addr != p.RemoteAddr().String() {
			t.Fatalf("Info: %+v, %v", info, err)
		}
	}
	st, err := srv.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Peers != 3 || st.ConnectionsAccepted != 3 || st.MsgsOut != 3 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestDialErrors(t *testing.T) {
	cli := dialer(t, TCPTransportOpts{})
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().String()
	l.Close()
	if err := cli.Dial(free); !errors.Is(err, ErrConnect) {
		t.Fatalf("Dial to a closed port: %v", err)
	}
	var pe *Error
	if err := cli.Dial(free); !errors.As(err, &pe) || pe.Message == "" || pe.Op != "dial" {
		t.Fatalf("error lacks the library's detail: %#v", err)
	}
	if err := cli.Dial("no port here"); !errors.Is(err, ErrAddr) {
		t.Fatalf("Dial to a malformed address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cli.DialPeer(ctx, free); !errors.Is(err, context.Canceled) {
		t.Fatalf("DialPeer with a cancelled context: %v", err)
	}
}

func TestListenErrorsCarryTheLibraryMessage(t *testing.T) {
	a := listener(t, TCPTransportOpts{})
	b, err := NewTCPTransport(TCPTransportOpts{ListenAddr: a.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.ListenAndAccept()
	var pe *Error
	if !errors.As(err, &pe) || pe.Status >= 0 || pe.Message == "" {
		t.Fatalf("listening on a used port: %#v", err)
	}
	if !strings.Contains(err.Error(), pe.Message) {
		t.Fatalf("Error() = %q lacks the message", err.Error())
	}
	if err := a.ListenAndAccept(); !errors.Is(err, ErrState) {
		t.Fatalf("second ListenAndAccept: %v", err)
	}
}

func TestDecoders(t *testing.T) {
	// The length-prefixed codec, explicitly and as the default.
	for _, d := range []Decoder{nil, LengthPrefixedDecoder{}} {
		tr, err := NewTCPTransport(TCPTransportOpts{Decoder: d})
		if err != nil {
			t.Fatalf("%T: %v", d, err)
		}
		tr.Close()
	}
	// The origin's decoders, and a Go framing, between two peerwire transports.
	for _, d := range []Decoder{DefaultDecoder{}, GOBDecoder{}, vframe} {
		srv := listener(t, TCPTransportOpts{Decoder: d})
		cli := dialer(t, TCPTransportOpts{Decoder: d})
		p := dial(t, cli, srv.Addr())
		if err := p.Send([]byte("codec")); err != nil {
			t.Fatalf("%T: %v", d, err)
		}
		// Raw keeps no boundaries: collect until the five bytes are there.
		var got []byte
		for len(got) < len("codec") {
			got = append(got, recv(t, srv, 5*time.Second).Payload...)
		}
		if string(got) != "codec" {
			t.Fatalf("%T: got %q", d, got)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, o := range []TCPTransportOpts{{MaxFrame: -1}, {HandshakeTimeout: -time.Second}, {SendQueueBytes: -5}} {
		if _, err := NewTCPTransport(o); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", o, err)
		}
	}
}

func TestErrorFamilies(t *testing.T) {
	hsTimeout := &Error{Op: "dial", Status: StatusErrHandshakeTimeout, Message: "x"}
	for _, target := range []error{ErrHandshakeTimeout, ErrHandshake, ErrTimeout} {
		if !errors.Is(hsTimeout, target) {
			t.Fatalf("handshake timeout is not %v", target)
		}
	}
	if errors.Is(hsTimeout, ErrClosed) || errors.Is(ErrHandshake, ErrHandshakeTimeout) {
		t.Fatal("families too wide")
	}
	wrapped := fmt.Errorf("context: %w", &Error{Status: StatusErrClosed})
	if !errors.Is(wrapped, ErrClosed) || !errors.Is(wrapped, net.ErrClosed) {
		t.Fatal("wrapped ErrClosed not recognised")
	}
	if !hsTimeout.Timeout() || (&Error{Status: StatusErrIO}).Timeout() {
		t.Fatal("Timeout()")
	}
	if StatusErrUnknownPeer.String() == "" || ReasonFrameTooLarge.String() == "" {
		t.Fatal("status and reason texts come from the library")
	}
}
