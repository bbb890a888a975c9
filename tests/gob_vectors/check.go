//go:build ignore

// Command check decodes a gob stream written by peerwire's gob encoder with Go's own
// gob.Decoder and checks every value. Produce the streams with
//
//	PEERWIRE_GOB_OUT=/tmp/pw.gob cargo test --lib codec::gob
//
// (which writes /tmp/pw.gob with From "peerwire" and /tmp/pw.gob.nofrom without), then
//
//	go run check.go -from peerwire -sizes 0,1,100,70000,1048576,0,3 /tmp/pw.gob
//	go run check.go -from "" -sizes 0,1,100,70000,0,5 /tmp/pw.gob.nofrom
//
// Each file is decoded twice: into RPC, and into StreamRPC (an extra local field, as the
// origin's RPC has). Payload byte i of an n-byte payload is byte((i*7 + n) % 251).
package main

import (
	"bytes"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

type RPC struct {
	From    string
	Payload []byte
}

type StreamRPC struct {
	From    string
	Payload []byte
	Stream  bool
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((i*7 + n) % 251)
	}
	return p
}

func main() {
	from := flag.String("from", "", "expected From of every value")
	sizesFlag := flag.String("sizes", "", "expected payload sizes, comma separated")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: go run check.go -from F -sizes N,N,... FILE")
		os.Exit(2)
	}
	var sizes []int
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fail("bad -sizes: %v", err)
		}
		sizes = append(sizes, n)
	}
	data, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fail("%v", err)
	}

	dec := gob.NewDecoder(bytes.NewReader(data))
	for i, n := range sizes {
		var v RPC
		if err := dec.Decode(&v); err != nil {
			fail("value %d: %v", i, err)
		}
		check(i, v.From, v.Payload, *from, n)
	}
	var extra RPC
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		fail("expected end of stream after %d values, got %v (%+v)", len(sizes), err, extra)
	}

	dec = gob.NewDecoder(bytes.NewReader(data))
	for i, n := range sizes {
		var v StreamRPC
		if err := dec.Decode(&v); err != nil {
			fail("StreamRPC value %d: %v", i, err)
		}
		check(i, v.From, v.Payload, *from, n)
	}
	head := data
	if len(head) > 64 {
		head = head[:64]
	}
	fmt.Printf("ok: %d values, %d bytes, decoded by Go's gob.Decoder into RPC and StreamRPC\nfirst bytes: %x\n",
		len(sizes), len(data), head)
}

func check(i int, gotFrom string, got []byte, from string, n int) {
	if gotFrom != from {
		fail("value %d: From %q, want %q", i, gotFrom, from)
	}
	if !bytes.Equal(got, payload(n)) {
		fail("value %d: payload of %d bytes differs from the expected %d", i, len(got), n)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "check: "+format+"\n", args...)
	os.Exit(1)
}
