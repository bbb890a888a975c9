//! Transport options. Defaults come from [`crate::limits`].

use crate::codec::{length::LengthPrefixed, Codec};
use crate::error::{Error, Result};
use crate::events::{Finalizer, Handler};
use crate::handshake::Handshake;
use crate::limits::*;
use std::sync::Arc;
use std::time::Duration;

/// Plain settings of a transport.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address `listen` binds: "ip:port", "[v6]:port", "host:port" or ":port" (all IPv4
    /// interfaces). Port 0 picks a free port.
    pub listen_addr: String,
    /// Largest message, sent or received.
    pub max_frame: usize,
    /// Deadline of each handshake, from the moment the TCP connection exists.
    pub handshake_timeout: Duration,
    /// How long `dial` waits for the TCP connection.
    pub connect_timeout: Duration,
    /// Per-peer send queue bound, in bytes.
    pub send_queue_bytes: usize,
    /// How long a send waits for room: `None` forever, `Some(ZERO)` not at all.
    pub send_timeout: Option<Duration>,
    /// Pull queue bound, in events.
    pub recv_queue_events: usize,
    /// Pull queue bound, in payload bytes.
    pub recv_queue_bytes: usize,
    /// How long close/disconnect keep flushing queued sends.
    pub linger: Duration,
    /// Size of one socket read.
    pub read_buffer: usize,
    /// Most connections at once (handshaking or connected); 0 = unlimited.
    pub max_connections: usize,
    /// Runtime worker threads (0 = default); the first transport of the process decides.
    pub workers: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen_addr: DEFAULT_LISTEN_ADDR.to_string(),
            max_frame: DEFAULT_MAX_FRAME,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            send_queue_bytes: DEFAULT_SEND_QUEUE_BYTES,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            recv_queue_events: DEFAULT_RECV_QUEUE_EVENTS,
            recv_queue_bytes: DEFAULT_RECV_QUEUE_BYTES,
            linger: DEFAULT_LINGER,
            read_buffer: DEFAULT_READ_BUFFER,
            max_connections: 0,
            workers: 0,
        }
    }
}

impl Settings {
    /// Checks every value; the message names the bad one.
    pub fn validate(&self) -> Result<()> {
        if self.max_frame == 0 || self.max_frame > MAX_FRAME_LIMIT {
            return Err(Error::Invalid(format!("max_frame must be 1..={MAX_FRAME_LIMIT}, got {}", self.max_frame)));
        }
        if self.send_queue_bytes == 0 {
            return Err(Error::Invalid("send_queue_bytes must be > 0".into()));
        }
        if self.recv_queue_events == 0 || self.recv_queue_bytes == 0 {
            return Err(Error::Invalid("receive queue bounds must be > 0".into()));
        }
        if self.read_buffer < MIN_READ_BUFFER {
            return Err(Error::Invalid(format!("read_buffer must be >= {MIN_READ_BUFFER}")));
        }
        if self.workers > MAX_WORKERS {
            return Err(Error::Invalid(format!("workers must be <= {MAX_WORKERS}")));
        }
        if self.handshake_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Invalid("timeouts must be > 0".into()));
        }
        Ok(())
    }
}

/// Everything a transport is made from: settings plus codec, handshake and callbacks.
pub struct Options {
    pub settings: Settings,
    pub codec: Arc<dyn Codec>,
    pub handshake: Option<Arc<dyn Handshake>>,
    /// Receives messages; when unset they go to the pull queue.
    pub on_message: Option<Handler>,
    /// Receives peer and transport events; when unset they go to the pull queue.
    pub on_peer: Option<Handler>,
    /// Run exactly once after the last callback of the transport returned.
    pub finalizers: Vec<Finalizer>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            settings: Settings::default(),
            codec: Arc::new(LengthPrefixed),
            handshake: None,
            on_message: None,
            on_peer: None,
            finalizers: Vec::new(),
        }
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // Options dropped without making a transport still release their callbacks' state.
        for f in self.finalizers.drain(..) {
            f();
        }
    }
}
