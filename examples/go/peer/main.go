// Demo peer for `make demo`: listens, dials every address in $PEER_ADDRS (comma separated),
// greets each peer, broadcasts one message, prints what arrives for a few seconds, exits.
//
//	PEER_ADDRS=127.0.0.1:7001,127.0.0.1:7002 go run ./peer -seconds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	peerwire "github.com/peerwire/peerwire/bindings/go"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	seconds := flag.Float64("seconds", 3, "how long to receive")
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
		ListenAddr: listen,
		OnPeer: func(p peerwire.Peer) error {
			if !p.Outbound() {
				say("peer_connected %s", p.RemoteAddr())
			}
			return nil
		},
		OnDisconnect: func(p peerwire.Peer, r peerwire.Reason) {
			say("peer_disconnected %s (%s)", p.RemoteAddr(), r)
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
	me := tr.Addr()
	say("listening on %s (peerwire %s)", me, peerwire.Version())

	dialled := 0
	for _, addr := range addrs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := tr.DialPeer(ctx, addr)
		cancel()
		if err != nil {
			say("could not reach %s: %v", addr, err)
			continue
		}
		dialled++
		if err := p.Send([]byte(fmt.Sprintf("hello from %s at %s", name, me))); err != nil {
			say("greeting %s failed: %v", addr, err)
		}
		say("connected to %s (peer %d)", p.RemoteAddr(), p.ID())
	}
	n, err := tr.Broadcast([]byte("broadcast from " + name))
	if err != nil {
		say("broadcast failed: %v", err)
	}
	say("broadcast to %d peer(s)", n)

	deadline := time.After(receiveFor)
loop:
	for {
		select {
		case rpc, ok := <-tr.Consume():
			if !ok {
				break loop
			}
			say("from %s: %s", rpc.From, strings.ToValidUTF8(string(rpc.Payload), "?"))
		case <-deadline:
			break loop
		}
	}
	if st, err := tr.Stats(); err == nil {
		say("done: %d in, %d out", st.MsgsIn, st.MsgsOut)
	}
	if len(addrs) > 0 && dialled == 0 {
		return 1
	}
	return 0
}
