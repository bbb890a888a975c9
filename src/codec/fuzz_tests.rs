//! Property-style fuzzing of every decoder, on the stable toolchain.
//!
//! Each test runs random and mutated inputs through one decoder for `PEERWIRE_FUZZ_SECS`
//! seconds (default 2; fractions allowed) from seed `PEERWIRE_FUZZ_SEED` (default fixed, so a
//! failure is reproducible), feeding each input twice: whole, and in random chunks. It checks:
//!
//! - no panic, no endless run of frames, errors are of the documented kinds;
//! - the buffer only ever loses bytes from its front, and holds exactly the input not yet
//!   consumed; frames never exceed the frame limit and always consume input;
//! - chunking does not change the outcome (same frames, same error), except for raw, where
//!   only the bytes and their order are guaranteed: the frames concatenate to the input;
//! - end of stream ends cleanly: a last message (raw), nothing, or an error for a cut frame.
//!
//! Run longer with e.g. `PEERWIRE_FUZZ_SECS=60 cargo test --release --lib fuzz -- --nocapture`.

use super::gob::{Gob, GobDecoder};
use super::length::{LengthDecoder, LengthEncoder};
use super::raw::RawDecoder;
use super::{Codec, CodecError, Decoded, Decoder, Encoder};
use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};

const GOB_SEEDS: &[&[u8]] = &[
    include_bytes!("../../tests/gob_vectors/rpc_extended.bin"),
    include_bytes!("../../tests/gob_vectors/rpc_stream.bin"),
    include_bytes!("../../tests/gob_vectors/not_a_struct.bin"),
    include_bytes!("../../tests/gob_vectors/no_matching_field.bin"),
    include_bytes!("../../tests/gob_vectors/wrong_field_type.bin"),
];
/// Starts with a 70000-byte payload message: kept whole for oversize claims, cut for mutation.
const GOB_PLAIN: &[u8] = include_bytes!("../../tests/gob_vectors/rpc_plain.bin");

/// Inputs larger than this are cut, to keep each check cheap.
const MAX_INPUT: usize = 16 << 10;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn budget() -> Duration {
    let secs = std::env::var("PEERWIRE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn seed(salt: u64) -> u64 {
    let base = std::env::var("PEERWIRE_FUZZ_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0x5eed_c0de);
    (base ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

/// Bytes worth planting: gob length bytes, boundaries, big counts.
const INTERESTING: &[u8] = &[0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0x81, 0xf8, 0xfc, 0xfe, 0xff];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, donors: &[&[u8]]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = *rng.pick(INTERESTING);
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let b = rng.bytes(n);
                input.splice(i..i, b);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                input.truncate(rng.below(len));
            }
            5 if len > 0 => {
                // Duplicate a range (e.g. a type definition sent twice).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let part = input[i..i + n].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, part);
            }
            6 if !donors.is_empty() => {
                // Splice in part of another seed.
                let d = rng.pick(donors);
                if !d.is_empty() {
                    let i = rng.below(d.len());
                    let n = 1 + rng.below((d.len() - i).min(512));
                    let at = rng.below(len + 1);
                    input.splice(at..at, d[i..i + n].iter().copied());
                }
            }
            _ if len > 1 => {
                // Plant a multi-byte unsigned integer.
                let i = rng.below(len);
                let n = 1 + rng.below(8);
                input[i] = (n as u8).wrapping_neg();
                for j in 1..=n {
                    if let Some(b) = input.get_mut(i + j) {
                        *b = rng.next() as u8;
                    }
                }
            }
            _ => input.push(rng.next() as u8),
        }
    }
    input.truncate(MAX_INPUT);
}

/// How one feeding of an input ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Bytes>,
    /// `Ok(last message at end of stream)` or the error that stopped decoding.
    end: Result<Option<Bytes>, CodecError>,
}

/// Per-codec facts the harness checks.
#[derive(Clone, Copy)]
struct Rules {
    /// Least input a frame of `n` bytes consumes (header bytes).
    min_overhead: usize,
    /// Exactly this many header bytes precede the payload (frame = consumed[header..]).
    exact_header: Option<usize>,
    /// Frames carry the stream itself, so chunking changes them (raw).
    stream: bool,
}

fn feed(dec: &mut dyn Decoder, input: &[u8], chunks: &[usize], max_frame: usize, rules: Rules) -> Outcome {
    let mut buf = BytesMut::new();
    let (mut fed, mut consumed) = (0usize, 0usize);
    let mut frames = Vec::new();
    let mut chunk = chunks.iter().copied();
    while fed < input.len() {
        let n = chunk.next().unwrap_or(input.len()).clamp(1, input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        let mut calls = 0;
        loop {
            // More frames than bytes fed would mean a frame consumed nothing.
            calls += 1;
            assert!(calls <= fed + 2, "endless run of frames");
            let before = consumed;
            let res = dec.decode(&mut buf, max_frame);
            // The buffer holds exactly the input not yet consumed: it only lost its front.
            assert!(buf.len() <= fed - consumed, "buffer grew");
            consumed = fed - buf.len();
            assert_eq!(&buf[..], &input[consumed..fed], "buffer is not the unconsumed input");
            match res {
                Ok(Decoded::Frame(f)) => {
                    let used = consumed - before;
                    assert!(used >= f.len() + rules.min_overhead, "frame consumed too little");
                    assert!(f.len() <= max_frame.max(1), "frame over the limit");
                    if let Some(h) = rules.exact_header {
                        assert_eq!(&f[..], &input[before + h..consumed], "frame is not its bytes");
                    }
                    frames.push(f);
                }
                Ok(Decoded::NeedMore(hint)) => {
                    assert!(hint <= max_frame.saturating_add(2048), "absurd hint {hint}");
                    break;
                }
                Err(e) => {
                    check_error(&e, max_frame);
                    return Outcome { frames, end: Err(e) };
                }
            }
        }
    }
    let pending = buf.len();
    let end = dec.decode_eof(&mut buf, max_frame);
    match &end {
        Ok(Some(last)) => {
            assert!(rules.stream, "only stream codecs turn the rest into a message");
            assert_eq!(&last[..], &input[consumed..], "last message is not the rest");
        }
        Ok(None) => assert_eq!(pending, 0, "bytes left at end of stream without an error"),
        Err(e) => {
            assert!(pending > 0, "error at a clean end of stream");
            check_error(e, max_frame);
        }
    }
    Outcome { frames, end }
}

fn check_error(e: &CodecError, max_frame: usize) {
    match e {
        CodecError::FrameTooLarge { size, limit } => {
            // gob allows its message framing on top of the limit, which bounds payloads.
            assert!(*limit >= max_frame, "limit {limit} below the frame limit {max_frame}");
            assert!(*size > *limit as u64, "size {size} within the limit {limit}");
        }
        CodecError::Invalid(msg) => assert!(!msg.is_empty()),
    }
}

fn random_chunks(rng: &mut Rng, len: usize) -> Vec<usize> {
    let pieces = 1 + rng.below(48);
    let typical = (len / pieces).max(1);
    (0..pieces + 1)
        .map(|_| match rng.below(4) {
            0 => 1,
            _ => 1 + rng.below(2 * typical),
        })
        .collect()
}

const LIMITS: &[usize] = &[0, 1, 3, 4, 5, 64, 1000, 4096, 1 << 16, 16 << 20, usize::MAX];

struct Stats {
    inputs: u64,
    frames: u64,
    errors: u64,
}

/// Runs `make_input` products through fresh decoders until the time budget is spent.
fn fuzz(
    name: &str,
    salt: u64,
    new_decoder: fn() -> Box<dyn Decoder>,
    rules: Rules,
    mut make_input: impl FnMut(&mut Rng) -> Vec<u8>,
) -> Stats {
    let s = seed(salt);
    let mut rng = Rng(s);
    let budget = budget();
    let start = Instant::now();
    let mut st = Stats { inputs: 0, frames: 0, errors: 0 };
    // At least a few hundred inputs, whatever the budget, so the test always checks something.
    while st.inputs < 300 || start.elapsed() < budget {
        let input = make_input(&mut rng);
        let max_frame = *rng.pick(LIMITS);
        let whole = feed(&mut *new_decoder(), &input, &[], max_frame, rules);
        let chunks = random_chunks(&mut rng, input.len());
        let pieces = feed(&mut *new_decoder(), &input, &chunks, max_frame, rules);
        if rules.stream {
            for out in [&whole, &pieces] {
                let mut all: Vec<u8> = out.frames.iter().flat_map(|f| f.iter().copied()).collect();
                if let Ok(Some(last)) = &out.end {
                    all.extend_from_slice(last);
                }
                assert_eq!(all, input, "{name}: bytes lost or reordered");
            }
        } else {
            assert_eq!(whole, pieces, "{name}: chunking changed the outcome (seed {s:#x}, input {input:02x?})");
        }
        st.inputs += 1;
        st.frames += whole.frames.len() as u64;
        st.errors += u64::from(whole.end.is_err());
    }
    eprintln!(
        "fuzz {name}: {} inputs ({} frames, {} errors) in {:.1} s, seed {s:#x}",
        st.inputs,
        st.frames,
        st.errors,
        start.elapsed().as_secs_f64()
    );
    st
}

fn random_input(rng: &mut Rng) -> Vec<u8> {
    let n = match rng.below(4) {
        0 => rng.below(8),
        1 => rng.below(64),
        _ => rng.below(1024),
    };
    let mut v = rng.bytes(n);
    if rng.chance(2) {
        // Small values make plausible lengths and deltas.
        v.iter_mut().for_each(|b| *b %= 16);
    }
    v
}

fn encode_with(enc: &mut dyn Encoder, payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        let (mut head, mut tail) = (BytesMut::new(), BytesMut::new());
        enc.encode(p, &mut head, &mut tail).unwrap();
        out.extend_from_slice(&head);
        out.extend_from_slice(p);
        out.extend_from_slice(&tail);
    }
    out
}

fn random_payloads(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..rng.below(6))
        .map(|_| {
            let n = match rng.below(3) {
                0 => 0,
                1 => rng.below(8),
                _ => rng.below(300),
            };
            rng.bytes(n)
        })
        .collect()
}

/// Gob's built-in type ids.
const BUILTINS: &[i64] = &[1, 2, 3, 4, 5, 6, 7, 8];
const T_COMPLEX: i64 = 7;
const T_STRING: i64 = 6;
const T_BYTES: i64 = 5;
const T_INTERFACE: i64 = 8;

/// A random Go type, as gob describes it (each composite type carries its id).
#[derive(Clone, Debug)]
enum GoType {
    Builtin(i64),
    Opaque(i64),
    Array(i64, Box<GoType>, usize),
    Slice(i64, Box<GoType>),
    Map(i64, Box<GoType>, Box<GoType>),
    Struct(i64, Vec<GoType>),
}

impl GoType {
    fn id(&self) -> i64 {
        match self {
            GoType::Builtin(id)
            | GoType::Opaque(id)
            | GoType::Array(id, ..)
            | GoType::Slice(id, _)
            | GoType::Map(id, ..)
            | GoType::Struct(id, _) => *id,
        }
    }
}

fn put_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        let skip = (v.leading_zeros() / 8) as usize;
        out.push((8 - skip as u8).wrapping_neg());
        out.extend_from_slice(&v.to_be_bytes()[skip..]);
    }
}

fn put_int(out: &mut Vec<u8>, v: i64) {
    put_uint(out, if v < 0 { (!(v as u64) << 1) | 1 } else { (v as u64) << 1 });
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_message(out: &mut Vec<u8>, body: &[u8]) {
    put_uint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// `(payload, From)` a decoder of RPC must get from each value.
type Expected = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Writes random but valid gob streams of RPC-like structs with extra fields of random types,
/// laid out as Go's encoder does, and knows what a decoder of RPC must get from them.
struct StreamGen<'r> {
    rng: &'r mut Rng,
    next_id: i64,
    defs: Vec<Vec<u8>>,
    /// Defined types an interface value may hold.
    concrete: Vec<GoType>,
}

impl StreamGen<'_> {
    /// A random type; composite ones get a definition message.
    fn new_type(&mut self, depth: usize) -> GoType {
        if depth >= 3 || self.rng.chance(2) {
            return GoType::Builtin(*self.rng.pick(BUILTINS));
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut def = Vec::new();
        put_int(&mut def, -id);
        // Each kind's struct starts with CommonType{Name, Id}, sometimes left out.
        let common = |rng: &mut Rng, def: &mut Vec<u8>| {
            if !rng.chance(3) {
                def.extend_from_slice(&[1, 1, 2, b'T', b'x', 1]);
                put_int(def, id);
                def.push(0);
            }
        };
        // Field deltas after CommonType (field 0) depend on whether it was sent: use absolute
        // field numbers through `field`.
        let t = match self.rng.below(5) {
            0 => {
                let elem = self.new_type(depth + 1);
                let len = 1 + self.rng.below(3);
                def.push(1); // ArrayT
                let start = def.len();
                common(self.rng, &mut def);
                def.push(if def.len() > start { 1 } else { 2 }); // Elem
                put_int(&mut def, elem.id());
                def.push(1); // Len
                put_int(&mut def, len as i64);
                GoType::Array(id, Box::new(elem), len)
            }
            1 => {
                let elem = self.new_type(depth + 1);
                def.push(2); // SliceT
                let start = def.len();
                common(self.rng, &mut def);
                def.push(if def.len() > start { 1 } else { 2 });
                put_int(&mut def, elem.id());
                GoType::Slice(id, Box::new(elem))
            }
            2 => {
                let (k, v) = (self.new_type(depth + 1), self.new_type(depth + 1));
                def.push(4); // MapT
                let start = def.len();
                common(self.rng, &mut def);
                def.push(if def.len() > start { 1 } else { 2 });
                put_int(&mut def, k.id());
                def.push(1);
                put_int(&mut def, v.id());
                GoType::Map(id, Box::new(k), Box::new(v))
            }
            3 => {
                let n = self.rng.below(4);
                let fields: Vec<GoType> = (0..n).map(|_| self.new_type(depth + 1)).collect();
                def.push(3); // StructT
                let start = def.len();
                common(self.rng, &mut def);
                def.push(if def.len() > start { 1 } else { 2 });
                put_uint(&mut def, fields.len() as u64);
                for (i, f) in fields.iter().enumerate() {
                    def.push(1);
                    put_bytes(&mut def, format!("N{i}").as_bytes());
                    def.push(1);
                    put_int(&mut def, f.id());
                    def.push(0);
                }
                GoType::Struct(id, fields)
            }
            _ => {
                def.push(5 + self.rng.below(3) as u8); // GobEncoderT, BinaryMarshalerT, TextMarshalerT
                common(self.rng, &mut def);
                GoType::Opaque(id)
            }
        };
        def.push(0); // end of the kind's struct
        def.push(0); // end of wireType
        self.defs.push(def);
        self.concrete.push(t.clone());
        t
    }

    fn value(&mut self, t: &GoType, out: &mut Vec<u8>, depth: usize) {
        match t {
            GoType::Builtin(T_INTERFACE) => self.interface(out, depth),
            GoType::Builtin(T_COMPLEX) => {
                put_uint(out, self.rng.next());
                put_uint(out, self.rng.next());
            }
            GoType::Builtin(T_BYTES | T_STRING) | GoType::Opaque(_) => {
                let n = self.rng.below(20);
                let b = self.rng.bytes(n);
                put_bytes(out, &b);
            }
            GoType::Builtin(_) => put_uint(out, self.rng.next() >> (8 * self.rng.below(8))),
            GoType::Array(_, elem, len) => {
                put_uint(out, *len as u64);
                (0..*len).for_each(|_| self.value(elem, out, depth + 1));
            }
            GoType::Slice(_, elem) => {
                let n = self.rng.below(4);
                put_uint(out, n as u64);
                (0..n).for_each(|_| self.value(elem, out, depth + 1));
            }
            GoType::Map(_, k, v) => {
                let n = self.rng.below(3);
                put_uint(out, n as u64);
                for _ in 0..n {
                    self.value(k, out, depth + 1);
                    self.value(v, out, depth + 1);
                }
            }
            GoType::Struct(_, fields) => {
                let mut last = -1i64;
                for (i, f) in fields.iter().enumerate() {
                    if self.rng.chance(3) {
                        continue; // a zero field, left out
                    }
                    put_uint(out, (i as i64 - last) as u64);
                    last = i as i64;
                    self.value(f, out, depth + 1);
                }
                out.push(0);
            }
        }
    }

    /// Name, concrete type id, byte count, then the value (non-structs get a zero delta first).
    fn interface(&mut self, out: &mut Vec<u8>, depth: usize) {
        if depth > 8 || self.rng.chance(3) {
            out.push(0); // nil
            return;
        }
        let t = if self.concrete.is_empty() || self.rng.chance(2) {
            GoType::Builtin(*self.rng.pick(&BUILTINS[..7]))
        } else {
            self.rng.pick(&self.concrete).clone()
        };
        put_bytes(out, format!("main.T{}", t.id()).as_bytes());
        put_int(out, t.id());
        let mut inner = Vec::new();
        if !matches!(t, GoType::Struct(..)) {
            inner.push(0);
        }
        self.value(&t, &mut inner, depth + 1);
        put_bytes(out, &inner);
    }

    /// A whole stream: type definitions, then values of a struct holding From and/or Payload
    /// among random fields.
    fn stream(rng: &mut Rng) -> (Vec<u8>, Expected) {
        let mut g = StreamGen { rng, next_id: 64, defs: Vec::new(), concrete: Vec::new() };
        let top_id = g.next_id;
        g.next_id += 1;
        // None = another field (with its type), Some(true) = From, Some(false) = Payload.
        let n = g.rng.below(5);
        let mut fields: Vec<(Option<bool>, GoType)> = (0..n).map(|_| (None, g.new_type(1))).collect();
        let roles: &[&[bool]] = &[&[true, false], &[false, true], &[true], &[false]];
        for &role in *g.rng.pick(roles) {
            let at = g.rng.below(fields.len() + 1);
            let ty = GoType::Builtin(if role { T_STRING } else { T_BYTES });
            fields.insert(at, (Some(role), ty));
        }
        let mut top = vec![];
        put_int(&mut top, -top_id);
        top.extend_from_slice(&[3, 1, 1, 3, b'R', b'P', b'C', 0, 1]);
        put_uint(&mut top, fields.len() as u64);
        for (i, (role, ty)) in fields.iter().enumerate() {
            let name = match role {
                Some(true) => "From".to_string(),
                Some(false) => "Payload".to_string(),
                None => format!("X{i}"),
            };
            top.push(1);
            put_bytes(&mut top, name.as_bytes());
            top.push(1);
            put_int(&mut top, ty.id());
            top.push(0);
        }
        top.extend_from_slice(&[0, 0]);
        g.defs.insert(0, top);
        if g.rng.chance(4) {
            g.defs.reverse(); // definitions may come in any order before their first use
        }

        let mut values = Vec::new();
        let mut expect = Vec::new();
        for _ in 0..1 + g.rng.below(4) {
            let mut body = Vec::new();
            put_int(&mut body, top_id);
            let (mut payload, mut from) = (Vec::new(), None);
            let mut last = -1i64;
            for (i, (role, ty)) in fields.iter().enumerate() {
                if g.rng.chance(3) {
                    continue;
                }
                put_uint(&mut body, (i as i64 - last) as u64);
                last = i as i64;
                match role {
                    Some(is_from) => {
                        let n = g.rng.below(if *is_from { 24 } else { 300 });
                        let b = g.rng.bytes(n);
                        put_bytes(&mut body, &b);
                        if *is_from {
                            from = Some(b);
                        } else {
                            payload = b;
                        }
                    }
                    None => g.value(ty, &mut body, 1),
                }
            }
            body.push(0);
            put_message(&mut values, &body);
            expect.push((payload, from));
        }
        let mut out = Vec::new();
        for d in &g.defs {
            put_message(&mut out, d);
        }
        out.extend_from_slice(&values);
        (out, expect)
    }
}

/// A generated stream must decode to exactly what was put in it.
fn check_generated(stream: &[u8], expect: &Expected) {
    let mut dec = GobDecoder::new();
    let mut buf = BytesMut::from(stream);
    for (i, (payload, from)) in expect.iter().enumerate() {
        match dec.decode(&mut buf, 16 << 20) {
            Ok(Decoded::Frame(f)) => {
                assert_eq!(&f[..], &payload[..], "value {i}, stream {stream:02x?}");
                let want = from.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
                assert_eq!(dec.last_from(), want.as_deref(), "value {i}");
            }
            other => panic!("value {i}: {other:?}, stream {stream:02x?}"),
        }
    }
    assert!(buf.is_empty(), "bytes left after the last value");
}

#[test]
fn fuzz_length_decoder() {
    let rules = Rules { min_overhead: 4, exact_header: Some(4), stream: false };
    let st = fuzz(
        "length",
        1,
        || Box::new(LengthDecoder),
        rules,
        |rng| {
            if rng.chance(3) {
                return random_input(rng);
            }
            let mut v = encode_with(&mut LengthEncoder, &random_payloads(rng));
            if !rng.chance(4) {
                mutate(rng, &mut v, &[]);
            }
            v
        },
    );
    assert!(st.frames > 0 && st.errors > 0, "fuzzing reached neither frames nor errors");
}

#[test]
fn fuzz_raw_decoder() {
    let rules = Rules { min_overhead: 0, exact_header: Some(0), stream: true };
    let st = fuzz("raw", 2, || Box::new(RawDecoder), rules, random_input);
    assert!(st.frames > 0 && st.errors == 0, "raw never fails");
}

#[test]
fn fuzz_gob_decoder() {
    let rules = Rules { min_overhead: 2, exact_header: None, stream: false };
    // Our own streams, with and without From, join Go's as seeds.
    let mut rng = Rng(seed(99));
    let ours: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let from = if i % 2 == 0 { "" } else { "127.0.0.1:1" };
            encode_with(&mut *Gob::with_from(from).encoder(), &random_payloads(&mut rng))
        })
        .collect();
    let mut seeds: Vec<&[u8]> = GOB_SEEDS.to_vec();
    seeds.extend(ours.iter().map(Vec::as_slice));
    seeds.push(&GOB_PLAIN[..200]);
    let mut generated = 0u64;
    let st = fuzz(
        "gob",
        3,
        || Box::new(GobDecoder::new()),
        rules,
        |rng| match rng.below(8) {
            0 => random_input(rng),
            1 => GOB_PLAIN.to_vec(), // whole: a 70000-byte message against every limit
            2..=4 => {
                // A valid stream of random types: checked for its exact result, then (often
                // mutated) run through the harness.
                let (mut v, expect) = StreamGen::stream(rng);
                check_generated(&v, &expect);
                generated += 1;
                if rng.chance(2) {
                    mutate(rng, &mut v, &seeds);
                }
                v
            }
            _ => {
                let mut v = rng.pick(&seeds).to_vec();
                mutate(rng, &mut v, &seeds);
                v
            }
        },
    );
    eprintln!("fuzz gob: {generated} generated streams of random types decoded exactly");
    assert!(st.frames > 0 && st.errors > 0 && generated > 0, "fuzzing reached too little");
}
