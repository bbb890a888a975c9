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
//! Limits: a message count above the transport's frame limit is refused before anything is
//! buffered for it ([`CodecError::FrameTooLarge`]); every inner length is checked against the
//! bytes left in its message; nesting depth and the number of remembered type definitions are
//! capped. The decoder never allocates more than the input it was given, and never panics.

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

/// Cap on type definitions remembered per connection (Go programs send a handful).
pub const MAX_TYPES: usize = 4096;
/// Cap on struct fields summed over all remembered definitions.
pub const MAX_TYPE_FIELDS: usize = 65536;
/// Cap on how deeply values may nest (structs in slices in interfaces, ...).
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
    Array { elem: i64, len: i64 },
    Slice { elem: i64 },
    Struct { fields: Vec<Field> },
    Map { key: i64, elem: i64 },
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
    let Some(&first) = b.first() else { return Ok(None) };
    if first < 0x80 {
        return Ok(Some((u64::from(first), 1)));
    }
    let n = usize::from(first.wrapping_neg()); // -int8(first), in 1..=128
    if n > 8 {
        return Err(invalid(format!("encoded unsigned integer out of range (length byte {first:#04x})")));
    }
    let Some(bytes) = b.get(1..=n) else { return Ok(None) };
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
                        return Err(invalid(format!("more than {MAX_TYPE_FIELDS} struct fields defined on one stream")));
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
        let wire = self
            .types
            .get(&id)
            .map(Arc::clone)
            .ok_or_else(|| invalid(format!("field of unknown type id {id}")))?;
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
            if r.left() > 0 {
                r.uint()?;
            }
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
            if count > max_frame as u64 {
                return Err(CodecError::FrameTooLarge { size: count, limit: max_frame });
            }
            if count == 0 {
                return Err(invalid("empty message"));
            }
            let total = (count as usize)
                .checked_add(head)
                .ok_or(CodecError::FrameTooLarge { size: count, limit: max_frame })?;
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
        let field = |len: usize| if len == 0 { 0 } else { 1 + uint_len(len as u64) as u64 + len as u64 };
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
        let mut delta = 1; // to field 0, From
        if !from.is_empty() {
            head.put_u8(1);
            put_uint(head, from.len() as u64);
            head.put_slice(from);
        } else {
            delta = 2;
        }
        if !payload.is_empty() {
            head.put_u8(delta);
            put_uint(head, payload.len() as u64);
        }
        tail.put_u8(0);
        Ok(())
    }
}

