//! The raw codec: bytes as they come, no framing at all.
//!
//! On receive, whatever one socket read brought in becomes one message; on send, the payload
//! goes out as it is. This is a *stream* codec: message boundaries are not preserved. A message
//! sent as one `send` may arrive split over several messages, and several sends may arrive
//! merged into one; all that is guaranteed is that every byte arrives, in order. It exists for
//! peers that speak unframed protocols: the Go origin's `DefaultDecoder` (which read into a
//! 1028-byte buffer), line protocols, netcat.
//!
//! A received message is never empty and never larger than the transport's frame limit (a
//! larger buffer is handed out in several messages). End of stream is a disconnect: the bytes
//! still buffered become one last message, and nothing follows.

use super::{Codec, CodecError, Decoded, Decoder, Encoder};
use bytes::{Bytes, BytesMut};

/// Read size the Go origin used for its `DefaultDecoder`.
pub const DEFAULT_READ_SIZE: usize = 1028;

/// Unframed byte stream; each read becomes a message.
#[derive(Debug, Clone, Copy)]
pub struct Raw {
    read_size: usize,
}

impl Raw {
    /// `read_size` is the largest read a connection makes, hence the largest message it
    /// delivers per read; 0 means [`DEFAULT_READ_SIZE`].
    pub fn new(read_size: usize) -> Self {
        Raw { read_size: if read_size == 0 { DEFAULT_READ_SIZE } else { read_size } }
    }
}

impl Default for Raw {
    fn default() -> Self {
        Raw::new(DEFAULT_READ_SIZE)
    }
}

impl Codec for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }
    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(RawDecoder)
    }
    fn encoder(&self) -> Box<dyn Encoder> {
        Box::new(RawEncoder)
    }
    fn read_size(&self) -> Option<usize> {
        Some(self.read_size)
    }
}

/// Decoder half of [`Raw`]: hands out everything buffered.
#[derive(Debug, Default)]
pub struct RawDecoder;

impl Decoder for RawDecoder {
    fn decode(&mut self, buf: &mut BytesMut, max_frame: usize) -> Result<Decoded, CodecError> {
        if buf.is_empty() {
            return Ok(Decoded::NeedMore(0));
        }
        // Never an empty message, even with a zero limit.
        let n = buf.len().min(max_frame.max(1));
        Ok(Decoded::Frame(buf.split_to(n).freeze()))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut, _max_frame: usize) -> Result<Option<Bytes>, CodecError> {
        Ok(if buf.is_empty() { None } else { Some(buf.split().freeze()) })
    }
}

/// Encoder half of [`Raw`]: adds nothing.
#[derive(Debug, Default)]
pub struct RawEncoder;

impl Encoder for RawEncoder {
    fn encode(&mut self, _payload: &[u8], _head: &mut BytesMut, _tail: &mut BytesMut) -> Result<(), CodecError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_is_one_message_and_nothing_is_added() {
        let codec = Raw::default();
        assert_eq!(codec.name(), "raw");
        assert_eq!(codec.read_size(), Some(1028));
        assert_eq!(Raw::new(0).read_size(), Some(DEFAULT_READ_SIZE));
        assert_eq!(Raw::new(7).read_size(), Some(7));

        let (mut head, mut tail) = (BytesMut::new(), BytesMut::new());
        codec.encoder().encode(b"hello", &mut head, &mut tail).unwrap();
        assert!(head.is_empty() && tail.is_empty());

        let mut dec = codec.decoder();
        let mut buf = BytesMut::new();
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::NeedMore(0));
        buf.extend_from_slice(b"first read");
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::Frame(Bytes::from_static(b"first read")));
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::NeedMore(0));
        buf.extend_from_slice(b"second");
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::Frame(Bytes::from_static(b"second")));
        assert!(buf.is_empty());
    }

    #[test]
    fn buffers_over_the_frame_limit_come_out_in_pieces() {
        let mut dec = RawDecoder;
        let mut buf = BytesMut::from(&b"abcdefgh"[..]);
        assert_eq!(dec.decode(&mut buf, 3).unwrap(), Decoded::Frame(Bytes::from_static(b"abc")));
        assert_eq!(dec.decode(&mut buf, 3).unwrap(), Decoded::Frame(Bytes::from_static(b"def")));
        assert_eq!(dec.decode(&mut buf, 3).unwrap(), Decoded::Frame(Bytes::from_static(b"gh")));
        assert_eq!(dec.decode(&mut buf, 3).unwrap(), Decoded::NeedMore(0));
        // A zero limit still makes progress instead of emitting empty messages forever.
        buf.extend_from_slice(b"xy");
        assert_eq!(dec.decode(&mut buf, 0).unwrap(), Decoded::Frame(Bytes::from_static(b"x")));
        assert_eq!(dec.decode(&mut buf, 0).unwrap(), Decoded::Frame(Bytes::from_static(b"y")));
    }

    #[test]
    fn eof_flushes_the_rest_once_and_never_errs() {
        let mut dec = RawDecoder;
        let mut buf = BytesMut::from(&b"tail"[..]);
        assert_eq!(dec.decode_eof(&mut buf, 100).unwrap(), Some(Bytes::from_static(b"tail")));
        assert_eq!(dec.decode_eof(&mut buf, 100).unwrap(), None);
        assert_eq!(dec.decode_eof(&mut BytesMut::new(), 0).unwrap(), None);
    }
}
