//! Shared driver: the first input bytes pick the frame limit and how the rest is chunked.

use bytes::BytesMut;
use peerwire::codec::{CodecError, Decoded, Decoder};

const LIMITS: [usize; 8] = [0, 1, 4, 64, 1000, 1 << 16, 16 << 20, usize::MAX];

/// Feeds `data` to `dec` and checks the decoder contract; panics (a finding) on a violation.
pub fn drive(dec: &mut dyn Decoder, data: &[u8]) {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let max_frame = LIMITS[usize::from(ctl & 7)];
    let chunk = 1 + usize::from(ctl >> 3) * 97;
    let mut buf = BytesMut::new();
    let (mut fed, mut consumed) = (0usize, 0usize);
    while fed < input.len() {
        let n = chunk.min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls <= fed + 2, "endless run of frames");
            let before = consumed;
            let res = dec.decode(&mut buf, max_frame);
            assert!(buf.len() <= fed - consumed, "buffer grew");
            consumed = fed - buf.len();
            assert_eq!(&buf[..], &input[consumed..fed], "buffer is not the unconsumed input");
            match res {
                Ok(Decoded::Frame(f)) => {
                    assert!(consumed > before, "frame consumed nothing");
                    assert!(f.len() <= max_frame.max(1), "frame over the limit");
                }
                Ok(Decoded::NeedMore(_)) => break,
                Err(CodecError::FrameTooLarge { size, limit }) => {
                    assert!(limit >= max_frame && size > limit as u64);
                    return;
                }
                Err(CodecError::Invalid(_)) => return,
            }
        }
    }
    let pending = buf.len();
    match dec.decode_eof(&mut buf, max_frame) {
        Ok(Some(last)) => assert_eq!(&last[..], &input[consumed..]),
        Ok(None) => assert_eq!(pending, 0),
        Err(_) => assert!(pending > 0),
    }
}
