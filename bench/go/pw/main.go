// peerwire through its Go binding (bindings/go), in the benchmark protocol of ../../common.h:
//
//	pwgo ROLE MODE SIZE COUNT PORT WARMUP
//
// MODE (sender side; the receiver always reads the Consume() channel):
//
//	chan : Peer.Send per message                  -> row "peerwire-go"
//	many : TCPPeer.SendMany over slices of 1024   -> row "peerwire-go-many"
//
// The ponger answers each RPC with rpc.Peer.Send; the pinger sends and then reads Consume().
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	peerwire "github.com/peerwire/peerwire/bindings/go"
)

func timeout() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("BENCH_TIMEOUT_S")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 60 * time.Second
}

func emit(m map[string]any) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	m["cpu_user"] = float64(ru.Utime.Sec) + float64(ru.Utime.Usec)*1e-6
	m["cpu_sys"] = float64(ru.Stime.Sec) + float64(ru.Stime.Usec)*1e-6
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

func fail(role string, err error) {
	b, _ := json.Marshal(map[string]any{"ok": false, "role": role, "error": err.Error()})
	fmt.Println(string(b))
	os.Exit(1)
}

func listening(role string) *peerwire.TCPTransport {
	tr, err := peerwire.NewTCPTransport(peerwire.TCPTransportOpts{ListenAddr: "127.0.0.1:0", Linger: timeout()})
	if err != nil {
		fail(role, err)
	}
	if err := tr.ListenAndAccept(); err != nil {
		fail(role, err)
	}
	addr := tr.Addr()
	fmt.Printf("PORT %s\n", addr[strings.LastIndex(addr, ":")+1:])
	return tr
}

func dialing(role string, port int) (*peerwire.TCPTransport, peerwire.Peer) {
	tr, err := peerwire.NewTCPTransport(peerwire.TCPTransportOpts{Linger: timeout()})
	if err != nil {
		fail(role, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	p, err := tr.DialPeer(ctx, fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fail(role, err)
	}
	return tr, p
}

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: pwgo recv|send|pong|ping chan|many SIZE COUNT PORT WARMUP")
		os.Exit(2)
	}
	role, mode := os.Args[1], os.Args[2]
	size, _ := strconv.Atoi(os.Args[3])
	count, _ := strconv.Atoi(os.Args[4])
	port, _ := strconv.Atoi(os.Args[5])
	warmup, _ := strconv.Atoi(os.Args[6])
	if size <= 0 || count <= 0 || (mode != "chan" && mode != "many") {
		fmt.Fprintln(os.Stderr, "bad arguments")
		os.Exit(2)
	}
	deadline := time.NewTimer(timeout())
	switch role {
	case "recv":
		tr := listening(role)
		ch := tr.Consume()
		n, nbytes := 0, 0
		var first time.Time
		for n < count {
			select {
			case rpc, ok := <-ch:
				if !ok {
					fail(role, fmt.Errorf("Consume() closed after %d messages", n))
				}
				if len(rpc.Payload) != size {
					fail(role, fmt.Errorf("message of %d bytes, expected %d", len(rpc.Payload), size))
				}
				if n == 0 {
					first = time.Now()
				}
				n++
				nbytes += len(rpc.Payload)
			case <-deadline.C:
				fail(role, fmt.Errorf("timed out after %d messages", n))
			}
		}
		secs := time.Since(first).Seconds()
		tr.Close()
		emit(map[string]any{"ok": true, "role": "recv", "msgs": n, "bytes": nbytes, "seconds": secs})
	case "send":
		tr, p := dialing(role, port)
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = 0xab
		}
		t0 := time.Now()
		if mode == "chan" {
			for i := 0; i < count; i++ {
				if err := p.Send(payload); err != nil {
					fail(role, err)
				}
			}
		} else {
			tp, ok := p.(*peerwire.TCPPeer)
			if !ok {
				fail(role, fmt.Errorf("peer is a %T, not *TCPPeer", p))
			}
			batch := make([][]byte, 1024)
			for i := range batch {
				batch[i] = payload
			}
			for sent := 0; sent < count; {
				k := min(len(batch), count-sent)
				n, err := tp.SendMany(batch[:k])
				if err != nil {
					fail(role, err)
				}
				sent += n
			}
		}
		if err := tr.Close(); err != nil { // linger: flushes what is queued
			fail(role, err)
		}
		emit(map[string]any{"ok": true, "role": "send", "msgs": count, "bytes": count * size,
			"seconds": time.Since(t0).Seconds()})
	case "pong":
		tr := listening(role)
		ch := tr.Consume()
		for n := 0; n < count+warmup; n++ {
			select {
			case rpc, ok := <-ch:
				if !ok {
					fail(role, fmt.Errorf("Consume() closed after %d messages", n))
				}
				if err := rpc.Peer.Send(rpc.Payload); err != nil {
					fail(role, err)
				}
			case <-deadline.C:
				fail(role, fmt.Errorf("timed out after %d messages", n))
			}
		}
		if err := tr.Close(); err != nil {
			fail(role, err)
		}
		emit(map[string]any{"ok": true, "role": "pong", "msgs": count + warmup})
	case "ping":
		tr, p := dialing(role, port)
		ch := tr.Consume()
		out := make([]byte, size)
		rtt := make([]float64, 0, count)
		var t0 time.Time
		for i := 0; i < warmup+count; i++ {
			if i == warmup {
				t0 = time.Now()
			}
			s := time.Now()
			if err := p.Send(out); err != nil {
				fail(role, err)
			}
			select {
			case rpc, ok := <-ch:
				if !ok || len(rpc.Payload) != size {
					fail(role, fmt.Errorf("bad answer (channel open: %v)", ok))
				}
			case <-deadline.C:
				fail(role, fmt.Errorf("timed out after %d round trips", i))
			}
			if i >= warmup {
				rtt = append(rtt, time.Since(s).Seconds())
			}
		}
		total := time.Since(t0).Seconds()
		tr.Close()
		sort.Float64s(rtt)
		k := len(rtt)
		sum := 0.0
		for _, v := range rtt {
			sum += v
		}
		emit(map[string]any{"ok": true, "role": "ping", "rtts": k,
			"p50_us": rtt[(k-1)*50/100] * 1e6, "p99_us": rtt[(k-1)*99/100] * 1e6,
			"mean_us": sum / float64(k) * 1e6, "min_us": rtt[0] * 1e6, "max_us": rtt[k-1] * 1e6,
			"seconds": total})
	default:
		os.Exit(2)
	}
}
