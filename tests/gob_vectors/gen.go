//go:build ignore

// Command gen writes the golden gob streams used by src/codec/gob.rs.
//
//	cd tests/gob_vectors && go run gen.go
//
// It uses only the standard library. Each file is what one gob.Encoder wrote to one
// connection. Payload byte i of an n-byte payload is byte((i*7 + n) % 251); the Rust
// tests rebuild the expected payloads from that rule and the sizes listed below.
// RPC is encoded first, in a fresh process, so it gets gob's first user type id (65),
// the id peerwire's encoder always uses.
package main

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// RPC is the origin's message type: what peerwire's gob codec speaks.
type RPC struct {
	From    string
	Payload []byte
}

// StreamRPC is the origin's RPC with its extra Stream flag.
type StreamRPC struct {
	From    string
	Payload []byte
	Stream  bool
}

type Meta struct {
	A uint
	B float64
	C map[string]int
}

type Node struct {
	V    int
	Next *Node
}

// ExtRPC has the two fields peerwire reads, in the middle of many it must skip.
type ExtRPC struct {
	Seq     int64
	From    string
	Stream  bool
	Tags    []string
	Payload []byte
	Meta    Meta
	Extra   []byte
	Ratio   float64
	Arr     [3]int16
	M       map[string]uint32
	C       complex128
	Any     any
	Ptr     *Meta
	List    *Node
	When    time.Time  // GobEncoder
	Addr    netip.Addr // BinaryMarshaler
	Neg     int
	Big     uint64
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((i*7 + n) % 251)
	}
	return p
}

// Sizes per file; keep in sync with gob.rs.
var (
	plainSizes  = []int{0, 1, 100, 70000, 0, 5}
	fromSizes   = []int{0, 1, 100, 70000}
	streamSizes = []int{0, 1, 100, 3000}
	extSizes    = []int{0, 1, 100, 3000, 7}
)

const from = "127.0.0.1:3000"

func write(name string, b []byte) {
	if err := os.WriteFile(name, b, 0o644); err != nil {
		panic(err)
	}
	fmt.Printf("%-24s %7d bytes\n", name, len(b))
}

func main() {
	gob.Register(Meta{})

	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for _, n := range plainSizes {
		must(enc.Encode(RPC{Payload: payload(n)}))
	}
	write("rpc_plain.bin", buf.Bytes())

	buf.Reset()
	enc = gob.NewEncoder(&buf)
	for _, n := range fromSizes {
		must(enc.Encode(&RPC{From: from, Payload: payload(n)}))
	}
	write("rpc_from.bin", buf.Bytes())

	buf.Reset()
	enc = gob.NewEncoder(&buf)
	for i, n := range streamSizes {
		must(enc.Encode(StreamRPC{From: from, Payload: payload(n), Stream: i%2 == 1}))
	}
	write("rpc_stream.bin", buf.Bytes())

	buf.Reset()
	enc = gob.NewEncoder(&buf)
	when := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	for i, n := range extSizes {
		v := ExtRPC{Seq: int64(i) - 2, Payload: payload(n), Neg: -1000 * i, Big: 1<<64 - 1 - uint64(i)}
		if i%2 == 0 {
			v.From = from
			v.Stream = true
			v.Tags = []string{"a", "", "ccc"}
			v.Meta = Meta{A: 300, B: 1.5, C: map[string]int{"k": -7}}
			v.Extra = []byte{1, 2, 3}
			v.Ratio = 0.25
			v.Arr = [3]int16{-1, 0, 1}
			v.M = map[string]uint32{"x": 1 << 20}
			v.C = complex(1, -2)
			v.List = &Node{V: 1, Next: &Node{V: 2, Next: &Node{V: 3}}}
			v.When = when
			v.Addr = netip.MustParseAddr("::1")
		}
		switch i % 3 {
		case 0:
			v.Any = Meta{A: 1}
		case 1:
			v.Any = "a string in an interface"
		}
		if i == 3 {
			v.Ptr = &Meta{B: -3}
		}
		must(enc.Encode(v))
	}
	write("rpc_extended.bin", buf.Bytes())

	// Streams a decoder of RPC must refuse, as Go's does.
	buf.Reset()
	must(gob.NewEncoder(&buf).Encode("just a string"))
	write("not_a_struct.bin", buf.Bytes())

	buf.Reset()
	must(gob.NewEncoder(&buf).Encode(struct{ X, Y int }{1, 2}))
	write("no_matching_field.bin", buf.Bytes())

	buf.Reset()
	must(gob.NewEncoder(&buf).Encode(struct {
		From    int
		Payload []byte
	}{1, []byte{1}}))
	write("wrong_field_type.bin", buf.Bytes())
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
