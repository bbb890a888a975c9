//! Defaults and limits: the one place every layer reads them from.

use std::time::Duration;

/// Default maximum frame (message) size: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest frame size the length-prefixed codec can express.
pub const MAX_FRAME_LIMIT: usize = u32::MAX as usize;
/// Default handshake deadline in ms, counted from the moment the TCP connection exists.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(DEFAULT_HANDSHAKE_TIMEOUT_MS as u64);
/// Default connect timeout for `dial`, in ms.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS as u64);
/// Default per-peer send queue limit in bytes. An empty queue always accepts one frame, so
/// a frame larger than this (up to the frame limit) can still be sent.
pub const DEFAULT_SEND_QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Default send timeout: `None` waits for room until the peer or transport goes away.
pub const DEFAULT_SEND_TIMEOUT: Option<Duration> = None;
/// Default bound of the pull queue, in events.
pub const DEFAULT_RECV_QUEUE_EVENTS: usize = 65_536;
/// Default bound of the pull queue, in payload bytes.
pub const DEFAULT_RECV_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Default linger in ms: how long `close` and `disconnect` keep flushing queued sends.
pub const DEFAULT_LINGER_MS: u32 = 1_000;
pub const DEFAULT_LINGER: Duration = Duration::from_millis(DEFAULT_LINGER_MS as u64);
/// Default size of one socket read.
pub const DEFAULT_READ_BUFFER: usize = 64 * 1024;
/// Smallest accepted read buffer.
pub const MIN_READ_BUFFER: usize = 64;
/// Default listen address: loopback, any free port.
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:0";
/// Largest number of runtime worker threads accepted.
pub const MAX_WORKERS: usize = 64;
/// Threads allowed to run blocking handshake callbacks at once.
pub const MAX_BLOCKING_THREADS: usize = 64;
/// A send arriving sooner than this after the previous direct write goes through the
/// writer task, so that bursts are coalesced into few syscalls.
pub const DIRECT_WRITE_GAP: Duration = Duration::from_micros(20);
/// Messages at least this large are written straight from the caller when the queue is
/// empty, never held back for coalescing.
pub const LARGE_MESSAGE: usize = 8 * 1024;
/// Bytes a transport may reserve ahead for frames announced but not yet received; beyond it,
/// buffers grow only as bytes arrive. Bounds what slow senders of big claims can pin.
pub const FRAME_RESERVE_BUDGET: usize = 64 * 1024 * 1024;
/// Writer buffers above this capacity are not kept for reuse once drained.
pub const KEEP_BUFFER_CAPACITY: usize = 256 * 1024;

/// Default number of runtime worker threads: small machines get few threads, as hand-offs
/// between threads cost more than they gain there.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4)
}
