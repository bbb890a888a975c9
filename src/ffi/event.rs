//! `peerwire_event`: what callbacks receive (borrowed) and the pull API returns (owned).
//!
//! Functions: `peerwire_event_release`, `peerwire_events_release`.

use super::guard_void;
use crate::events::Event;
use crate::peer::PeerMeta;
use bytes::Bytes;
use std::ffi::c_char;
use std::sync::Arc;

/// An event. Pulled events are owned by the caller until `peerwire_event_release`; events
/// passed to callbacks are borrowed for the duration of the call. `data` and `addr` point
/// into storage owned by the event.
#[repr(C)]
pub struct peerwire_event {
    /// A `peerwire_event_kind`.
    pub kind: i32,
    /// A `peerwire_reason` for `PEER_DISCONNECTED` and `HANDSHAKE_FAILED`, else 0.
    pub reason: i32,
    /// The peer's id (0 for `TRANSPORT_CLOSED`).
    pub peer: u64,
    /// The message payload (`MESSAGE` only). Not NULL; may point to 0 bytes.
    pub data: *const u8,
    /// Payload length in bytes.
    pub len: usize,
    /// The peer's remote address, "ip:port", NUL-terminated ("" when none).
    pub addr: *const c_char,
    /// True when we dialled this peer.
    pub outbound: bool,
    /// Library-owned; do not touch.
    pub _private: [usize; 6],
}

/// What an owned event keeps alive.
struct Owned {
    _payload: Bytes,
    _meta: Option<Arc<PeerMeta>>,
}

const OWNED_MAGIC: usize = 0x7065_6572_7769_7265; // marks an owned, unreleased event
const _: () = assert!(std::mem::size_of::<Owned>() <= 5 * std::mem::size_of::<usize>());
const _: () = assert!(std::mem::align_of::<Owned>() <= std::mem::align_of::<usize>());

fn view(ev: &Event) -> peerwire_event {
    let (addr, outbound) = match &ev.meta {
        Some(m) => (m.addr_text.as_ptr(), m.outbound),
        None => (c"".as_ptr(), false),
    };
    peerwire_event {
        kind: ev.kind as i32,
        reason: ev.reason as i32,
        peer: ev.peer_id(),
        data: ev.payload.as_ptr(),
        len: ev.payload.len(),
        addr,
        outbound,
        _private: [0; 6],
    }
}

/// The event as a borrowed C view (for callbacks).
pub(crate) fn borrowed(ev: &Event) -> peerwire_event {
    view(ev)
}

/// Moves `ev` into `dst`, which then owns it.
pub(crate) fn write_owned(dst: &mut peerwire_event, ev: Event) {
    let mut v = view(&ev);
    let owned = Owned { _payload: ev.payload, _meta: ev.meta };
    // SAFETY: `_private` is large and aligned enough for `Owned` (checked at compile time);
    // the value is read back exactly once, in `release`.
    unsafe { std::ptr::write(v._private.as_mut_ptr() as *mut Owned, owned) };
    v._private[5] = OWNED_MAGIC;
    *dst = v;
}

fn release(ev: &mut peerwire_event) {
    if ev._private[5] != OWNED_MAGIC {
        return; // zeroed, borrowed or already released
    }
    // SAFETY: the magic says `_private` holds an `Owned` written by `write_owned` and not yet
    // read back; the struct is zeroed right after, so it is never read twice.
    drop(unsafe { std::ptr::read(ev._private.as_ptr() as *const Owned) });
    // SAFETY: plain-data struct; all-zero is its released state.
    unsafe { std::ptr::write_bytes(ev as *mut peerwire_event, 0, 1) };
}

/// Releases a pulled event and zeroes it. NULL, zeroed and already released events are
/// ignored; borrowed (callback) events must not be released.
#[no_mangle]
pub unsafe extern "C" fn peerwire_event_release(event: *mut peerwire_event) {
    guard_void(|| {
        // SAFETY: non-NULL checked; the caller passes an event it owns.
        if let Some(ev) = unsafe { event.as_mut() } {
            release(ev);
        }
    })
}

/// Releases `n` pulled events of an array (as filled by `peerwire_transport_recv_batch`).
#[no_mangle]
pub unsafe extern "C" fn peerwire_events_release(events: *mut peerwire_event, n: usize) {
    guard_void(|| {
        if events.is_null() {
            return;
        }
        for i in 0..n {
            // SAFETY: the caller passes an array of at least `n` events it owns.
            release(unsafe { &mut *events.add(i) });
        }
    })
}
