//! `peerwire_handshake`: the connection as seen by a handshake callback. Valid only during
//! the callback; afterwards every call on it returns `PEERWIRE_ERR_HANDLE`.
//!
//! Functions: `peerwire_handshake_send`, `peerwire_handshake_recv`,
//! `peerwire_handshake_recv_exact`, `peerwire_handshake_peer_addr`,
//! `peerwire_handshake_outbound`, `peerwire_handshake_peer_id`.

use super::{arg_bytes, guard, ms_timeout, out, out_text, Table, UserData, OK};
use crate::error::Error;
use crate::handshake::{Handshake, HandshakeIo};
use std::ffi::{c_char, c_void};

/// A connection during its handshake (opaque handle).
pub struct peerwire_handshake {
    _private: [u8; 0],
}

/// A handshake callback: return 0 to accept the connection, non-zero to reject it.
pub type peerwire_handshake_cb = Option<unsafe extern "C" fn(user: *mut c_void, hs: *mut peerwire_handshake) -> i32>;

static HANDSHAKES: Table<HandshakeIo> = Table::new("handshake");

pub(crate) struct CHandshake {
    pub(crate) cb: unsafe extern "C" fn(*mut c_void, *mut peerwire_handshake) -> i32,
    pub(crate) user: UserData,
}

impl Handshake for CHandshake {
    fn handshake(&self, io: &HandshakeIo) -> Result<(), String> {
        let id = HANDSHAKES.insert(io.clone());
        let u = self.user;
        // SAFETY: calls the registered callback with its own user data and a handle that is
        // live until the callback returns.
        let rc = unsafe { (self.cb)(u.0, id as *mut peerwire_handshake) };
        HANDSHAKES.remove(id as *const peerwire_handshake);
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("handshake callback returned {rc}"))
        }
    }
}

/// Sends all `len` bytes of `data` to the remote, blocking up to the handshake deadline.
#[no_mangle]
pub unsafe extern "C" fn peerwire_handshake_send(hs: *mut peerwire_handshake, data: *const u8, len: usize) -> i32 {
    guard("peerwire_handshake_send", || {
        let io = HANDSHAKES.get(hs)?;
        // SAFETY: forwarded byte-buffer contract.
        let d = unsafe { arg_bytes(data, len, "data") }?;
        io.send(d)?;
        OK
    })
}

/// Receives up to `cap` bytes into `buf`, waiting up to `timeout_ms` (-1: until the
/// deadline), never past the handshake deadline, until at least one byte is there. `*out_len`
/// is 1..cap, or 0 when the remote closed the connection.
/// Reads only what is there: use `peerwire_handshake_recv_exact` for fixed-size greetings
/// so no message bytes are consumed.
#[no_mangle]
pub unsafe extern "C" fn peerwire_handshake_recv(
    hs: *mut peerwire_handshake,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    timeout_ms: i32,
) -> i32 {
    guard("peerwire_handshake_recv", || {
        let io = HANDSHAKES.get(hs)?;
        if buf.is_null() || out_len.is_null() {
            return Err(Error::Null("buf or out_len is NULL".into()));
        }
        if cap == 0 {
            return Err(Error::Invalid("cap must be > 0".into()));
        }
        // SAFETY: the caller promises `cap` writable bytes at `buf`.
        let b = unsafe { std::slice::from_raw_parts_mut(buf, cap) };
        let n = io.recv(b, ms_timeout(timeout_ms))?;
        // SAFETY: non-NULL checked above.
        unsafe { out(out_len, n, "out_len") }?;
        OK
    })
}

/// Receives exactly `len` bytes into `buf`, waiting up to `timeout_ms` (-1: until the
/// deadline). Fails with `PEERWIRE_ERR_HANDSHAKE` if the remote closes first.
#[no_mangle]
pub unsafe extern "C" fn peerwire_handshake_recv_exact(
    hs: *mut peerwire_handshake,
    buf: *mut u8,
    len: usize,
    timeout_ms: i32,
) -> i32 {
    guard("peerwire_handshake_recv_exact", || {
        let io = HANDSHAKES.get(hs)?;
        if len == 0 {
            return OK;
        }
        if buf.is_null() {
            return Err(Error::Null("buf is NULL".into()));
        }
        // SAFETY: the caller promises `len` writable bytes at `buf`.
        let b = unsafe { std::slice::from_raw_parts_mut(buf, len) };
        io.recv_exact(b, ms_timeout(timeout_ms))?;
        OK
    })
}

/// The remote address as "ip:port" into `buf` (NUL-terminated). `*out_len` (may be NULL)
/// gets the text length; `PEERWIRE_ERR_BUFFER` if `cap` is too small.
#[no_mangle]
pub unsafe extern "C" fn peerwire_handshake_peer_addr(
    hs: *mut peerwire_handshake,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> i32 {
    guard("peerwire_handshake_peer_addr", || {
        let io = HANDSHAKES.get(hs)?;
        // SAFETY: forwarded output-buffer contract.
        unsafe { out_text(&io.meta().addr.to_string(), buf, cap, out_len) }
    })
}

/// Whether we dialled this connection.
#[no_mangle]
pub unsafe extern "C" fn peerwire_handshake_outbound(hs: *mut peerwire_handshake, out_outbound: *mut bool) -> i32 {
    guard("peerwire_handshake_outbound", || {
        let io = HANDSHAKES.get(hs)?;
        // SAFETY: NULL checked inside.
        unsafe { out(out_outbound, io.meta().outbound, "out_outbound") }?;
        OK
    })
}

/// The id the peer will have if the handshake succeeds.
#[no_mangle]
pub unsafe extern "C" fn peerwire_handshake_peer_id(hs: *mut peerwire_handshake, out_peer: *mut u64) -> i32 {
    guard("peerwire_handshake_peer_id", || {
        let io = HANDSHAKES.get(hs)?;
        // SAFETY: NULL checked inside.
        unsafe { out(out_peer, io.meta().id, "out_peer") }?;
        OK
    })
}
