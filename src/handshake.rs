//! Handshakes: run once per connection, inbound and outbound, before any message flows.
//!
//! A handshake callback may block (waiting for the remote), so it runs on the runtime's
//! blocking pool, never on an I/O worker. The deadline is enforced twice: every I/O call made
//! through [`HandshakeIo`] ends at the deadline, and the connection task stops waiting for the
//! callback at the deadline, closing the socket so the callback's I/O fails at once.

use crate::error::{Error, Result};
use crate::peer::PeerMeta;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::runtime::Handle;

/// A handshake. Return `Ok(())` to accept the connection, `Err(reason)` to reject it.
pub trait Handshake: Send + Sync {
    fn handshake(&self, io: &HandshakeIo) -> std::result::Result<(), String>;
}

impl<F> Handshake for F
where
    F: Fn(&HandshakeIo) -> std::result::Result<(), String> + Send + Sync,
{
    fn handshake(&self, io: &HandshakeIo) -> std::result::Result<(), String> {
        self(io)
    }
}

/// The connection as seen by a handshake: blocking byte I/O bounded by the deadline.
#[derive(Clone)]
pub struct HandshakeIo {
    pub(crate) stream: Arc<TcpStream>,
    pub(crate) meta: Arc<PeerMeta>,
    pub(crate) deadline: tokio::time::Instant,
    /// The whole handshake deadline, for messages.
    pub(crate) timeout_ms: u64,
    pub(crate) rt: Handle,
    pub(crate) cancelled: Arc<AtomicBool>,
    pub(crate) hit_deadline: Arc<AtomicBool>,
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

impl HandshakeIo {
    /// The remote peer's metadata (id, address, direction).
    pub fn meta(&self) -> &PeerMeta {
        &self.meta
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(tokio::time::Instant::now())
    }

    fn limit(&self, timeout: Option<Duration>) -> Result<tokio::time::Instant> {
        if self.cancelled.load(Ordering::Acquire) {
            return Err(Error::Handshake("handshake cancelled (deadline passed or transport closing)".into()));
        }
        let now = tokio::time::Instant::now();
        let d = match timeout {
            Some(t) => (now + t).min(self.deadline),
            None => self.deadline,
        };
        Ok(d)
    }

    /// Runs one I/O step on the runtime, ending early when the transport closes.
    fn run<T>(&self, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let mut closing = self.closing.clone();
        let r = self.rt.block_on(async move {
            tokio::select! {
                r = f => r,
                _ = crate::transport::closed(&mut closing) => Err(Error::Handshake("transport closing".into())),
            }
        });
        if matches!(r, Err(Error::HandshakeTimeout(_))) {
            self.hit_deadline.store(true, Ordering::Release);
        }
        r
    }

    /// Sends all of `data`.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        let until = self.limit(None)?;
        let stream = self.stream.clone();
        let ms = self.timeout_ms;
        self.run(async move {
            let mut off = 0;
            while off < data.len() {
                match tokio::time::timeout_at(until, stream.writable()).await {
                    Err(_) => return Err(Error::HandshakeTimeout(ms)),
                    Ok(Err(e)) => return Err(Error::Io(format!("handshake send: {e}"))),
                    Ok(Ok(())) => {}
                }
                match stream.try_write(&data[off..]) {
                    Ok(n) => off += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Error::Io(format!("handshake send: {e}"))),
                }
            }
            Ok(())
        })
    }

    /// Receives between 1 and `buf.len()` bytes. `timeout` is further bounded by the deadline.
    /// Returns `Ok(0)` only when the remote closed the connection.
    pub fn recv(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let until = self.limit(timeout)?;
        let stream = self.stream.clone();
        let deadline = self.deadline;
        let ms = self.timeout_ms;
        self.run(async move {
            loop {
                match tokio::time::timeout_at(until, stream.readable()).await {
                    Err(_) if until >= deadline => return Err(Error::HandshakeTimeout(ms)),
                    Err(_) => return Err(Error::Timeout("handshake receive timed out".into())),
                    Ok(Err(e)) => return Err(Error::Io(format!("handshake receive: {e}"))),
                    Ok(Ok(())) => {}
                }
                match stream.try_read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Error::Io(format!("handshake receive: {e}"))),
                }
            }
        })
    }

    /// Receives exactly `buf.len()` bytes.
    pub fn recv_exact(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<()> {
        let until = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut off = 0;
        while off < buf.len() {
            let left = until.map(|u| u.saturating_duration_since(Instant::now()));
            match self.recv(&mut buf[off..], left)? {
                0 => {
                    return Err(Error::Handshake(format!("remote closed after {off} of {} handshake bytes", buf.len())))
                }
                n => off += n,
            }
        }
        Ok(())
    }
}

/// How a handshake ended badly.
#[derive(Debug, Clone)]
pub(crate) enum HandshakeFailure {
    Rejected(String),
    TimedOut,
}
