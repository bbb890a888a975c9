package peerwire

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"math/rand"
	"net"
	"slices"
	"testing"
	"time"
)

// Each codec fed garbage, truncated input and oversized claims from a plain net.Conn: the
// connection closes with a reason (OnDisconnect), what was validly framed before the bad bytes
// is delivered and nothing after them, and the transport and its other peer keep working.

const abuseMaxFrame = 1 << 20

type abuseCase struct {
	name       string
	input      []byte
	closeWrite bool     // half-close after writing: the input ends there (truncation)
	reasons    []Reason // the disconnect reasons accepted
	delivered  []byte   // the bytes that must arrive from this peer (concatenated messages)
}

func TestCodecAbuse(t *testing.T) {
	httpReq := []byte("GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n" +
		string(bytes.Repeat([]byte("x"), 200)))
	random := make([]byte, 8192)
	rand.New(rand.NewSource(5)).Read(random)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	be32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	uvar := func(n uint64) []byte { return binary.AppendUvarint(nil, n) }
	closed := []Reason{ReasonRemoteClosed}
	tooLarge := []Reason{ReasonFrameTooLarge}
	decodeErr := []Reason{ReasonDecodeError}

	type RPC struct {
		From    string
		Payload []byte
	}
	gobStream := func(vals ...RPC) []byte {
		var b bytes.Buffer
		enc := gob.NewEncoder(&b)
		for _, v := range vals {
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	hello := gobStream(RPC{From: "x", Payload: []byte("hello world")})
	overLimit := gobStream(RPC{From: "x", Payload: make([]byte, abuseMaxFrame+1)})

	// The custom codec: vframe, plus three bytes that make Split misbehave.
	abusive := SplitDecoder{Split: func(b []byte) (int, int, error) {
		switch b[0] {
		case 0xEE:
			panic("split panics on 0xEE")
		case 0x00:
			return 0, 0, nil // a frame of no bytes at all
		case 0xDD:
			return 0, 0, ErrNeedMore // forever
		}
		return vframeSplit(b)
	}, AppendHeader: vframeHeader}
	vf := func(p []byte) []byte { h, _ := vframeHeader(nil, p); return append(h, p...) }

	codecs := []struct {
		name  string
		dec   Decoder
		cases []abuseCase
	}{
		{"length-prefixed", LengthPrefixedDecoder{}, []abuseCase{
			{name: "garbage (an HTTP request)", input: httpReq, reasons: tooLarge},
			{name: "claim of 4 GiB", input: cat(be32(0xffffffff), []byte("abc")), reasons: tooLarge},
			{name: "claim of MaxFrame+1", input: cat(be32(abuseMaxFrame+1), make([]byte, 100)), reasons: tooLarge},
			{name: "truncated frame", input: cat(be32(16), []byte("12345")), closeWrite: true, reasons: closed},
			{name: "truncated length", input: []byte{0, 0}, closeWrite: true, reasons: closed},
			{name: "valid frame, then a bad claim", input: cat(be32(2), []byte("ok"), be32(0xfffffff0)), reasons: tooLarge, delivered: []byte("ok")},
		}},
		{"raw", DefaultDecoder{}, []abuseCase{
			// Raw has no invalid input: whatever comes is data, delivered in order, and the
			// connection lasts until the remote closes it.
			{name: "garbage", input: cat(httpReq, allBytes, random), closeWrite: true, reasons: closed, delivered: cat(httpReq, allBytes, random)},
			{name: "more than MaxFrame in one write", input: bytes.Repeat(allBytes, (abuseMaxFrame+abuseMaxFrame/2)/256), closeWrite: true, reasons: closed,
				delivered: bytes.Repeat(allBytes, (abuseMaxFrame+abuseMaxFrame/2)/256)},
		}},
		{"gob", GOBDecoder{}, []abuseCase{
			{name: "garbage (an HTTP request)", input: httpReq, reasons: decodeErr},
			{name: "garbage (random bytes)", input: random, closeWrite: true, reasons: []Reason{ReasonDecodeError, ReasonFrameTooLarge, ReasonRemoteClosed}},
			{name: "value of an undefined type", input: []byte{0x03, 0xff, 0x90, 0x00}, reasons: decodeErr},
			{name: "message claim of 1 GiB", input: cat([]byte{0xfc, 0x40, 0, 0, 0}, make([]byte, 64)), reasons: tooLarge},
			{name: "payload over MaxFrame", input: overLimit, reasons: tooLarge},
			{name: "truncated value", input: hello[:len(hello)-4], closeWrite: true, reasons: closed},
			{name: "valid value, then garbage", input: cat(hello, []byte{0x02, 0x55, 0x55}), reasons: decodeErr, delivered: []byte("hello world")},
		}},
		{"custom", abusive, []abuseCase{
			{name: "garbage (an HTTP request)", input: httpReq, reasons: decodeErr},
			{name: "claim of 2^40 bytes", input: cat([]byte{vframeMagic}, uvar(1<<40)), reasons: tooLarge},
			{name: "claim of MaxFrame+1", input: cat([]byte{vframeMagic}, uvar(abuseMaxFrame+1), make([]byte, 10)), reasons: tooLarge},
			{name: "length varint overflows", input: cat([]byte{vframeMagic}, bytes.Repeat([]byte{0xff}, 11)), reasons: decodeErr},
			{name: "truncated frame", input: cat([]byte{vframeMagic}, uvar(100), make([]byte, 10)), closeWrite: true, reasons: closed},
			{name: "Split panics", input: []byte{0xEE, 1, 2}, reasons: decodeErr},
			{name: "Split returns a zero-size frame", input: []byte{0x00, 1, 2}, reasons: decodeErr},
			{name: "Split needs more forever", input: cat([]byte{0xDD}, make([]byte, abuseMaxFrame+MaxCustomHeader+4096)), reasons: tooLarge},
			{name: "valid frame, then garbage", input: cat(vf([]byte("ok")), []byte("garbage")), reasons: decodeErr, delivered: []byte("ok")},
		}},
	}
	for _, c := range codecs {
		c := c
		t.Run(c.name, func(t *testing.T) {
			opts := TCPTransportOpts{Decoder: c.dec, MaxFrame: abuseMaxFrame}
			discs := watchDisconnects(&opts)
			srv := listener(t, opts)
			good := dialer(t, TCPTransportOpts{Decoder: c.dec, MaxFrame: abuseMaxFrame})
			gp := dial(t, good, srv.Addr())
			pingPong(t, srv, good, gp, 0)
			for i, ac := range c.cases {
				refused := stats(t, srv).FramesRefused
				reason, got := abuse(t, srv, discs, ac)
				if !slices.Contains(ac.reasons, reason) {
					t.Fatalf("%s: disconnect reason %v, want one of %v", ac.name, reason, ac.reasons)
				}
				if !bytes.Equal(got, ac.delivered) {
					t.Fatalf("%s: %d bytes delivered from the bad peer, want %d (first difference at %d)",
						ac.name, len(got), len(ac.delivered), firstDiff(got, ac.delivered))
				}
				if now := stats(t, srv).FramesRefused; (reason == ReasonFrameTooLarge) != (now > refused) {
					t.Fatalf("%s: reason %v, frames refused %d -> %d", ac.name, reason, refused, now)
				}
				// The transport and its other peer keep working.
				pingPong(t, srv, good, gp, i+1)
				if n := stats(t, srv).Peers; n != 1 {
					t.Fatalf("%s: %d peers left, want the good one only", ac.name, n)
				}
				t.Logf("%s: closed (%v), %d bytes delivered before", ac.name, reason, len(got))
			}
		})
	}
}

func stats(t *testing.T, tr *TCPTransport) Stats {
	t.Helper()
	s, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// abuse writes one case's bytes from a new plain connection and returns its disconnect
// reason and what was delivered from it. The server must close the connection.
func abuse(t *testing.T, srv *TCPTransport, discs chan disc, ac abuseCase) (Reason, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := conn.LocalAddr().String()
	go func() {
		// The server may close before everything is written: write errors are expected.
		_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := conn.Write(ac.input); err == nil && ac.closeWrite {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}()
	var got []byte
	deadline := time.After(20 * time.Second)
	var reason Reason
wait:
	for {
		select {
		case rpc := <-srv.Consume():
			if rpc.From != addr {
				t.Fatalf("%s: unexpected message from %s", ac.name, rpc.From)
			}
			got = append(got, rpc.Payload...)
		case d := <-discs:
			if d.addr == addr {
				reason = d.reason
				break wait
			}
		case <-deadline:
			t.Fatalf("%s: the connection was not closed (%d bytes delivered)", ac.name, len(got))
		}
	}
	// Messages come before their peer's disconnect: whatever is left is in the channel.
	for {
		select {
		case rpc := <-srv.Consume():
			if rpc.From != addr {
				t.Fatalf("%s: unexpected message from %s", ac.name, rpc.From)
			}
			got = append(got, rpc.Payload...)
			continue
		default:
		}
		break
	}
	readUntilClosed(t, conn, 10*time.Second)
	return reason, got
}

// pingPong: the good peer sends to the server and gets an answer. Both use the same codec;
// with raw, the bytes may come in several messages.
func pingPong(t *testing.T, srv, good *TCPTransport, gp Peer, i int) {
	t.Helper()
	ping, pong := fmt.Sprintf("ping %d", i), fmt.Sprintf("pong %d", i)
	if err := gp.Send([]byte(ping)); err != nil {
		t.Fatalf("good peer: %v", err)
	}
	var got []byte
	var from Peer
	for len(got) < len(ping) {
		rpc := recv(t, srv, 10*time.Second)
		got = append(got, rpc.Payload...)
		from = rpc.Peer
	}
	if string(got) != ping {
		t.Fatalf("server got %q, want %q", got, ping)
	}
	if err := from.Send([]byte(pong)); err != nil {
		t.Fatalf("server reply: %v", err)
	}
	got = got[:0]
	for len(got) < len(pong) {
		got = append(got, recv(t, good, 10*time.Second).Payload...)
	}
	if string(got) != pong {
		t.Fatalf("good peer got %q, want %q", got, pong)
	}
}
