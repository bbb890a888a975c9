package peerwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestSendManyStopsAtAnOversizedMessage(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{MaxFrame: 1000})
	p := dial(t, cli, srv.Addr()).(*TCPPeer)
	msgs := [][]byte{[]byte("first"), bytes.Repeat([]byte("s"), 1000), make([]byte, 1001), []byte("after")}
	n, err := p.SendMany(msgs)
	if n != 2 || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("SendMany: %d, %v; want 2, ErrTooLarge", n, err)
	}
	for _, want := range msgs[:2] {
		if rpc := recv(t, srv, 5*time.Second); !bytes.Equal(rpc.Payload, want) {
			t.Fatalf("got %d bytes %.8q, want %d bytes %.8q", len(rpc.Payload), rpc.Payload, len(want), want)
		}
	}
	noMessage(t, srv, 200*time.Millisecond)
	// The connection is fine: the rest goes through.
	if n, err := p.SendMany(msgs[3:]); n != 1 || err != nil {
		t.Fatalf("SendMany after the refusal: %d, %v", n, err)
	}
	if rpc := recv(t, srv, 5*time.Second); string(rpc.Payload) != "after" {
		t.Fatalf("got %q", rpc.Payload)
	}
}

// A receiver that does not consume makes the sender's queue fill; SendMany must then report
// exactly how many messages it queued: all of those arrive, in order, and no others.
func TestSendManyReportsAPartialSend(t *testing.T) {
	cases := []struct {
		name     string
		opts     TCPTransportOpts
		deadline time.Duration
	}{
		{"SendTimeout<0", TCPTransportOpts{SendQueueBytes: 64 << 10, SendTimeout: -1}, 0},
		{"SendTimeout>0", TCPTransportOpts{SendQueueBytes: 64 << 10, SendTimeout: 50 * time.Millisecond}, 0},
		{"write deadline", TCPTransportOpts{SendQueueBytes: 64 << 10}, 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := listener(t, TCPTransportOpts{RecvQueueBytes: 64 << 10, RecvQueueEvents: 64, ConsumeBuffer: 1, BatchSize: 4})
			cli := dialer(t, tc.opts)
			p := dial(t, cli, srv.Addr()).(*TCPPeer)
			start := time.Now()
			if tc.deadline > 0 {
				p.SetWriteDeadline(start.Add(tc.deadline))
			}
			batch := make([][]byte, 64)
			sent, partial := 0, 0
			var err error
			for sent < 200_000 && err == nil {
				for i := range batch {
					m := make([]byte, 1024)
					binary.BigEndian.PutUint64(m, uint64(sent+i))
					batch[i] = m
				}
				var k int
				k, err = p.SendMany(batch)
				if k < 0 || k > len(batch) || (err == nil && k != len(batch)) {
					t.Fatalf("SendMany returned %d, %v", k, err)
				}
				if err != nil && k > 0 {
					partial = k
				}
				sent += k
			}
			if !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("after %d messages: %v, want ErrWouldBlock", sent, err)
			}
			if tc.deadline > 0 && time.Since(start) < tc.deadline-10*time.Millisecond {
				t.Fatalf("gave up after %v, before the write deadline", time.Since(start))
			}
			t.Logf("%d messages queued before ErrWouldBlock (%d of the last batch)", sent, partial)
			p.SetWriteDeadline(time.Time{})
			deadline := time.After(60 * time.Second)
			for i := 0; i < sent; i++ {
				select {
				case rpc := <-srv.Consume():
					if got := binary.BigEndian.Uint64(rpc.Payload); got != uint64(i) || len(rpc.Payload) != 1024 {
						t.Fatalf("message %d: sequence %d, %d bytes", i, got, len(rpc.Payload))
					}
				case <-deadline:
					t.Fatalf("only %d of the %d messages SendMany reported arrived", i, sent)
				}
			}
			noMessage(t, srv, 300*time.Millisecond)
		})
	}
}

func TestSendManyEdgeCases(t *testing.T) {
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr()).(*TCPPeer)
	if n, err := p.SendMany(nil); n != 0 || err != nil {
		t.Fatalf("SendMany(nil): %d, %v", n, err)
	}
	// Only empty messages: the packed buffer is empty, every message still counts.
	if n, err := p.SendMany([][]byte{{}, nil, {}}); n != 3 || err != nil {
		t.Fatalf("SendMany of empty messages: %d, %v", n, err)
	}
	// A large message between small ones goes on its own, in its place.
	big := bytes.Repeat([]byte{'B'}, sendManyChunk+1)
	if n, err := p.SendMany([][]byte{[]byte("a"), big, []byte("c")}); n != 3 || err != nil {
		t.Fatalf("SendMany with a large message: %d, %v", n, err)
	}
	for i, want := range [][]byte{{}, {}, {}, []byte("a"), big, []byte("c")} {
		rpc := recv(t, srv, 10*time.Second)
		if rpc.Payload == nil || !bytes.Equal(rpc.Payload, want) {
			t.Fatalf("message %d: %d bytes (nil: %v), want %d", i, len(rpc.Payload), rpc.Payload == nil, len(want))
		}
	}
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := p.SendMany([][]byte{[]byte("x"), []byte("y")}); n != 0 || !errors.Is(err, ErrClosed) {
		t.Fatalf("SendMany on a closed transport: %d, %v", n, err)
	}
}

// Small payloads share slabs: every payload must keep its bytes while later ones arrive, and
// have no spare capacity, so that appending to one never writes into another.
func TestRetainedPayloadsKeepTheirBytes(t *testing.T) {
	const n = 5000
	srv := listener(t, TCPTransportOpts{})
	cli := dialer(t, TCPTransportOpts{})
	p := dial(t, cli, srv.Addr()).(*TCPPeer)
	size := func(i int) int { return (i * 37) % (slabMax + 64) } // 0 .. slabMax+63
	go func() {
		batch := make([][]byte, 0, 100)
		for i := 0; i < n; i++ {
			batch = append(batch, bytes.Repeat([]byte{byte(i)}, size(i)))
			if len(batch) == cap(batch) {
				if _, err := p.SendMany(batch); err != nil {
					t.Errorf("SendMany: %v", err)
					return
				}
				batch = batch[:0]
			}
		}
	}()
	kept := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		rpc := recv(t, srv, 30*time.Second)
		if len(rpc.Payload) != size(i) || cap(rpc.Payload) != len(rpc.Payload) {
			t.Fatalf("message %d: len %d cap %d, want len %d", i, len(rpc.Payload), cap(rpc.Payload), size(i))
		}
		kept = append(kept, rpc.Payload)
	}
	for i, b := range kept {
		if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, size(i))) {
			t.Fatalf("message %d changed after delivery", i)
		}
	}
}
