//! Library-wide calls: version, status and reason text, last error, logging hook.

use super::{guard, UserData, OK};
use crate::error::{Error, Status};
use crate::events::Reason;
use crate::log::Level;
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

/// A user-data destructor: called exactly once, after the last call of the callback it
/// belongs to. May be NULL.
pub type peerwire_drop_cb = Option<unsafe extern "C" fn(user: *mut c_void)>;

/// A logging callback: `level` is a `peerwire_log_level`, `message` is valid for the call.
/// Called from any thread, possibly concurrently.
pub type peerwire_log_cb = Option<unsafe extern "C" fn(user: *mut c_void, level: i32, message: *const c_char)>;

static VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as "major.minor.patch". Static; never NULL.
#[no_mangle]
pub extern "C" fn peerwire_version() -> *const c_char {
    VERSION_C.as_ptr() as *const c_char
}

/// The library version as `major << 16 | minor << 8 | patch`.
#[no_mangle]
pub extern "C" fn peerwire_version_number() -> u32 {
    let p = |s: &str| s.parse::<u32>().unwrap_or(0);
    p(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | p(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | p(env!("CARGO_PKG_VERSION_PATCH"))
}

/// Static text for a status code (`peerwire_status`). Unknown codes get "unknown status".
#[no_mangle]
pub extern "C" fn peerwire_status_str(status: i32) -> *const c_char {
    match Status::from_code(status) {
        Some(s) => s.text().as_ptr() as *const c_char,
        None => c"unknown status".as_ptr(),
    }
}

/// Static text for a disconnect reason (`peerwire_reason`).
#[no_mangle]
pub extern "C" fn peerwire_reason_str(reason: i32) -> *const c_char {
    match Reason::from_code(reason) {
        Some(r) => r.text().as_ptr() as *const c_char,
        None => c"unknown reason".as_ptr(),
    }
}

/// The detail of the last failed call on this thread ("" if none). Valid until the next
/// failing call on this thread; never NULL.
#[no_mangle]
pub extern "C" fn peerwire_last_error() -> *const c_char {
    super::last_error_ptr()
}

/// Installs the logging callback with a maximum `level` (`peerwire_log_level`); a NULL `cb`
/// or `PEERWIRE_LOG_OFF` turns logging off. Silent by default; the environment variable
/// `PEERWIRE_LOG=error|warn|info|debug|trace` logs to stderr until this is called. When it
/// returns, the previous callback is no longer running, so its user data may be freed.
#[no_mangle]
pub extern "C" fn peerwire_log_set(cb: peerwire_log_cb, user: *mut c_void, level: i32) -> i32 {
    guard("peerwire_log_set", || {
        let level = Level::from_i32(level).ok_or_else(|| Error::Invalid(format!("unknown log level {level}")))?;
        let user = UserData(user);
        let sink: Option<crate::log::Sink> = match cb {
            Some(f) if level != Level::PEERWIRE_LOG_OFF => Some(Arc::new(move |lvl: Level, msg: &str| {
                let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
                let u = user;
                // SAFETY: the registered callback is called with its own user data and a
                // NUL-terminated message valid for the call.
                unsafe { f(u.0, lvl as i32, c.as_ptr()) };
            })),
            _ => None,
        };
        crate::log::set_sink(sink, level);
        OK
    })
}
