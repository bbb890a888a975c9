package main

// The scale benchmark's Go origin-style server: one goroutine per connection reading frames
// through a bufio.Reader, peers kept in a map, broadcast = write the frame to each peer in turn.
//
//	goref scale-server PEERS SIZE
//
// Prints "PORT <n>", waits for PEERS connections, reports memory per idle peer (VmRSS delta),
// accept rate, then writes one SIZE-byte frame to every peer and reports how long that took.
// Times are CLOCK_MONOTONIC seconds so the driver can compare them with the clients' clock.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

func monotonic() float64 {
	var ts syscall.Timespec
	// CLOCK_MONOTONIC = 1
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return -1
}

func raiseNofile(n uint64) {
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	if rl.Max < n {
		rl.Max = n // works as root
	}
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

type goPeer struct {
	conn net.Conn
}

func scaleServer(argv []string) {
	if len(argv) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goref scale-server PEERS SIZE")
		os.Exit(2)
	}
	peersWanted, _ := strconv.Atoi(argv[0])
	size, _ := strconv.Atoi(argv[1])
	raiseNofile(uint64(peersWanted) + 1024)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("scale-server", err)
	}
	runtime.GC()
	base := rssKB()
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)

	var mu sync.Mutex
	peers := make(map[net.Conn]*goPeer)
	connected := make(chan struct{}, peersWanted)
	var firstConn, lastConn float64
	go func() { // the origin's startAcceptLoop
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			now := monotonic()
			p := &goPeer{conn: c}
			mu.Lock()
			if len(peers) == 0 {
				firstConn = now
			}
			peers[c] = p
			lastConn = now
			mu.Unlock()
			go func() { // the origin's handleConn: read frames until the connection ends
				r := bufio.NewReader(c)
				hdr := make([]byte, 4)
				connected <- struct{}{}
				for {
					if _, err := io.ReadFull(r, hdr); err != nil {
						break
					}
					n := binary.BigEndian.Uint32(hdr)
					if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
						break
					}
				}
				mu.Lock()
				delete(peers, c)
				mu.Unlock()
				c.Close()
			}()
		}
	}()
	deadline := time.After(timeout())
	for i := 0; i < peersWanted; i++ {
		select {
		case <-connected:
		case <-deadline:
			fail("scale-server", fmt.Errorf("only %d of %d peers connected within the timeout", i, peersWanted))
		}
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	rss := rssKB()

	var frame bytes.Buffer
	binary.Write(&frame, binary.BigEndian, uint32(size))
	frame.Write(bytes.Repeat([]byte{0xee}, size))
	mu.Lock()
	list := make([]*goPeer, 0, len(peers))
	for _, p := range peers {
		list = append(list, p)
	}
	mu.Unlock()
	t0 := monotonic()
	sent := 0
	for _, p := range list { // the origin's Broadcast: Send to each peer in turn
		p.conn.SetWriteDeadline(time.Now().Add(timeout()))
		if _, err := p.conn.Write(frame.Bytes()); err == nil {
			sent++
		}
	}
	t1 := monotonic()
	n := len(list)
	emit(map[string]any{"ok": true, "role": "scale-server", "impl": "go-origin", "peers": n,
		"rss_base_kb": base, "rss_peers_kb": rss, "bytes_per_peer": float64(rss-base) * 1024 / float64(n),
		"t_first_conn": firstConn, "t_last_conn": lastConn,
		"accept_per_s": float64(n-1) / (lastConn - firstConn),
		"bcast_t0":     t0, "bcast_call_s": t1 - t0, "bcast_sent": sent})
	// wait (bounded) for the clients to hang up, then close everything
	end := time.Now().Add(timeout())
	for time.Now().Before(end) {
		mu.Lock()
		left := len(peers)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ln.Close()
}
