package peerwire

import (
	"net"
	"time"
)

// RPC is one received message.
type RPC struct {
	From    string // the sender's remote address, "ip:port"
	Payload []byte // owned by the receiver; never reused by the binding
	Peer    Peer   // the sender; Peer.Send answers it
}

// Peer is one connection. It is a net.Conn so that handshake code written for the origin's
// p2p package (which read and wrote the raw connection) keeps working:
//
//   - inside the HandshakeFunc, Read and Write move raw bytes on the connection
//     (peerwire_handshake_recv / peerwire_handshake_send), honouring SetReadDeadline;
//   - after the handshake, Write is Send (one message), and Read fails with ErrState:
//     messages arrive through TCPTransport.Consume.
//
// Close disconnects the peer; RemoteAddr is the remote "ip:port"; LocalAddr is the
// transport's bound address (the C API does not report a dialled connection's own port).
// All methods are safe for concurrent use.
type Peer interface {
	net.Conn
	// Send sends one message (one frame) to the peer.
	Send(msg []byte) error
	// Outbound is true when this side dialled the connection.
	Outbound() bool
	// ID is the library's peer id: unique for the transport's lifetime, never reused.
	ID() uint64
}

// HandshakeFunc runs once per connection, inbound and outbound, before any message is
// delivered, on a library thread (never the goroutine that called Dial). Returning an error
// (or panicking) rejects the connection; Dial then fails with ErrHandshake.
type HandshakeFunc func(Peer) error

// NOPHandshakeFunc accepts every connection without exchanging anything. It costs nothing:
// the binding installs no callback for it.
func NOPHandshakeFunc(Peer) error { return nil }

// TCPTransportOpts configures a transport. The first four fields are the origin's; zero
// values of the others mean the library's defaults.
//
// The fields are read when the transport starts, i.e. at the first ListenAndAccept, Dial or
// DialPeer, so `tr.OnPeer = s.OnPeer` after NewTCPTransport works as it did in the origin.
type TCPTransportOpts struct {
	// ListenAddr is "host:port". ":port" means every IPv4 interface ("0.0.0.0:port"); ""
	// means "127.0.0.1:0". Port 0 picks a free port; Addr() reports it after listening.
	ListenAddr    string
	HandshakeFunc HandshakeFunc // nil or NOPHandshakeFunc: no handshake
	Decoder       Decoder       // nil: LengthPrefixedDecoder; see Decoder
	// OnPeer is called once per connected peer (inbound and outbound), after its handshake
	// and before any of its messages reaches Consume(). Events wait for it, so it should
	// return quickly. An error (or a panic) disconnects the peer.
	OnPeer func(Peer) error

	// OnDisconnect, if set, is called when a connected peer goes away, with the reason, in
	// order with the messages (after the peer's last message was handed to Consume()).
	OnDisconnect func(Peer, Reason)

	MaxFrame         int           // largest message in bytes; default 16 MiB
	HandshakeTimeout time.Duration // deadline for the whole handshake; default 10 s
	ConnectTimeout   time.Duration // default dial timeout; default 10 s
	SendQueueBytes   int           // per-peer send queue; default 4 MiB
	// SendTimeout is how long Send waits for room in a full send queue: 0 means the
	// library's default (wait), > 0 a limit, < 0 fail at once with ErrWouldBlock.
	SendTimeout     time.Duration
	RecvQueueEvents int // library receive queue, in events; default 65536
	RecvQueueBytes  int // library receive queue, in bytes; default 64 MiB
	// Linger bounds how long Close flushes queued sends: 0 means the default (1 s),
	// < 0 means do not wait.
	Linger time.Duration
	// ReadBuffer is the size of one socket read: default 64 KiB, and 1028 bytes (the origin's
	// buffer) with DefaultDecoder, which is also each raw message's largest size.
	// DefaultDecoder.BufferSize, when set, takes precedence.
	ReadBuffer     int
	MaxConnections int // 0: unlimited
	Workers        int // library runtime threads; the first transport of the process decides

	ConsumeBuffer int // capacity of the Consume() channel; default 1024
	BatchSize     int // events taken from the library per cgo call; default 256
}

const (
	defaultConsumeBuffer = 1024
	defaultBatchSize     = 256
	// defaultHandshakeTimeout mirrors the library's default; the binding only uses it to
	// avoid registering a peer whose handshake outlived its deadline.
	defaultHandshakeTimeout = 10 * time.Second
	maxBatchSize            = 65536
	// recvPollMs bounds each blocking receive so the event goroutine notices Close.
	recvPollMs = 100
)

// durationMs converts a positive duration to whole milliseconds, rounding up, capped to int32.
func durationMs(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms > 1<<31-1 {
		ms = 1<<31 - 1
	}
	return ms
}
