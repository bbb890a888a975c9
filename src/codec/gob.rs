//! Go `encoding/gob` streams of `RPC{From string; Payload []byte}` values.
//!
//! This is what a Go program writes with one `gob.NewEncoder(conn)` and `Encode(RPC{...})` per
//! message, and reads with one `gob.NewDecoder(conn)`. The format (see Go's
//! `encoding/gob/doc.go`):
//!
//! - A stream is a sequence of messages: an unsigned count, then that many bytes.
//! - A message starts with a signed type id. A negative id `-t` carries the definition of type
//!   `t` (a `wireType` value); the definition is sent once per stream and must be remembered,
//!   which is why there is exactly one [`GobDecoder`] per connection. A positive id carries a
//!   value of that type.
//! - A struct value is a list of (field-number delta, field value) pairs ended by a zero delta;
//!   fields holding zero values are left out. Fields are matched by name: the remote struct may
//!   have more fields than `From` and `Payload` (e.g. `Stream bool`); they are skipped.
//!
//! Unsigned integers are one byte below 128, else a byte holding the negated byte count and the
//! big-endian bytes; signed integers are zig-zag folded into unsigned ones (the low bit is the
//! sign). Strings and byte slices are a count and the bytes.
//!
//! Limits: the transport's frame limit bounds payloads, as it does on send. A message whose
//! count exceeds it by more than [`MESSAGE_OVERHEAD`] (room for the type id, `From`, field
//! headers and small extra fields) is refused before anything is buffered for it, and so is a
//! `Payload` over the limit ([`CodecError::FrameTooLarge`]). Every inner length is checked
//! against the bytes left in its message; nesting depth and the number of remembered type
//! definitions are capped. The decoder allocates nothing a message claims before its bytes have
//! arrived, keeps a bounded amount of type information per connection, and never panics.
//!
//! Not supported, and refused with a decode error: a value whose interface-typed field holds a
//! type not yet sent on the stream. Go's encoder then splits the value over several messages,
//! and Go's own decoder cannot decode such a value into `RPC` either.

use super::{Codec, CodecError, Decoded, Decoder, Encoder};
use bytes::{Buf, BufMut, BytesMut};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// The type id our encoder gives `RPC`: gob's first user id, which is what a fresh Go process
/// assigns to the first type it encodes. Decoders accept any id; this keeps our bytes identical
/// to Go's in the common case.
pub const RPC_TYPE_ID: i64 = 64;

/// Go's `firstUserId`: ids below it are built in or reserved and cannot be (re)defined.
const FIRST_USER_ID: i64 = 64;
/// Go refuses messages of this size or more (`tooBig` on 32-bit platforms), so we never send one.
const GO_TOO_BIG: u64 = 1 << 30;

/// How much longer than the frame limit a message may be: a value message adds a type id,
/// `From`, field headers and whatever extra fields the sender's struct has to its payload, so a
/// payload of exactly the limit still arrives. Our own messages add 8 bytes plus `From`.
pub const MESSAGE_OVERHEAD: usize = 1024;

/// Cap on type definitions remembered per connection (Go programs send a handful).
pub const MAX_TYPES: usize = 4096;
/// Cap on struct fields summed over all remembered definitions.
pub const MAX_TYPE_FIELDS: usize = 65536;
/// Cap on how deeply skipped values may nest (structs in slices in interfaces, ...). Go allows
/// 10000 on its growable stacks; each level costs this decoder a few hundred bytes of a fixed
/// thread stack.
pub const MAX_DEPTH: usize = 100;

// Gob's predefined type ids.
const T_BOOL: i64 = 1;
const T_INT: i64 = 2;
const T_UINT: i64 = 3;
const T_FLOAT: i64 = 4;
const T_BYTES: i64 = 5;
const T_STRING: i64 = 6;
const T_COMPLEX: i64 = 7;
const T_INTERFACE: i64 = 8;

/// The type definition Go's encoder sends first for `type RPC struct { From string; Payload []byte }`
/// with type id 64, count included:
///
/// ```text
/// 25                      count: 37 bytes follow
/// 7f                      type id -64: a definition of type 64
/// 03                      wireType field 2 (StructT)
///   01                      structType field 0 (CommonType)
///     01 03 'RPC'             Name
///     01 ff80                 Id = 64
///     00
///   01 02                   field 1 (Field): a slice of 2 fieldType
///     01 04 'From'    01 0c 00    Name, Id = 6 (string)
///     01 07 'Payload' 01 0a 00    Name, Id = 5 ([]byte)
///   00
/// 00
/// ```
const RPC_TYPE_DEF: &[u8] = b"\x25\x7f\x03\x01\x01\x03RPC\x01\xff\x80\x00\x01\x02\
\x01\x04From\x01\x0c\x00\x01\x07Payload\x01\x0a\x00\x00\x00";
/// `RPC_TYPE_ID` as gob encodes a signed integer.
const RPC_ID_BYTES: [u8; 2] = [0xff, 0x80];

/// Go `encoding/gob` stream of `RPC{From string; Payload []byte}` values.
///
/// Received messages are the `Payload` bytes (empty when the field is absent). Sent messages
/// carry the payload and, if set with [`Gob::with_from`], a constant `From` string.
#[derive(Debug, Default, Clone)]
pub struct Gob {
    from: String,
}

impl Gob {
    /// Sends values with `From` left empty (omitted on the wire).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends every value with this `From` string (an empty string is omitted, as gob does).
    pub fn with_from(from: impl Into<String>) -> Self {
        Gob { from: from.into() }
    }
}

impl Codec for Gob {
    fn name(&self) -> &'static str {
        "gob"
    }
    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(GobDecoder::new())
    }
    fn encoder(&self) -> Box<dyn Encoder> {
        Box::new(GobEncoder::new(self.from.clone()))
    }
}

/// What a received struct field means to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    From,
    Payload,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    role: Role,
    id: i64,
}

/// A remembered type definition (Go's `wireType`), reduced to what skipping and matching need.
#[derive(Debug)]
enum WireType {
    Array {
        elem: i64,
        len: i64,
    },
    Slice {
        elem: i64,
    },
    Struct {
        fields: Vec<Field>,
    },
    Map {
        key: i64,
        elem: i64,
    },
    /// GobEncoder, BinaryMarshaler or TextMarshaler: sent as a byte slice.
    Opaque,
}

impl WireType {
    fn kind(&self) -> &'static str {
        match self {
            WireType::Array { .. } => "array",
            WireType::Slice { .. } => "slice",
            WireType::Struct { .. } => "struct",
            WireType::Map { .. } => "map",
            WireType::Opaque => "GobEncoder",
        }
    }
}

fn invalid(msg: impl Into<String>) -> CodecError {
    CodecError::Invalid(format!("gob: {}", msg.into()))
}

/// Reads a gob unsigned integer from the front of `b`: `Ok(None)` if `b` ends inside it,
/// else the value and the number of bytes it used.
fn read_uint(b: &[u8]) -> Result<Option<(u64, usize)>, CodecError> {
    let Some(&first) = b.first() else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((u64::from(first), 1)));
    }
    let n = usize::from(first.wrapping_neg()); // -int8(first), in 1..=128
    if n > 8 {
        return Err(invalid(format!("encoded unsigned integer out of range (length byte {first:#04x})")));
    }
    let Some(bytes) = b.get(1..=n) else {
        return Ok(None);
    };
    let v = bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    Ok(Some((v, 1 + n)))
}

fn uint_to_int(u: u64) -> i64 {
    let half = (u >> 1) as i64; // < 2^63, fits
    if u & 1 == 1 {
        !half
    } else {
        half
    }
}

fn put_uint(out: &mut BytesMut, v: u64) {
    if v < 0x80 {
        out.put_u8(v as u8);
    } else {
        let bytes = v.to_be_bytes();
        let skip = (v.leading_zeros() / 8) as usize;
        out.put_u8((8 - skip as u8).wrapping_neg());
        out.put_slice(&bytes[skip..]);
    }
}

fn uint_len(v: u64) -> usize {
    if v < 0x80 {
        1
    } else {
        1 + 8 - (v.leading_zeros() / 8) as usize
    }
}

/// A cursor over one complete message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn uint(&mut self) -> Result<u64, CodecError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match read_uint(rest)? {
            Some((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            None => Err(invalid("message ends inside an integer")),
        }
    }

    fn int(&mut self) -> Result<i64, CodecError> {
        self.uint().map(uint_to_int)
    }

    /// A count of bytes or elements: each takes at least one byte, so it cannot exceed
    /// what is left of the message.
    fn count(&mut self, what: &str) -> Result<usize, CodecError> {
        let n = self.uint()?;
        if n > self.left() as u64 {
            return Err(invalid(format!("{what} of {n} exceeds the {} bytes left in the message", self.left())));
        }
        Ok(n as usize)
    }

    /// A length-prefixed byte string; returns its range in the message.
    fn bytes(&mut self, what: &str) -> Result<Range<usize>, CodecError> {
        let n = self.count(what)?;
        let start = self.pos;
        self.pos += n;
        Ok(start..self.pos)
    }

    /// Walks a struct encoding of a type with `nfields` fields, calling `f` with each field
    /// number present, in order.
    fn walk_struct(
        &mut self,
        nfields: usize,
        mut f: impl FnMut(&mut Self, usize) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        let mut next: u64 = 0; // field number a delta of 1 leads to
        loop {
            let delta = self.uint()?;
            if delta == 0 {
                return Ok(());
            }
            let field = next
                .checked_add(delta - 1)
                .filter(|&n| n < nfields as u64)
                .ok_or_else(|| invalid(format!("field number out of range (struct has {nfields} fields)")))?;
            f(self, field as usize)?;
            next = field + 1;
        }
    }

    /// `CommonType{Name string; Id typeId}`: neither is needed (the message's id names the type).
    fn common_type(&mut self) -> Result<(), CodecError> {
        self.walk_struct(2, |r, i| match i {
            0 => r.bytes("type name length").map(drop),
            _ => r.int().map(drop),
        })
    }
}

/// Decoder half of [`Gob`]: one per connection, for its whole life, since type definitions
/// arrive once per stream.
#[derive(Debug, Default)]
pub struct GobDecoder {
    types: HashMap<i64, Arc<WireType>>,
    fields: usize,
    last_from: Option<String>,
}

impl GobDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `From` string of the last value decoded, if it had one.
    pub fn last_from(&self) -> Option<&str> {
        self.last_from.as_deref()
    }

    /// Parses a `wireType` value and remembers it as type `id`.
    fn recv_type(&mut self, id: i64, r: &mut Reader<'_>) -> Result<(), CodecError> {
        if id < FIRST_USER_ID || self.types.contains_key(&id) {
            return Err(invalid(format!("duplicate type received (type id {id})")));
        }
        if self.types.len() >= MAX_TYPES {
            return Err(invalid(format!("more than {MAX_TYPES} type definitions on one stream")));
        }
        let budget = MAX_TYPE_FIELDS - self.fields;
        let mut wire: Option<WireType> = None;
        r.walk_struct(7, |r, kind| {
            if wire.is_some() {
                return Err(invalid("type definition describes more than one type"));
            }
            let (mut a, mut b) = (0i64, 0i64);
            let mut fields = Vec::new();
            let n = match kind {
                0 | 3 => 3, // arrayType, mapType: CommonType + two fields
                1 | 2 => 2, // sliceType, structType: CommonType + one field
                _ => 1,     // gobEncoderType: CommonType
            };
            r.walk_struct(n, |r, i| match (kind, i) {
                (_, 0) => r.common_type(),
                (2, 1) => {
                    let count = r.count("field count")?;
                    if count > budget {
                        return Err(invalid(format!(
                            "more than {MAX_TYPE_FIELDS} struct fields defined on one stream"
                        )));
                    }
                    fields.reserve(count);
                    for _ in 0..count {
                        let mut field = Field { role: Role::Other, id: 0 };
                        r.walk_struct(2, |r, j| {
                            if j == 0 {
                                let name = r.bytes("field name length")?;
                                field.role = match &r.buf[name] {
                                    b"From" => Role::From,
                                    b"Payload" => Role::Payload,
                                    _ => Role::Other,
                                };
                            } else {
                                field.id = r.int()?;
                            }
                            Ok(())
                        })?;
                        fields.push(field);
                    }
                    Ok(())
                }
                (_, 1) => r.int().map(|v| a = v),
                (_, _) => r.int().map(|v| b = v),
            })?;
            wire = Some(match kind {
                0 => WireType::Array { elem: a, len: b },
                1 => WireType::Slice { elem: a },
                2 => WireType::Struct { fields },
                3 => WireType::Map { key: a, elem: b },
                _ => WireType::Opaque,
            });
            Ok(())
        })?;
        let wire = wire.ok_or_else(|| invalid(format!("empty type definition for type id {id}")))?;
        if let WireType::Struct { fields } = &wire {
            self.fields += fields.len();
        }
        self.types.insert(id, Arc::new(wire));
        Ok(())
    }

    /// Decodes a value of type `id` into (From, Payload range), matching fields by name.
    fn rpc_value(&mut self, id: i64, r: &mut Reader<'_>) -> Result<(Option<String>, Range<usize>), CodecError> {
        let wire = match self.types.get(&id) {
            Some(w) => Arc::clone(w),
            None if (T_BOOL..=T_INTERFACE).contains(&id) => {
                return Err(invalid(format!(
                    "decoding into local type RPC, received remote type {} (not a struct)",
                    builtin_name(id)
                )))
            }
            None => return Err(invalid(format!("value of unknown type id {id}"))),
        };
        let WireType::Struct { fields } = &*wire else {
            return Err(invalid(format!(
                "decoding into local type RPC, received remote type {} (not a struct)",
                wire.kind()
            )));
        };
        let mut matched = 0;
        for f in fields {
            match (f.role, f.id) {
                (Role::From, T_STRING) | (Role::Payload, T_BYTES) => matched += 1,
                (Role::From, _) => return Err(invalid("wrong type for received field RPC.From (want string)")),
                (Role::Payload, _) => return Err(invalid("wrong type for received field RPC.Payload (want []byte)")),
                (Role::Other, _) => {}
            }
        }
        if matched == 0 && !fields.is_empty() {
            return Err(invalid("type mismatch: no fields matched compiling decoder for RPC (want From or Payload)"));
        }
        let (mut from, mut payload) = (None, 0..0);
        r.walk_struct(fields.len(), |r, i| {
            let f = fields[i];
            match f.role {
                Role::From => {
                    let range = r.bytes("From length")?;
                    from = Some(String::from_utf8_lossy(&r.buf[range]).into_owned());
                }
                Role::Payload => payload = r.bytes("Payload length")?,
                Role::Other => self.skip(f.id, r, 1)?,
            }
            Ok(())
        })?;
        Ok((from, payload))
    }

    /// Skips a value of type `id`, as Go does for fields it has no destination for.
    fn skip(&mut self, id: i64, r: &mut Reader<'_>, depth: usize) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("values nested more than {MAX_DEPTH} deep")));
        }
        match id {
            T_BOOL | T_INT | T_UINT | T_FLOAT => return r.uint().map(drop),
            T_COMPLEX => return r.uint().and_then(|_| r.uint()).map(drop),
            T_BYTES | T_STRING => return r.bytes("string length").map(drop),
            T_INTERFACE => return self.skip_interface(r, depth),
            _ => {}
        }
        let wire =
            self.types.get(&id).map(Arc::clone).ok_or_else(|| invalid(format!("field of unknown type id {id}")))?;
        match &*wire {
            WireType::Opaque => r.bytes("encoded value length").map(drop),
            WireType::Array { elem, len } => {
                let n = r.count("array length")?;
                if n as u64 != *len as u64 || *len < 0 {
                    return Err(invalid(format!("length mismatch in array: {n} elements for [{len}]")));
                }
                (0..n).try_for_each(|_| self.skip(*elem, r, depth + 1))
            }
            WireType::Slice { elem } => {
                let n = r.count("slice length")?;
                (0..n).try_for_each(|_| self.skip(*elem, r, depth + 1))
            }
            WireType::Map { key, elem } => {
                let n = r.count("map length")?;
                (0..n).try_for_each(|_| {
                    self.skip(*key, r, depth + 1)?;
                    self.skip(*elem, r, depth + 1)
                })
            }
            WireType::Struct { fields } => r.walk_struct(fields.len(), |r, i| self.skip(fields[i].id, r, depth + 1)),
        }
    }

    /// An interface value: the concrete type's registered name (empty for nil), then, as Go's
    /// `decodeTypeSequence` reads it, definitions of new types each followed by a count, the
    /// concrete type id, a byte count and the value. The byte count is not trusted: Go's encoder
    /// writes it before nested type definitions, so the value is walked instead (as Go's
    /// `decodeInterface` does; its `ignoreInterface` trusts the count and fails on such input).
    fn skip_interface(&mut self, r: &mut Reader<'_>, depth: usize) -> Result<(), CodecError> {
        let name = r.bytes("interface type name length")?;
        if name.is_empty() {
            return Ok(());
        }
        let concrete = loop {
            let id = r.int()?;
            if id >= 0 {
                break id;
            }
            let id = id.checked_neg().ok_or_else(|| invalid("type id out of range"))?;
            self.recv_type(id, r)?;
            if r.left() == 0 {
                // Go's encoder flushed the value so far with this definition as one message;
                // the value goes on in the next. Go's decoder cannot skip such a field either.
                return Err(invalid(
                    "value split over several messages by a new type in an interface field (not supported)",
                ));
            }
            r.uint()?; // count of what follows, which the walk does not need
        };
        r.uint()?;
        let is_struct = matches!(self.types.get(&concrete).map(|w| &**w), Some(WireType::Struct { .. }));
        if !is_struct && r.uint()? != 0 {
            return Err(invalid("corrupted data: non-zero delta for singleton"));
        }
        self.skip(concrete, r, depth + 1)
    }
}

fn builtin_name(id: i64) -> &'static str {
    match id {
        T_BOOL => "bool",
        T_INT => "int",
        T_UINT => "uint",
        T_FLOAT => "float",
        T_BYTES => "[]byte",
        T_STRING => "string",
        T_COMPLEX => "complex",
        _ => "interface",
    }
}

impl Decoder for GobDecoder {
    fn decode(&mut self, buf: &mut BytesMut, max_frame: usize) -> Result<Decoded, CodecError> {
        loop {
            let (count, head) = match read_uint(buf)? {
                Some(v) => v,
                None => {
                    // Hint: the whole count (its first byte tells its length).
                    let need = match buf.first() {
                        Some(&b) => 1 + usize::from(b.wrapping_neg()) - buf.len(),
                        None => 1,
                    };
                    return Ok(Decoded::NeedMore(need));
                }
            };
            // The frame limit is about payloads (as on send); a message may add its framing.
            let limit = max_frame.saturating_add(MESSAGE_OVERHEAD);
            if count > limit as u64 {
                return Err(CodecError::FrameTooLarge { size: count, limit });
            }
            if count == 0 {
                return Err(invalid("empty message"));
            }
            let total = (count as usize).checked_add(head).ok_or(CodecError::FrameTooLarge { size: count, limit })?;
            if buf.len() < total {
                return Ok(Decoded::NeedMore(total - buf.len()));
            }
            let mut r = Reader { buf: &buf[head..total], pos: 0 };
            let id = r.int()?;
            if id < 0 {
                let id = id.checked_neg().ok_or_else(|| invalid("type id out of range"))?;
                self.recv_type(id, &mut r)?;
                if r.left() > 0 {
                    return Err(invalid("extra data in buffer after type definition"));
                }
                buf.advance(total);
                continue;
            }
            let (from, payload) = self.rpc_value(id, &mut r)?;
            if r.left() > 0 {
                return Err(invalid(format!("{} bytes of extra data after the value", r.left())));
            }
            if payload.len() > max_frame {
                return Err(CodecError::FrameTooLarge { size: payload.len() as u64, limit: max_frame });
            }
            self.last_from = from;
            let msg = buf.split_to(total).freeze();
            return Ok(Decoded::Frame(msg.slice(head + payload.start..head + payload.end)));
        }
    }
}

/// Encoder half of [`Gob`]: sends the `RPC` type definition before the first value, as a
/// `gob.Encoder` does once per stream.
#[derive(Debug, Default)]
pub struct GobEncoder {
    from: String,
    sent_type: bool,
}

impl GobEncoder {
    /// `from` goes in every value's `From` field (omitted when empty).
    pub fn new(from: String) -> Self {
        GobEncoder { from, sent_type: false }
    }
}

impl Encoder for GobEncoder {
    fn encode(&mut self, payload: &[u8], head: &mut BytesMut, tail: &mut BytesMut) -> Result<(), CodecError> {
        let from = self.from.as_bytes();
        let field = |len: usize| {
            if len == 0 {
                0
            } else {
                1 + uint_len(len as u64) as u64 + len as u64
            }
        };
        // type id + From + Payload + terminator
        let size = RPC_ID_BYTES.len() as u64 + field(from.len()) + field(payload.len()) + 1;
        if size >= GO_TOO_BIG {
            return Err(CodecError::FrameTooLarge { size, limit: GO_TOO_BIG as usize });
        }
        if !self.sent_type {
            head.put_slice(RPC_TYPE_DEF);
            self.sent_type = true;
        }
        put_uint(head, size);
        head.put_slice(&RPC_ID_BYTES);
        if !from.is_empty() {
            head.put_u8(1); // field 0, From
            put_uint(head, from.len() as u64);
            head.put_slice(from);
        }
        if !payload.is_empty() {
            head.put_u8(if from.is_empty() { 2 } else { 1 }); // to field 1, Payload
            put_uint(head, payload.len() as u64);
        }
        tail.put_u8(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const PLAIN: &[u8] = include_bytes!("../../tests/gob_vectors/rpc_plain.bin");
    const FROM: &[u8] = include_bytes!("../../tests/gob_vectors/rpc_from.bin");
    const STREAM: &[u8] = include_bytes!("../../tests/gob_vectors/rpc_stream.bin");
    const EXTENDED: &[u8] = include_bytes!("../../tests/gob_vectors/rpc_extended.bin");
    const NOT_A_STRUCT: &[u8] = include_bytes!("../../tests/gob_vectors/not_a_struct.bin");
    const NO_MATCH: &[u8] = include_bytes!("../../tests/gob_vectors/no_matching_field.bin");
    const WRONG_TYPE: &[u8] = include_bytes!("../../tests/gob_vectors/wrong_field_type.bin");

    // Sizes and From values as written by tests/gob_vectors/gen.go.
    const PLAIN_SIZES: &[usize] = &[0, 1, 100, 70000, 0, 5];
    const FROM_SIZES: &[usize] = &[0, 1, 100, 70000];
    const STREAM_SIZES: &[usize] = &[0, 1, 100, 3000];
    const EXT_SIZES: &[usize] = &[0, 1, 100, 3000, 7];
    const GO_FROM: &str = "127.0.0.1:3000";
    const MAX: usize = 16 << 20;

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 7 + n) % 251) as u8).collect()
    }

    type Msg = (Bytes, Option<String>);

    /// Decodes everything `buf` holds: the messages, then how it stopped.
    fn drain(dec: &mut GobDecoder, buf: &mut BytesMut, max: usize) -> (Vec<Msg>, Result<(), CodecError>) {
        let mut out = Vec::new();
        loop {
            match dec.decode(buf, max) {
                Ok(Decoded::Frame(f)) => out.push((f, dec.last_from().map(str::to_owned))),
                Ok(Decoded::NeedMore(_)) => return (out, Ok(())),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    fn decode_whole(input: &[u8]) -> (Vec<Msg>, Result<(), CodecError>) {
        let mut buf = BytesMut::from(input);
        let mut dec = GobDecoder::new();
        let (msgs, res) = drain(&mut dec, &mut buf, MAX);
        let res = res.and_then(|()| dec.decode_eof(&mut buf, MAX).map(|rest| assert!(rest.is_none())));
        (msgs, res)
    }

    fn decode_bytewise(input: &[u8]) -> (Vec<Msg>, Result<(), CodecError>) {
        let mut buf = BytesMut::new();
        let mut dec = GobDecoder::new();
        let mut msgs = Vec::new();
        for &b in input {
            buf.extend_from_slice(&[b]);
            let (mut m, res) = drain(&mut dec, &mut buf, MAX);
            msgs.append(&mut m);
            if res.is_err() {
                return (msgs, res);
            }
        }
        let res = dec.decode_eof(&mut buf, MAX).map(|rest| assert!(rest.is_none()));
        (msgs, res)
    }

    fn expected(sizes: &[usize], from: impl Fn(usize) -> Option<&'static str>) -> Vec<Msg> {
        sizes.iter().enumerate().map(|(i, &n)| (Bytes::from(payload(n)), from(i).map(str::to_owned))).collect()
    }

    fn encode_stream(from: &str, sizes: &[usize]) -> Vec<u8> {
        let mut enc = Gob::with_from(from).encoder();
        let mut out = Vec::new();
        for &n in sizes {
            let p = payload(n);
            let (mut head, mut tail) = (BytesMut::new(), BytesMut::new());
            enc.encode(&p, &mut head, &mut tail).unwrap();
            out.extend_from_slice(&head);
            out.extend_from_slice(&p);
            out.extend_from_slice(&tail);
        }
        out
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn err_text(input: &[u8]) -> String {
        match decode_whole(input).1 {
            Err(CodecError::Invalid(m)) => m,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_go_streams() {
        let cases: [(&[u8], Vec<Msg>); 4] = [
            (PLAIN, expected(PLAIN_SIZES, |_| None)),
            (FROM, expected(FROM_SIZES, |_| Some(GO_FROM))),
            (STREAM, expected(STREAM_SIZES, |_| Some(GO_FROM))),
            (EXTENDED, expected(EXT_SIZES, |i| (i % 2 == 0).then_some(GO_FROM))),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            let (msgs, res) = decode_whole(input);
            assert_eq!(res, Ok(()), "vector {i}");
            assert_eq!(&msgs, want, "vector {i}");
            assert_eq!(decode_bytewise(input), (want.clone(), Ok(())), "vector {i} fed one byte at a time");
        }
    }

    #[test]
    fn payloads_are_slices_of_the_input_not_copies() {
        let mut buf = BytesMut::from(FROM);
        let mut dec = GobDecoder::new();
        let (msgs, res) = drain(&mut dec, &mut buf, MAX);
        assert_eq!(res, Ok(()));
        let big = &msgs[3].0;
        assert_eq!(big.len(), 70000);
        // The frame points into the stream it came from: zero-copy.
        let at = FROM.windows(16).position(|w| w == &big[..16]).unwrap();
        assert_eq!(&FROM[at..at + big.len()], &big[..]);
    }

    #[test]
    fn encoder_output_is_byte_identical_to_go() {
        assert_eq!(hex(&encode_stream("", PLAIN_SIZES)), hex(PLAIN));
        assert_eq!(hex(&encode_stream(GO_FROM, FROM_SIZES)), hex(FROM));
        assert_eq!(&PLAIN[..RPC_TYPE_DEF.len()], RPC_TYPE_DEF);
        // Large payloads need multi-byte counts; decode our own output back.
        let sizes = [127, 128, 255, 256, 65535, 65536, 1 << 20];
        let ours = encode_stream("peer", &sizes);
        assert_eq!(decode_whole(&ours), (expected(&sizes, |_| Some("peer")), Ok(())));
        // For tests/gob_vectors/check.go: Go's gob.Decoder reads what we write.
        if let Ok(path) = std::env::var("PEERWIRE_GOB_OUT") {
            let mut out = encode_stream("peerwire", &[0, 1, 100, 70000, 1 << 20, 0, 3]);
            std::fs::write(&path, &out).unwrap();
            out = encode_stream("", PLAIN_SIZES);
            std::fs::write(format!("{path}.nofrom"), &out).unwrap();
        }
    }

    #[test]
    fn encoder_sends_the_type_once_per_connection() {
        let codec = Gob::new();
        assert_eq!(codec.name(), "gob");
        for _ in 0..2 {
            let mut enc = codec.encoder();
            let (mut h1, mut t1) = (BytesMut::new(), BytesMut::new());
            enc.encode(b"ab", &mut h1, &mut t1).unwrap();
            assert!(h1.starts_with(RPC_TYPE_DEF));
            assert_eq!(&h1[RPC_TYPE_DEF.len()..], b"\x07\xff\x80\x02\x02");
            assert_eq!(&t1[..], b"\x00");
            let (mut h2, mut t2) = (BytesMut::new(), BytesMut::new());
            enc.encode(b"", &mut h2, &mut t2).unwrap();
            assert_eq!((&h2[..], &t2[..]), (&b"\x03\xff\x80"[..], &b"\x00"[..]));
        }
    }

    #[test]
    fn truncated_input_needs_more_then_fails_at_eof() {
        let bounds: Vec<usize> = message_ends(EXTENDED);
        for cut in 0..EXTENDED.len() {
            let mut buf = BytesMut::from(&EXTENDED[..cut]);
            let mut dec = GobDecoder::new();
            let (msgs, res) = drain(&mut dec, &mut buf, MAX);
            assert_eq!(res, Ok(()), "cut at {cut}");
            let complete = bounds.iter().filter(|&&e| e <= cut).count();
            let values = complete.saturating_sub(TYPE_MESSAGES_IN_EXTENDED);
            assert_eq!(msgs.len(), values, "cut at {cut}");
            let eof = dec.decode_eof(&mut buf, MAX);
            if bounds.contains(&cut) || cut == 0 {
                assert_eq!(eof, Ok(None), "cut at {cut}");
            } else {
                assert!(matches!(eof, Err(CodecError::Invalid(_))), "cut at {cut}: {eof:?}");
            }
        }
    }

    /// Offsets where each message of a stream ends (counted by framing only).
    fn message_ends(mut s: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut at = 0;
        while let Some((n, h)) = read_uint(s).unwrap() {
            at += h + n as usize;
            ends.push(at);
            s = &s[h + n as usize..];
        }
        ends
    }

    /// rpc_extended.bin starts with this many type definition messages (ExtRPC and the types
    /// of its fields), all before the first value.
    const TYPE_MESSAGES_IN_EXTENDED: usize = 9;

    #[test]
    fn extended_vector_has_the_expected_layout() {
        let ends = message_ends(EXTENDED);
        assert_eq!(ends.len(), TYPE_MESSAGES_IN_EXTENDED + EXT_SIZES.len());
        assert_eq!(*ends.last().unwrap(), EXTENDED.len());
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            let (_, h) = read_uint(&EXTENDED[start..]).unwrap().unwrap();
            let (id, _) = read_uint(&EXTENDED[start + h..]).unwrap().unwrap();
            assert_eq!(uint_to_int(id) < 0, i < TYPE_MESSAGES_IN_EXTENDED, "message {i}");
            start = end;
        }
    }

    #[test]
    fn refuses_what_go_refuses_with_a_clear_reason() {
        assert!(err_text(NOT_A_STRUCT).contains("received remote type string (not a struct)"));
        assert!(err_text(NO_MATCH).contains("no fields matched"));
        assert!(err_text(WRONG_TYPE).contains("wrong type for received field RPC.From"));
    }

    #[test]
    fn oversize_claims_are_refused_before_buffering() {
        let limit = |max: usize| max + MESSAGE_OVERHEAD;
        // A count of 2^32 with nothing behind it.
        let mut buf = BytesMut::from(&[0xfb, 1, 0, 0, 0, 0][..]);
        assert_eq!(
            GobDecoder::new().decode(&mut buf, MAX),
            Err(CodecError::FrameTooLarge { size: 1 << 32, limit: limit(MAX) })
        );
        assert_eq!(buf.len(), 6);
        // Go's 70000-byte payload message against a 64 KiB limit: refused at its count.
        let (msgs, res) = {
            let mut buf = BytesMut::from(PLAIN);
            let mut dec = GobDecoder::new();
            drain(&mut dec, &mut buf, 65536)
        };
        assert_eq!(msgs.len(), 3);
        assert_eq!(res, Err(CodecError::FrameTooLarge { size: 70008, limit: limit(65536) }));
        // The largest count gob can express.
        let mut buf = BytesMut::from(&[0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(GobDecoder::new().decode(&mut buf, usize::MAX), Err(CodecError::FrameTooLarge { .. })));
    }

    #[test]
    fn the_frame_limit_bounds_payloads_not_messages() {
        // A payload of exactly the limit arrives, even with a long From around it.
        let from = "x".repeat(500);
        for (n, ok) in [(1000, true), (1001, false)] {
            let stream = encode_stream(&from, &[n]);
            let mut buf = BytesMut::from(&stream[..]);
            let res = GobDecoder::new().decode(&mut buf, 1000);
            if ok {
                assert_eq!(res, Ok(Decoded::Frame(Bytes::from(payload(n)))));
            } else {
                assert_eq!(res, Err(CodecError::FrameTooLarge { size: 1001, limit: 1000 }));
            }
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let def = RPC_TYPE_DEF;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("uint length byte 0x80", vec![0x80], "out of range"),
            ("uint of 9 bytes", vec![0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9], "out of range"),
            ("empty message", vec![0x00], "empty message"),
            ("value of unknown type", vec![0x03, 0xff, 0x82, 0x00], "unknown type id 65"),
            ("type id 0", vec![0x01, 0x00], "unknown type id 0"),
            ("redefined builtin", [&[0x03, 0x0b][..], &def[2..4]].concat(), "duplicate type"),
            ("min type id", [&[0x0a, 0xf8][..], &[0xff; 8][..], &[0]].concat(), "type id out of range"),
            ("type defined twice", [def, def].concat(), "duplicate type"),
            ("integer cut short", [def, &[0x02, 0xff, 0x80][..]].concat(), "ends inside an integer"),
            ("struct runs off the end", [def, &[0x03, 0xff, 0x80, 0x01][..]].concat(), "ends inside"),
            ("field number out of range", [def, &[0x04, 0xff, 0x80, 0x03, 0x00][..]].concat(), "field number"),
            (
                "field delta overflow",
                [def, &[0x0e, 0xff, 0x80, 0x01, 0x01, 0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]]
                    .concat(),
                "field number",
            ),
            ("string longer than message", [def, &[0x05, 0xff, 0x80, 0x01, 0x7f, 0x00][..]].concat(), "exceeds"),
            ("extra data after value", [def, &[0x04, 0xff, 0x80, 0x00, 0x00][..]].concat(), "extra data"),
            ("extra data after type", [&[def[0] + 1][..], &def[1..], &[0]].concat(), "extra data"),
            ("empty type definition", vec![0x02, 0x7f, 0x00], "empty type definition"),
            ("two kinds in one type", vec![0x06, 0x7f, 0x02, 0x00, 0x03, 0x00, 0x00], "more than one type"),
        ];
        for (what, input, want) in cases {
            let (_, res) = decode_whole(&input);
            match res {
                Err(CodecError::Invalid(m)) => assert!(m.contains(want), "{what}: {m}"),
                other => panic!("{what}: expected an error containing {want:?}, got {other:?}"),
            }
        }
    }

    /// A gob struct `T{F []T}` (a recursive type) nested `depth` deep, as one value message
    /// after the RPC-like definition `R{From string; Payload []byte; T T}`.
    fn nested(depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        // type 64: struct R { Payload []byte (id 5); T (id 65) }
        let r = unhex("7f 03 01 01 01 52 00 01 02 01 07 5061796c6f6164 01 0a 00 01 01 54 01 ff82 00 00 00");
        // type 65: struct T { F []T (id 66) }; type 66: slice of 65
        let t = unhex("ff81 03 01 01 01 54 00 01 01 01 01 46 01 ff84 00 00 00");
        let s = unhex("ff83 02 01 00 01 ff82 00 00");
        for m in [r, t, s] {
            out.push(m.len() as u8);
            out.extend(m);
        }
        // value: R{Payload: "hi", T: T{F: [T{F: [...]}]}}
        let mut v = unhex("ff80 01 02 6869 01");
        for _ in 0..depth {
            v.extend([0x01, 0x01]); // field F, slice of one element
        }
        v.push(0x00); // innermost T ends: no fields
        v.resize(v.len() + depth, 0x00); // each enclosing T ends
        v.push(0x00); // R ends
        let mut head = BytesMut::new();
        put_uint(&mut head, v.len() as u64);
        out.extend_from_slice(&head);
        out.extend(v);
        out
    }

    #[test]
    fn nesting_is_bounded() {
        let (msgs, res) = decode_whole(&nested(10));
        assert_eq!(res, Ok(()));
        assert_eq!(msgs, vec![(Bytes::from_static(b"hi"), None)]);
        let (_, res) = decode_whole(&nested(100_000));
        assert!(matches!(res, Err(CodecError::Invalid(ref m)) if m.contains("nested")), "{res:?}");
    }

    #[test]
    fn skips_interfaces_that_carry_type_definitions() {
        // Go 1.26: two Msg{From, Payload, W Wrapper, Any any} values with Any = Wrapper{In:
        // Inner{Z: 5}}. Wrapper is defined up front (W's type); Inner's definition travels
        // inside the first value, in Any. Go's decoder cannot skip that field (its
        // ignoreInterface trusts a byte count written before the nested definition and fails
        // with "field numbers out of bounds"); we walk the value instead.
        let go = unhex(
            "347f030101034d736701ff80000104010446726f6d010c0001075061796c6f6164010a0001015701ff82000103416e7901100000\
             001cff81030101075772617070657201ff820001010102496e011000000049ff800101660101090100010c6d61696e2e577261\
             70706572ff8225010a6d61696e2e496e6e6572ff8303010105496e6e657201ff8400010101015a010400000007ff8403010a00\
             00002fff800101660101080100010c6d61696e2e57726170706572ff8213010a6d61696e2e496e6e6572ff8403010a000000",
        );
        let want = vec![(Bytes::from_static(&[9]), Some("f".into())), (Bytes::from_static(&[8]), Some("f".into()))];
        assert_eq!(decode_whole(&go), (want.clone(), Ok(())));
        assert_eq!(decode_bytewise(&go), (want, Ok(())));
    }

    #[test]
    fn values_split_over_messages_are_refused_clearly() {
        // Go 1.26: Msg{From, Payload, Any any} with Any = Wrapper{...} whose type was never sent:
        // gob flushes the value so far, with Wrapper's definition, as one message and continues
        // the value in the next. Go's decoder into RPC fails on it too.
        let go = unhex(
            "2d7f030101034d736701ff80000103010446726f6d010c0001075061796c6f6164010a000103416e79011000000032ff800101\
             66010109010c6d61696e2e57726170706572ff81030101075772617070657201ff820001010102496e011000000031ff822501\
             0a6d61696e2e496e6e6572ff8303010105496e6e657201ff8400010101015a010400000007ff8403010a000000",
        );
        assert!(err_text(&go).contains("split over several messages"), "{}", err_text(&go));
    }

    #[test]
    fn uint_encoding_round_trips() {
        for v in [0u64, 1, 127, 128, 255, 256, 65535, 1 << 24, u64::MAX >> 1, u64::MAX] {
            let mut b = BytesMut::new();
            put_uint(&mut b, v);
            assert_eq!(b.len(), uint_len(v));
            assert_eq!(read_uint(&b).unwrap(), Some((v, b.len())));
            assert_eq!(read_uint(&b[..b.len() - 1]).unwrap(), None);
        }
        // Go's examples: 256 is fe 01 00; -129 is fe 01 01 as a signed integer.
        let mut b = BytesMut::new();
        put_uint(&mut b, 256);
        assert_eq!(&b[..], &[0xfe, 0x01, 0x00]);
        assert_eq!(uint_to_int(0x0101), -129);
        assert_eq!(uint_to_int(u64::MAX), i64::MIN);
    }
}
