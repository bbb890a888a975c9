// Demo peer for `make demo`: listens, dials every address in $PEER_ADDRS (comma separated),
// greets each peer, broadcasts one message, prints what arrives for a few seconds, exits.
//
// It speaks the demo's handshake, as the C peers (examples/c/peer.c) do: each side sends the
// 8 bytes "PWDEMO1\n" and expects the same 8 bytes back; anything else rejects the connection.
//
//	PEER_ADDRS=127.0.0.1:7001,127.0.0.1:7002 go run ./peer -seconds 5
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	peerwire "github.com/peerwire/peerwire/bindings/go"
)

// greeting is the demo handshake, both ways.
var greeting = []byte("PWDEMO1\n")

func handshake(p peerwire.Peer) error {
	if _, err := p.Write(greeting); err != nil {
		return err
	}
	got := make([]byte, len(greeting))
	if _, err := io.ReadFull(p, got); err != nil { // exactly 8 bytes: no message bytes consumed
		return err
	}
	if !bytes.Equal(got, greeting) {
		return fmt.Errorf("unexpected greeting %q", got)
	}
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	seconds := flag.Float64("seconds", 5, "how long to receive")
	name := flag.String("name", "go", "name used in greetings")
	flag.Parse()
	os.Exit(run(*listen, time.Duration(*seconds*float64(time.Second)), *name))
}

func run(listen string, receiveFor time.Duration, name string) int {
	var addrs []string
	for _, a := range strings.Split(os.Getenv("PEER_ADDRS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	say := func(format string, args ...any) {
		fmt.Printf("[%s] %s\n", name, fmt.Sprintf(format, args...))
	}

	tr, err := peerwire.NewTCPTransport(peerwire.TCPTransportOpts{
		ListenAddr:       listen,
		HandshakeFunc:    handshake,
		HandshakeTimeout: 3 * time.Second,
		OnPeer: func(p peerwire.Peer) error {
			if !p.Outbound() {
				say("peer %d connected (%s, inbound)", p.ID(), p.RemoteAddr())
			}
			return nil
		},
		OnDisconnect: func(p peerwire.Peer, r peerwire.Reason) {
			say("peer %d gone (%s): %s", p.ID(), p.RemoteAddr(), r)
		},
	})
	if err != nil {
		say("error: %v", err)
		return 1
	}
	defer tr.Close()
	if err := tr.ListenAndAccept(); err != nil {
		say("error: %v", err)
		return 1
	}
	say("listening on %s (peerwire %s)", tr.Addr(), peerwire.Version())

	dialled := 0
	for _, addr := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		p, err := tr.DialPeer(ctx, addr)
		cancel()
		if err != nil {
			say("could not reach %s: %v", addr, err)
			continue
		}
		dialled++
		say("peer %d connected (%s, outbound)", p.ID(), p.RemoteAddr())
		if err := p.Send([]byte(fmt.Sprintf("hello from %s (Go)", name))); err != nil {
			say("greeting %s failed: %v", addr, err)
		}
	}
	n, err := tr.Broadcast([]byte(fmt.Sprintf("broadcast from %s (Go) to everyone", name)))
	if err != nil {
		say("broadcast failed: %v", err)
	}
	say("broadcast to %d peers", n)

	deadline := time.After(receiveFor)
loop:
	for {
		select {
		case rpc, ok := <-tr.Consume():
			if !ok {
				break loop
			}
			say("from peer %d (%s): %s", rpc.Peer.ID(), rpc.From, strings.ToValidUTF8(string(rpc.Payload), "?"))
		case <-deadline:
			break loop
		}
	}
	if st, err := tr.Stats(); err == nil {
		say("done: %d messages in, %d out", st.MsgsIn, st.MsgsOut)
	}
	if len(addrs) > 0 && dialled == 0 {
		say("reached none of %d peers", len(addrs))
		return 1
	}
	return 0
}
