package peerwire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// disc is one OnDisconnect call.
type disc struct {
	addr   string
	reason Reason
}

// watchDisconnects makes opts record every disconnect.
func watchDisconnects(opts *TCPTransportOpts) chan disc {
	ch := make(chan disc, 256)
	opts.OnDisconnect = func(p Peer, r Reason) {
		select {
		case ch <- disc{p.RemoteAddr().String(), r}:
		default:
		}
	}
	return ch
}

// waitDisconnect waits for the disconnect of the peer with remote address addr.
func waitDisconnect(t *testing.T, ch chan disc, addr string, within time.Duration) Reason {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case d := <-ch:
			if d.addr == addr {
				return d.reason
			}
		case <-deadline:
			t.Fatalf("no disconnect of %s within %v", addr, within)
		}
	}
}

// rawMsg is the i-th message of the raw tests: 1..3000 bytes, a pattern per message.
func rawMsg(i int) []byte {
	b := make([]byte, (i*37)%3000+1)
	for j := range b {
		b[j] = byte(i + j*13)
	}
	return b
}

// TestRawOriginStyle exchanges data between peerwire's raw codec (DefaultDecoder) and a peer
// written as the origin's code was: a plain net.Conn, one Write per message, and a reader that
// treats each Read as a message.
//
// What raw mode guarantees, and all that this test checks: every byte arrives, in order;
// each message peerwire delivers is non-empty and at most the read size (1028 bytes unless set);
// Send adds nothing to the bytes; end of stream is a disconnect, not empty messages. What it
// does not guarantee is message boundaries: one Write may arrive as several messages and
// several Writes as one, so the test never compares a message with a Write.
func TestRawOriginStyle(t *testing.T) {
	const readSize = 1028 // the origin's buffer, DefaultDecoder's default
	const n = 500
	opts := TCPTransportOpts{Decoder: DefaultDecoder{}}
	discs := watchDisconnects(&opts)
	srv := listener(t, opts)
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))

	// Foreign -> peerwire: one Write per message.
	var sent bytes.Buffer
	for i := 0; i < n; i++ {
		m := rawMsg(i)
		if _, err := conn.Write(m); err != nil {
			t.Fatal(err)
		}
		sent.Write(m)
	}
	var got bytes.Buffer
	msgs := 0
	var peer Peer
	for got.Len() < sent.Len() {
		rpc := recv(t, srv, 10*time.Second)
		if len(rpc.Payload) == 0 || len(rpc.Payload) > readSize {
			t.Fatalf("message %d has %d bytes; raw messages are 1..%d bytes", msgs, len(rpc.Payload), readSize)
		}
		got.Write(rpc.Payload)
		msgs++
		peer = rpc.Peer
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatalf("peerwire received %d bytes that differ from the %d written (first difference at %d)",
			got.Len(), sent.Len(), firstDiff(got.Bytes(), sent.Bytes()))
	}
	t.Logf("foreign -> peerwire: %d Writes (%d bytes) arrived as %d messages", n, sent.Len(), msgs)

	// Peerwire -> foreign: one Send per message; the reader treats each Read as a message.
	sent.Reset()
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := peer.Send(rawMsg(n + i)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	for i := 0; i < n; i++ {
		sent.Write(rawMsg(n + i))
	}
	got.Reset()
	reads := 0
	buf := make([]byte, readSize)
	for got.Len() < sent.Len() {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
		got.Write(buf[:k]) // one "message" per read, as the origin's DefaultDecoder
		reads++
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatalf("the foreign reader got %d bytes that differ from the %d sent (first difference at %d)",
			got.Len(), sent.Len(), firstDiff(got.Bytes(), sent.Bytes()))
	}
	t.Logf("peerwire -> foreign: %d Sends (%d bytes) were read in %d reads; nothing added", n, sent.Len(), reads)

	// End of stream is a disconnect, and no message follows.
	addr := conn.LocalAddr().String()
	conn.Close()
	if r := waitDisconnect(t, discs, addr, 10*time.Second); r != ReasonRemoteClosed {
		t.Fatalf("disconnect reason %v, want %v", r, ReasonRemoteClosed)
	}
	noMessage(t, srv, 200*time.Millisecond)
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) < len(b) {
		return len(a)
	}
	return len(b)
}

// TestRawReadSize: DefaultDecoder.BufferSize (or ReadBuffer) bounds every raw message.
func TestRawReadSize(t *testing.T) {
	for _, c := range []struct {
		name string
		opts TCPTransportOpts
		max  int
	}{
		{"BufferSize", TCPTransportOpts{Decoder: DefaultDecoder{BufferSize: 100}}, 100},
		{"ReadBuffer", TCPTransportOpts{Decoder: DefaultDecoder{}, ReadBuffer: 200}, 200},
		{"BufferSize wins", TCPTransportOpts{Decoder: DefaultDecoder{BufferSize: 64}, ReadBuffer: 4096}, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := listener(t, c.opts)
			conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			data := rawMsg(2999) // 2999*37%3000+1 bytes
			data = append(data, rawMsg(80)...)
			if _, err := conn.Write(data); err != nil {
				t.Fatal(err)
			}
			var got []byte
			msgs := 0
			for len(got) < len(data) {
				rpc := recv(t, srv, 10*time.Second)
				if len(rpc.Payload) == 0 || len(rpc.Payload) > c.max {
					t.Fatalf("message of %d bytes; the read size is %d", len(rpc.Payload), c.max)
				}
				got = append(got, rpc.Payload...)
				msgs++
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("bytes differ at %d", firstDiff(got, data))
			}
			if min := (len(data) + c.max - 1) / c.max; msgs < min {
				t.Fatalf("%d bytes in %d messages of at most %d", len(data), msgs, c.max)
			}
		})
	}
	for _, d := range []DefaultDecoder{{BufferSize: -1}, {BufferSize: 10}} {
		if _, err := NewTCPTransport(TCPTransportOpts{Decoder: d}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v, want ErrInvalid", d, err)
		}
	}
}

// readUntilClosed reads (and discards) until the remote closes; it fails the test if that
// takes longer than within.
func readUntilClosed(t *testing.T, conn net.Conn, within time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was not closed within %v", within)
	}
}
