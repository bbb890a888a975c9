package peerwire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// The foreign side of these tests knows nothing of peerwire: package net and
// encoding/binary, 4-byte big-endian length + payload.

func writeFrame(w io.Writer, payload []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

func TestPlainNetPeerDialsPeerwire(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	// Echo server on peerwire.
	go func() {
		for rpc := range srv.Consume() {
			_ = rpc.Peer.Send(append([]byte("echo:"), rpc.Payload...))
		}
	}()
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	const n = 1000
	w := bufio.NewWriter(conn)
	for i := 0; i < n; i++ {
		if err := writeFrame(w, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeFrame(w, nil); err != nil { // an empty message is a valid frame
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for i := 0; i <= n; i++ {
		b, err := readFrame(r)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := fmt.Sprintf("echo:m%d", i)
		if i == n {
			want = "echo:"
		}
		if string(b) != want {
			t.Fatalf("frame %d = %q, want %q", i, b, want)
		}
	}
}

func TestPeerwireDialsPlainNetPeer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		b, err := readFrame(conn)
		if err != nil {
			done <- err
			return
		}
		if string(b) != "hello from peerwire" {
			done <- fmt.Errorf("net side got %q", b)
			return
		}
		big := make([]byte, 300_000)
		for i := range big {
			big[i] = byte(i)
		}
		if err := writeFrame(conn, []byte("hello from net")); err == nil {
			err = writeFrame(conn, big)
			done <- err
		} else {
			done <- err
		}
		io.Copy(io.Discard, conn) // until peerwire closes
	}()
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, l.Addr().String())
	if err := p.Send([]byte("hello from peerwire")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, cli, 5*time.Second); string(rpc.Payload) != "hello from net" || rpc.Peer != p {
		t.Fatalf("got %q", rpc.Payload)
	}
	rpc := recv(t, cli, 5*time.Second)
	if len(rpc.Payload) != 300_000 {
		t.Fatalf("big frame: %d bytes", len(rpc.Payload))
	}
	for i, b := range rpc.Payload {
		if b != byte(i) {
			t.Fatalf("big frame corrupted at %d", i)
		}
	}
}

func TestGarbageFromANetPeerClosesOnlyThatConnection(t *testing.T) {
	reasons := make(chan Reason, 4)
	srv := listener(t, TCPTransportOpts{MaxFrame: 1 << 16, OnDisconnect: func(p Peer, r Reason) { reasons <- r }})
	good := dialer(t, TCPTransportOpts{})
	gp := dial(t, good, srv.Addr())

	bad, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.SetDeadline(time.Now().Add(10 * time.Second))
	// Claims a 4 GiB frame: refused without allocating it, connection closed.
	if _, err := bad.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, bad); err != nil {
		t.Logf("read after garbage: %v", err)
	}
	select {
	case r := <-reasons:
		if r != ReasonFrameTooLarge {
			t.Fatalf("reason %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect for the garbage peer")
	}
	if err := gp.Send([]byte("still fine")); err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "still fine" {
		t.Fatalf("got %q", rpc.Payload)
	}
}
