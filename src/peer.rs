//! A peer: one connection, its send queue, its writer and its counters.
//!
//! Sending: a frame goes straight to the socket from the caller's thread when the peer's
//! queue is empty and the previous direct write is not too recent; otherwise it is appended
//! to the queue, and the writer task flushes everything queued in one write. Bursts thus
//! coalesce into few syscalls while a lone message costs no thread hand-off.

use crate::codec::Encoder;
use crate::error::{Error, Result};
use crate::events::Reason;
use crate::limits::{DIRECT_WRITE_GAP, KEEP_BUFFER_CAPACITY, LARGE_MESSAGE};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::ffi::CString;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Peer id: u64, unique for the life of a transport, never reused; 0 is never an id.
pub type PeerId = u64;

/// What does not change about a peer.
#[derive(Debug)]
pub struct PeerMeta {
    pub id: PeerId,
    pub addr: SocketAddr,
    /// `addr` as text, NUL-terminated for the C side.
    pub addr_text: CString,
    /// True when we dialled the peer.
    pub outbound: bool,
}

impl PeerMeta {
    pub fn new(id: PeerId, addr: SocketAddr, outbound: bool) -> PeerMeta {
        let addr_text = CString::new(addr.to_string()).unwrap_or_default();
        PeerMeta { id, addr, addr_text, outbound }
    }
}

/// Per-peer counters.
#[derive(Debug, Default)]
pub struct PeerCounters {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub msgs_in: AtomicU64,
    pub msgs_out: AtomicU64,
}

/// A snapshot of one peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub id: PeerId,
    pub addr: SocketAddr,
    pub outbound: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub send_queue_bytes: u64,
    pub send_queue_msgs: u64,
}

struct Outbox {
    buf: BytesMut,
    spare: BytesMut,
    head: BytesMut,
    tail: BytesMut,
    encoder: Box<dyn Encoder>,
    /// The writer task owns a chunk or has been woken to take one: no direct writes.
    writer_busy: bool,
    /// No more sends are accepted.
    closed: bool,
    /// Bytes ever queued / ever written from the queue (stream positions).
    enqueued: u64,
    written: u64,
    /// End position of each queued frame, to count messages out and dropped.
    frame_ends: VecDeque<u64>,
    waiters: usize,
    last_direct: Option<Instant>,
}

/// One connected peer.
pub struct Peer {
    pub meta: Arc<PeerMeta>,
    pub(crate) stream: Arc<TcpStream>,
    out: Mutex<Outbox>,
    room: Condvar,
    pub(crate) wake_writer: Notify,
    /// Wakes the reader to stop; the reason is in `stop_reason`.
    pub(crate) stop: Notify,
    stop_reason: AtomicI32,
    pub counters: PeerCounters,
    send_limit: usize,
}

impl Peer {
    pub(crate) fn new(
        meta: Arc<PeerMeta>,
        stream: Arc<TcpStream>,
        encoder: Box<dyn Encoder>,
        send_limit: usize,
    ) -> Peer {
        Peer {
            meta,
            stream,
            out: Mutex::new(Outbox {
                buf: BytesMut::new(),
                spare: BytesMut::new(),
                head: BytesMut::new(),
                tail: BytesMut::new(),
                encoder,
                writer_busy: false,
                closed: false,
                enqueued: 0,
                written: 0,
                frame_ends: VecDeque::new(),
                waiters: 0,
                last_direct: None,
            }),
            room: Condvar::new(),
            wake_writer: Notify::new(),
            stop: Notify::new(),
            stop_reason: AtomicI32::new(0),
            counters: PeerCounters::default(),
            send_limit,
        }
    }

    pub fn id(&self) -> PeerId {
        self.meta.id
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (as `wait` allows) until `len` more bytes fit in the send queue. An empty queue
    /// always takes one message.
    fn wait_room<'g>(
        &'g self,
        mut o: MutexGuard<'g, Outbox>,
        len: usize,
        wait: Wait,
    ) -> Result<MutexGuard<'g, Outbox>> {
        loop {
            if o.closed {
                return Err(Error::UnknownPeer(self.meta.id));
            }
            // Unwritten bytes: the queue plus what the writer holds and has not written yet.
            let queued = (o.enqueued - o.written) as usize;
            if queued == 0 || queued + len <= self.send_limit {
                return Ok(o);
            }
            // Frames appended earlier in a batch must get going, or room never comes.
            self.wake(&mut o);
            let full = || Error::WouldBlock { peer: self.meta.id, queued, limit: self.send_limit };
            let left = match wait {
                Wait::Never => return Err(full()),
                Wait::Until(d) => match d.saturating_duration_since(Instant::now()) {
                    left if left.is_zero() => return Err(full()),
                    left => Some(left),
                },
                Wait::Forever => None,
            };
            o.waiters += 1;
            o = match left {
                Some(left) => self.room.wait_timeout(o, left).unwrap_or_else(|e| e.into_inner()).0,
                None => self.room.wait(o).unwrap_or_else(|e| e.into_inner()),
            };
            o.waiters -= 1;
        }
    }

    fn encode(o: &mut Outbox, data: &[u8]) -> Result<usize> {
        o.head.clear();
        o.tail.clear();
        o.encoder.encode(data, &mut o.head, &mut o.tail).map_err(|e| match e {
            crate::codec::CodecError::FrameTooLarge { size, limit } => Error::TooLarge { size: size as usize, limit },
            other => Error::Invalid(other.to_string()),
        })?;
        Ok(o.head.len() + data.len() + o.tail.len())
    }

    fn append(o: &mut Outbox, data: &[u8], total: usize, skip: usize) {
        let (head, tail) = (std::mem::take(&mut o.head), std::mem::take(&mut o.tail));
        append_skipping(&mut o.buf, &[&head, data, &tail], skip);
        o.head = head;
        o.tail = tail;
        o.enqueued += (total - skip) as u64;
        let end = o.enqueued;
        o.frame_ends.push_back(end);
    }

    fn wake(&self, o: &mut Outbox) {
        if !o.writer_busy && !o.buf.is_empty() {
            o.writer_busy = true;
            self.wake_writer.notify_one();
        }
    }

    /// Queues (or writes) one message. `timeout`: `Some(ZERO)` never waits, `None` waits
    /// until there is room or the peer goes away.
    pub(crate) fn send(&self, data: &[u8], timeout: Option<Duration>) -> Result<()> {
        let mut o = self.wait_room(self.lock(), data.len(), Wait::from(timeout))?;
        let o = &mut *o;
        let total = Self::encode(o, data)?;

        let mut skip = 0;
        if o.buf.is_empty() && !o.writer_busy {
            let now = Instant::now();
            // Coalescing only pays for small messages; large ones go straight out.
            let burst =
                total < LARGE_MESSAGE && o.last_direct.is_some_and(|t| now.duration_since(t) < DIRECT_WRITE_GAP);
            o.last_direct = Some(now);
            if !burst {
                let parts = [IoSlice::new(&o.head), IoSlice::new(data), IoSlice::new(&o.tail)];
                if let Ok(n) = self.stream.try_write_vectored(&parts) {
                    self.counters.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    if n == total {
                        self.counters.msgs_out.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    skip = n;
                }
                // WouldBlock or an error: queue it; the writer reports real errors.
            }
        }
        Self::append(o, data, total, skip);
        self.wake(o);
        Ok(())
    }

    /// Queues messages in order under one lock, with one writer wake-up. Stops at the first
    /// message that cannot be queued in time; returns how many were queued and why it stopped.
    pub(crate) fn send_many(
        &self,
        msgs: &mut dyn Iterator<Item = &[u8]>,
        timeout: Option<Duration>,
    ) -> (usize, Result<()>) {
        let wait = Wait::from(timeout);
        let mut o = self.lock();
        let mut n = 0;
        for data in msgs {
            o = match self.wait_room(o, data.len(), wait) {
                Ok(g) => g,
                Err(e) => return (n, Err(e)),
            };
            let total = match Self::encode(&mut o, data) {
                Ok(t) => t,
                Err(e) => {
                    self.wake(&mut o);
                    return (n, Err(e));
                }
            };
            Self::append(&mut o, data, total, 0);
            n += 1;
        }
        self.wake(&mut o);
        (n, Ok(()))
    }

    /// Stops accepting sends; the writer flushes what is queued and ends. Returns false when
    /// the peer was already closing.
    pub(crate) fn close_sends(&self) -> bool {
        let mut o = self.lock();
        let first = !o.closed;
        o.closed = true;
        if o.waiters > 0 {
            self.room.notify_all();
        }
        drop(o);
        self.wake_writer.notify_one();
        first
    }

    /// Asks the reader to stop for `reason` (the first reason wins).
    pub(crate) fn request_stop(&self, reason: Reason) {
        let _ = self.stop_reason.compare_exchange(0, reason as i32, Ordering::AcqRel, Ordering::Acquire);
        self.stop.notify_one();
    }

    pub(crate) fn stop_reason(&self) -> Option<Reason> {
        Reason::from_code(self.stop_reason.load(Ordering::Acquire)).filter(|r| *r != Reason::PEERWIRE_REASON_NONE)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.lock().closed
    }

    /// (messages, bytes) queued and not yet written.
    pub(crate) fn pending(&self) -> (u64, u64) {
        let o = self.lock();
        (o.frame_ends.len() as u64, o.enqueued - o.written)
    }

    pub fn info(&self) -> PeerInfo {
        self.snapshot().0
    }

    /// The peer's info and whether it is closing, under one lock.
    pub(crate) fn snapshot(&self) -> (PeerInfo, bool) {
        let (qm, qb, closing) = {
            let o = self.lock();
            (o.frame_ends.len() as u64, o.enqueued - o.written, o.closed)
        };
        (self.info_with(qm, qb), closing)
    }

    fn info_with(&self, qm: u64, qb: u64) -> PeerInfo {
        PeerInfo {
            id: self.meta.id,
            addr: self.meta.addr,
            outbound: self.meta.outbound,
            bytes_in: self.counters.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.counters.bytes_out.load(Ordering::Relaxed),
            msgs_in: self.counters.msgs_in.load(Ordering::Relaxed),
            msgs_out: self.counters.msgs_out.load(Ordering::Relaxed),
            send_queue_bytes: qb,
            send_queue_msgs: qm,
        }
    }

    fn note_written(&self, o: &mut Outbox, n: usize) {
        o.written += n as u64;
        let mut frames = 0;
        while o.frame_ends.front().is_some_and(|&e| e <= o.written) {
            o.frame_ends.pop_front();
            frames += 1;
        }
        self.counters.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        if frames > 0 {
            self.counters.msgs_out.fetch_add(frames, Ordering::Relaxed);
        }
        if o.waiters > 0 {
            self.room.notify_all();
        }
    }

    /// The writer task: flushes the queue whenever woken; ends when sends are closed and the
    /// queue is empty, or on a write error (the reader is then told to stop).
    pub(crate) async fn run_writer(self: Arc<Peer>) {
        loop {
            let next = {
                let mut o = self.lock();
                if o.buf.is_empty() {
                    o.writer_busy = false;
                    if o.waiters > 0 {
                        self.room.notify_all();
                    }
                    if o.closed {
                        return;
                    }
                    None
                } else {
                    o.writer_busy = true;
                    let spare = std::mem::take(&mut o.spare);
                    let chunk = std::mem::replace(&mut o.buf, spare);
                    if o.waiters > 0 {
                        self.room.notify_all();
                    }
                    Some(chunk)
                }
            };
            let Some(mut chunk) = next else {
                self.wake_writer.notified().await;
                continue;
            };
            let mut off = 0;
            while off < chunk.len() {
                if let Err(e) = self.stream.writable().await {
                    return self.write_failed(e);
                }
                match self.stream.try_write(&chunk[off..]) {
                    Ok(n) => {
                        off += n;
                        self.note_written(&mut self.lock(), n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return self.write_failed(e),
                }
            }
            chunk.clear();
            let mut o = self.lock();
            // Keep the buffer while busy (no reallocation per chunk); shrink when going idle.
            if o.spare.capacity() == 0 && (!o.buf.is_empty() || chunk.capacity() <= KEEP_BUFFER_CAPACITY) {
                o.spare = chunk;
            } else if o.buf.is_empty() && o.spare.capacity() > KEEP_BUFFER_CAPACITY {
                o.spare = BytesMut::new();
            }
        }
    }

    fn write_failed(&self, e: std::io::Error) {
        crate::log::log!(debug, "peer {}: write failed: {e}", self.meta.id);
        let mut o = self.lock();
        o.closed = true;
        o.writer_busy = false;
        if o.waiters > 0 {
            self.room.notify_all();
        }
        drop(o);
        self.request_stop(Reason::PEERWIRE_REASON_IO_ERROR);
    }
}

/// How long a send may wait for room.
#[derive(Clone, Copy)]
enum Wait {
    Forever,
    Never,
    Until(Instant),
}

impl From<Option<Duration>> for Wait {
    /// `None` waits forever, zero never waits.
    fn from(timeout: Option<Duration>) -> Wait {
        match timeout {
            None => Wait::Forever,
            Some(t) if t.is_zero() => Wait::Never,
            Some(t) => Instant::now().checked_add(t).map_or(Wait::Forever, Wait::Until),
        }
    }
}

/// Appends `parts` to `buf`, leaving out their first `skip` bytes (already written).
fn append_skipping(buf: &mut BytesMut, parts: &[&[u8]], mut skip: usize) {
    let total: usize = parts.iter().map(|p| p.len()).sum::<usize>() - skip;
    buf.reserve(total);
    for p in parts {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        buf.extend_from_slice(&p[skip..]);
        skip = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_skipping_drops_exactly_the_written_prefix() {
        let mut b = BytesMut::new();
        append_skipping(&mut b, &[b"abcd", b"efg", b"h"], 5);
        assert_eq!(&b[..], b"fgh");
        let mut b = BytesMut::new();
        append_skipping(&mut b, &[b"ab", b"", b"cd"], 0);
        assert_eq!(&b[..], b"abcd");
    }
}
