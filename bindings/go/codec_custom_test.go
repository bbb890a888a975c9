package peerwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The custom framing of these tests, "vframe": a magic byte 0xA5, the payload length as a
// uvarint (encoding/binary), then the payload. A header of 2 to 11 bytes, so Split's header
// answer matters, and a foreign program needs nothing but encoding/binary.

const vframeMagic = 0xA5

var errBadMagic = errors.New("vframe: bad magic byte")

func vframeSplit(buf []byte) (header, n int, err error) {
	if len(buf) == 0 {
		return 0, 0, ErrNeedMore
	}
	if buf[0] != vframeMagic {
		return 0, 0, errBadMagic
	}
	v, k := binary.Uvarint(buf[1:])
	switch {
	case k == 0 && len(buf)-1 < binary.MaxVarintLen64:
		return 0, 0, ErrNeedMore
	case k <= 0 || v > 1<<62:
		return 0, 0, errors.New("vframe: bad length")
	}
	return 1 + k, int(v), nil
}

func vframeHeader(dst, payload []byte) ([]byte, error) {
	dst = append(dst, vframeMagic)
	return binary.AppendUvarint(dst, uint64(len(payload))), nil
}

var vframe = SplitDecoder{Split: vframeSplit, AppendHeader: vframeHeader}

// writeVframe and readVframe are the foreign side: encoding/binary only.
func writeVframe(w io.Writer, payload []byte) error {
	hdr, _ := vframeHeader(nil, payload)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readVframe(r *bufio.Reader) ([]byte, error) {
	m, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if m != vframeMagic {
		return nil, fmt.Errorf("bad magic %#x", m)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// customSize: 0..2000 bytes, with a 256 KiB message every 100th.
func customMsg(i int) []byte {
	size := (i * 613) % 2001
	if i%100 == 99 {
		size = 256 << 10
	}
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*7 + j*3 + j>>8)
	}
	return b
}

// TestCustomCodecRoundTrip: two Go transports speaking vframe, a thousand messages each way.
func TestCustomCodecRoundTrip(t *testing.T) {
	const n = 1000
	srv := listener(t, TCPTransportOpts{Decoder: vframe})
	cli := dialer(t, TCPTransportOpts{Decoder: vframe})
	p := dial(t, cli, srv.Addr())
	echoErr := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			select {
			case rpc := <-srv.Consume():
				if !bytes.Equal(rpc.Payload, customMsg(i)) {
					echoErr <- fmt.Errorf("server: message %d differs (%d bytes)", i, len(rpc.Payload))
					return
				}
				if err := rpc.Peer.Send(rpc.Payload); err != nil {
					echoErr <- err
					return
				}
			case <-time.After(20 * time.Second):
				echoErr <- fmt.Errorf("server: message %d did not arrive", i)
				return
			}
		}
		echoErr <- nil
	}()
	// Half one by one, half through SendMany (many messages per cgo call, one header call each).
	go func() {
		for i := 0; i < n/2; i++ {
			if err := p.Send(customMsg(i)); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
		var batch [][]byte
		for i := n / 2; i < n; i++ {
			batch = append(batch, customMsg(i))
		}
		if k, err := p.(*TCPPeer).SendMany(batch); err != nil || k != len(batch) {
			t.Errorf("SendMany: %d, %v", k, err)
		}
	}()
	for i := 0; i < n; i++ {
		rpc := recv(t, cli, 20*time.Second)
		if !bytes.Equal(rpc.Payload, customMsg(i)) {
			t.Fatalf("client: message %d differs (%d bytes, want %d)", i, len(rpc.Payload), len(customMsg(i)))
		}
	}
	if err := <-echoErr; err != nil {
		t.Fatal(err)
	}
	// Broadcast frames for each peer too.
	if k, err := srv.Broadcast([]byte("to all")); err != nil || k != 1 {
		t.Fatalf("Broadcast: %d, %v", k, err)
	}
	if rpc := recv(t, cli, 5*time.Second); string(rpc.Payload) != "to all" {
		t.Fatalf("broadcast arrived as %q", rpc.Payload)
	}
}

// TestCustomCodecForeignConn: a plain net.Conn speaks vframe with a peerwire transport. Some
// frames are written one byte per Write (the header split over reads: Split answers
// ErrNeedMore), many are coalesced into one Write (several frames per read).
func TestCustomCodecForeignConn(t *testing.T) {
	srv := listener(t, TCPTransportOpts{Decoder: vframe})
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
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var want [][]byte
	// Byte by byte.
	for i := 0; i < 3; i++ {
		m := []byte(strings.Repeat("slow", 40*i))
		var frame bytes.Buffer
		_ = writeVframe(&frame, m)
		for _, c := range frame.Bytes() {
			if _, err := conn.Write([]byte{c}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		want = append(want, m)
	}
	// Coalesced: 500 frames in a few large writes.
	w := bufio.NewWriterSize(conn, 64<<10)
	for i := 0; i < 500; i++ {
		m := customMsg(i)
		if err := writeVframe(w, m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for i, m := range want {
		got, err := readVframe(r)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if !bytes.Equal(got, append([]byte("echo:"), m...)) {
			t.Fatalf("reply %d differs (%d bytes)", i, len(got))
		}
	}
}

// TestCustomCodecWithoutHeader: AppendHeader nil sends payloads as they are; here with
// fixed 8-byte frames (header 0) on the receiving side.
func TestCustomCodecWithoutHeader(t *testing.T) {
	fixed := SplitDecoder{Split: func(buf []byte) (int, int, error) {
		if len(buf) < 8 {
			return 0, 0, ErrNeedMore // the library waits for the rest either way
		}
		return 0, 8, nil
	}}
	srv := listener(t, TCPTransportOpts{Decoder: fixed})
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("01234567abcdefgh0123")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"01234567", "abcdefgh"} {
		rpc := recv(t, srv, 5*time.Second)
		if string(rpc.Payload) != want {
			t.Fatalf("got %q, want %q", rpc.Payload, want)
		}
		if want == "abcdefgh" {
			if err := rpc.Peer.Send([]byte("12345678")); err != nil {
				t.Fatal(err)
			}
		}
	}
	noMessage(t, srv, 100*time.Millisecond) // "0123" is an incomplete frame
	got := make([]byte, 8)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "12345678" {
		t.Fatalf("foreign read %q, %v", got, err)
	}
}

// TestCustomCodecHeaderErrors: an AppendHeader that fails, panics or writes too much refuses
// the send with ErrInvalid; the peer stays usable.
func TestCustomCodecHeaderErrors(t *testing.T) {
	d := SplitDecoder{
		Split: vframeSplit,
		AppendHeader: func(dst, payload []byte) ([]byte, error) {
			switch string(payload) {
			case "error":
				return nil, errors.New("cannot frame this")
			case "panic":
				panic("header panicked")
			case "huge":
				return make([]byte, MaxCustomHeader+1), nil
			case "elsewhere": // a header built in its own slice is copied in
				return vframeHeader(nil, payload)
			}
			return vframeHeader(dst, payload)
		},
	}
	srv := listener(t, TCPTransportOpts{Decoder: vframe})
	cli := dialer(t, TCPTransportOpts{Decoder: d})
	p := dial(t, cli, srv.Addr())
	for _, bad := range []string{"error", "panic", "huge"} {
		if err := p.Send([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Send(%q): %v, want ErrInvalid", bad, err)
		}
	}
	for _, good := range []string{"elsewhere", "fine"} {
		if err := p.Send([]byte(good)); err != nil {
			t.Fatal(err)
		}
		if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != good {
			t.Fatalf("got %q, want %q", rpc.Payload, good)
		}
	}
}

// TestSplitDecoderAllocations: the Go side of the callbacks allocates nothing per call
// (the cgo.Handle lookup and the views of the library's buffers do not allocate either).
func TestSplitDecoderAllocations(t *testing.T) {
	s := &splitter{split: vframeSplit, appendHeader: vframeHeader}
	frame, _ := vframeHeader(nil, make([]byte, 300))
	frame = append(frame, make([]byte, 300)...)
	var rc int32
	var h, n uint64
	if a := testing.AllocsPerRun(1000, func() { rc, h, n = s.splitOnce(frame) }); a != 0 {
		t.Fatalf("split: %v allocations per call", a)
	}
	if rc != splitFrame || h != 3 || n != 300 {
		t.Fatalf("split = %d, %d, %d", rc, h, n)
	}
	if a := testing.AllocsPerRun(1000, func() { rc, _, _ = s.splitOnce(frame[:2]) }); a != 0 || rc != splitNeedMore {
		t.Fatalf("split (need more): %v allocations, rc %d", a, rc)
	}
	dst := make([]byte, MaxCustomHeader)
	var hl int
	var ok bool
	if a := testing.AllocsPerRun(1000, func() { hl, ok = s.header(dst, frame[3:]) }); a != 0 {
		t.Fatalf("header: %v allocations per call", a)
	}
	if !ok || hl != 3 || !bytes.Equal(dst[:3], frame[:3]) {
		t.Fatalf("header = %d, %v, % x", hl, ok, dst[:3])
	}
}

// TestSplitDecoderAnswers: how Split's results map to the library's answers.
func TestSplitDecoderAnswers(t *testing.T) {
	wrapped := fmt.Errorf("wrapped: %w", ErrNeedMore)
	for _, c := range []struct {
		name    string
		h, n    int
		err     error
		panics  bool
		rc      int32
		wh, wn  uint64
		comment string
	}{
		{name: "frame", h: 2, n: 10, rc: splitFrame, wh: 2, wn: 10},
		{name: "header only", h: 4, n: 0, rc: splitFrame, wh: 4},
		{name: "need more", err: ErrNeedMore, rc: splitNeedMore},
		{name: "need more, wrapped", err: wrapped, rc: splitNeedMore},
		{name: "error", err: errBadMagic, rc: splitInvalid},
		{name: "panic", panics: true, rc: splitInvalid},
		{name: "zero-size frame", rc: splitInvalid},
		{name: "negative", h: -1, n: 5, rc: splitInvalid},
		{name: "header too long", h: MaxCustomHeader + 1, n: 1, rc: splitInvalid},
	} {
		s := &splitter{split: func([]byte) (int, int, error) {
			if c.panics {
				panic("split panicked")
			}
			return c.h, c.n, c.err
		}}
		rc, h, n := s.splitOnce([]byte{1})
		if rc != c.rc || h != c.wh || n != c.wn {
			t.Errorf("%s: %d, %d, %d; want %d, %d, %d", c.name, rc, h, n, c.rc, c.wh, c.wn)
		}
	}
}

// TestSplitDecoderHandles: the library releases each codec handle exactly once, whether the
// transport ran, never started, or the options were refused.
func TestSplitDecoderHandles(t *testing.T) {
	waitFor(t, 5*time.Second, "earlier tests' codec handles to be released", func() bool { return liveCodecHandles.Load() == 0 })
	var calls atomic.Int64
	d := SplitDecoder{Split: func(b []byte) (int, int, error) { calls.Add(1); return vframeSplit(b) }, AppendHeader: vframeHeader}
	srv, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0", Decoder: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenAndAccept(); err != nil {
		t.Fatal(err)
	}
	cli, err := NewTCPTransport(TCPTransportOpts{Decoder: d})
	if err != nil {
		t.Fatal(err)
	}
	unstarted, err := NewTCPTransport(TCPTransportOpts{Decoder: d})
	if err != nil {
		t.Fatal(err)
	}
	if got := liveCodecHandles.Load(); got != 3 {
		t.Fatalf("%d live codec handles, want 3", got)
	}
	if err := cli.Dial(srv.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Broadcast([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "x" || calls.Load() == 0 {
		t.Fatalf("got %q after %d split calls", rpc.Payload, calls.Load())
	}
	unstarted.Close()
	cli.Close()
	srv.Close()
	waitFor(t, 5*time.Second, "the codec handles to be released", func() bool { return liveCodecHandles.Load() == 0 })
	// Refused before the library took the handle: none is created, none leaks.
	if _, err := NewTCPTransport(TCPTransportOpts{Decoder: SplitDecoder{}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SplitDecoder without Split: %v", err)
	}
	if _, err := NewTCPTransport(TCPTransportOpts{Decoder: d, MaxFrame: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MaxFrame -1: %v", err)
	}
	if got := liveCodecHandles.Load(); got != 0 {
		t.Fatalf("%d codec handles left", got)
	}
}
