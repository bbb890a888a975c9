package peerwire

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkOneWay64 measures 64-byte messages, one way, received through a Go channel, as
// BENCH.md's "Go binding, 64 B one-way through the channel API" row: peerwire (Send per
// message, and SendMany) next to the Go origin's style (goroutine per connection,
// bufio.Reader, one flush per message) measured in the same run.
//
//	go test -run '^$' -bench OneWay64 -benchtime 200000x
func BenchmarkOneWay64(b *testing.B) {
	b.Run("peerwire-Send", func(b *testing.B) { benchPeerwire(b, nil, false) })
	b.Run("peerwire-SendMany", func(b *testing.B) { benchPeerwire(b, nil, true) })
	b.Run("origin-style", benchOriginStyle)
}

// BenchmarkCodecs64 is the SendMany row with each framed codec: the length prefix, gob, and a
// Go SplitDecoder (two cgo callbacks per message: AppendHeader on send, Split on receive).
//
//	go test -run '^$' -bench Codecs64 -benchtime 200000x
func BenchmarkCodecs64(b *testing.B) {
	b.Run("length-prefixed", func(b *testing.B) { benchPeerwire(b, LengthPrefixedDecoder{}, true) })
	b.Run("gob", func(b *testing.B) { benchPeerwire(b, GOBDecoder{}, true) })
	b.Run("custom", func(b *testing.B) { benchPeerwire(b, vframe, true) })
}

func benchPeerwire(b *testing.B, dec Decoder, many bool) {
	srv, err := NewTCPTransport(TCPTransportOpts{ListenAddr: "127.0.0.1:0", Decoder: dec})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.ListenAndAccept(); err != nil {
		b.Fatal(err)
	}
	cli, err := NewTCPTransport(TCPTransportOpts{Decoder: dec})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	p, err := cli.DialPeer(context.Background(), srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	b.SetBytes(64)
	b.ResetTimer()
	start := time.Now()
	go func() {
		if many {
			batch := make([][]byte, 0, 256)
			for i := 0; i < b.N; i++ {
				batch = append(batch, msg)
				if len(batch) == cap(batch) || i == b.N-1 {
					if _, err := p.(*TCPPeer).SendMany(batch); err != nil {
						b.Error(err)
						return
					}
					batch = batch[:0]
				}
			}
			return
		}
		for i := 0; i < b.N; i++ {
			if err := p.Send(msg); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	timeout := time.After(120 * time.Second)
	for i := 0; i < b.N; i++ {
		select {
		case <-srv.Consume():
		case <-timeout:
			b.Fatalf("only %d of %d messages", i, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// benchOriginStyle is the Go origin's way of doing the same, with framing added.
func benchOriginStyle(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	type rpc struct {
		From    string
		Payload []byte
	}
	ch := make(chan rpc, 1024)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		from := conn.RemoteAddr().String()
		r := bufio.NewReader(conn)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(r, p); err != nil {
				return
			}
			ch <- rpc{From: from, Payload: p}
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	frame := make([]byte, 4+64)
	binary.BigEndian.PutUint32(frame, 64)
	b.SetBytes(64)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := w.Write(frame); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	}()
	timeout := time.After(120 * time.Second)
	for i := 0; i < b.N; i++ {
		select {
		case <-ch:
		case <-timeout:
			b.Fatalf("only %d of %d messages", i, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
