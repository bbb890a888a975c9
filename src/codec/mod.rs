//! Codecs: how bytes on a connection become messages, and messages become bytes.
//!
//! A [`Codec`] is shared by a transport; every connection gets its own [`Decoder`] and
//! [`Encoder`] (some formats, such as gob, keep per-stream state).

use bytes::{Bytes, BytesMut};

pub mod custom;
pub mod gob;
pub mod length;
pub mod raw;

#[cfg(test)]
mod fuzz_tests;

/// Why a decoder refused its input. Closes the connection with the matching reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A frame announced (or grew) beyond the transport's maximum frame size.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge { size: u64, limit: usize },
    /// The bytes do not follow the codec's format.
    #[error("decode error: {0}")]
    Invalid(String),
}

/// Result of one decode step.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete message; the bytes it used were removed from the buffer.
    Frame(Bytes),
    /// More input is needed; the value is a hint of how many more bytes (0 = unknown).
    NeedMore(usize),
}

/// Splits a byte stream into messages. One per connection, kept for its whole life.
pub trait Decoder: Send {
    /// Takes at most one message off the front of `buf`. Must never allocate the size a
    /// frame claims before those bytes have arrived, and must refuse frames over `max_frame`.
    fn decode(&mut self, buf: &mut BytesMut, max_frame: usize) -> Result<Decoded, CodecError>;

    /// Called once when the connection reaches end of stream with `buf` holding whatever
    /// was not decoded. Stream codecs may turn the rest into a last message.
    fn decode_eof(&mut self, buf: &mut BytesMut, _max_frame: usize) -> Result<Option<Bytes>, CodecError> {
        if buf.is_empty() {
            Ok(None)
        } else {
            Err(CodecError::Invalid(format!("connection ended inside a frame ({} bytes pending)", buf.len())))
        }
    }
}

/// Turns messages into bytes. One per connection; called in send order.
pub trait Encoder: Send {
    /// Writes what goes before the payload into `head` and what goes after it into `tail`
    /// (both empty on entry). The payload itself is written by the caller, uncopied.
    fn encode(&mut self, payload: &[u8], head: &mut BytesMut, tail: &mut BytesMut) -> Result<(), CodecError>;
}

/// A wire format. Shared by all connections of a transport.
pub trait Codec: Send + Sync {
    /// Short name for logs and errors.
    fn name(&self) -> &'static str;
    fn decoder(&self) -> Box<dyn Decoder>;
    fn encoder(&self) -> Box<dyn Encoder>;
    /// Largest read a connection should make at once; `None` keeps the transport's setting.
    fn read_size(&self) -> Option<usize> {
        None
    }
}
