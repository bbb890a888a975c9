//! `peerwire_options`: how a transport is made. Create, set, pass to
//! `peerwire_transport_new`, free. Every setter checks its value and returns a status.
//!
//! Functions: `peerwire_options_new`, `peerwire_options_free`, `peerwire_options_set_*`.

use super::global::peerwire_drop_cb;
use super::handshake::{peerwire_handshake_cb, CHandshake};
use super::{arg_str, finalizer, guard, guard_void, out, Table, UserData, OK};
use crate::codec::custom::{Custom, Split, Splitter};
use crate::codec::{gob::Gob, length::LengthPrefixed, raw::Raw};
use crate::error::{Error, Result};
use crate::events::{Event, Finalizer, Handler};
use crate::handshake::Handshake;
use crate::options::{Options, Settings};
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options for a new transport (opaque handle).
pub struct peerwire_options {
    _private: [u8; 0],
}

/// Wire formats.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum peerwire_codec {
    /// Default: u32 big-endian length, then the payload.
    PEERWIRE_CODEC_LENGTH_PREFIXED = 0,
    /// Bytes as they come: each socket read is one message; sends go out unframed.
    PEERWIRE_CODEC_RAW = 1,
    /// Go `encoding/gob` stream of `RPC{From string; Payload []byte}` values.
    PEERWIRE_CODEC_GOB = 2,
    /// A frame splitter supplied from C.
    PEERWIRE_CODEC_CUSTOM = 3,
}

/// A message or peer-event callback. `event` is borrowed for the duration of the call.
/// Runs on a library thread; calls for one peer never overlap; calls for different peers may.
pub type peerwire_event_cb =
    Option<unsafe extern "C" fn(user: *mut c_void, event: *const super::event::peerwire_event)>;

type Slot<T> = Option<(T, Option<Finalizer>)>;

pub(crate) struct FfiOptions {
    pub(crate) settings: Settings,
    codec: i32,
    read_buffer_set: bool,
    custom: Slot<Arc<dyn Splitter>>,
    handshake: Slot<Arc<dyn Handshake>>,
    on_message: Slot<Handler>,
    on_peer: Slot<Handler>,
}

impl FfiOptions {
    /// Builds core options, moving the callbacks (and their destructors) out of `self`.
    pub(crate) fn take_options(&mut self) -> Options {
        let mut o = Options::default();
        o.settings = self.settings.clone();
        o.codec = match self.codec {
            // Raw reads like the Go origin (1028 bytes) unless a read size was set.
            RAW => Arc::new(Raw::new(if self.read_buffer_set { self.settings.read_buffer } else { 0 })),
            GOB => Arc::new(Gob::new()),
            CUSTOM => match self.custom.take() {
                Some((s, f)) => {
                    o.finalizers.extend(f);
                    Arc::new(Custom::new(s))
                }
                None => Arc::new(LengthPrefixed),
            },
            _ => Arc::new(LengthPrefixed),
        };
        if let Some((h, f)) = self.handshake.take() {
            o.handshake = Some(h);
            o.finalizers.extend(f);
        }
        if let Some((h, f)) = self.on_message.take() {
            o.on_message = Some(h);
            o.finalizers.extend(f);
        }
        if let Some((h, f)) = self.on_peer.take() {
            o.on_peer = Some(h);
            o.finalizers.extend(f);
        }
        o
    }
}

fn release_slot<T>(slot: &mut Slot<T>) {
    if let Some((_, Some(f))) = slot.take() {
        f();
    }
}

impl Drop for FfiOptions {
    fn drop(&mut self) {
        release_slot(&mut self.handshake);
        release_slot(&mut self.on_message);
        release_slot(&mut self.on_peer);
        release_slot(&mut self.custom);
    }
}

const LENGTH: i32 = peerwire_codec::PEERWIRE_CODEC_LENGTH_PREFIXED as i32;
const RAW: i32 = peerwire_codec::PEERWIRE_CODEC_RAW as i32;
const GOB: i32 = peerwire_codec::PEERWIRE_CODEC_GOB as i32;
const CUSTOM: i32 = peerwire_codec::PEERWIRE_CODEC_CUSTOM as i32;

pub(crate) static OPTIONS: Table<Mutex<FfiOptions>> = Table::new("options");

fn with(o: *mut peerwire_options, name: &str, f: impl FnOnce(&mut FfiOptions) -> Result<()>) -> i32 {
    guard(name, || {
        let h = OPTIONS.get(o)?;
        let mut g = h.lock().unwrap_or_else(|e| e.into_inner());
        // A refused value leaves the options as they were.
        let before = g.settings.clone();
        let r = f(&mut g).and_then(|_| g.settings.validate());
        if r.is_err() {
            g.settings = before;
        }
        r.map(|_| 0)
    })
}

fn event_handler(
    cb: unsafe extern "C" fn(*mut c_void, *const super::event::peerwire_event),
    user: UserData,
) -> Handler {
    Arc::new(move |ev: &Event| {
        let view = super::event::borrowed(ev);
        let u = user;
        // SAFETY: the registered callback gets its own user data and an event view that
        // stays valid for the call.
        unsafe { cb(u.0, &view) };
    })
}

/// Creates options holding every default. Free with `peerwire_options_free`.
#[no_mangle]
pub unsafe extern "C" fn peerwire_options_new(out_opts: *mut *mut peerwire_options) -> i32 {
    guard("peerwire_options_new", || {
        if out_opts.is_null() {
            return Err(Error::Null("out_opts is NULL".into()));
        }
        let id = OPTIONS.insert(Mutex::new(FfiOptions {
            settings: Settings::default(),
            codec: LENGTH,
            read_buffer_set: false,
            custom: None,
            handshake: None,
            on_message: None,
            on_peer: None,
        }));
        // SAFETY: non-NULL checked above.
        unsafe { out(out_opts, id as *mut peerwire_options, "out_opts") }?;
        OK
    })
}

/// Frees options; callbacks still held (not moved into a transport) have their destructors
/// run. NULL and stale handles are ignored.
#[no_mangle]
pub extern "C" fn peerwire_options_free(opts: *mut peerwire_options) {
    guard_void(|| drop(OPTIONS.remove(opts)))
}

/// Address to listen on: "ip:port", "[v6]:port", "host:port" or ":port" (all IPv4
/// interfaces); port 0 picks a free port. Default "127.0.0.1:0".
#[no_mangle]
pub unsafe extern "C" fn peerwire_options_set_listen_addr(opts: *mut peerwire_options, addr: *const c_char) -> i32 {
    with(opts, "peerwire_options_set_listen_addr", |o| {
        // SAFETY: forwarded string contract.
        let a = unsafe { arg_str(addr, "addr") }?;
        if a.trim().is_empty() {
            return Err(Error::Addr("listen address is empty".into()));
        }
        o.settings.listen_addr = a.to_string();
        Ok(())
    })
}

/// The wire format (`peerwire_codec`). Default `PEERWIRE_CODEC_LENGTH_PREFIXED`.
/// `PEERWIRE_CODEC_RAW`: no framing; each socket read (at most the read size, 1028 bytes
/// unless `peerwire_options_set_read_buffer` was called) is one message, so message boundaries
/// are not preserved — only the bytes and their order. `PEERWIRE_CODEC_GOB`: Go
/// `encoding/gob` values of `RPC{From string; Payload []byte}`. `PEERWIRE_CODEC_CUSTOM` is
/// selected by `peerwire_options_set_custom_codec`.
#[no_mangle]
pub extern "C" fn peerwire_options_set_codec(opts: *mut peerwire_options, codec: i32) -> i32 {
    with(opts, "peerwire_options_set_codec", |o| {
        match codec {
            LENGTH | RAW | GOB => o.codec = codec,
            CUSTOM if o.custom.is_some() => o.codec = codec,
            CUSTOM => return Err(Error::Invalid("use peerwire_options_set_custom_codec to set a custom codec".into())),
            _ => return Err(Error::Invalid(format!("unknown codec {codec}"))),
        }
        Ok(())
    })
}

/// Largest message, sent or received, in bytes (1 ..= 4 GiB - 1). Default 16 MiB.
#[no_mangle]
pub extern "C" fn peerwire_options_set_max_frame(opts: *mut peerwire_options, bytes: usize) -> i32 {
    with(opts, "peerwire_options_set_max_frame", |o| {
        o.settings.max_frame = bytes;
        Ok(())
    })
}

/// Handshake deadline in milliseconds (> 0), from the moment the TCP connection exists.
/// Default 10000.
#[no_mangle]
pub extern "C" fn peerwire_options_set_handshake_timeout_ms(opts: *mut peerwire_options, ms: u32) -> i32 {
    with(opts, "peerwire_options_set_handshake_timeout_ms", |o| {
        o.settings.handshake_timeout = Duration::from_millis(ms as u64);
        Ok(())
    })
}

/// How long `peerwire_transport_dial` waits for the TCP connection, in ms (> 0). Default 10000.
#[no_mangle]
pub extern "C" fn peerwire_options_set_connect_timeout_ms(opts: *mut peerwire_options, ms: u32) -> i32 {
    with(opts, "peerwire_options_set_connect_timeout_ms", |o| {
        o.settings.connect_timeout = Duration::from_millis(ms as u64);
        Ok(())
    })
}

/// Per-peer send queue bound in bytes (> 0). An empty queue always takes one message, so a
/// message larger than this can still be sent. Default 4 MiB.
#[no_mangle]
pub extern "C" fn peerwire_options_set_send_queue_bytes(opts: *mut peerwire_options, bytes: usize) -> i32 {
    with(opts, "peerwire_options_set_send_queue_bytes", |o| {
        o.settings.send_queue_bytes = bytes;
        Ok(())
    })
}

/// How long `peerwire_transport_send` waits for room in a full send queue: -1 (any negative)
/// waits until there is room or the peer or transport goes away, 0 fails at once with
/// `PEERWIRE_ERR_WOULD_BLOCK`, > 0 waits up to that many ms. Default -1. Sends made on a
/// library thread (inside a callback) never wait.
#[no_mangle]
pub extern "C" fn peerwire_options_set_send_timeout_ms(opts: *mut peerwire_options, ms: i32) -> i32 {
    with(opts, "peerwire_options_set_send_timeout_ms", |o| {
        o.settings.send_timeout = super::ms_timeout(ms);
        Ok(())
    })
}

/// Bound of the pull queue in events (> 0). When full, reading from the sending peers'
/// sockets stops (TCP pushes back) until events are taken. Default 65536.
#[no_mangle]
pub extern "C" fn peerwire_options_set_recv_queue_events(opts: *mut peerwire_options, events: usize) -> i32 {
    with(opts, "peerwire_options_set_recv_queue_events", |o| {
        o.settings.recv_queue_events = events;
        Ok(())
    })
}

/// Bound of the pull queue in payload bytes (> 0). Default 64 MiB.
#[no_mangle]
pub extern "C" fn peerwire_options_set_recv_queue_bytes(opts: *mut peerwire_options, bytes: usize) -> i32 {
    with(opts, "peerwire_options_set_recv_queue_bytes", |o| {
        o.settings.recv_queue_bytes = bytes;
        Ok(())
    })
}

/// How long close and disconnect keep flushing queued sends, in ms. Default 1000.
#[no_mangle]
pub extern "C" fn peerwire_options_set_linger_ms(opts: *mut peerwire_options, ms: u32) -> i32 {
    with(opts, "peerwire_options_set_linger_ms", |o| {
        o.settings.linger = Duration::from_millis(ms as u64);
        Ok(())
    })
}

/// Size of one socket read in bytes (>= 64). Default 64 KiB; the raw codec reads 1028 bytes
/// (the Go origin's size) unless this is called.
#[no_mangle]
pub extern "C" fn peerwire_options_set_read_buffer(opts: *mut peerwire_options, bytes: usize) -> i32 {
    with(opts, "peerwire_options_set_read_buffer", |o| {
        o.settings.read_buffer = bytes;
        o.read_buffer_set = true;
        Ok(())
    })
}

/// Most connections at once (handshaking or connected); more are refused at accept.
/// 0 = unlimited (the default).
#[no_mangle]
pub extern "C" fn peerwire_options_set_max_connections(opts: *mut peerwire_options, n: usize) -> i32 {
    with(opts, "peerwire_options_set_max_connections", |o| {
        o.settings.max_connections = n;
        Ok(())
    })
}

/// Runtime worker threads (0 = default: the CPU count, at most 4). The runtime is shared by
/// the process; the first transport created decides.
#[no_mangle]
pub extern "C" fn peerwire_options_set_workers(opts: *mut peerwire_options, n: u32) -> i32 {
    with(opts, "peerwire_options_set_workers", |o| {
        o.settings.workers = n as usize;
        Ok(())
    })
}

/// The handshake callback, run once per connection (inbound and outbound) before any
/// message, on a library thread that may block (up to the handshake deadline). Returning 0
/// accepts the connection, anything else rejects it. `drop` (may be NULL) runs once after the
/// last call. Moved into the transport created from these options. NULL `cb` removes it.
#[no_mangle]
pub extern "C" fn peerwire_options_set_handshake(
    opts: *mut peerwire_options,
    cb: peerwire_handshake_cb,
    user: *mut c_void,
    drop: peerwire_drop_cb,
) -> i32 {
    with(opts, "peerwire_options_set_handshake", |o| {
        release_slot(&mut o.handshake);
        let user = UserData(user);
        if let Some(cb) = cb {
            let h: Arc<dyn Handshake> = Arc::new(CHandshake { cb, user });
            o.handshake = Some((h, finalizer(drop, user)));
        }
        Ok(())
    })
}

/// The message callback. When set, messages go to it instead of the pull queue. Runs on a
/// library thread; calls for one peer never overlap. `drop` (may be NULL) runs once after
/// the last call. Moved into the transport created from these options. NULL `cb` removes it.
#[no_mangle]
pub extern "C" fn peerwire_options_set_message_cb(
    opts: *mut peerwire_options,
    cb: peerwire_event_cb,
    user: *mut c_void,
    drop: peerwire_drop_cb,
) -> i32 {
    with(opts, "peerwire_options_set_message_cb", |o| {
        release_slot(&mut o.on_message);
        let user = UserData(user);
        if let Some(cb) = cb {
            o.on_message = Some((event_handler(cb, user), finalizer(drop, user)));
        }
        Ok(())
    })
}

/// The peer-event callback (connected, disconnected, handshake failed, transport closed).
/// When set, those events go to it instead of the pull queue. Same rules as the message
/// callback; `TRANSPORT_CLOSED` is delivered on the thread that called close.
#[no_mangle]
pub extern "C" fn peerwire_options_set_peer_cb(
    opts: *mut peerwire_options,
    cb: peerwire_event_cb,
    user: *mut c_void,
    drop: peerwire_drop_cb,
) -> i32 {
    with(opts, "peerwire_options_set_peer_cb", |o| {
        release_slot(&mut o.on_peer);
        let user = UserData(user);
        if let Some(cb) = cb {
            o.on_peer = Some((event_handler(cb, user), finalizer(drop, user)));
        }
        Ok(())
    })
}

/// What a custom codec's split callback answers.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum peerwire_split {
    /// Not enough bytes yet to know the next frame.
    PEERWIRE_SPLIT_NEED_MORE = 0,
    /// A frame starts here: `*out_header` bytes to strip, then `*out_len` payload bytes.
    PEERWIRE_SPLIT_FRAME = 1,
    /// The bytes are not valid for this framing: the connection closes (`DECODE_ERROR`).
    PEERWIRE_SPLIT_INVALID = -1,
}

/// A custom codec's split callback: `buf`/`len` are the buffered bytes not yet consumed (the
/// next frame starts at `buf[0]`). Returns a `peerwire_split`; for `PEERWIRE_SPLIT_FRAME` it
/// sets `*out_header` and `*out_len` (which may go past `len`: the library waits for the rest).
/// Runs on library I/O threads, possibly concurrently for different peers: keep it fast and
/// non-blocking. A frame over max_frame closes the connection (`FRAME_TOO_LARGE`).
pub type peerwire_split_cb = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        buf: *const u8,
        len: usize,
        out_header: *mut usize,
        out_len: *mut usize,
    ) -> i32,
>;

/// A custom codec's header callback for sending: writes up to `cap` bytes to put before
/// `payload` into `out`, sets `*out_header_len`, returns 0 (non-zero refuses the send with
/// `PEERWIRE_ERR_INVALID`). `cap` is at least 64 KiB.
pub type peerwire_header_cb = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        payload: *const u8,
        len: usize,
        out: *mut u8,
        cap: usize,
        out_header_len: *mut usize,
    ) -> i32,
>;

struct CSplitter {
    split: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut usize, *mut usize) -> i32,
    header: Option<unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u8, usize, *mut usize) -> i32>,
    user: UserData,
    /// False once the user data is released: calls after that would touch freed state.
    alive: std::sync::RwLock<bool>,
}

impl Splitter for CSplitter {
    fn split(&self, buf: &[u8]) -> Split {
        let alive = self.alive.read().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return Split::Invalid("transport closed".into());
        }
        let (mut h, mut n) = (0usize, 0usize);
        let u = self.user;
        // SAFETY: the registered callback gets its user data (alive: checked under the lock
        // its destructor takes) and a buffer valid for the call.
        let rc = unsafe { (self.split)(u.0, buf.as_ptr(), buf.len(), &mut h, &mut n) };
        match rc {
            0 => Split::NeedMore,
            1 => Split::Frame { header: h, len: n },
            -1 => Split::Invalid("custom split callback reported invalid input".into()),
            other => Split::Invalid(format!("custom split callback returned {other}")),
        }
    }

    fn header(&self, payload: &[u8], out: &mut bytes::BytesMut) -> std::result::Result<(), String> {
        let Some(f) = self.header else {
            return Ok(());
        };
        let alive = self.alive.read().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return Err("transport closed".into());
        }
        let cap = crate::codec::custom::MAX_CUSTOM_HEADER;
        out.clear();
        out.reserve(cap); // the per-peer scratch keeps this capacity: no allocation per send
        let mut n = 0usize;
        let u = self.user;
        let dst = out.spare_capacity_mut().as_mut_ptr() as *mut u8;
        // SAFETY: as in split; `dst` has at least `cap` writable (uninitialized) bytes.
        let rc = unsafe { f(u.0, payload.as_ptr(), payload.len(), dst, cap, &mut n) };
        if rc != 0 || n > cap {
            return Err(format!("custom header callback returned {rc} (header length {n})"));
        }
        // SAFETY: the callback reported writing `n <= cap` bytes at the start of the spare capacity.
        unsafe { out.set_len(n) };
        Ok(())
    }
}

/// Selects a custom codec: `split` (required) finds frames in received bytes; `header` (may
/// be NULL: nothing is prepended) frames outgoing messages. `drop` (may be NULL) runs once,
/// after the last call of either callback. Moved into the transport created from these options.
#[no_mangle]
pub extern "C" fn peerwire_options_set_custom_codec(
    opts: *mut peerwire_options,
    split: peerwire_split_cb,
    header: peerwire_header_cb,
    user: *mut c_void,
    drop: peerwire_drop_cb,
) -> i32 {
    with(opts, "peerwire_options_set_custom_codec", |o| {
        let split = split.ok_or_else(|| Error::Null("split callback is NULL".into()))?;
        release_slot(&mut o.custom);
        let user = UserData(user);
        let s = Arc::new(CSplitter { split, header, user, alive: std::sync::RwLock::new(true) });
        let s2 = s.clone();
        let user_drop = finalizer(drop, user);
        let fin: Finalizer = Box::new(move || {
            *s2.alive.write().unwrap_or_else(|e| e.into_inner()) = false;
            if let Some(f) = user_drop {
                f();
            }
        });
        o.custom = Some((s, Some(fin)));
        o.codec = CUSTOM;
        Ok(())
    })
}
