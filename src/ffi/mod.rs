//! The C ABI: argument checks, the panic boundary, status codes and conversions. No
//! transport logic lives here.
//!
//! Handles (`peerwire_transport *`, `peerwire_options *`, `peerwire_handshake *`) are ids
//! in a table, not addresses: a freed, stale or made-up handle is looked up, not
//! dereferenced, and yields `PEERWIRE_ERR_HANDLE`.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod event;
pub mod global;
pub mod handshake;
pub mod options;
pub mod transport;

use crate::error::{Error, Result};
use crate::idmap::IdMap;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Runs an exported body: catches panics, records the error text, returns the status code.
pub(crate) fn guard(name: &str, f: impl FnOnce() -> Result<i32>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            set_last_error(&format!("{name}: {e}"));
            e.status() as i32
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(&format!("{name}: internal error (panic caught): {what}"));
            crate::error::Status::PEERWIRE_ERR_PANIC as i32
        }
    }
}

/// Runs an exported body that returns nothing (free functions): panics are swallowed.
pub(crate) fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

pub(crate) const OK: Result<i32> = Ok(0);

/// Ids start high and step by 16, so they look like aligned addresses: runtimes that check
/// pointers (Go's) accept them even when held in pointer-typed variables.
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(0x10_0000);

/// A table of live handles of one kind. Ids are unique across all kinds.
pub(crate) struct Table<T> {
    map: once_cell::sync::Lazy<RwLock<IdMap<usize, Arc<T>>>>,
    kind: &'static str,
}

impl<T> Table<T> {
    pub(crate) const fn new(kind: &'static str) -> Table<T> {
        Table { map: once_cell::sync::Lazy::new(|| RwLock::new(IdMap::default())), kind }
    }

    pub(crate) fn insert(&self, v: T) -> usize {
        let id = NEXT_HANDLE.fetch_add(16, Ordering::Relaxed);
        self.map.write().unwrap_or_else(|e| e.into_inner()).insert(id, Arc::new(v));
        id
    }

    pub(crate) fn get<P>(&self, h: *const P) -> Result<Arc<T>> {
        if h.is_null() {
            return Err(Error::Null(format!("{} handle is NULL", self.kind)));
        }
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(h as usize))
            .cloned()
            .ok_or_else(|| Error::Handle(format!("not a live {} handle (freed, closed or invalid)", self.kind)))
    }

    pub(crate) fn remove<P>(&self, h: *const P) -> Option<Arc<T>> {
        if h.is_null() {
            return None;
        }
        self.map.write().unwrap_or_else(|e| e.into_inner()).remove(&(h as usize))
    }
}

/// A C string argument as UTF-8.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::Null(format!("{what} is NULL")));
    }
    // SAFETY: the caller promises a NUL-terminated string; it is only read for this call.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| Error::Invalid(format!("{what} is not valid UTF-8")))
}

/// A `(pointer, length)` byte argument; NULL is allowed only with length 0.
pub(crate) unsafe fn arg_bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::Null(format!("{what} is NULL with length {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Error::Invalid(format!("{what} length {len} is too large")));
    }
    // SAFETY: the caller promises `len` readable bytes at `p` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Writes an output value, refusing a NULL destination.
pub(crate) unsafe fn out<T>(p: *mut T, v: T, what: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::Null(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller promises it points to writable storage for a T.
    unsafe { p.write(v) };
    Ok(())
}

/// Copies `text` and a NUL into `buf` if it fits; always reports the length (without NUL).
pub(crate) unsafe fn out_text(text: &str, buf: *mut c_char, cap: usize, out_len: *mut usize) -> Result<i32> {
    if !out_len.is_null() {
        // SAFETY: non-NULL and promised writable by the caller.
        unsafe { out_len.write(text.len()) };
    }
    if buf.is_null() || cap < text.len() + 1 {
        return Err(Error::Buffer(format!("{} bytes needed (text plus NUL), {cap} given", text.len() + 1)));
    }
    // SAFETY: buf has room for cap >= len + 1 bytes, promised by the caller.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, text.len());
        *buf.add(text.len()) = 0;
    }
    OK
}

/// Timeout in milliseconds: negative = wait forever, 0 = do not wait.
pub(crate) fn ms_timeout(ms: i32) -> Option<Duration> {
    if ms < 0 {
        None
    } else {
        Some(Duration::from_millis(ms as u64))
    }
}

/// Copies the first `size` bytes of `full` to `dst` (for structs that carry their own size,
/// so older callers with smaller structs keep working).
pub(crate) unsafe fn out_sized<T>(dst: *mut T, full: &T, size: u32) -> Result<()> {
    let n = (size as usize).min(std::mem::size_of::<T>());
    if n < std::mem::size_of::<u32>() {
        return Err(Error::Invalid("set .size to sizeof(the struct) before the call".into()));
    }
    // SAFETY: dst is non-NULL (checked by the caller) and holds at least `size` bytes as its
    // `size` field says; we copy no more than that, and never more than a whole T.
    unsafe { std::ptr::copy_nonoverlapping(full as *const T as *const u8, dst as *mut u8, n) };
    Ok(())
}

/// User data handed back to C callbacks. C promises it may be used from any thread.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut std::ffi::c_void);
// SAFETY: the C API documents that callbacks and their user data are used from library
// threads; the library itself never dereferences the pointer.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

/// A user-data destructor, run once.
pub(crate) fn finalizer(drop: global::peerwire_drop_cb, user: UserData) -> Option<crate::events::Finalizer> {
    let f = drop?;
    Some(Box::new(move || {
        let u = user;
        // SAFETY: calling the destructor the caller registered, once, with its own pointer.
        unsafe { f(u.0) }
    }))
}
