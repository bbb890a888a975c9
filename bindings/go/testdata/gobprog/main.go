// gobprog is a Go program that knows nothing of peerwire: it uses only the standard library
// (net, encoding/gob). TestGobExchangeWithStdlibProgram builds and runs it against a peerwire
// transport using the gob codec, and logs the bytes it reports.
//
//	gobprog ADDR MESSAGE
//
// It dials ADDR, encodes one RPC{From: "std-go", Payload: MESSAGE} with a fresh gob.Encoder,
// decodes one RPC with a fresh gob.Decoder, and prints, one per line:
//
//	sent HEX        every byte it wrote
//	received HEX    every byte it read
//	from QUOTED     the decoded value's From
//	payload QUOTED  the decoded value's Payload
//	goenc HEX       what this process's encoding/gob writes for RPC{Payload: <decoded payload>}
//	                with a fresh Encoder: peerwire's bytes should be exactly these
package main

import (
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// RPC is the origin's message type.
type RPC struct {
	From    string
	Payload []byte
}

type recorder struct {
	io.ReadWriter
	in, out bytes.Buffer
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.ReadWriter.Read(b)
	r.in.Write(b[:n])
	return n, err
}

func (r *recorder) Write(b []byte) (int, error) {
	r.out.Write(b)
	return r.ReadWriter.Write(b)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gobprog ADDR MESSAGE")
		os.Exit(2)
	}
	conn, err := net.DialTimeout("tcp", os.Args[1], 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	rec := &recorder{ReadWriter: conn}
	if err := gob.NewEncoder(rec).Encode(RPC{From: "std-go", Payload: []byte(os.Args[2])}); err != nil {
		fmt.Fprintln(os.Stderr, "encode:", err)
		os.Exit(1)
	}
	var got RPC
	if err := gob.NewDecoder(rec).Decode(&got); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
	var want bytes.Buffer
	if err := gob.NewEncoder(&want).Encode(RPC{Payload: got.Payload}); err != nil {
		fmt.Fprintln(os.Stderr, "encode:", err)
		os.Exit(1)
	}
	fmt.Printf("sent %s\n", hex.EncodeToString(rec.out.Bytes()))
	fmt.Printf("received %s\n", hex.EncodeToString(rec.in.Bytes()))
	fmt.Printf("from %q\n", got.From)
	fmt.Printf("payload %q\n", got.Payload)
	fmt.Printf("goenc %s\n", hex.EncodeToString(want.Bytes()))
}
