"""Codecs: how messages become bytes on the wire and back (``codec=`` of :class:`Transport`)."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple, Union

from . import _ffi, _util
from ._types import Codec

__all__ = ["CodecSpec", "CustomCodec", "HeaderCallback", "RawCodec", "SplitCallback"]

#: The ctypes prototype of ``peerwire_split_cb``:
#: ``int32_t split(void *user, const uint8_t *buf, size_t len, size_t *out_header,
#: size_t *out_len)``. Returns 0 (need more), 1 (a frame: strip ``*out_header`` bytes, then
#: ``*out_len`` payload bytes) or -1 (invalid: the connection closes with ``DECODE_ERROR``).
SplitCallback = _ffi.split_cb

#: The ctypes prototype of ``peerwire_header_cb``:
#: ``int32_t header(void *user, const uint8_t *payload, size_t len, uint8_t *out, size_t cap,
#: size_t *out_header_len)``. Writes what goes before ``payload`` (at most ``cap`` bytes, at
#: least 64 KiB) and returns 0; non-zero refuses the send (``InvalidArgumentError``).
HeaderCallback = _ffi.header_cb

# Read size of the raw codec when nothing else is asked: the Go origin's DefaultDecoder.
RAW_READ_SIZE = 1028
_MIN_READ_SIZE = 64


class RawCodec:
    """The raw codec with a chosen read size: ``codec=RawCodec(read_size=4096)``.

    Each socket read (at most ``read_size`` bytes) becomes one message and sends go out
    unframed: a stream codec that keeps the bytes and their order, not message boundaries.
    ``codec="raw"`` is ``RawCodec()``, 1028 bytes (the Go origin's ``DefaultDecoder``).
    """

    __slots__ = ("read_size",)

    read_size: int

    def __init__(self, read_size: int = RAW_READ_SIZE) -> None:
        self.read_size = _util.size(read_size, "read_size", _MIN_READ_SIZE)

    def __repr__(self) -> str:
        return f"RawCodec(read_size={self.read_size})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RawCodec):
            return self.read_size == other.read_size
        return NotImplemented

    def __hash__(self) -> int:
        return hash((RawCodec, self.read_size))


class CustomCodec:
    """A framing defined in native code: ``codec=CustomCodec(split, header=None, user=None)``.

    ``split`` and ``header`` are ctypes function pointers to native functions of the shapes
    :data:`SplitCallback` and :data:`HeaderCallback` (``peerwire_split_cb`` and
    ``peerwire_header_cb`` of ``peerwire.h``), typically taken from a C library loaded with
    :class:`ctypes.CDLL`. The library calls them on its I/O threads, for every read and every
    send, possibly for several peers at once: Python code must never run there, so Python
    callables (and ctypes callbacks wrapping them) are refused with :class:`TypeError`.

    ``header`` None sends payloads as they are. ``user`` is passed as the first argument of
    both: None (NULL), an int address, or a ctypes object (its address; for a pointer or
    ``c_void_p``, its value). The transport keeps ``split``, ``header`` and ``user`` alive until
    it is freed, after which the library never calls them again.
    """

    __slots__ = ("_addrs", "header", "split", "user")

    split: Any
    header: Any
    user: Any

    def __init__(self, split: Any, header: Any = None, user: Any = None) -> None:
        split_addr = _ffi.native_function(split, "split", 5)
        header_addr = 0 if header is None else _ffi.native_function(header, "header", 6)
        user_addr = _ffi.pointer_value(user)
        self.split = split
        self.header = header
        self.user = user
        self._addrs = (split_addr, header_addr, user_addr)

    def __repr__(self) -> str:
        def name(fn: Any, addr: int) -> str:
            return getattr(fn, "__name__", None) or hex(addr)

        split = name(self.split, self._addrs[0])
        header = "None" if self.header is None else name(self.header, self._addrs[1])
        return f"CustomCodec(split={split}, header={header}, user={self.user!r})"


CodecLike = Union[Codec, str, int, RawCodec, CustomCodec, None]


class CodecSpec:
    """What a ``codec=`` argument asks of the options (internal)."""

    __slots__ = ("codec", "custom", "read_size")

    def __init__(
        self, codec: Codec, read_size: Optional[int], custom: Optional[CustomCodec]
    ) -> None:
        self.codec = codec
        self.read_size = read_size
        self.custom = custom

    def settings(self, read_buffer: Optional[int]) -> List[Tuple[str, Any]]:
        """Option settings (name, value), ``read_buffer`` being the transport's keyword."""
        out: List[Tuple[str, Any]] = []
        if self.codec is not Codec.CUSTOM:
            out.append(("codec", int(self.codec)))
        if self.read_size is not None:
            if read_buffer is not None and read_buffer != self.read_size:
                raise ValueError(
                    f"read_buffer={read_buffer} contradicts the codec's read_size="
                    f"{self.read_size} (give one of them)"
                )
            out.append(("read_buffer", self.read_size))
        return out

    def keep(self) -> Optional[Tuple[Any, ...]]:
        """Objects the transport must keep alive while the library may call them."""
        c = self.custom
        return None if c is None else (c.split, c.header, c.user)


def resolve(codec: Any) -> CodecSpec:
    """A ``codec=`` argument checked and resolved (TypeError/ValueError otherwise)."""
    if isinstance(codec, RawCodec):
        return CodecSpec(Codec.RAW, codec.read_size, None)
    if isinstance(codec, CustomCodec):
        return CodecSpec(Codec.CUSTOM, None, codec)
    c = _codec_enum(codec)
    if c is Codec.CUSTOM:
        raise ValueError(
            "a custom codec needs its native callbacks: "
            "codec=peerwire.CustomCodec(split, header=None, user=None)"
        )
    return CodecSpec(c, None, None)


def _codec_enum(codec: Any) -> Codec:
    if isinstance(codec, Codec):
        return codec
    if isinstance(codec, str):
        try:
            return Codec[codec.upper().replace("-", "_")]
        except KeyError:
            names = ", ".join(c.name.lower() for c in Codec if c is not Codec.CUSTOM)
            raise ValueError(
                f"unknown codec {codec!r} (one of {names}, or a RawCodec / CustomCodec)"
            ) from None
    if isinstance(codec, bool) or not isinstance(codec, int):
        raise TypeError(
            "codec must be a Codec, its name, a RawCodec or a CustomCodec, "
            f"not {type(codec).__name__}"
        )
    try:
        return Codec(codec)
    except ValueError:
        raise ValueError(f"unknown codec {codec}") from None
