// Reference transports in pure Go, length-prefixed (4-byte big-endian length + payload):
//
//	MODE origin : how the Go origin works - one goroutine per connection reading through a
//	              bufio.Reader, and the sender flushes its bufio.Writer after every message.
//	MODE batched: the same, but the sender flushes only when its 64 KiB buffer fills.
//
// Command line and output as in ../../common.h:  ROLE MODE SIZE COUNT PORT WARMUP
// plus the scale roles (see scale.go).
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"
)

type args struct {
	role, mode  string
	size, count int
	port        int
	warmup      int
}

func timeout() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("BENCH_TIMEOUT_S")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 60 * time.Second
}

func cpu() (float64, float64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)*1e-6, float64(ru.Stime.Sec) + float64(ru.Stime.Usec)*1e-6
}

func emit(m map[string]any) {
	u, s := cpu()
	m["cpu_user"], m["cpu_sys"] = u, s
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

func fail(role string, err error) {
	b, _ := json.Marshal(map[string]any{"ok": false, "role": role, "error": err.Error()})
	fmt.Println(string(b))
	os.Exit(1)
}

// listenOne listens on 127.0.0.1:0, prints the port and accepts one connection.
func listenOne(role string) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(role, err)
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(timeout()))
	c, err := ln.Accept()
	if err != nil {
		fail(role, err)
	}
	ln.Close()
	c.SetDeadline(time.Now().Add(timeout()))
	return c
}

func dial(role string, port int) net.Conn {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), timeout())
	if err != nil {
		fail(role, err)
	}
	c.SetDeadline(time.Now().Add(timeout())) // TCP_NODELAY is Go's default
	return c
}

// writeFrame writes one length-prefixed frame into w (no flush).
func writeFrame(w *bufio.Writer, hdr []byte, payload []byte) error {
	binary.BigEndian.PutUint32(hdr, uint32(len(payload)))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame through r into buf (grown as needed) and returns the payload.
func readFrame(r *bufio.Reader, hdr []byte, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func send(a args) {
	c := dial("send", a.port)
	bufSize := 4096 // bufio default, as the origin uses
	if a.mode == "batched" {
		bufSize = 64 * 1024
	}
	w := bufio.NewWriterSize(c, bufSize)
	payload := make([]byte, a.size)
	for i := range payload {
		payload[i] = 0xab
	}
	hdr := make([]byte, 4)
	t0 := time.Now()
	for i := 0; i < a.count; i++ {
		if err := writeFrame(w, hdr, payload); err != nil {
			fail("send", err)
		}
		if a.mode == "origin" {
			if err := w.Flush(); err != nil {
				fail("send", err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		fail("send", err)
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c) // until the receiver closes: delivery is complete
	c.Close()
	emit(map[string]any{"ok": true, "role": "send", "msgs": a.count, "bytes": a.count * a.size,
		"seconds": time.Since(t0).Seconds()})
}

type result struct {
	msgs, bytes int
	first, last time.Time
	err         error
}

// recv: the accepted connection is served by its own goroutine (the origin's handleConn);
// main waits for it.
func recv(a args) {
	c := listenOne("recv")
	done := make(chan result, 1)
	go func() {
		var res result
		r := bufio.NewReader(c) // 4 KiB default, both modes
		hdr := make([]byte, 4)
		buf := make([]byte, a.size)
		for res.msgs < a.count {
			p, err := readFrame(r, hdr, buf)
			if err != nil {
				res.err = err
				break
			}
			if len(p) != a.size {
				res.err = fmt.Errorf("frame of %d bytes, expected %d", len(p), a.size)
				break
			}
			if res.msgs == 0 {
				res.first = time.Now()
			}
			res.msgs++
			res.bytes += len(p)
		}
		res.last = time.Now()
		done <- res
	}()
	res := <-done
	c.Close()
	if res.err != nil {
		fail("recv", fmt.Errorf("after %d messages: %w", res.msgs, res.err))
	}
	emit(map[string]any{"ok": true, "role": "recv", "msgs": res.msgs, "bytes": res.bytes,
		"seconds": res.last.Sub(res.first).Seconds()})
}

func pong(a args) {
	c := listenOne("pong")
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReader(c)
		w := bufio.NewWriter(c)
		hdr := make([]byte, 4)
		buf := make([]byte, a.size)
		for i := 0; i < a.count+a.warmup; i++ {
			p, err := readFrame(r, hdr, buf)
			if err == nil {
				err = writeFrame(w, hdr, p)
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		fail("pong", err)
	}
	c.Close()
	emit(map[string]any{"ok": true, "role": "pong", "msgs": a.count + a.warmup})
}

func ping(a args) {
	c := dial("ping", a.port)
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	hdr, rhdr := make([]byte, 4), make([]byte, 4)
	out, in := make([]byte, a.size), make([]byte, a.size)
	rtt := make([]float64, 0, a.count)
	var t0 time.Time
	for i := 0; i < a.warmup+a.count; i++ {
		if i == a.warmup {
			t0 = time.Now()
		}
		s := time.Now()
		err := writeFrame(w, hdr, out)
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			_, err = readFrame(r, rhdr, in)
		}
		if err != nil {
			fail("ping", err)
		}
		if i >= a.warmup {
			rtt = append(rtt, time.Since(s).Seconds())
		}
	}
	total := time.Since(t0).Seconds()
	c.Close()
	emitRTT(rtt, total)
}

func emitRTT(rtt []float64, total float64) {
	sort.Float64s(rtt)
	n := len(rtt)
	sum := 0.0
	for _, v := range rtt {
		sum += v
	}
	emit(map[string]any{"ok": true, "role": "ping", "rtts": n,
		"p50_us": rtt[(n-1)*50/100] * 1e6, "p99_us": rtt[(n-1)*99/100] * 1e6,
		"mean_us": sum / float64(n) * 1e6, "min_us": rtt[0] * 1e6, "max_us": rtt[n-1] * 1e6,
		"seconds": total})
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "scale-server" {
		scaleServer(os.Args[2:])
		return
	}
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: goref recv|send|pong|ping origin|batched SIZE COUNT PORT WARMUP")
		os.Exit(2)
	}
	var a args
	a.role, a.mode = os.Args[1], os.Args[2]
	a.size, _ = strconv.Atoi(os.Args[3])
	a.count, _ = strconv.Atoi(os.Args[4])
	a.port, _ = strconv.Atoi(os.Args[5])
	a.warmup, _ = strconv.Atoi(os.Args[6])
	if a.size <= 0 || a.count <= 0 || (a.mode != "origin" && a.mode != "batched") {
		fmt.Fprintln(os.Stderr, "bad arguments")
		os.Exit(2)
	}
	switch a.role {
	case "send":
		send(a)
	case "recv":
		recv(a)
	case "pong":
		pong(a)
	case "ping":
		ping(a)
	default:
		os.Exit(2)
	}
}
