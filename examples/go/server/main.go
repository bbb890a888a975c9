// A small network written the way users of the Go origin's p2p package write theirs: each
// server owns a TCPTransport, bootstraps to known nodes, keeps the peers OnPeer reports, and
// broadcasts to them. Only the import and NewTCPTransport's error changed.
//
//	go run ./server            # three servers in one process, each greets the others
package main

import (
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	p2p "github.com/peerwire/peerwire/bindings/go"
)

type ServerOpts struct {
	Name           string
	Transport      *p2p.TCPTransport
	BootstrapNodes []string
}

type Server struct {
	ServerOpts

	peerLock sync.Mutex
	peers    map[string]p2p.Peer

	gotLock sync.Mutex
	got     []string

	quitch chan struct{}
	done   chan struct{}
}

func NewServer(opts ServerOpts) *Server {
	return &Server{
		ServerOpts: opts,
		peers:      make(map[string]p2p.Peer),
		quitch:     make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// OnPeer keeps every connected peer, inbound or outbound.
func (s *Server) OnPeer(p p2p.Peer) error {
	s.peerLock.Lock()
	defer s.peerLock.Unlock()
	s.peers[p.RemoteAddr().String()] = p
	log.Printf("[%s] connected with %s (outbound: %v)", s.Name, p.RemoteAddr(), p.Outbound())
	return nil
}

func (s *Server) peerCount() int {
	s.peerLock.Lock()
	defer s.peerLock.Unlock()
	return len(s.peers)
}

func (s *Server) broadcast(msg []byte) error {
	s.peerLock.Lock()
	peers := make([]p2p.Peer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.peerLock.Unlock()
	for _, p := range peers {
		if err := p.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) bootstrapNetwork() {
	for _, addr := range s.BootstrapNodes {
		if addr == "" {
			continue
		}
		go func(addr string) {
			if err := s.Transport.Dial(addr); err != nil {
				log.Printf("[%s] dial %s: %v", s.Name, addr, err)
			}
		}(addr)
	}
}

func (s *Server) loop() {
	defer close(s.done)
	for {
		select {
		case rpc, ok := <-s.Transport.Consume():
			if !ok {
				return
			}
			log.Printf("[%s] received from %s: %s", s.Name, rpc.From, rpc.Payload)
			s.gotLock.Lock()
			s.got = append(s.got, string(rpc.Payload))
			s.gotLock.Unlock()
		case <-s.quitch:
			return
		}
	}
}

func (s *Server) received() int {
	s.gotLock.Lock()
	defer s.gotLock.Unlock()
	return len(s.got)
}

func (s *Server) Start() error {
	if err := s.Transport.ListenAndAccept(); err != nil {
		return err
	}
	log.Printf("[%s] listening on %s", s.Name, s.Transport.Addr())
	s.bootstrapNetwork()
	go s.loop()
	return nil
}

func (s *Server) Stop() {
	close(s.quitch)
	<-s.done
	if err := s.Transport.Close(); err != nil {
		log.Printf("[%s] close: %v", s.Name, err)
	}
}

func makeServer(name, listenAddr string, nodes ...string) *Server {
	tcpOpts := p2p.TCPTransportOpts{
		ListenAddr:    listenAddr,
		HandshakeFunc: p2p.NOPHandshakeFunc,
		Decoder:       p2p.LengthPrefixedDecoder{},
	}
	tr, err := p2p.NewTCPTransport(tcpOpts)
	if err != nil {
		log.Fatal(err)
	}
	s := NewServer(ServerOpts{Name: name, Transport: tr, BootstrapNodes: nodes})
	tr.OnPeer = s.OnPeer
	return s
}

// waitUntil polls cond for at most d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	s1 := makeServer("s1", ":0")
	if err := s1.Start(); err != nil {
		log.Fatal(err)
	}
	s2 := makeServer("s2", ":0", s1.Transport.Addr())
	if err := s2.Start(); err != nil {
		log.Fatal(err)
	}
	s3 := makeServer("s3", ":0", s1.Transport.Addr(), s2.Transport.Addr())
	if err := s3.Start(); err != nil {
		log.Fatal(err)
	}
	servers := []*Server{s1, s2, s3}

	ok := waitUntil(5*time.Second, func() bool {
		for _, s := range servers {
			if s.peerCount() != len(servers)-1 {
				return false
			}
		}
		return true
	})
	if !ok {
		log.Print("the mesh did not form")
	}
	for _, s := range servers {
		if err := s.broadcast([]byte(fmt.Sprintf("hello from %s", s.Name))); err != nil {
			log.Printf("[%s] broadcast: %v", s.Name, err)
		}
	}
	ok = waitUntil(5*time.Second, func() bool {
		for _, s := range servers {
			if s.received() != len(servers)-1 {
				return false
			}
		}
		return true
	}) && ok
	for _, s := range servers {
		s.Stop()
	}
	if !ok {
		log.Print("FAIL: not every server heard from every other")
		os.Exit(1)
	}
	log.Print("every server heard from every other")
}
