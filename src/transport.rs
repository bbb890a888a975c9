//! The transport: listener, dialer, one task per connection (handshake, then read loop, plus
//! a writer), sending, events and close.

use crate::codec::{Codec, CodecError, Decoded};
use crate::error::{Error, Result};
use crate::events::{Event, EventKind, EventQueue, Gate, Handler, Pull, Reason};
use crate::handshake::{HandshakeFailure, HandshakeIo};
use crate::idmap::IdMap;
use crate::log::log;
use crate::options::{Options, Settings};
use crate::peer::{Peer, PeerId, PeerInfo, PeerMeta};
use crate::runtime::{on_runtime_thread, RuntimeRef};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch, Notify};

const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;

/// Transport-wide counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub peers: u64,
    pub connections_accepted: u64,
    pub connections_dialled: u64,
    pub handshake_failures: u64,
    pub frames_refused: u64,
    pub send_queue_bytes: u64,
    pub recv_queue_events: u64,
    pub sends_would_block: u64,
}

/// What `close` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseReport {
    pub peers_closed: u64,
    pub msgs_dropped: u64,
    pub bytes_dropped: u64,
    pub events_pending: u64,
}

#[derive(Default)]
struct Totals {
    // Counters of peers that are gone (live peers are summed on demand).
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
    accepted: AtomicU64,
    dialled: AtomicU64,
    handshake_failures: AtomicU64,
    frames_refused: AtomicU64,
    would_block: AtomicU64,
    msgs_dropped: AtomicU64,
    bytes_dropped: AtomicU64,
}

/// Counts live tasks so close can wait for them.
#[derive(Default)]
struct Tasks {
    live: AtomicUsize,
    idle: Notify,
}

struct TaskGuard(Arc<Inner>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.tasks.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks.idle.notify_waiters();
        }
    }
}

struct Inner {
    s: Settings,
    codec: Arc<dyn Codec>,
    handshake: Option<Arc<dyn crate::handshake::Handshake>>,
    on_message: Option<Handler>,
    on_peer: Option<Handler>,
    rt: Handle,
    state: AtomicU8,
    closing: watch::Sender<bool>,
    listening: AtomicBool,
    local: Mutex<Option<SocketAddr>>,
    peers: RwLock<IdMap<PeerId, Arc<Peer>>>,
    next_id: AtomicU64,
    connections: AtomicUsize,
    queue: EventQueue,
    gate: Gate,
    totals: Totals,
    tasks: Tasks,
    report: Mutex<Option<CloseReport>>,
    report_cv: Condvar,
    /// Linger of the close in progress, in ms (connections flush that long).
    close_linger_ms: AtomicU64,
    /// What is left of FRAME_RESERVE_BUDGET (see read_loop).
    reserve_budget: AtomicUsize,
}

/// A peer-to-peer TCP transport. Cheap to share across threads (`&Transport` is enough for
/// every call). Dropping it closes it.
pub struct Transport {
    inner: Arc<Inner>,
    _rt: RuntimeRef,
}

impl Transport {
    /// Makes a transport; nothing is bound or dialled yet.
    pub fn new(mut opts: Options) -> Result<Transport> {
        opts.settings.validate()?;
        let rt = RuntimeRef::acquire(opts.settings.workers)?;
        let queue = EventQueue::new(opts.settings.recv_queue_events, opts.settings.recv_queue_bytes)
            .map_err(|e| Error::Io(format!("cannot create the readiness fd: {e}")))?;
        let (closing, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            s: opts.settings.clone(),
            codec: opts.codec.clone(),
            handshake: opts.handshake.take(),
            on_message: opts.on_message.take(),
            on_peer: opts.on_peer.take(),
            rt: rt.handle().clone(),
            state: AtomicU8::new(OPEN),
            closing,
            listening: AtomicBool::new(false),
            local: Mutex::new(None),
            peers: RwLock::new(IdMap::default()),
            next_id: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            queue,
            gate: Gate::new(std::mem::take(&mut opts.finalizers)),
            totals: Totals::default(),
            tasks: Tasks::default(),
            report: Mutex::new(None),
            report_cv: Condvar::new(),
            close_linger_ms: AtomicU64::new(opts.settings.linger.as_millis() as u64),
            reserve_budget: AtomicUsize::new(crate::limits::FRAME_RESERVE_BUDGET),
        });
        Ok(Transport { inner, _rt: rt })
    }

    /// Binds the listen address and accepts in the background. Returns the bound address.
    pub fn listen(&self) -> Result<SocketAddr> {
        self.inner.listen()
    }

    /// The bound address (after `listen`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.inner.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connects to `addr`, runs the handshake, and returns the new peer's id. `timeout`
    /// bounds connecting (default: the connect timeout); the handshake has its own deadline.
    pub fn dial(&self, addr: &str, timeout: Option<Duration>) -> Result<PeerId> {
        self.inner.check_open()?;
        if on_runtime_thread() {
            return Err(Error::in_callback("dial"));
        }
        let inner = self.inner.clone();
        let mut closing = inner.closing.subscribe();
        self.inner.rt.block_on(async move {
            tokio::select! {
                r = inner.clone().dial(addr, timeout) => r,
                _ = crate::transport::closed(&mut closing) => Err(Error::Closed),
            }
        })
    }

    /// Sends one message, waiting for room as the send timeout allows.
    pub fn send(&self, peer: PeerId, data: &[u8]) -> Result<()> {
        self.send_timeout(peer, data, self.inner.s.send_timeout)
    }

    /// Sends one message; `timeout` as for [`Settings::send_timeout`]. On library threads it
    /// never waits.
    pub fn send_timeout(&self, peer: PeerId, data: &[u8], timeout: Option<Duration>) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        inner.check_frame(data.len())?;
        let p = inner.peer(peer)?;
        inner.send_outcome(p.send(data, send_wait(timeout)))
    }

    /// Sends several messages to one peer, in order, under one lock and with one writer
    /// wake-up. Every size is checked first: one over the frame limit refuses the whole
    /// batch. Otherwise it stops at the first message that cannot be queued within `timeout`
    /// (as for [`Transport::send_timeout`]) and returns how many were queued with the reason.
    pub fn send_batch(&self, peer: PeerId, msgs: &[&[u8]], timeout: Option<Duration>) -> (usize, Result<()>) {
        let inner = &self.inner;
        let checked = inner
            .check_open()
            .and_then(|_| msgs.iter().try_for_each(|m| inner.check_frame(m.len())))
            .and_then(|_| inner.peer(peer));
        match checked {
            Ok(p) => {
                let (n, r) = p.send_many(&mut msgs.iter().copied(), send_wait(timeout));
                (n, inner.send_outcome(r))
            }
            Err(e) => (0, Err(e)),
        }
    }

    /// Queues `data` to every connected peer without waiting; returns how many took it.
    /// Peers whose queue is full are skipped (counted in `sends_would_block`).
    pub fn broadcast(&self, data: &[u8]) -> Result<usize> {
        let inner = &self.inner;
        inner.check_open()?;
        inner.check_frame(data.len())?;
        let peers: Vec<Arc<Peer>> = inner.peers.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut sent = 0;
        for p in peers {
            if inner.send_outcome(p.send(data, Some(Duration::ZERO))).is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Closes one peer: no more sends, queued ones flushed within the linger time, then a
    /// `PEER_DISCONNECTED` event with `CLOSED_LOCALLY`. Returns at once.
    pub fn disconnect(&self, peer: PeerId) -> Result<()> {
        self.inner.check_open()?;
        let p = self.inner.peer(peer)?;
        p.request_stop(Reason::PEERWIRE_REASON_CLOSED_LOCALLY);
        p.close_sends();
        Ok(())
    }

    /// Ids of the connected peers.
    pub fn peers(&self) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self
            .inner
            .peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|p| !p.is_closing())
            .map(|p| p.id())
            .collect();
        v.sort_unstable();
        v
    }

    /// A snapshot of one peer.
    pub fn peer_info(&self, peer: PeerId) -> Result<PeerInfo> {
        Ok(self.inner.peer(peer)?.info())
    }

    /// Transport-wide counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Takes up to `max` events into `out` from the pull queue. `timeout`: `Some(ZERO)`
    /// polls, `None` waits forever. On library threads it never waits.
    pub fn pull(&self, out: &mut Vec<Event>, max: usize, timeout: Option<Duration>) -> Result<Pull> {
        if max == 0 {
            return Err(Error::Invalid("max must be > 0".into()));
        }
        if on_runtime_thread() && timeout != Some(Duration::ZERO) {
            return match self.inner.queue.pull(out, max, Some(Duration::ZERO)) {
                Pull::Empty => Err(Error::in_callback("a waiting receive")),
                other => Ok(other),
            };
        }
        Ok(self.inner.queue.pull(out, max, timeout))
    }

    /// The readiness fd: readable (level-triggered) while events wait in the pull queue, and
    /// once the transport is closed. Owned by the transport.
    pub fn event_fd(&self) -> i32 {
        self.inner.queue.fd()
    }

    /// Closes: stops accepting, stops every connection, flushes queued sends up to `linger`
    /// (default: the option), waits for its tasks, and reports what was dropped. Idempotent.
    /// On a library thread (inside a callback) it cannot wait: delivery stops at once and the
    /// rest finishes in the background.
    pub fn close(&self, linger: Option<Duration>) -> Result<CloseReport> {
        Ok(self.inner.close(linger))
    }

    pub fn is_closed(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) != OPEN
    }

    /// The codec's name.
    pub fn codec_name(&self) -> &'static str {
        self.inner.codec.name()
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.inner.close(None);
    }
}

impl Inner {
    fn check_open(&self) -> Result<()> {
        if self.state.load(Ordering::Acquire) == OPEN {
            Ok(())
        } else {
            Err(Error::Closed)
        }
    }

    /// Refuses (and counts) a message over the frame limit.
    fn check_frame(&self, len: usize) -> Result<()> {
        if len > self.s.max_frame {
            self.totals.frames_refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::TooLarge { size: len, limit: self.s.max_frame });
        }
        Ok(())
    }

    /// Counts refused sends; a send woken by close reports the close, not the peer's departure.
    fn send_outcome(&self, r: Result<()>) -> Result<()> {
        match r {
            Err(e @ Error::WouldBlock { .. }) => {
                self.totals.would_block.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
            Err(Error::UnknownPeer(_)) if self.state.load(Ordering::Acquire) != OPEN => Err(Error::Closed),
            r => r,
        }
    }

    fn peer(&self, id: PeerId) -> Result<Arc<Peer>> {
        self.peers.read().unwrap_or_else(|e| e.into_inner()).get(&id).cloned().ok_or(Error::UnknownPeer(id))
    }

    fn track(self: &Arc<Self>) -> TaskGuard {
        self.tasks.live.fetch_add(1, Ordering::AcqRel);
        TaskGuard(self.clone())
    }

    fn stats(&self) -> Stats {
        let t = &self.totals;
        let mut s = Stats {
            bytes_in: t.bytes_in.load(Ordering::Relaxed),
            bytes_out: t.bytes_out.load(Ordering::Relaxed),
            msgs_in: t.msgs_in.load(Ordering::Relaxed),
            msgs_out: t.msgs_out.load(Ordering::Relaxed),
            connections_accepted: t.accepted.load(Ordering::Relaxed),
            connections_dialled: t.dialled.load(Ordering::Relaxed),
            handshake_failures: t.handshake_failures.load(Ordering::Relaxed),
            frames_refused: t.frames_refused.load(Ordering::Relaxed),
            sends_would_block: t.would_block.load(Ordering::Relaxed),
            recv_queue_events: self.queue.len() as u64,
            ..Stats::default()
        };
        let peers = self.peers.read().unwrap_or_else(|e| e.into_inner());
        for p in peers.values() {
            let (i, closing) = p.snapshot();
            s.bytes_in += i.bytes_in;
            s.bytes_out += i.bytes_out;
            s.msgs_in += i.msgs_in;
            s.msgs_out += i.msgs_out;
            s.send_queue_bytes += i.send_queue_bytes;
            if !closing {
                s.peers += 1;
            }
        }
        s
    }

    /// Calls `h` unless the gate is closed; a panicking Rust handler is logged, not spread.
    fn call(&self, h: &Handler, ev: &Event) {
        if let Some(_g) = self.gate.enter() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(ev))).is_err() {
                log!(error, "an event handler panicked (event {:?} of peer {})", ev.kind, ev.peer_id());
            }
        }
    }

    /// Delivers a peer or transport event to its callback or the pull queue.
    fn emit(&self, ev: Event) {
        match &self.on_peer {
            Some(h) => self.call(h, &ev),
            None => self.queue.push_control(ev),
        }
    }

    /// Hands a message to the message callback, or adds it to `batch` for the pull queue
    /// (queued once per read by `read_frames`).
    fn take_message(&self, peer: &Peer, payload: Bytes, batch: &mut VecDeque<Event>) {
        let ev = Event::message(&peer.meta, payload);
        match &self.on_message {
            Some(h) => self.call(h, &ev),
            None => batch.push_back(ev),
        }
    }

    fn listen(self: &Arc<Self>) -> Result<SocketAddr> {
        self.check_open()?;
        if on_runtime_thread() {
            return Err(Error::in_callback("listen"));
        }
        if self.listening.swap(true, Ordering::AcqRel) {
            return Err(Error::State("already listening".into()));
        }
        let result = self.bind();
        if result.is_err() {
            self.listening.store(false, Ordering::Release);
        }
        result
    }

    fn bind(self: &Arc<Self>) -> Result<SocketAddr> {
        let addrs = self.rt.block_on(resolve(&self.s.listen_addr))?;
        let std_listener = std::net::TcpListener::bind(&addrs[..])
            .map_err(|e| Error::Io(format!("cannot listen on {}: {e}", self.s.listen_addr)))?;
        // SAFETY: the fd belongs to a listening socket we own; calling listen() again only
        // raises its backlog (the std default of 128 is small for connection bursts).
        unsafe { libc::listen(std_listener.as_raw_fd(), 4096) };
        std_listener.set_nonblocking(true).map_err(|e| Error::Io(e.to_string()))?;
        let local = std_listener.local_addr().map_err(|e| Error::Io(e.to_string()))?;
        let listener = {
            let _g = self.rt.enter();
            TcpListener::from_std(std_listener).map_err(|e| Error::Io(e.to_string()))?
        };
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = Some(local);
        let guard = self.track();
        let me = self.clone();
        self.rt.spawn(async move {
            let _guard = guard;
            me.accept_loop(listener).await;
        });
        log!(info, "listening on {local}");
        Ok(local)
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        let mut closing = self.closing.subscribe();
        loop {
            tokio::select! {
                _ = crate::transport::closed(&mut closing) => break,
                r = listener.accept() => match r {
                    Ok((stream, addr)) => {
                        let max = self.s.max_connections;
                        if max > 0 && self.connections.load(Ordering::Acquire) >= max {
                            log!(warn, "refusing {addr}: {max} connections already");
                            continue;
                        }
                        self.totals.accepted.fetch_add(1, Ordering::Relaxed);
                        let guard = self.track();
                        let me = self.clone();
                        tokio::spawn(async move {
                            let _guard = guard;
                            me.run_connection(stream, addr, false, None).await;
                        });
                    }
                    Err(e) => {
                        // Out of fds and the like: back off instead of spinning.
                        log!(warn, "accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        log!(debug, "accept loop ended");
    }

    async fn dial(self: Arc<Self>, addr: &str, timeout: Option<Duration>) -> Result<PeerId> {
        let addrs = resolve(addr).await?;
        let limit = timeout.unwrap_or(self.s.connect_timeout);
        let connect = async {
            let mut last = None;
            for a in &addrs {
                match TcpStream::connect(a).await {
                    Ok(s) => return Ok((s, *a)),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.map(|e| e.to_string()).unwrap_or_else(|| "no address".into()))
        };
        let (stream, remote) = match tokio::time::timeout(limit, connect).await {
            Err(_) => {
                return Err(Error::Timeout(format!("connecting to {addr} timed out after {} ms", limit.as_millis())))
            }
            Ok(Err(e)) => return Err(Error::Connect(format!("cannot connect to {addr}: {e}"))),
            Ok(Ok(s)) => s,
        };
        self.totals.dialled.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let guard = self.track();
        let me = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            me.run_connection(stream, remote, true, Some(tx)).await;
        });
        rx.await.unwrap_or(Err(Error::Closed))
    }

    async fn run_connection(
        self: Arc<Self>,
        stream: TcpStream,
        addr: SocketAddr,
        outbound: bool,
        report: Option<oneshot::Sender<Result<PeerId>>>,
    ) {
        self.connections.fetch_add(1, Ordering::AcqRel);
        struct Conn<'a>(&'a AtomicUsize);
        impl Drop for Conn<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _conn = Conn(&self.connections);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let meta = Arc::new(PeerMeta::new(id, addr, outbound));
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);

        if let Err(f) = self.run_handshake(&stream, &meta).await {
            self.totals.handshake_failures.fetch_add(1, Ordering::Relaxed);
            let (reason, err) = match f {
                HandshakeFailure::TimedOut => (
                    Reason::PEERWIRE_REASON_HANDSHAKE_TIMEOUT,
                    Error::HandshakeTimeout(self.s.handshake_timeout.as_millis() as u64),
                ),
                HandshakeFailure::Rejected(m) => (Reason::PEERWIRE_REASON_HANDSHAKE_REJECTED, Error::Handshake(m)),
            };
            log!(debug, "peer {id} ({addr}): {err}");
            self.emit(Event::peer(EventKind::PEERWIRE_EVENT_HANDSHAKE_FAILED, &meta, reason));
            if let Some(tx) = report {
                let _ = tx.send(Err(err));
            }
            return;
        }

        let peer = Arc::new(Peer::new(meta.clone(), stream, self.codec.encoder(), self.s.send_queue_bytes));
        self.peers.write().unwrap_or_else(|e| e.into_inner()).insert(id, peer.clone());
        if self.state.load(Ordering::Acquire) != OPEN {
            // Close ran between the handshake and the insert: it may not have seen us.
            peer.request_stop(Reason::PEERWIRE_REASON_TRANSPORT_CLOSED);
        }
        self.emit(Event::peer(EventKind::PEERWIRE_EVENT_PEER_CONNECTED, &meta, Reason::PEERWIRE_REASON_NONE));
        if let Some(tx) = report {
            let _ = tx.send(Ok(id));
        }
        log!(debug, "peer {id} ({addr}) connected, outbound={outbound}");

        let mut writer = tokio::spawn(peer.clone().run_writer());
        let reason = self.read_loop(&peer).await;
        let local = matches!(reason, Reason::PEERWIRE_REASON_CLOSED_LOCALLY | Reason::PEERWIRE_REASON_TRANSPORT_CLOSED);
        peer.close_sends();
        let mut writer_done = false;
        if local {
            let linger = if reason == Reason::PEERWIRE_REASON_TRANSPORT_CLOSED {
                Duration::from_millis(self.close_linger_ms.load(Ordering::Acquire))
            } else {
                self.s.linger
            };
            let until = tokio::time::Instant::now() + linger;
            if tokio::time::timeout_at(until, &mut writer).await.is_ok() {
                writer_done = true;
                graceful_shutdown(&peer, until).await;
            }
        }
        if !writer_done {
            writer.abort();
            let _ = writer.await;
        }
        let (dm, db) = peer.pending();
        if dm > 0 || db > 0 {
            self.totals.msgs_dropped.fetch_add(dm, Ordering::Relaxed);
            self.totals.bytes_dropped.fetch_add(db, Ordering::Relaxed);
            log!(debug, "peer {id}: {dm} queued messages ({db} bytes) dropped");
        }
        self.retire(&peer);
        log!(debug, "peer {id} disconnected: {:?}", reason);
        self.emit(Event::peer(EventKind::PEERWIRE_EVENT_PEER_DISCONNECTED, &meta, reason));
    }

    /// Moves a departed peer's counters to the totals and forgets it.
    fn retire(&self, peer: &Peer) {
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        if peers.remove(&peer.id()).is_some() {
            let c = &peer.counters;
            let t = &self.totals;
            t.bytes_in.fetch_add(c.bytes_in.load(Ordering::Relaxed), Ordering::Relaxed);
            t.bytes_out.fetch_add(c.bytes_out.load(Ordering::Relaxed), Ordering::Relaxed);
            t.msgs_in.fetch_add(c.msgs_in.load(Ordering::Relaxed), Ordering::Relaxed);
            t.msgs_out.fetch_add(c.msgs_out.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    async fn run_handshake(
        self: &Arc<Self>,
        stream: &Arc<TcpStream>,
        meta: &Arc<PeerMeta>,
    ) -> std::result::Result<(), HandshakeFailure> {
        let Some(h) = self.handshake.clone() else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + self.s.handshake_timeout;
        let cancelled = Arc::new(AtomicBool::new(false));
        let hit_deadline = Arc::new(AtomicBool::new(false));
        let io = HandshakeIo {
            stream: stream.clone(),
            meta: meta.clone(),
            deadline,
            timeout_ms: self.s.handshake_timeout.as_millis() as u64,
            rt: self.rt.clone(),
            cancelled: cancelled.clone(),
            hit_deadline: hit_deadline.clone(),
            closing: self.closing.subscribe(),
        };
        let me = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let Some(_g) = me.gate.enter() else {
                return Err("transport closing".to_string());
            };
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.handshake(&io))) {
                Ok(r) => r,
                Err(_) => Err("handshake callback panicked".to_string()),
            }
        });
        let mut closing = self.closing.subscribe();
        let stop = |stream: &TcpStream| {
            cancelled.store(true, Ordering::Release);
            // SAFETY: shuts down (does not close) a socket we hold a reference to, so the
            // callback's pending I/O fails at once instead of waiting for its own timeout.
            unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR) };
        };
        tokio::select! {
            r = tokio::time::timeout_at(deadline, job) => match r {
                Ok(Ok(Ok(()))) if tokio::time::Instant::now() <= deadline => Ok(()),
                Ok(Ok(Ok(()))) => Err(HandshakeFailure::TimedOut),
                Ok(Ok(Err(_))) if hit_deadline.load(Ordering::Acquire) => Err(HandshakeFailure::TimedOut),
                Ok(Ok(Err(m))) => Err(HandshakeFailure::Rejected(m)),
                Ok(Err(_)) => Err(HandshakeFailure::Rejected("handshake task failed".into())),
                Err(_) => {
                    stop(stream);
                    Err(HandshakeFailure::TimedOut)
                }
            },
            _ = crate::transport::closed(&mut closing) => {
                stop(stream);
                Err(HandshakeFailure::Rejected("transport closing".into()))
            }
        }
    }

    async fn read_loop(&self, peer: &Arc<Peer>) -> Reason {
        let mut reserved = 0usize;
        let reason = self.read_frames(peer, &mut reserved).await;
        self.give_reserve(reserved);
        reason
    }

    /// Takes `n` bytes of the frame reserve budget if that much is left.
    fn take_reserve(&self, n: usize) -> bool {
        self.reserve_budget.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(n)).is_ok()
    }

    fn give_reserve(&self, n: usize) {
        if n > 0 {
            self.reserve_budget.fetch_add(n, Ordering::AcqRel);
        }
    }

    async fn read_frames(&self, peer: &Arc<Peer>, reserved: &mut usize) -> Reason {
        let max = self.s.max_frame;
        let read_size = self.codec.read_size().unwrap_or(self.s.read_buffer).max(1);
        let mut decoder = self.codec.decoder();
        let mut buf = BytesMut::new();
        let mut want = 0usize;
        // Messages of one read go to the pull queue together: one lock, one wake-up.
        let mut batch: VecDeque<Event> = VecDeque::new();
        let stopped = || peer.stop_reason().unwrap_or(Reason::PEERWIRE_REASON_TRANSPORT_CLOSED);
        loop {
            if buf.is_empty() && buf.capacity() > 0 {
                // Idle peers hold no read buffer.
                buf = BytesMut::new();
            }
            tokio::select! {
                biased;
                _ = peer.stop.notified() => return stopped(),
                r = peer.stream.readable() => if let Err(e) = r {
                    log!(debug, "peer {}: {e}", peer.id());
                    return Reason::PEERWIRE_REASON_IO_ERROR;
                }
            }
            // A large frame's claimed size is reserved at once only within the transport's
            // reserve budget; otherwise the buffer grows only as its bytes arrive.
            let reserve = if want > read_size {
                if *reserved == 0 && self.take_reserve(want) {
                    *reserved = want;
                    want
                } else {
                    want.min(read_size.max(buf.len()))
                }
            } else {
                read_size
            };
            buf.reserve(reserve);
            let mut frames = 0u64;
            let result = match peer.stream.try_read_buf(&mut buf) {
                Ok(0) => {
                    match decoder.decode_eof(&mut buf, max) {
                        Ok(Some(last)) => {
                            frames += 1;
                            self.take_message(peer, last, &mut batch);
                        }
                        Ok(None) => {}
                        Err(e) => log!(debug, "peer {}: remote closed mid-frame: {e}", peer.id()),
                    }
                    Some(Reason::PEERWIRE_REASON_REMOTE_CLOSED)
                }
                Ok(n) => {
                    peer.counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    self.decode_all(peer, decoder.as_mut(), &mut buf, &mut want, reserved, &mut batch, &mut frames)
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    log!(debug, "peer {}: read failed: {e}", peer.id());
                    Some(Reason::PEERWIRE_REASON_IO_ERROR)
                }
            };
            peer.counters.msgs_in.fetch_add(frames, Ordering::Relaxed);
            // What was decoded before an error or the end is still delivered.
            if !batch.is_empty() && !self.queue.push_batch(&mut batch, &peer.stop).await {
                return stopped();
            }
            if let Some(reason) = result {
                return reason;
            }
        }
    }

    /// Decodes every complete frame in `buf`; returns why the connection must end, if it must.
    #[allow(clippy::too_many_arguments)]
    fn decode_all(
        &self,
        peer: &Peer,
        decoder: &mut dyn crate::codec::Decoder,
        buf: &mut BytesMut,
        want: &mut usize,
        reserved: &mut usize,
        batch: &mut VecDeque<Event>,
        frames: &mut u64,
    ) -> Option<Reason> {
        let max = self.s.max_frame;
        loop {
            let before = buf.len();
            match decoder.decode(buf, max) {
                // A decoder that hands out frames without consuming input would loop forever.
                Ok(Decoded::Frame(_)) if buf.len() >= before => {
                    log!(warn, "peer {}: the codec produced a frame without consuming input; closing", peer.id());
                    return Some(Reason::PEERWIRE_REASON_DECODE_ERROR);
                }
                Ok(Decoded::Frame(payload)) => {
                    self.give_reserve(std::mem::take(reserved));
                    *frames += 1;
                    self.take_message(peer, payload, batch);
                }
                Ok(Decoded::NeedMore(hint)) => {
                    *want = hint;
                    return None;
                }
                Err(CodecError::FrameTooLarge { size, limit }) => {
                    self.totals.frames_refused.fetch_add(1, Ordering::Relaxed);
                    log!(info, "peer {}: frame of {size} bytes over the limit of {limit}; closing", peer.id());
                    return Some(Reason::PEERWIRE_REASON_FRAME_TOO_LARGE);
                }
                Err(e) => {
                    log!(info, "peer {}: {e}; closing", peer.id());
                    return Some(Reason::PEERWIRE_REASON_DECODE_ERROR);
                }
            }
        }
    }

    fn close(&self, linger: Option<Duration>) -> CloseReport {
        let in_rt = on_runtime_thread();
        if self.state.compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
            if !in_rt {
                while r.is_none() {
                    r = self.report_cv.wait(r).unwrap_or_else(|e| e.into_inner());
                }
            }
            return r.clone().unwrap_or_default();
        }
        let linger = linger.unwrap_or(self.s.linger);
        self.close_linger_ms.store(linger.as_millis() as u64, Ordering::Release);
        // send_replace stores the value even when nobody is subscribed yet.
        self.closing.send_replace(true);
        let peers: Vec<Arc<Peer>> = self.peers.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for p in &peers {
            p.request_stop(Reason::PEERWIRE_REASON_TRANSPORT_CLOSED);
        }
        if !in_rt {
            // Tasks end by themselves within the linger; the margin covers scheduling.
            let limit = linger + Duration::from_millis(500);
            let tasks = &self.tasks;
            self.rt.block_on(async {
                let _ = tokio::time::timeout(limit, async {
                    loop {
                        let idle = tasks.idle.notified();
                        tokio::pin!(idle);
                        idle.as_mut().enable();
                        if tasks.live.load(Ordering::Acquire) == 0 {
                            break;
                        }
                        idle.await;
                    }
                })
                .await;
            });
        }
        let report = CloseReport {
            peers_closed: peers.len() as u64,
            msgs_dropped: self.totals.msgs_dropped.load(Ordering::Relaxed),
            bytes_dropped: self.totals.bytes_dropped.load(Ordering::Relaxed),
            events_pending: self.queue.len() as u64,
        };
        self.emit(Event::closed());
        self.queue.close();
        self.gate.close(!in_rt);
        self.state.store(CLOSED, Ordering::Release);
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        self.report_cv.notify_all();
        log!(debug, "transport closed: {report:?}");
        report
    }
}

/// The wait a send may make: none on the library's own threads, where blocking could stall
/// I/O or deadlock.
fn send_wait(timeout: Option<Duration>) -> Option<Duration> {
    if on_runtime_thread() {
        Some(Duration::ZERO)
    } else {
        timeout
    }
}

/// After a local close has flushed: send FIN, then read and discard until the remote closes
/// too (or `until`), so that closing never resets the connection under data it still reads.
async fn graceful_shutdown(peer: &Peer, until: tokio::time::Instant) {
    // SAFETY: shuts down the write side of a socket we hold a reference to.
    unsafe { libc::shutdown(peer.stream.as_raw_fd(), libc::SHUT_WR) };
    let mut scratch = [0u8; 4096];
    let _ = tokio::time::timeout_at(until, async {
        loop {
            if peer.stream.readable().await.is_err() {
                return;
            }
            match peer.stream.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
    .await;
}

/// Resolves once the transport starts closing (the watch guard is not held across awaits).
pub(crate) async fn closed(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|c| *c).await;
}

/// Parses or resolves "ip:port", "[v6]:port", "host:port" or ":port".
pub async fn resolve(addr: &str) -> Result<Vec<SocketAddr>> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Err(Error::Addr("empty address".into()));
    }
    let full = if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_string() };
    if let Ok(sa) = full.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    let Some((host, port)) = full.rsplit_once(':') else {
        return Err(Error::Addr(format!("'{addr}' is not host:port")));
    };
    if port.parse::<u16>().is_err() {
        return Err(Error::Addr(format!("'{addr}': invalid port '{port}'")));
    }
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '/') {
        return Err(Error::Addr(format!("'{addr}': invalid host '{host}'")));
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host(full.as_str())
        .await
        .map_err(|e| Error::Addr(format!("cannot resolve '{addr}': {e}")))?
        .collect();
    if found.is_empty() {
        return Err(Error::Addr(format!("'{addr}' resolved to no address")));
    }
    Ok(found)
}
