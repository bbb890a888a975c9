package peerwire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The foreign side of these tests is Go's standard library only: net and encoding/gob, with
// one gob.Encoder and one gob.Decoder per connection, as the origin's programs used them.

const gobValues = 1000

// gobSize is the payload size of value i: 0 bytes first, 1 MiB last, every 100th a large one
// (64 KiB to 1 MiB), the rest spread over 0..4096 bytes (so one- and multi-byte gob counts).
func gobSize(i int) int {
	switch {
	case i == 0:
		return 0
	case i == gobValues-1:
		return 1 << 20
	case i%100 == 50:
		return []int{1 << 20, 65536, 300000, 1<<20 - 1}[(i/100)%4]
	}
	return (i * 7919) % 4097
}

// gobPayload is value i's payload: a pattern that differs per value and per position, so a
// lost, repeated, reordered or corrupted byte shows.
func gobPayload(i int) []byte {
	b := make([]byte, gobSize(i))
	for j := range b {
		b[j] = byte(i*131 + j*7 + j>>9)
	}
	return b
}

// checkPayload compares value i with what it should be, byte for byte.
func checkPayload(i int, got []byte) error {
	want := gobPayload(i)
	if bytes.Equal(got, want) {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("value %d: %d bytes, want %d", i, len(got), len(want))
	}
	for j := range got {
		if got[j] != want[j] {
			return fmt.Errorf("value %d: byte %d is %#x, want %#x", i, j, got[j], want[j])
		}
	}
	return nil
}

// gobShape describes the foreign program's struct: the origin's RPC, or RPC with the
// later origin's extra Stream field.
type gobShape[T any] struct {
	make func(i int, payload []byte) T
	get  func(T) (from string, payload []byte, stream bool)
}

func TestGobInteropStdlib(t *testing.T) {
	t.Run("RPC", func(t *testing.T) {
		type RPC struct {
			From    string
			Payload []byte
		}
		shape := gobShape[RPC]{
			make: func(i int, p []byte) RPC { return RPC{From: fmt.Sprintf("std-%d", i%3), Payload: p} },
			get:  func(v RPC) (string, []byte, bool) { return v.From, v.Payload, false },
		}
		t.Run("stdlib dials peerwire", func(t *testing.T) { gobStdlibDials(t, shape) })
		t.Run("peerwire dials stdlib", func(t *testing.T) { gobPeerwireDials(t, shape) })
	})
	t.Run("RPC with Stream", func(t *testing.T) {
		type RPC struct {
			From    string
			Payload []byte
			Stream  bool
		}
		shape := gobShape[RPC]{
			// Stream is set on a third of the values, so the field is on the wire and
			// peerwire has to skip it.
			make: func(i int, p []byte) RPC { return RPC{From: "std", Payload: p, Stream: i%3 == 0} },
			get:  func(v RPC) (string, []byte, bool) { return v.From, v.Payload, v.Stream },
		}
		t.Run("stdlib dials peerwire", func(t *testing.T) { gobStdlibDials(t, shape) })
		t.Run("peerwire dials stdlib", func(t *testing.T) { gobPeerwireDials(t, shape) })
	})
}

// gobStdlibDials: a standard-library program dials a peerwire transport using the gob codec
// and sends gobValues values over one connection; peerwire checks each payload and sends it
// back; the program decodes peerwire's values and checks them, in order, byte for byte.
func gobStdlibDials[T any](t *testing.T, shape gobShape[T]) {
	srv := listener(t, TCPTransportOpts{Decoder: GOBDecoder{}})
	echoErr := make(chan error, 1)
	go func() {
		for i := 0; i < gobValues; i++ {
			var rpc RPC
			select {
			case r, ok := <-srv.Consume():
				if !ok {
					echoErr <- errors.New("Consume() closed")
					return
				}
				rpc = r
			case <-time.After(30 * time.Second):
				echoErr <- fmt.Errorf("peerwire: value %d did not arrive", i)
				return
			}
			if err := checkPayload(i, rpc.Payload); err != nil {
				echoErr <- fmt.Errorf("peerwire received %w", err)
				return
			}
			if err := rpc.Peer.Send(rpc.Payload); err != nil {
				echoErr <- fmt.Errorf("peerwire send %d: %w", i, err)
				return
			}
		}
		echoErr <- nil
	}()

	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	sendErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(conn)
		enc := gob.NewEncoder(w)
		for i := 0; i < gobValues; i++ {
			if err := enc.Encode(shape.make(i, gobPayload(i))); err != nil {
				sendErr <- fmt.Errorf("encode %d: %w", i, err)
				return
			}
			if gobSize(i) > 4096 || i == gobValues-1 {
				if err := w.Flush(); err != nil {
					sendErr <- err
					return
				}
			}
		}
		sendErr <- w.Flush()
	}()
	dec := gob.NewDecoder(conn)
	for i := 0; i < gobValues; i++ {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("stdlib decode %d: %v", i, err)
		}
		from, payload, stream := shape.get(v)
		if from != "" || stream {
			t.Fatalf("value %d from peerwire: From %q Stream %v, want both zero", i, from, stream)
		}
		if err := checkPayload(i, payload); err != nil {
			t.Fatalf("stdlib received %v", err)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if err := <-echoErr; err != nil {
		t.Fatal(err)
	}
}

// gobPeerwireDials: peerwire dials a standard-library program and sends first; the program
// decodes each value, checks it, and encodes it back with its own struct (Stream set on some).
func gobPeerwireDials[T any](t *testing.T, shape gobShape[T]) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	progErr := make(chan error, 1)
	go func() {
		progErr <- func() error {
			conn, err := l.Accept()
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
			dec := gob.NewDecoder(conn)
			w := bufio.NewWriter(conn)
			enc := gob.NewEncoder(w)
			for i := 0; i < gobValues; i++ {
				var v T
				if err := dec.Decode(&v); err != nil {
					return fmt.Errorf("stdlib decode %d: %w", i, err)
				}
				from, payload, stream := shape.get(v)
				if from != "" || stream {
					return fmt.Errorf("value %d from peerwire: From %q Stream %v, want both zero", i, from, stream)
				}
				if err := checkPayload(i, payload); err != nil {
					return fmt.Errorf("stdlib received %w", err)
				}
				if err := enc.Encode(shape.make(i, payload)); err != nil {
					return fmt.Errorf("stdlib encode %d: %w", i, err)
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			return nil
		}()
	}()

	cli := dialer(t, TCPTransportOpts{Decoder: GOBDecoder{}})
	p := dial(t, cli, l.Addr().String())
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; i < gobValues; i++ {
			if err := p.Send(gobPayload(i)); err != nil {
				sendErr <- fmt.Errorf("peerwire send %d: %w", i, err)
				return
			}
		}
		sendErr <- nil
	}()
	for i := 0; i < gobValues; i++ {
		rpc := recv(t, cli, 30*time.Second)
		if err := checkPayload(i, rpc.Payload); err != nil {
			t.Fatalf("peerwire received %v", err)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if err := <-progErr; err != nil {
		t.Fatal(err)
	}
}

// rpcTypeDef is the type definition Go's encoding/gob sends first for
// `type RPC struct { From string; Payload []byte }` in a process where RPC is the first type
// it encodes (type id 64): the golden bytes of the library's gob codec (src/codec/gob.rs).
const rpcTypeDef = "257f0301010352504301ff80000102010446726f6d010c00010750617" +
	"96c6f6164010a000000"

// TestGobExchangeWithStdlibProgram runs testdata/gobprog, a separate Go program that uses only
// net and encoding/gob, against a peerwire transport using the gob codec, and logs one
// exchange byte for byte. peerwire's reply must be exactly what Go's own encoder writes.
func TestGobExchangeWithStdlibProgram(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			t.Skip("no go command to build testdata/gobprog")
		}
	}
	bin := filepath.Join(t.TempDir(), "gobprog")
	build := exec.Command(goTool, "build", "-o", bin, "./testdata/gobprog")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/gobprog: %v\n%s", err, out)
	}

	srv := listener(t, TCPTransportOpts{Decoder: GOBDecoder{}})
	got := make(chan []byte, 1)
	go func() {
		for rpc := range srv.Consume() {
			got <- rpc.Payload
			_ = rpc.Peer.Send(append([]byte("re: "), rpc.Payload...))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, srv.Addr(), "hello, peerwire").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("gobprog: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("gobprog: %v", err)
	}
	res := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		res[k] = v
	}
	select {
	case p := <-got:
		if string(p) != "hello, peerwire" {
			t.Fatalf("peerwire received %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("peerwire received nothing")
	}
	if res["payload"] != `"re: hello, peerwire"` || res["from"] != `""` {
		t.Fatalf("gobprog decoded from=%s payload=%s", res["from"], res["payload"])
	}
	if res["goenc"] == "" || res["received"] != res["goenc"] {
		t.Fatalf("peerwire's bytes differ from encoding/gob's:\npeerwire %s\ngo       %s", res["received"], res["goenc"])
	}
	if !strings.HasPrefix(res["sent"], rpcTypeDef) || !strings.HasPrefix(res["received"], rpcTypeDef) {
		t.Fatalf("the type definition is not the golden one:\nsent     %s\nreceived %s\ngolden   %s",
			res["sent"], res["received"], rpcTypeDef)
	}
	t.Logf("gobprog (net + encoding/gob) -> peerwire, RPC{From: \"std-go\", Payload: \"hello, peerwire\"}:\n%s",
		gobMessages(t, res["sent"]))
	t.Logf("peerwire -> gobprog, RPC{Payload: \"re: hello, peerwire\"} (identical to encoding/gob's own bytes):\n%s",
		gobMessages(t, res["received"]))
}

// gobMessages splits a gob stream (hex) into its messages, one per line, with what each is.
func gobMessages(t *testing.T, hx string) string {
	t.Helper()
	b, err := hex.DecodeString(hx)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "  stream          %s\n", hx)
	for len(b) > 0 {
		count, n := gobUint(b)
		if n == 0 || uint64(len(b)-n) < count {
			t.Fatalf("malformed gob stream %s", hx)
		}
		msg := b[n : n+int(count)]
		id, _ := gobUint(msg)
		what := "value"
		if id&1 == 1 { // a negative type id: a type definition
			what = "type definition"
		}
		fmt.Fprintf(&sb, "  %-15s % x | % x\n", what, b[:n], msg)
		b = b[n+int(count):]
	}
	return sb.String()
}

// gobUint decodes one gob unsigned integer; n is 0 when b is too short.
func gobUint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	k := int(-int8(b[0]))
	if k > 8 || len(b) < 1+k {
		return 0, 0
	}
	for _, c := range b[1 : 1+k] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + k
}
