//! Status codes (the C ABI's numbers) and the core's error type.

/// Outcome of a call across the C boundary. `0` ok, positive = a non-error outcome of a polling
/// call, negative = an error. Numbers are never reused once released.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum peerwire_status {
    /// Success.
    PEERWIRE_OK = 0,
    /// A non-blocking poll found nothing.
    PEERWIRE_EMPTY = 1,
    /// A blocking poll waited its whole timeout and found nothing.
    PEERWIRE_TIMED_OUT = 2,
    /// The transport is closed and every queued event has been taken.
    PEERWIRE_CLOSED = 3,
    /// A required pointer argument was NULL.
    PEERWIRE_ERR_NULL = -1,
    /// The handle is unknown, already freed, or of another kind.
    PEERWIRE_ERR_HANDLE = -2,
    /// An argument value is invalid (bad UTF-8, out of range, ...).
    PEERWIRE_ERR_INVALID = -3,
    /// An address could not be parsed or resolved.
    PEERWIRE_ERR_ADDR = -4,
    /// The transport is closed.
    PEERWIRE_ERR_CLOSED = -5,
    /// No such peer: never existed, or already gone.
    PEERWIRE_ERR_UNKNOWN_PEER = -6,
    /// The message is larger than the maximum frame size.
    PEERWIRE_ERR_TOO_LARGE = -7,
    /// The peer's send queue is full (no waiting allowed, or the send timeout passed).
    PEERWIRE_ERR_WOULD_BLOCK = -8,
    /// Connecting took longer than allowed.
    PEERWIRE_ERR_TIMEOUT = -9,
    /// The connection was refused or the address is unreachable.
    PEERWIRE_ERR_CONNECT = -10,
    /// The handshake was rejected (by either side) or failed.
    PEERWIRE_ERR_HANDSHAKE = -11,
    /// The handshake did not finish before its deadline.
    PEERWIRE_ERR_HANDSHAKE_TIMEOUT = -12,
    /// Another I/O error.
    PEERWIRE_ERR_IO = -13,
    /// The call would block on a library thread (inside a callback), so it was refused.
    PEERWIRE_ERR_IN_CALLBACK = -14,
    /// The call does not fit the object's state (listen twice, ...).
    PEERWIRE_ERR_STATE = -15,
    /// The feature is not available (codec, platform).
    PEERWIRE_ERR_UNSUPPORTED = -16,
    /// An output buffer is too small; the needed size was reported.
    PEERWIRE_ERR_BUFFER = -17,
    /// An internal bug was caught at the boundary; the library state is unchanged where possible.
    PEERWIRE_ERR_PANIC = -18,
}

pub use peerwire_status as Status;

impl Status {
    /// Every status, for iteration in tests and bindings.
    pub const ALL: [Status; 22] = [
        Status::PEERWIRE_OK,
        Status::PEERWIRE_EMPTY,
        Status::PEERWIRE_TIMED_OUT,
        Status::PEERWIRE_CLOSED,
        Status::PEERWIRE_ERR_NULL,
        Status::PEERWIRE_ERR_HANDLE,
        Status::PEERWIRE_ERR_INVALID,
        Status::PEERWIRE_ERR_ADDR,
        Status::PEERWIRE_ERR_CLOSED,
        Status::PEERWIRE_ERR_UNKNOWN_PEER,
        Status::PEERWIRE_ERR_TOO_LARGE,
        Status::PEERWIRE_ERR_WOULD_BLOCK,
        Status::PEERWIRE_ERR_TIMEOUT,
        Status::PEERWIRE_ERR_CONNECT,
        Status::PEERWIRE_ERR_HANDSHAKE,
        Status::PEERWIRE_ERR_HANDSHAKE_TIMEOUT,
        Status::PEERWIRE_ERR_IO,
        Status::PEERWIRE_ERR_IN_CALLBACK,
        Status::PEERWIRE_ERR_STATE,
        Status::PEERWIRE_ERR_UNSUPPORTED,
        Status::PEERWIRE_ERR_BUFFER,
        Status::PEERWIRE_ERR_PANIC,
    ];

    /// Static description (NUL-terminated for the C side).
    pub fn text(self) -> &'static str {
        use Status::*;
        match self {
            PEERWIRE_OK => "ok\0",
            PEERWIRE_EMPTY => "no event available\0",
            PEERWIRE_TIMED_OUT => "timed out waiting for an event\0",
            PEERWIRE_CLOSED => "transport closed, no more events\0",
            PEERWIRE_ERR_NULL => "a required pointer argument was NULL\0",
            PEERWIRE_ERR_HANDLE => "invalid or freed handle\0",
            PEERWIRE_ERR_INVALID => "invalid argument\0",
            PEERWIRE_ERR_ADDR => "invalid or unresolvable address\0",
            PEERWIRE_ERR_CLOSED => "transport is closed\0",
            PEERWIRE_ERR_UNKNOWN_PEER => "unknown peer\0",
            PEERWIRE_ERR_TOO_LARGE => "message exceeds the maximum frame size\0",
            PEERWIRE_ERR_WOULD_BLOCK => "send queue is full\0",
            PEERWIRE_ERR_TIMEOUT => "operation timed out\0",
            PEERWIRE_ERR_CONNECT => "connection failed\0",
            PEERWIRE_ERR_HANDSHAKE => "handshake failed\0",
            PEERWIRE_ERR_HANDSHAKE_TIMEOUT => "handshake timed out\0",
            PEERWIRE_ERR_IO => "I/O error\0",
            PEERWIRE_ERR_IN_CALLBACK => "call would block on a library thread\0",
            PEERWIRE_ERR_STATE => "call not valid in the current state\0",
            PEERWIRE_ERR_UNSUPPORTED => "unsupported\0",
            PEERWIRE_ERR_BUFFER => "output buffer too small\0",
            PEERWIRE_ERR_PANIC => "internal error (panic caught)\0",
        }
    }

    /// Maps a raw code back to a status.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as i32 == code)
    }
}

/// Errors of the core. Each maps to one [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Null(String),
    #[error("{0}")]
    Handle(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Addr(String),
    #[error("transport is closed")]
    Closed,
    #[error("unknown peer {0} (never connected, or already gone)")]
    UnknownPeer(u64),
    #[error("message of {size} bytes exceeds the maximum frame size of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("send queue of peer {peer} is full ({queued} bytes queued, limit {limit})")]
    WouldBlock { peer: u64, queued: usize, limit: usize },
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Connect(String),
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("handshake timed out after {0} ms")]
    HandshakeTimeout(u64),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    InCallback(String),
    #[error("{0}")]
    State(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Buffer(String),
    #[error("{0}")]
    Panic(String),
}

impl Error {
    /// The status code this error is reported with.
    pub fn status(&self) -> Status {
        use Status::*;
        match self {
            Error::Null(_) => PEERWIRE_ERR_NULL,
            Error::Handle(_) => PEERWIRE_ERR_HANDLE,
            Error::Invalid(_) => PEERWIRE_ERR_INVALID,
            Error::Addr(_) => PEERWIRE_ERR_ADDR,
            Error::Closed => PEERWIRE_ERR_CLOSED,
            Error::UnknownPeer(_) => PEERWIRE_ERR_UNKNOWN_PEER,
            Error::TooLarge { .. } => PEERWIRE_ERR_TOO_LARGE,
            Error::WouldBlock { .. } => PEERWIRE_ERR_WOULD_BLOCK,
            Error::Timeout(_) => PEERWIRE_ERR_TIMEOUT,
            Error::Connect(_) => PEERWIRE_ERR_CONNECT,
            Error::Handshake(_) => PEERWIRE_ERR_HANDSHAKE,
            Error::HandshakeTimeout(_) => PEERWIRE_ERR_HANDSHAKE_TIMEOUT,
            Error::Io(_) => PEERWIRE_ERR_IO,
            Error::InCallback(_) => PEERWIRE_ERR_IN_CALLBACK,
            Error::State(_) => PEERWIRE_ERR_STATE,
            Error::Unsupported(_) => PEERWIRE_ERR_UNSUPPORTED,
            Error::Buffer(_) => PEERWIRE_ERR_BUFFER,
            Error::Panic(_) => PEERWIRE_ERR_PANIC,
        }
    }

    pub(crate) fn in_callback(what: &str) -> Error {
        Error::InCallback(format!(
            "{what} would block, and this thread belongs to peerwire (inside a callback); \
             call it from an application thread"
        ))
    }
}

/// Result with the core's error.
pub type Result<T> = std::result::Result<T, Error>;
