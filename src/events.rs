//! Events, the bounded pull queue with its readiness fd, and the gate that keeps callbacks
//! from running after close.

use crate::peer::PeerMeta;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What happened.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum peerwire_event_kind {
    PEERWIRE_EVENT_NONE = 0,
    /// A message arrived (`data`/`len` hold it).
    PEERWIRE_EVENT_MESSAGE = 1,
    /// A connection finished its handshake and became a peer.
    PEERWIRE_EVENT_PEER_CONNECTED = 2,
    /// A peer went away; `reason` says why.
    PEERWIRE_EVENT_PEER_DISCONNECTED = 3,
    /// A connection failed its handshake and never became a peer; `reason` says why.
    PEERWIRE_EVENT_HANDSHAKE_FAILED = 4,
    /// The transport closed; the last event it reports.
    PEERWIRE_EVENT_TRANSPORT_CLOSED = 5,
}
pub use peerwire_event_kind as EventKind;

/// Why a peer went away (or never arrived).
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum peerwire_reason {
    PEERWIRE_REASON_NONE = 0,
    /// The remote closed the connection.
    PEERWIRE_REASON_REMOTE_CLOSED = 1,
    /// Reading or writing failed (reset, broken pipe, ...).
    PEERWIRE_REASON_IO_ERROR = 2,
    /// The remote sent a frame over the maximum frame size.
    PEERWIRE_REASON_FRAME_TOO_LARGE = 3,
    /// The remote's bytes do not follow the codec.
    PEERWIRE_REASON_DECODE_ERROR = 4,
    /// The handshake was rejected by the callback or failed.
    PEERWIRE_REASON_HANDSHAKE_REJECTED = 5,
    /// The handshake did not finish before its deadline.
    PEERWIRE_REASON_HANDSHAKE_TIMEOUT = 6,
    /// `disconnect` was called for this peer.
    PEERWIRE_REASON_CLOSED_LOCALLY = 7,
    /// The transport was closed.
    PEERWIRE_REASON_TRANSPORT_CLOSED = 8,
}
pub use peerwire_reason as Reason;

impl Reason {
    /// Static description (NUL-terminated for the C side).
    pub fn text(self) -> &'static str {
        use Reason::*;
        match self {
            PEERWIRE_REASON_NONE => "none\0",
            PEERWIRE_REASON_REMOTE_CLOSED => "closed by remote\0",
            PEERWIRE_REASON_IO_ERROR => "I/O error\0",
            PEERWIRE_REASON_FRAME_TOO_LARGE => "frame too large\0",
            PEERWIRE_REASON_DECODE_ERROR => "decode error\0",
            PEERWIRE_REASON_HANDSHAKE_REJECTED => "handshake rejected\0",
            PEERWIRE_REASON_HANDSHAKE_TIMEOUT => "handshake timed out\0",
            PEERWIRE_REASON_CLOSED_LOCALLY => "closed locally\0",
            PEERWIRE_REASON_TRANSPORT_CLOSED => "transport closed\0",
        }
    }
    pub fn from_code(v: i32) -> Option<Reason> {
        use Reason::*;
        Some(match v {
            0 => PEERWIRE_REASON_NONE,
            1 => PEERWIRE_REASON_REMOTE_CLOSED,
            2 => PEERWIRE_REASON_IO_ERROR,
            3 => PEERWIRE_REASON_FRAME_TOO_LARGE,
            4 => PEERWIRE_REASON_DECODE_ERROR,
            5 => PEERWIRE_REASON_HANDSHAKE_REJECTED,
            6 => PEERWIRE_REASON_HANDSHAKE_TIMEOUT,
            7 => PEERWIRE_REASON_CLOSED_LOCALLY,
            8 => PEERWIRE_REASON_TRANSPORT_CLOSED,
            _ => return None,
        })
    }
}

/// One event. `meta` is set for everything but `TransportClosed`.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub reason: Reason,
    pub meta: Option<Arc<PeerMeta>>,
    pub payload: Bytes,
}

impl Event {
    pub fn message(meta: &Arc<PeerMeta>, payload: Bytes) -> Event {
        Event {
            kind: EventKind::PEERWIRE_EVENT_MESSAGE,
            reason: Reason::PEERWIRE_REASON_NONE,
            meta: Some(meta.clone()),
            payload,
        }
    }
    pub fn peer(kind: EventKind, meta: &Arc<PeerMeta>, reason: Reason) -> Event {
        Event { kind, reason, meta: Some(meta.clone()), payload: Bytes::new() }
    }
    pub fn closed() -> Event {
        Event {
            kind: EventKind::PEERWIRE_EVENT_TRANSPORT_CLOSED,
            reason: Reason::PEERWIRE_REASON_NONE,
            meta: None,
            payload: Bytes::new(),
        }
    }
    /// Peer id, 0 when the event is not about a peer.
    pub fn peer_id(&self) -> u64 {
        self.meta.as_ref().map(|m| m.id).unwrap_or(0)
    }
}

/// A callback for events. Runs on runtime threads, serialized per peer.
pub type Handler = Arc<dyn Fn(&Event) + Send + Sync>;

/// Result of a pull.
#[derive(Debug, PartialEq, Eq)]
pub enum Pull {
    /// At least one event was taken.
    Got(usize),
    /// Non-blocking pull, nothing there.
    Empty,
    /// Waited the whole timeout.
    TimedOut,
    /// Closed and drained.
    Closed,
}

struct QueueInner {
    events: VecDeque<Event>,
    bytes: usize,
    closed: bool,
    waiting: usize,
    fd_ready: bool,
}

/// The bounded pull queue. Producers that find it full wait (so their socket is not read and
/// TCP pushes back); nothing is ever dropped silently. Peer and transport events are never
/// refused: there is at most a handful per peer.
pub struct EventQueue {
    inner: Mutex<QueueInner>,
    /// Events queued (or closed: usize::MAX); read without the lock while spinning.
    ready: AtomicUsize,
    cond: Condvar,
    space: tokio::sync::Notify,
    producers_blocked: AtomicBool,
    max_events: usize,
    max_bytes: usize,
    fd: ReadyFd,
}

impl EventQueue {
    pub fn new(max_events: usize, max_bytes: usize) -> std::io::Result<EventQueue> {
        Ok(EventQueue {
            inner: Mutex::new(QueueInner {
                events: VecDeque::new(),
                bytes: 0,
                closed: false,
                waiting: 0,
                fd_ready: false,
            }),
            ready: AtomicUsize::new(0),
            cond: Condvar::new(),
            space: tokio::sync::Notify::new(),
            producers_blocked: AtomicBool::new(false),
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
            fd: ReadyFd::new()?,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push_locked(&self, q: &mut QueueInner, ev: Event) {
        q.bytes += ev.payload.len();
        q.events.push_back(ev);
        self.ready.store(q.events.len(), Ordering::Release);
        if !q.fd_ready {
            q.fd_ready = true;
            self.fd.set();
        }
        if q.waiting > 0 {
            self.cond.notify_one();
        }
    }

    /// Queues as many of `batch` (front first) as fit, in one lock. Returns how many.
    fn try_push_some(&self, batch: &mut std::collections::VecDeque<Event>) -> usize {
        let mut q = self.lock();
        if q.closed {
            let n = batch.len();
            batch.clear();
            return n;
        }
        let mut n = 0;
        while let Some(ev) = batch.front() {
            let len = ev.payload.len();
            if !q.events.is_empty() && (q.events.len() >= self.max_events || q.bytes + len > self.max_bytes) {
                self.producers_blocked.store(true, Ordering::Release);
                break;
            }
            q.bytes += len;
            q.events.push_back(batch.pop_front().expect("front exists"));
            n += 1;
        }
        if n > 0 {
            self.ready.store(q.events.len(), Ordering::Release);
            if !q.fd_ready {
                q.fd_ready = true;
                self.fd.set();
            }
            if q.waiting > 0 {
                self.cond.notify_one();
            }
        }
        n
    }

    /// Queues every event of `batch`, in order, waiting for room as needed (one lock and at
    /// most one wake-up per call when there is room). Returns false if `stop` fired first;
    /// what was not queued then stays in `batch`.
    pub async fn push_batch(&self, batch: &mut std::collections::VecDeque<Event>, stop: &tokio::sync::Notify) -> bool {
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            self.try_push_some(batch);
            if batch.is_empty() {
                return true;
            }
            tokio::select! {
                _ = &mut space => {}
                _ = stop.notified() => {
                    stop.notify_one();
                    return false;
                }
            }
        }
    }

    /// Queues a peer or transport event regardless of the bound.
    pub fn push_control(&self, ev: Event) {
        let mut q = self.lock();
        if !q.closed {
            self.push_locked(&mut q, ev);
        }
    }

    /// Takes up to `max` events into `out`. `timeout`: `Some(0)` polls, `None` waits forever.
    pub fn pull(&self, out: &mut Vec<Event>, max: usize, timeout: Option<Duration>) -> Pull {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut spun = false;
        let mut q = self.lock();
        loop {
            if !q.events.is_empty() {
                let n = max.min(q.events.len());
                let mut bytes = 0;
                out.extend(q.events.drain(..n).inspect(|e| bytes += e.payload.len()));
                q.bytes -= bytes;
                self.ready.store(if q.closed { usize::MAX } else { q.events.len() }, Ordering::Release);
                if q.events.is_empty() && q.fd_ready && !q.closed {
                    q.fd_ready = false;
                    self.fd.clear();
                }
                drop(q);
                if self.producers_blocked.swap(false, Ordering::AcqRel) {
                    self.space.notify_waiters();
                }
                return Pull::Got(n);
            }
            if q.closed {
                return Pull::Closed;
            }
            if timeout != Some(Duration::ZERO) && !spun {
                // Before sleeping, yield-spin briefly: an answer that is on its way arrives
                // without the cost of waking a sleeping thread (tens of µs on small VMs).
                spun = true;
                drop(q);
                let until = Instant::now() + SPIN_BEFORE_PARK;
                while self.ready.load(Ordering::Acquire) == 0 && Instant::now() < until {
                    std::thread::yield_now();
                }
                q = self.lock();
                continue;
            }
            match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return if timeout == Some(Duration::ZERO) { Pull::Empty } else { Pull::TimedOut };
                    }
                    q.waiting += 1;
                    let (g, _) = self.cond.wait_timeout(q, d - now).unwrap_or_else(|e| e.into_inner());
                    q = g;
                    q.waiting -= 1;
                }
                None => {
                    q.waiting += 1;
                    q = self.cond.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.waiting -= 1;
                }
            }
        }
    }

    /// No more events will be queued; pullers drain what is there, then see `Closed`.
    pub fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        self.ready.store(usize::MAX, Ordering::Release);
        if !q.fd_ready {
            q.fd_ready = true;
            self.fd.set();
        }
        self.cond.notify_all();
        drop(q);
        self.space.notify_waiters();
    }

    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The readiness fd: readable while events wait or once the queue is closed.
    pub fn fd(&self) -> i32 {
        self.fd.raw()
    }
}

/// A level-triggered readiness descriptor (eventfd on Linux, a pipe elsewhere).
struct ReadyFd {
    read: i32,
    write: i32,
}

impl ReadyFd {
    #[cfg(target_os = "linux")]
    fn new() -> std::io::Result<ReadyFd> {
        // SAFETY: plain syscall with constant flags; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ReadyFd { read: fd, write: fd })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> std::io::Result<ReadyFd> {
        let mut fds = [0i32; 2];
        // SAFETY: fds is a valid array of two ints; the result is checked.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in fds {
            // SAFETY: fd was just returned by pipe().
            unsafe {
                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(ReadyFd { read: fds[0], write: fds[1] })
    }

    fn set(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor this object owns.
        unsafe { libc::write(self.write, &one as *const u64 as *const libc::c_void, 8) };
    }

    fn clear(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: reads into a live stack buffer of the given size from an owned descriptor.
        unsafe { libc::read(self.read, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    }

    fn raw(&self) -> i32 {
        self.read
    }
}

impl Drop for ReadyFd {
    fn drop(&mut self) {
        // SAFETY: both descriptors are owned by this object and closed once.
        unsafe {
            libc::close(self.read);
            if self.write != self.read {
                libc::close(self.write);
            }
        }
    }
}

/// How long a waiting pull yield-spins before it sleeps.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

const GATE_CLOSED: usize = 1 << (usize::BITS - 1);

/// Finalizers run once, after the last callback returned (user-data destructors).
pub type Finalizer = Box<dyn FnOnce() + Send>;

/// Admits callbacks while open; once closed, admits none, and runs the finalizers exactly
/// once when the callbacks in flight have returned.
pub struct Gate {
    state: AtomicUsize,
    finalizers: Mutex<Option<Vec<Finalizer>>>,
    idle: Condvar,
    idle_lock: Mutex<()>,
}

/// Held while a callback runs.
pub struct GateGuard<'a> {
    gate: &'a Gate,
}

impl Gate {
    pub fn new(finalizers: Vec<Finalizer>) -> Gate {
        Gate {
            state: AtomicUsize::new(0),
            finalizers: Mutex::new(Some(finalizers)),
            idle: Condvar::new(),
            idle_lock: Mutex::new(()),
        }
    }

    /// Admits one callback, or `None` once closed.
    #[inline]
    pub fn enter(&self) -> Option<GateGuard<'_>> {
        let prev = self.state.fetch_add(1, Ordering::AcqRel);
        let guard = GateGuard { gate: self };
        if prev & GATE_CLOSED != 0 {
            drop(guard);
            return None;
        }
        Some(guard)
    }

    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & GATE_CLOSED != 0
    }

    fn run_finalizers(&self) {
        // Run while holding the lock, so that a closer racing with the last callback
        // returns only after the destructors have finished.
        let mut slot = self.finalizers.lock().unwrap_or_else(|e| e.into_inner());
        for f in slot.take().into_iter().flatten() {
            f();
        }
    }

    /// Closes the gate. With `wait`, returns once no callback runs and the finalizers ran;
    /// without (on a library thread, maybe inside a callback), the last callback to return
    /// runs them.
    pub fn close(&self, wait: bool) {
        let prev = self.state.fetch_or(GATE_CLOSED, Ordering::AcqRel);
        if wait {
            let mut g = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
            while self.state.load(Ordering::Acquire) & !GATE_CLOSED != 0 {
                g = self.idle.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            drop(g);
            self.run_finalizers();
        } else if prev & !GATE_CLOSED == 0 {
            self.run_finalizers();
        }
    }
}

impl Drop for GateGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let prev = self.gate.state.fetch_sub(1, Ordering::AcqRel);
        if prev == GATE_CLOSED | 1 {
            {
                let _g = self.gate.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
                self.gate.idle.notify_all();
            }
            self.gate.run_finalizers();
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.run_finalizers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_runs_finalizers_once_after_last_callback() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let gate = Gate::new(vec![Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })]);
        let g = gate.enter().unwrap();
        gate.close(false);
        assert!(gate.enter().is_none());
        assert_eq!(count.load(Ordering::SeqCst), 0, "must wait for the callback in flight");
        drop(g);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        gate.close(true);
        drop(gate);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn queue_fd_is_level_triggered() {
        let q = EventQueue::new(2, 1024).unwrap();
        let readable = |fd: i32| {
            let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd, zero timeout.
            unsafe { libc::poll(&mut p, 1, 0) == 1 }
        };
        assert!(!readable(q.fd()));
        q.push_control(Event::closed());
        assert!(readable(q.fd()));
        assert!(readable(q.fd()), "stays readable until drained");
        let mut out = Vec::new();
        assert_eq!(q.pull(&mut out, 10, Some(Duration::ZERO)), Pull::Got(1));
        assert!(!readable(q.fd()));
        assert_eq!(q.pull(&mut out, 10, Some(Duration::ZERO)), Pull::Empty);
        assert_eq!(q.pull(&mut out, 10, Some(Duration::from_millis(20))), Pull::TimedOut);
        q.close();
        assert!(readable(q.fd()));
        assert_eq!(q.pull(&mut out, 10, None), Pull::Closed);
    }
}
