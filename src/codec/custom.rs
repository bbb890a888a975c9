//! The custom codec: a user-supplied frame splitter (from C, or any [`Splitter`]).
//!
//! On receive the splitter is shown the buffered, unconsumed bytes and answers "need more",
//! "a frame of N bytes starts here after a header of H bytes", or "invalid". On send it may
//! write a header to put before the payload. Both are bounded by the frame limit.

use super::{Codec, CodecError, Decoded, Decoder, Encoder};
use bytes::{Buf, BytesMut};
use std::sync::Arc;

/// Largest header a splitter may ask to strip or prepend.
pub const MAX_CUSTOM_HEADER: usize = 64 * 1024;

/// A splitter's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    NeedMore,
    /// A frame: strip `header` bytes, then `len` payload bytes.
    Frame {
        header: usize,
        len: usize,
    },
    Invalid(String),
}

/// A user-defined framing.
pub trait Splitter: Send + Sync {
    /// Looks at the buffered bytes (the start of the next frame is at index 0).
    fn split(&self, buf: &[u8]) -> Split;
    /// Writes what goes before `payload` on the wire (nothing by default).
    fn header(&self, _payload: &[u8], _out: &mut BytesMut) -> Result<(), String> {
        Ok(())
    }
}

/// A codec made from a [`Splitter`].
#[derive(Clone)]
pub struct Custom {
    splitter: Arc<dyn Splitter>,
}

impl Custom {
    pub fn new(splitter: Arc<dyn Splitter>) -> Custom {
        Custom { splitter }
    }
}

impl Codec for Custom {
    fn name(&self) -> &'static str {
        "custom"
    }
    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(CustomDecoder { splitter: self.splitter.clone() })
    }
    fn encoder(&self) -> Box<dyn Encoder> {
        Box::new(CustomEncoder { splitter: self.splitter.clone() })
    }
}

struct CustomDecoder {
    splitter: Arc<dyn Splitter>,
}

impl Decoder for CustomDecoder {
    fn decode(&mut self, buf: &mut BytesMut, max_frame: usize) -> Result<Decoded, CodecError> {
        if buf.is_empty() {
            return Ok(Decoded::NeedMore(0));
        }
        match self.splitter.split(buf) {
            Split::NeedMore => {
                // A splitter that never decides must not make us buffer without bound.
                if buf.len() > max_frame.saturating_add(MAX_CUSTOM_HEADER) {
                    return Err(CodecError::FrameTooLarge { size: buf.len() as u64, limit: max_frame });
                }
                Ok(Decoded::NeedMore(0))
            }
            Split::Invalid(why) => Err(CodecError::Invalid(why)),
            Split::Frame { header, len } => {
                if header == 0 && len == 0 {
                    // Consumes nothing: answering it forever would never end.
                    return Err(CodecError::Invalid("custom split returned a frame of 0 bytes with no header".into()));
                }
                if len > max_frame {
                    return Err(CodecError::FrameTooLarge { size: len as u64, limit: max_frame });
                }
                if header > MAX_CUSTOM_HEADER {
                    return Err(CodecError::Invalid(format!("header of {header} bytes exceeds {MAX_CUSTOM_HEADER}")));
                }
                let total = header + len;
                if buf.len() < total {
                    return Ok(Decoded::NeedMore(total - buf.len()));
                }
                buf.advance(header);
                Ok(Decoded::Frame(buf.split_to(len).freeze()))
            }
        }
    }
}

struct CustomEncoder {
    splitter: Arc<dyn Splitter>,
}

impl Encoder for CustomEncoder {
    fn encode(&mut self, payload: &[u8], head: &mut BytesMut, _tail: &mut BytesMut) -> Result<(), CodecError> {
        self.splitter.header(payload, head).map_err(CodecError::Invalid)?;
        if head.len() > MAX_CUSTOM_HEADER {
            return Err(CodecError::Invalid(format!("header of {} bytes exceeds {MAX_CUSTOM_HEADER}", head.len())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines: each frame ends with '\n', which is stripped; sending appends nothing (tests
    /// put the newline in the payload), so this also shows a trailer-less framing.
    struct Lines;
    impl Splitter for Lines {
        fn split(&self, buf: &[u8]) -> Split {
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) if i > 0 && buf[0] == b'!' => Split::Invalid("bang".into()),
                Some(i) => Split::Frame { header: 0, len: i + 1 },
                None => Split::NeedMore,
            }
        }
    }

    #[test]
    fn splits_lines_bounds_buffering_and_reports_invalid() {
        let c = Custom::new(Arc::new(Lines));
        let mut d = c.decoder();
        let mut buf = BytesMut::from(&b"one\ntw"[..]);
        assert_eq!(d.decode(&mut buf, 100).unwrap(), Decoded::Frame(bytes::Bytes::from_static(b"one\n")));
        assert_eq!(d.decode(&mut buf, 100).unwrap(), Decoded::NeedMore(0));
        buf.extend_from_slice(&[b'x'; 200]);
        assert!(matches!(d.decode(&mut buf, 100), Ok(Decoded::NeedMore(0))));
        let mut big = BytesMut::from(&vec![b'x'; 100 + MAX_CUSTOM_HEADER + 1][..]);
        assert!(matches!(d.decode(&mut big, 100), Err(CodecError::FrameTooLarge { .. })));
        let mut zero = BytesMut::from(&b"\n"[..]);
        struct Zero;
        impl Splitter for Zero {
            fn split(&self, _: &[u8]) -> Split {
                Split::Frame { header: 0, len: 0 }
            }
        }
        assert!(matches!(Custom::new(Arc::new(Zero)).decoder().decode(&mut zero, 100), Err(CodecError::Invalid(_))));
        let mut bad = BytesMut::from(&b"!x\n"[..]);
        assert!(matches!(d.decode(&mut bad, 100), Err(CodecError::Invalid(_))));
    }
}
