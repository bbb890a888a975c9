//! `peerwire_transport`: listen, dial, send, receive, close.
//!
//! Functions: `peerwire_transport_new`, `_listen`, `_local_addr`, `_dial`, `_send`,
//! `_send_timeout`, `_send_batch`, `_broadcast`, `_disconnect`, `_peers`, `_peer_info`, `_stats`, `_recv`,
//! `_recv_batch`, `_event_fd`, `_close`, `_free`.

use super::event::{peerwire_event, write_owned};
use super::options::{peerwire_options, OPTIONS};
use super::{arg_bytes, arg_str, guard, guard_void, ms_timeout, out, out_sized, out_text, Table, OK};
use crate::error::{Error, Status};
use crate::events::{Event, Pull};
use crate::options::Options;
use crate::transport::Transport;
use std::cell::RefCell;
use std::ffi::c_char;
use std::time::Duration;

/// A transport (opaque handle; an id, so a stale one is detected, never dereferenced).
pub struct peerwire_transport {
    _private: [u8; 0],
}

/// Transport-wide counters. Set `size = sizeof(peerwire_stats)` before the call.
#[repr(C)]
#[derive(Default)]
pub struct peerwire_stats {
    pub size: u32,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub msgs_in: u64,
    pub msgs_out: u64,
    /// Peers connected now.
    pub peers: u64,
    pub connections_accepted: u64,
    pub connections_dialled: u64,
    pub handshake_failures: u64,
    /// Frames over the size limit, refused on send or received (closing that connection).
    pub frames_refused: u64,
    /// Bytes queued for sending, all peers.
    pub send_queue_bytes: u64,
    /// Events waiting in the pull queue.
    pub recv_queue_events: u64,
    /// Sends refused because a peer's send queue was full.
    pub sends_would_block: u64,
}

/// One peer. Set `size = sizeof(peerwire_peer_info)` before the call.
#[repr(C)]
pub struct peerwire_peer_info {
    pub size: u32,
    pub id: u64,
    pub outbound: bool,
    /// Remote address "ip:port", NUL-terminated.
    pub addr: [c_char; 64],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub send_queue_bytes: u64,
    pub send_queue_msgs: u64,
}

/// What `peerwire_transport_close` did.
#[repr(C)]
#[derive(Default)]
pub struct peerwire_close_report {
    pub peers_closed: u64,
    /// Queued messages not flushed within the linger time.
    pub msgs_dropped: u64,
    pub bytes_dropped: u64,
    /// Events still in the pull queue; they stay readable until the transport is freed.
    pub events_pending: u64,
}

static TRANSPORTS: Table<Transport> = Table::new("transport");

thread_local! {
    static PULLED: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Creates a transport from `opts` (NULL = all defaults). Callbacks registered on `opts` move
/// into the transport; other settings are copied, so `opts` may be freed or reused at once.
/// Free the transport with `peerwire_transport_free`.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_new(
    opts: *const peerwire_options,
    out_transport: *mut *mut peerwire_transport,
) -> i32 {
    guard("peerwire_transport_new", || {
        if out_transport.is_null() {
            return Err(Error::Null("out_transport is NULL".into()));
        }
        let options = if opts.is_null() {
            Options::default()
        } else {
            let h = OPTIONS.get(opts)?;
            let mut g = h.lock().unwrap_or_else(|e| e.into_inner());
            g.take_options()
        };
        let t = Transport::new(options)?;
        let id = TRANSPORTS.insert(t);
        // SAFETY: non-NULL checked above.
        unsafe { out(out_transport, id as *mut peerwire_transport, "out_transport") }?;
        OK
    })
}

/// Binds the listen address and accepts connections in the background. Returns once bound;
/// `PEERWIRE_ERR_STATE` if already listening.
#[no_mangle]
pub extern "C" fn peerwire_transport_listen(t: *mut peerwire_transport) -> i32 {
    guard("peerwire_transport_listen", || {
        TRANSPORTS.get(t)?.listen()?;
        OK
    })
}

/// The bound address ("ip:port", the real port when 0 was asked) into `buf`, NUL-terminated.
/// `*out_len` (may be NULL) gets the text length; `PEERWIRE_ERR_BUFFER` if `cap` is too small.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_local_addr(
    t: *mut peerwire_transport,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> i32 {
    guard("peerwire_transport_local_addr", || {
        let tr = TRANSPORTS.get(t)?;
        let a = tr.local_addr().ok_or_else(|| Error::State("not listening".into()))?;
        // SAFETY: forwarded output-buffer contract.
        unsafe { out_text(&a.to_string(), buf, cap, out_len) }
    })
}

/// Connects to `addr` ("ip:port", "[v6]:port", "host:port"), runs the handshake, and writes
/// the new peer's id. Blocks until the handshake succeeded or failed. `timeout_ms` bounds the
/// TCP connect (<= 0: the connect-timeout option); the handshake has its own deadline.
/// Refused with `PEERWIRE_ERR_IN_CALLBACK` on library threads.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_dial(
    t: *mut peerwire_transport,
    addr: *const c_char,
    timeout_ms: i32,
    out_peer: *mut u64,
) -> i32 {
    guard("peerwire_transport_dial", || {
        let tr = TRANSPORTS.get(t)?;
        // SAFETY: forwarded string contract.
        let a = unsafe { arg_str(addr, "addr") }?;
        if out_peer.is_null() {
            return Err(Error::Null("out_peer is NULL".into()));
        }
        let limit = if timeout_ms <= 0 { None } else { Some(Duration::from_millis(timeout_ms as u64)) };
        let id = tr.dial(a, limit)?;
        // SAFETY: non-NULL checked above.
        unsafe { out(out_peer, id, "out_peer") }?;
        OK
    })
}

/// Sends `len` bytes (copied before return; `len` 0 is a valid empty message) to `peer`.
/// Waits for room as the send-timeout option says; `PEERWIRE_ERR_TOO_LARGE` over max_frame,
/// `PEERWIRE_ERR_UNKNOWN_PEER` for a peer that is gone.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_send(
    t: *mut peerwire_transport,
    peer: u64,
    data: *const u8,
    len: usize,
) -> i32 {
    guard("peerwire_transport_send", || {
        let tr = TRANSPORTS.get(t)?;
        // SAFETY: forwarded byte-buffer contract.
        let d = unsafe { arg_bytes(data, len, "data") }?;
        tr.send(peer, d)?;
        OK
    })
}

/// As `peerwire_transport_send`, with this call's own wait: -1 until room, 0 not at all,
/// > 0 up to that many ms (`PEERWIRE_ERR_WOULD_BLOCK` when it passes).
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_send_timeout(
    t: *mut peerwire_transport,
    peer: u64,
    data: *const u8,
    len: usize,
    timeout_ms: i32,
) -> i32 {
    guard("peerwire_transport_send_timeout", || {
        let tr = TRANSPORTS.get(t)?;
        // SAFETY: forwarded byte-buffer contract.
        let d = unsafe { arg_bytes(data, len, "data") }?;
        tr.send_timeout(peer, d, ms_timeout(timeout_ms))?;
        OK
    })
}

/// Sends `count` messages to `peer` in one call: message `i` is `lens[i]` bytes, and the
/// messages lie back to back in `data` (copied before return). One lock and one writer
/// wake-up for the whole batch. `timeout_ms` as for `peerwire_transport_send_timeout`. Every
/// size is checked first: one over max_frame refuses the batch (`PEERWIRE_ERR_TOO_LARGE`,
/// nothing sent). Otherwise it stops at the first message that cannot be queued in time.
/// `*out_sent` (may be NULL) gets how many were queued, also when an error is returned.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_send_batch(
    t: *mut peerwire_transport,
    peer: u64,
    data: *const u8,
    lens: *const usize,
    count: usize,
    timeout_ms: i32,
    out_sent: *mut usize,
) -> i32 {
    guard("peerwire_transport_send_batch", || {
        if !out_sent.is_null() {
            // SAFETY: non-NULL, promised writable.
            unsafe { out_sent.write(0) };
        }
        let tr = TRANSPORTS.get(t)?;
        if count == 0 {
            return OK;
        }
        if lens.is_null() {
            return Err(Error::Null("lens is NULL".into()));
        }
        // SAFETY: the caller promises `count` lengths at `lens`.
        let lens = unsafe { std::slice::from_raw_parts(lens, count) };
        let total = lens
            .iter()
            .try_fold(0usize, |a, &l| a.checked_add(l))
            .ok_or_else(|| Error::Invalid("lengths overflow".into()))?;
        // SAFETY: forwarded byte-buffer contract: `total` bytes at `data`.
        let all = unsafe { arg_bytes(data, total, "data") }?;
        let mut msgs = Vec::with_capacity(count);
        let mut off = 0;
        for &l in lens {
            msgs.push(&all[off..off + l]);
            off += l;
        }
        let (n, r) = tr.send_batch(peer, &msgs, ms_timeout(timeout_ms));
        if !out_sent.is_null() {
            // SAFETY: non-NULL, promised writable.
            unsafe { out_sent.write(n) };
        }
        r?;
        OK
    })
}

/// Queues `len` bytes to every connected peer without waiting. `*out_sent` (may be NULL)
/// gets how many peers took it; peers with a full queue are skipped and counted in
/// `sends_would_block`.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_broadcast(
    t: *mut peerwire_transport,
    data: *const u8,
    len: usize,
    out_sent: *mut usize,
) -> i32 {
    guard("peerwire_transport_broadcast", || {
        let tr = TRANSPORTS.get(t)?;
        // SAFETY: forwarded byte-buffer contract.
        let d = unsafe { arg_bytes(data, len, "data") }?;
        let n = tr.broadcast(d)?;
        if !out_sent.is_null() {
            // SAFETY: non-NULL, promised writable.
            unsafe { out_sent.write(n) };
        }
        OK
    })
}

/// Closes one peer: no more sends, queued ones are flushed within the linger time, then a
/// `PEER_DISCONNECTED` event with `PEERWIRE_REASON_CLOSED_LOCALLY`. Returns at once.
#[no_mangle]
pub extern "C" fn peerwire_transport_disconnect(t: *mut peerwire_transport, peer: u64) -> i32 {
    guard("peerwire_transport_disconnect", || {
        TRANSPORTS.get(t)?.disconnect(peer)?;
        OK
    })
}

/// Writes up to `cap` connected peer ids (ascending) to `ids` and the total count to
/// `*out_count`. Call with `cap` 0 (ids may be NULL) to learn the count.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_peers(
    t: *mut peerwire_transport,
    ids: *mut u64,
    cap: usize,
    out_count: *mut usize,
) -> i32 {
    guard("peerwire_transport_peers", || {
        let tr = TRANSPORTS.get(t)?;
        if out_count.is_null() || (ids.is_null() && cap > 0) {
            return Err(Error::Null("out_count is NULL (or ids NULL with cap > 0)".into()));
        }
        let all = tr.peers();
        for (i, id) in all.iter().take(cap).enumerate() {
            // SAFETY: i < cap, and the caller promises `cap` writable slots.
            unsafe { ids.add(i).write(*id) };
        }
        // SAFETY: non-NULL checked above.
        unsafe { out_count.write(all.len()) };
        OK
    })
}

/// A snapshot of one peer. Set `out->size = sizeof(peerwire_peer_info)` first.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_peer_info(
    t: *mut peerwire_transport,
    peer: u64,
    out_info: *mut peerwire_peer_info,
) -> i32 {
    guard("peerwire_transport_peer_info", || {
        let tr = TRANSPORTS.get(t)?;
        if out_info.is_null() {
            return Err(Error::Null("out_info is NULL".into()));
        }
        // SAFETY: non-NULL; `size` is the first field and always present.
        let size = unsafe { (*out_info).size };
        let i = tr.peer_info(peer)?;
        let mut full = peerwire_peer_info {
            size,
            id: i.id,
            outbound: i.outbound,
            addr: [0; 64],
            bytes_in: i.bytes_in,
            bytes_out: i.bytes_out,
            msgs_in: i.msgs_in,
            msgs_out: i.msgs_out,
            send_queue_bytes: i.send_queue_bytes,
            send_queue_msgs: i.send_queue_msgs,
        };
        for (d, s) in full.addr.iter_mut().zip(i.addr.to_string().bytes().take(63)) {
            *d = s as c_char;
        }
        // SAFETY: copies at most `size` bytes, as the caller declared.
        unsafe { out_sized(out_info, &full, size) }?;
        OK
    })
}

/// Transport-wide counters. Set `out->size = sizeof(peerwire_stats)` first.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_stats(t: *mut peerwire_transport, out_stats: *mut peerwire_stats) -> i32 {
    guard("peerwire_transport_stats", || {
        let tr = TRANSPORTS.get(t)?;
        if out_stats.is_null() {
            return Err(Error::Null("out_stats is NULL".into()));
        }
        // SAFETY: non-NULL; `size` is the first field and always present.
        let size = unsafe { (*out_stats).size };
        let s = tr.stats();
        let full = peerwire_stats {
            size,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            msgs_in: s.msgs_in,
            msgs_out: s.msgs_out,
            peers: s.peers,
            connections_accepted: s.connections_accepted,
            connections_dialled: s.connections_dialled,
            handshake_failures: s.handshake_failures,
            frames_refused: s.frames_refused,
            send_queue_bytes: s.send_queue_bytes,
            recv_queue_events: s.recv_queue_events,
            sends_would_block: s.sends_would_block,
        };
        // SAFETY: copies at most `size` bytes, as the caller declared.
        unsafe { out_sized(out_stats, &full, size) }?;
        OK
    })
}

fn pull_status(p: Pull) -> i32 {
    match p {
        Pull::Got(_) => Status::PEERWIRE_OK as i32,
        Pull::Empty => Status::PEERWIRE_EMPTY as i32,
        Pull::TimedOut => Status::PEERWIRE_TIMED_OUT as i32,
        Pull::Closed => Status::PEERWIRE_CLOSED as i32,
    }
}

/// Takes one event from the pull queue into `*out` (owned: release it with
/// `peerwire_event_release`). `timeout_ms`: -1 waits, 0 polls, > 0 waits up to that long.
/// Returns `PEERWIRE_OK`, or `PEERWIRE_EMPTY` / `PEERWIRE_TIMED_OUT` (nothing taken), or
/// `PEERWIRE_CLOSED` once the transport is closed and drained.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_recv(
    t: *mut peerwire_transport,
    out_event: *mut peerwire_event,
    timeout_ms: i32,
) -> i32 {
    // SAFETY: forwarded contract: out_event is one writable event.
    unsafe { peerwire_transport_recv_batch(t, out_event, 1, std::ptr::null_mut(), timeout_ms) }
}

/// Takes up to `cap` events into the array `out` (each owned: release them all with one
/// `peerwire_events_release(out, *out_count)`), waiting as `peerwire_transport_recv` for the
/// first one only. `*out_count` (may be NULL when `cap` is 1) gets how many were taken.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_recv_batch(
    t: *mut peerwire_transport,
    out_events: *mut peerwire_event,
    cap: usize,
    out_count: *mut usize,
    timeout_ms: i32,
) -> i32 {
    guard("peerwire_transport_recv_batch", || {
        let tr = TRANSPORTS.get(t)?;
        if out_events.is_null() || (out_count.is_null() && cap != 1) {
            return Err(Error::Null("out_events is NULL (or out_count NULL with cap != 1)".into()));
        }
        if cap == 0 {
            return Err(Error::Invalid("cap must be > 0".into()));
        }
        if !out_count.is_null() {
            // SAFETY: non-NULL, promised writable.
            unsafe { out_count.write(0) };
        }
        PULLED.with(|cell| {
            let mut v = cell.borrow_mut();
            v.clear();
            let p = tr.pull(&mut v, cap, ms_timeout(timeout_ms))?;
            let n = v.len();
            for (i, ev) in v.drain(..).enumerate() {
                // SAFETY: i < n <= cap, and the caller promises `cap` writable events.
                write_owned(unsafe { &mut *out_events.add(i) }, ev);
            }
            if !out_count.is_null() {
                // SAFETY: non-NULL, promised writable.
                unsafe { out_count.write(n) };
            }
            Ok(pull_status(p))
        })
    })
}

/// The readiness fd: readable (level-triggered) while events wait in the pull queue, and
/// once the transport is closed. Owned by the transport: do not read, write or close it.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_event_fd(t: *mut peerwire_transport, out_fd: *mut i32) -> i32 {
    guard("peerwire_transport_event_fd", || {
        let tr = TRANSPORTS.get(t)?;
        // SAFETY: NULL checked inside.
        unsafe { out(out_fd, tr.event_fd(), "out_fd") }?;
        OK
    })
}

/// Closes the transport: stops accepting, stops every connection, flushes queued sends up to
/// `linger_ms` (< 0: the linger option), waits for its work, and fills `*out_report` (may be
/// NULL). Idempotent, callable from any thread, bounded by the linger time. After it returns
/// no callback runs again and every callback destructor has run. Inside a callback it cannot
/// wait: delivery stops at once and destructors run when the running callbacks return.
/// Queued events stay readable; the handle stays valid until `peerwire_transport_free`.
#[no_mangle]
pub unsafe extern "C" fn peerwire_transport_close(
    t: *mut peerwire_transport,
    linger: i32,
    out_report: *mut peerwire_close_report,
) -> i32 {
    guard("peerwire_transport_close", || {
        let tr = TRANSPORTS.get(t)?;
        let linger = if linger < 0 { None } else { Some(Duration::from_millis(linger as u64)) };
        let r = tr.close(linger)?;
        if !out_report.is_null() {
            let rep = peerwire_close_report {
                peers_closed: r.peers_closed,
                msgs_dropped: r.msgs_dropped,
                bytes_dropped: r.bytes_dropped,
                events_pending: r.events_pending,
            };
            // SAFETY: non-NULL, promised writable.
            unsafe { out_report.write(rep) };
        }
        OK
    })
}

/// Closes (if needed, with the default linger) and frees the transport. The handle is dead
/// afterwards: later calls with it return `PEERWIRE_ERR_HANDLE`. NULL and stale handles are
/// ignored. Calls still running in other threads finish safely.
#[no_mangle]
pub extern "C" fn peerwire_transport_free(t: *mut peerwire_transport) {
    guard_void(|| {
        if let Some(tr) = TRANSPORTS.remove(t) {
            let _ = tr.close(None);
        }
    })
}
