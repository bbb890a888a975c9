package peerwire

/*
#include <stdlib.h>
#include "pwshim.h"
*/
import "C"

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Transport is the origin's transport interface; *TCPTransport implements it.
type Transport interface {
	Addr() string
	Dial(addr string) error
	ListenAndAccept() error
	Consume() <-chan RPC
	Close() error
}

var _ Transport = (*TCPTransport)(nil)

// TCPTransport is a peerwire transport with the origin's shape. It embeds its options like
// the origin did, so fields such as OnPeer can be assigned after NewTCPTransport and before
// the transport starts.
//
// Close is the contract: it stops the transport, closes the Consume() channel and frees the
// library's resources. A finalizer closes a transport that became unreachable, as a safety
// net only. All methods are safe for concurrent use.
type TCPTransport struct {
	TCPTransportOpts
	t *transport
}

// transport is the part shared with the event goroutine, callbacks and peers. It never
// points back to the TCPTransport, so an unreachable TCPTransport can be finalized.
type transport struct {
	startMu  sync.Mutex
	started  bool
	startErr error
	opts     C.pw_opts_h    // owned until start
	h        atomic.Uintptr // the library handle (an id), 0 before start

	bound atomic.Pointer[string] // bound address after listen

	lingerMs   int32
	sendWaitMs int32 // the SendTimeout option as a library timeout: -1 waits until room
	batchSize  int
	rpcch      chan RPC
	done       chan struct{} // closed by Close: the event goroutine stops delivering
	loopDone   chan struct{} // closed when the event goroutine has exited

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	peersMu sync.Mutex
	peers   map[uint64]*TCPPeer
}

// NewTCPTransport creates a transport from opts. Nothing is bound and no goroutine runs until
// ListenAndAccept, Dial or DialPeer. It fails when an option is invalid (errors.Is(err,
// ErrInvalid)) or unsupported by the linked library (errors.Is(err, ErrUnsupported)).
//
// The origin's NewTCPTransport returned only the transport; peerwire's can fail, so it also
// returns an error.
func NewTCPTransport(opts TCPTransportOpts) (*TCPTransport, error) {
	copts, err := buildOptions(&opts)
	if err != nil {
		return nil, err
	}
	consume := opts.ConsumeBuffer
	if consume <= 0 {
		consume = defaultConsumeBuffer
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = defaultBatchSize
	}
	if batch > maxBatchSize {
		batch = maxBatchSize
	}
	linger := int32(-1)
	if opts.Linger < 0 {
		linger = 0
	} else if opts.Linger > 0 {
		linger = int32(durationMs(opts.Linger))
	}
	sendWait := int32(-1) // the library's default: wait for room
	if opts.SendTimeout < 0 {
		sendWait = 0
	} else if opts.SendTimeout > 0 {
		sendWait = int32(durationMs(opts.SendTimeout))
	}
	t := &transport{
		opts:       copts,
		lingerMs:   linger,
		sendWaitMs: sendWait,
		batchSize:  batch,
		rpcch:      make(chan RPC, consume),
		done:       make(chan struct{}),
		loopDone:   make(chan struct{}),
		peers:      make(map[uint64]*TCPPeer),
	}
	tr := &TCPTransport{TCPTransportOpts: opts, t: t}
	runtime.SetFinalizer(tr, func(tr *TCPTransport) {
		// Close may wait for the linger; never hold up the finalizer goroutine.
		go tr.t.close()
	})
	return tr, nil
}

func buildOptions(o *TCPTransportOpts) (C.pw_opts_h, error) {
	const op = "NewTCPTransport"
	r := C.pw_options_new()
	if err := ret(op, r); err != nil {
		return 0, err
	}
	copts := C.pw_opts_h(r.handle)
	fail := func(err error) (C.pw_opts_h, error) {
		C.pw_options_free(copts)
		return 0, err
	}
	set := func(key C.int, v int64) error {
		return ret(op, C.pw_options_set(copts, key, C.int64_t(v)))
	}
	sizes := []struct {
		key  C.int
		v    int
		name string
	}{
		{C.PW_OPT_MAX_FRAME, o.MaxFrame, "MaxFrame"},
		{C.PW_OPT_SEND_QUEUE_BYTES, o.SendQueueBytes, "SendQueueBytes"},
		{C.PW_OPT_RECV_QUEUE_EVENTS, o.RecvQueueEvents, "RecvQueueEvents"},
		{C.PW_OPT_RECV_QUEUE_BYTES, o.RecvQueueBytes, "RecvQueueBytes"},
		{C.PW_OPT_READ_BUFFER, o.ReadBuffer, "ReadBuffer"},
		{C.PW_OPT_MAX_CONNECTIONS, o.MaxConnections, "MaxConnections"},
		{C.PW_OPT_WORKERS, o.Workers, "Workers"},
	}
	for _, s := range sizes {
		if s.v < 0 {
			return fail(newError(op, StatusErrInvalid, "%s must not be negative (got %d)", s.name, s.v))
		}
		if s.v == 0 {
			continue
		}
		if err := set(s.key, int64(s.v)); err != nil {
			return fail(err)
		}
	}
	durations := []struct {
		key  C.int
		d    time.Duration
		name string
	}{
		{C.PW_OPT_HANDSHAKE_TIMEOUT_MS, o.HandshakeTimeout, "HandshakeTimeout"},
		{C.PW_OPT_CONNECT_TIMEOUT_MS, o.ConnectTimeout, "ConnectTimeout"},
	}
	for _, s := range durations {
		if s.d < 0 {
			return fail(newError(op, StatusErrInvalid, "%s must not be negative (got %v)", s.name, s.d))
		}
		if s.d == 0 {
			continue
		}
		if err := set(s.key, durationMs(s.d)); err != nil {
			return fail(err)
		}
	}
	// Negative means "do not wait" for these two.
	for _, s := range []struct {
		key C.int
		d   time.Duration
	}{{C.PW_OPT_SEND_TIMEOUT_MS, o.SendTimeout}, {C.PW_OPT_LINGER_MS, o.Linger}} {
		if s.d == 0 {
			continue
		}
		ms := int64(0)
		if s.d > 0 {
			ms = durationMs(s.d)
		}
		if err := set(s.key, ms); err != nil {
			return fail(err)
		}
	}
	// Last, so that a codec's own settings (DefaultDecoder.BufferSize) win. A custom codec's
	// handle belongs to the options from here on: freeing them releases it.
	var dec Decoder = LengthPrefixedDecoder{}
	if o.Decoder != nil {
		dec = o.Decoder
	}
	if err := dec.apply(op, copts); err != nil {
		return fail(err)
	}
	return copts, nil
}

// start creates the library transport from the options as they are now and starts the event
// goroutine. It runs once; its error sticks.
func (tr *TCPTransport) start() error {
	t := tr.t
	t.startMu.Lock()
	defer t.startMu.Unlock()
	if t.closed.Load() {
		return errClosed("start")
	}
	if t.started || t.startErr != nil {
		return t.startErr
	}
	t.startErr = t.startLocked(&tr.TCPTransportOpts)
	return t.startErr
}

func (t *transport) startLocked(o *TCPTransportOpts) error {
	const op = "start"
	laddr, err := listenTarget(o.ListenAddr)
	if err != nil {
		return err
	}
	caddr := C.CString(laddr)
	err = ret(op, C.pw_options_set_listen_addr(t.opts, caddr))
	C.free(unsafe.Pointer(caddr))
	if err != nil {
		return err
	}
	if fn := o.HandshakeFunc; fn != nil && !isNOP(fn) {
		timeout := o.HandshakeTimeout
		if timeout <= 0 {
			timeout = defaultHandshakeTimeout
		}
		h := cgo.NewHandle(&hsConfig{t: t, fn: fn, timeout: timeout})
		liveHandles.Add(1)
		// From here on the library owns the handle and releases it through
		// peerwireGoRelease, exactly once.
		if err := ret(op, C.pw_options_set_handshake(t.opts, C.uintptr_t(h))); err != nil {
			h.Delete()
			liveHandles.Add(-1)
			return err
		}
	}
	r := C.pw_transport_new(t.opts)
	C.pw_options_free(t.opts)
	t.opts = 0
	if err := ret(op, r); err != nil {
		return err
	}
	h := C.pw_transport_h(r.handle)
	t.h.Store(uintptr(h))
	t.started = true
	go t.run(h, o.OnPeer, o.OnDisconnect)
	return nil
}

func isNOP(fn HandshakeFunc) bool {
	return reflect.ValueOf(fn).Pointer() == reflect.ValueOf(HandshakeFunc(NOPHandshakeFunc)).Pointer()
}

// listenTarget turns a Go-style listen address into the "host:port" the library wants.
func listenTarget(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", &Error{Op: "listen", Status: StatusErrAddr, Message: err.Error()}
	}
	if host == "" {
		host = "0.0.0.0"
	} else if _, err := netip.ParseAddr(host); err != nil {
		ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
		if err != nil || len(ips) == 0 {
			return "", &Error{Op: "listen", Status: StatusErrAddr, Message: "cannot resolve " + host}
		}
		host = preferV4(ips).String()
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p, err := net.LookupPort("tcp", port)
		if err != nil {
			return "", &Error{Op: "listen", Status: StatusErrAddr, Message: err.Error()}
		}
		port = strconv.Itoa(p)
	}
	return net.JoinHostPort(host, port), nil
}

func preferV4(ips []netip.Addr) netip.Addr {
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap()
		}
	}
	return ips[0]
}

// dialTargets turns a Go-style dial address into candidate "ip:port" strings.
func dialTargets(ctx context.Context, addr string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &Error{Op: "dial", Status: StatusErrAddr, Message: err.Error()}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p, err := net.LookupPort("tcp", port)
		if err != nil {
			return nil, &Error{Op: "dial", Status: StatusErrAddr, Message: err.Error()}
		}
		port = strconv.Itoa(p)
	}
	if host == "" {
		// As with net.Dial, ":port" means this host.
		return []string{net.JoinHostPort("127.0.0.1", port)}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{net.JoinHostPort(ip.Unmap().String(), port)}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, &Error{Op: "dial", Status: StatusErrAddr, Message: "cannot resolve " + host}
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.Unmap().String(), port))
	}
	return out, nil
}

// cHandle returns the library handle, 0 before start.
func (t *transport) cHandle() C.pw_transport_h {
	return C.pw_transport_h(t.h.Load())
}

// handle returns the library handle, or an ErrClosed error.
func (t *transport) handle(op string) (C.pw_transport_h, error) {
	if t.closed.Load() {
		return 0, errClosed(op)
	}
	h := t.cHandle()
	if h == 0 {
		return 0, newError(op, StatusErrState, "transport not started: call ListenAndAccept or Dial first")
	}
	return h, nil
}

// fail converts a failed library call; once the transport is closed, every failure reads as
// ErrClosed (the handle may already be gone).
func (t *transport) fail(op string, r C.pw_ret) error {
	err := ret(op, r)
	if err != nil && t.closed.Load() {
		var pe *Error
		if errors.As(err, &pe) && pe.Status == StatusErrHandle {
			return errClosed(op)
		}
	}
	return err
}

// ListenAndAccept binds ListenAddr and accepts connections in the background (on the
// library's runtime); it returns once bound. Addr() then reports the bound address.
func (tr *TCPTransport) ListenAndAccept() error {
	defer runtime.KeepAlive(tr)
	if err := tr.start(); err != nil {
		return err
	}
	t := tr.t
	h, err := t.handle("listen")
	if err != nil {
		return err
	}
	if err := t.fail("listen", C.pw_listen(h)); err != nil {
		return err
	}
	var buf [128]byte
	r := C.pw_local_addr(h, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if err := t.fail("listen", r); err != nil {
		return err
	}
	n := int(r.val)
	if n > len(buf) {
		n = len(buf)
	}
	for n > 0 && buf[n-1] == 0 {
		n--
	}
	s := string(buf[:n])
	t.bound.Store(&s)
	return nil
}

// Addr returns the bound address after ListenAndAccept (so ":0" tells the real port), and
// ListenAddr before it, as the origin did.
func (tr *TCPTransport) Addr() string {
	if s := tr.t.bound.Load(); s != nil {
		return *s
	}
	return tr.ListenAddr
}

// Consume returns the channel on which received messages arrive, in order per peer. It is
// closed after Close (and when the library closes the transport).
func (tr *TCPTransport) Consume() <-chan RPC {
	return tr.t.rpcch
}

// Dial connects to addr and returns once the handshake succeeded or failed (the origin
// returned before the handshake). OnPeer runs for the new peer too, on the delivery
// goroutine, possibly just after Dial returns.
func (tr *TCPTransport) Dial(addr string) error {
	_, err := tr.DialPeer(context.Background(), addr)
	return err
}

// DialPeer is Dial that returns the peer and honours ctx: its deadline bounds the dial, and
// cancelling it makes DialPeer return ctx.Err() at once (a connection that completes later
// is closed).
func (tr *TCPTransport) DialPeer(ctx context.Context, addr string) (Peer, error) {
	defer runtime.KeepAlive(tr)
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if tr.t.closed.Load() {
		return nil, errClosed("dial")
	}
	if err := tr.start(); err != nil {
		return nil, err
	}
	targets, err := dialTargets(ctx, addr)
	if err != nil {
		return nil, err
	}
	var last error
	for _, a := range targets {
		p, err := tr.t.dialOne(ctx, a)
		if err == nil {
			return p, nil
		}
		last = err
		if !errors.Is(err, ErrConnect) {
			break
		}
	}
	return nil, last
}

func (t *transport) dialOne(ctx context.Context, addr string) (*TCPPeer, error) {
	const op = "dial"
	h, err := t.handle(op)
	if err != nil {
		return nil, err
	}
	timeout := C.int32_t(-1)
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		timeout = C.int32_t(durationMs(left))
	}
	call := func() (uint64, error) {
		caddr := C.CString(addr)
		defer C.free(unsafe.Pointer(caddr))
		r := C.pw_dial(h, caddr, timeout)
		if err := t.fail(op, r); err != nil {
			return 0, err
		}
		return uint64(r.val), nil
	}
	if ctx.Done() == nil {
		id, err := call()
		if err != nil {
			return nil, err
		}
		return t.peerFor(id, addr, true), nil
	}
	type result struct {
		id  uint64
		err error
	}
	ch := make(chan result, 1)
	go func() {
		id, err := call()
		ch <- result{id, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, res.err
		}
		return t.peerFor(res.id, addr, true), nil
	case <-ctx.Done():
		go func() {
			if res := <-ch; res.err == nil {
				C.pw_disconnect(h, C.uint64_t(res.id))
			}
		}()
		return nil, ctx.Err()
	}
}

// peerInfo asks the library about a peer.
func (t *transport) peerInfo(h C.pw_transport_h, id uint64) (PeerInfo, error) {
	var info C.peerwire_peer_info
	if err := t.fail("peer_info", C.pw_peer_info(h, C.uint64_t(id), &info)); err != nil {
		return PeerInfo{}, err
	}
	return PeerInfo{
		ID:             uint64(info.id),
		Outbound:       bool(info.outbound),
		Addr:           C.GoString(&info.addr[0]),
		BytesIn:        uint64(info.bytes_in),
		BytesOut:       uint64(info.bytes_out),
		MsgsIn:         uint64(info.msgs_in),
		MsgsOut:        uint64(info.msgs_out),
		SendQueueBytes: uint64(info.send_queue_bytes),
		SendQueueMsgs:  uint64(info.send_queue_msgs),
	}, nil
}

// peerFor returns the one *TCPPeer for a live peer id (dialled, or listed by Peers), shared
// with OnPeer and RPC.Peer.
// A peer already gone is returned unregistered and marked gone, with what the caller knew.
func (t *transport) peerFor(id uint64, addr string, outbound bool) *TCPPeer {
	t.peersMu.Lock()
	p := t.peers[id]
	t.peersMu.Unlock()
	if p != nil {
		return p
	}
	h := t.cHandle()
	info, err := t.peerInfo(h, id)
	if err != nil {
		p = newPeer(t, id, addr, outbound)
		p.gone.Store(true)
		return p
	}
	t.peersMu.Lock()
	if q := t.peers[id]; q != nil {
		p = q
	} else {
		p = newPeer(t, id, info.Addr, info.Outbound)
		t.peers[id] = p
	}
	t.peersMu.Unlock()
	// The event goroutine may have handled this peer's disconnect before the insert above;
	// ask again so the entry cannot outlive the peer.
	if _, err := t.peerInfo(h, id); errors.Is(err, ErrUnknownPeer) {
		t.forget(id, p)
	}
	return p
}

// forget drops a peer from the registry (if it is still the registered one) and marks it gone.
func (t *transport) forget(id uint64, p *TCPPeer) {
	t.peersMu.Lock()
	if p == nil {
		p = t.peers[id]
	}
	if p != nil && t.peers[id] == p {
		delete(t.peers, id)
	}
	t.peersMu.Unlock()
	if p != nil {
		p.gone.Store(true)
	}
}

// Close stops the transport: it stops accepting, flushes queued sends for up to the linger
// time, closes every connection, stops the event goroutine, closes the Consume() channel and
// frees the library transport. Messages not yet taken from Consume() are dropped. Close is
// idempotent and safe from any goroutine; every call returns after the channel is closed.
// Do not call it from a HandshakeFunc.
func (tr *TCPTransport) Close() error {
	runtime.SetFinalizer(tr, nil)
	return tr.t.close()
}

func (t *transport) close() error {
	t.closeOnce.Do(func() {
		t.startMu.Lock()
		t.closed.Store(true)
		started := t.started
		opts := t.opts
		t.opts = 0
		h := t.cHandle()
		t.startMu.Unlock()

		if h != 0 {
			var report C.peerwire_close_report
			r := C.pw_close(h, C.int32_t(t.lingerMs), &report)
			if r.rc < 0 && Status(r.rc) != StatusErrClosed {
				t.closeErr = ret("close", r)
			} else {
				_ = ret("close", r) // frees the detail, if any
			}
		}
		close(t.done)
		if started {
			<-t.loopDone // the event goroutine closes rpcch on its way out
		} else {
			close(t.rpcch)
		}
		if h != 0 {
			C.pw_transport_free(h)
		}
		if opts != 0 {
			C.pw_options_free(opts)
		}
		t.peersMu.Lock()
		for id, p := range t.peers {
			p.gone.Store(true)
			delete(t.peers, id)
		}
		t.peersMu.Unlock()
	})
	return t.closeErr
}

// Broadcast sends msg to every connected peer in one library call and returns how many
// peers it was queued for.
func (tr *TCPTransport) Broadcast(msg []byte) (int, error) {
	defer runtime.KeepAlive(tr)
	t := tr.t
	h, err := t.handle("broadcast")
	if err != nil {
		return 0, err
	}
	r := C.pw_broadcast(h, bytesPtr(msg), C.size_t(len(msg)))
	return int(r.val), t.fail("broadcast", r)
}

// Peers returns the connected peers.
func (tr *TCPTransport) Peers() ([]Peer, error) {
	defer runtime.KeepAlive(tr)
	t := tr.t
	h, err := t.handle("peers")
	if err != nil {
		return nil, err
	}
	ids := make([]C.uint64_t, 64)
	for i := 0; i < 4; i++ {
		r := C.pw_peers(h, &ids[0], C.size_t(len(ids)))
		if err := t.fail("peers", r); err != nil {
			return nil, err
		}
		total := int(r.val)
		if total <= len(ids) {
			out := make([]Peer, 0, total)
			for _, id := range ids[:total] {
				if p := t.peerFor(uint64(id), "", false); !p.gone.Load() {
					out = append(out, p)
				}
			}
			return out, nil
		}
		ids = make([]C.uint64_t, total+total/4+16)
	}
	return nil, newError("peers", StatusErrBuffer, "peer count kept changing")
}

// PeerInfo describes one peer (peerwire_peer_info).
type PeerInfo struct {
	ID                                 uint64
	Outbound                           bool
	Addr                               string
	BytesIn, BytesOut, MsgsIn, MsgsOut uint64
	SendQueueBytes, SendQueueMsgs      uint64
}

// Stats are a transport's counters (peerwire_stats).
type Stats struct {
	BytesIn, BytesOut, MsgsIn, MsgsOut               uint64
	Peers                                            uint64
	ConnectionsAccepted, ConnectionsDialled          uint64
	HandshakeFailures, FramesRefused                 uint64
	SendQueueBytes, RecvQueueEvents, SendsWouldBlock uint64
}

// Stats returns the transport's counters.
func (tr *TCPTransport) Stats() (Stats, error) {
	defer runtime.KeepAlive(tr)
	t := tr.t
	h, err := t.handle("stats")
	if err != nil {
		return Stats{}, err
	}
	var s C.peerwire_stats
	if err := t.fail("stats", C.pw_stats(h, &s)); err != nil {
		return Stats{}, err
	}
	return Stats{
		BytesIn: uint64(s.bytes_in), BytesOut: uint64(s.bytes_out),
		MsgsIn: uint64(s.msgs_in), MsgsOut: uint64(s.msgs_out),
		Peers:               uint64(s.peers),
		ConnectionsAccepted: uint64(s.connections_accepted),
		ConnectionsDialled:  uint64(s.connections_dialled),
		HandshakeFailures:   uint64(s.handshake_failures),
		FramesRefused:       uint64(s.frames_refused),
		SendQueueBytes:      uint64(s.send_queue_bytes),
		RecvQueueEvents:     uint64(s.recv_queue_events),
		SendsWouldBlock:     uint64(s.sends_would_block),
	}, nil
}
