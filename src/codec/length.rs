//! The default codec: a 4-byte big-endian length, then the payload.

use super::{Codec, CodecError, Decoded, Decoder, Encoder};
use bytes::{Buf, BufMut, BytesMut};

/// Size of the length prefix.
pub const HEADER_LEN: usize = 4;

/// u32 big-endian length + payload.
#[derive(Debug, Default, Clone, Copy)]
pub struct LengthPrefixed;

impl Codec for LengthPrefixed {
    fn name(&self) -> &'static str {
        "length-prefixed"
    }
    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(LengthDecoder)
    }
    fn encoder(&self) -> Box<dyn Encoder> {
        Box::new(LengthEncoder)
    }
}

/// Decoder half of [`LengthPrefixed`].
#[derive(Debug, Default)]
pub struct LengthDecoder;

impl Decoder for LengthDecoder {
    fn decode(&mut self, buf: &mut BytesMut, max_frame: usize) -> Result<Decoded, CodecError> {
        if buf.len() < HEADER_LEN {
            return Ok(Decoded::NeedMore(HEADER_LEN - buf.len()));
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len > max_frame {
            return Err(CodecError::FrameTooLarge { size: len as u64, limit: max_frame });
        }
        if buf.len() < HEADER_LEN + len {
            return Ok(Decoded::NeedMore(HEADER_LEN + len - buf.len()));
        }
        buf.advance(HEADER_LEN);
        Ok(Decoded::Frame(buf.split_to(len).freeze()))
    }
}

/// Encoder half of [`LengthPrefixed`].
#[derive(Debug, Default)]
pub struct LengthEncoder;

impl Encoder for LengthEncoder {
    fn encode(&mut self, payload: &[u8], head: &mut BytesMut, _tail: &mut BytesMut) -> Result<(), CodecError> {
        let len = u32::try_from(payload.len())
            .map_err(|_| CodecError::FrameTooLarge { size: payload.len() as u64, limit: u32::MAX as usize })?;
        head.put_u32(len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_without_copying_and_keeps_partial_input() {
        let mut buf = BytesMut::new();
        let mut enc = LengthEncoder;
        for msg in [&b"hello"[..], b"", b"world!"] {
            let (mut h, mut t) = (BytesMut::new(), BytesMut::new());
            enc.encode(msg, &mut h, &mut t).unwrap();
            buf.extend_from_slice(&h);
            buf.extend_from_slice(msg);
        }
        buf.extend_from_slice(&[0, 0, 0, 9, b'x']);
        let mut dec = LengthDecoder;
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::Frame(bytes::Bytes::from_static(b"hello")));
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::Frame(bytes::Bytes::new()));
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::Frame(bytes::Bytes::from_static(b"world!")));
        assert_eq!(dec.decode(&mut buf, 100).unwrap(), Decoded::NeedMore(8));
        assert_eq!(buf.len(), 5);
    }

    #[test]
    fn refuses_oversize_claim_before_reading_it() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let err = LengthDecoder.decode(&mut buf, 1024).unwrap_err();
        assert!(matches!(err, CodecError::FrameTooLarge { size: 0xffff_ffff, limit: 1024 }));
    }
}
