package peerwire

/*
#include "pwshim.h"
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// Decoder selects the wire format of a transport (a peerwire codec). The framing runs in
// the library, so only the types of this package implement it:
//
//	LengthPrefixedDecoder  4-byte big-endian length + payload (the default, and nil)
//	DefaultDecoder         raw bytes: each socket read is one message (the origin's)
//	GOBDecoder             encoding/gob values of RPC{From string; Payload []byte} (the origin's)
//	SplitDecoder           a framing written in Go (the library's custom codec)
//
// Both ends of a connection must use the same format; a transport sends with the format it
// receives with.
type Decoder interface {
	// apply selects the codec on the library options.
	apply(op string, o C.pw_opts_h) error
}

// LengthPrefixedDecoder: every message is a 4-byte big-endian length and the payload
// (PEERWIRE_CODEC_LENGTH_PREFIXED). The default, and what a nil Decoder means. Message
// boundaries are kept.
type LengthPrefixedDecoder struct{}

// DefaultDecoder is the origin's DefaultDecoder: raw bytes (PEERWIRE_CODEC_RAW). Each
// socket read of at most BufferSize bytes becomes one message; Send writes the payload as it
// is, adding nothing.
//
// Raw is a stream codec. What it guarantees is that every byte arrives, in order; it does
// not keep message boundaries: one Send may arrive as several messages (a read returns what
// the socket has, and never more than BufferSize), and several Sends may arrive as one. A
// received message is never empty; end of stream is a disconnect (ReasonRemoteClosed), not a
// run of empty messages. Use it to talk to unframed protocols (the origin's DefaultDecoder,
// line protocols, netcat); between peerwire transports, use a framed codec.
type DefaultDecoder struct {
	// BufferSize is the size of one socket read, hence the largest message (>= 64). 0 means
	// TCPTransportOpts.ReadBuffer if that is set, else 1028 bytes, the origin's buffer.
	BufferSize int
}

// GOBDecoder is the origin's GOBDecoder: a Go encoding/gob stream of
// RPC{From string; Payload []byte} values (PEERWIRE_CODEC_GOB), as a Go program writes with
// one gob.NewEncoder(conn) and Encode(RPC{...}) per message, and reads with one
// gob.NewDecoder(conn).
//
// Each received value becomes one message whose payload is the value's Payload; fields are
// matched by name as gob does, so a struct with more fields (such as Stream bool) decodes, the
// extra fields skipped. RPC.From is the sender's address, as in the origin, which overwrote the
// decoded From with the connection's address. Send writes RPC{Payload: msg} with From empty
// (so omitted on the wire); the type definition goes out once per connection. The library
// keeps one gob decoder and one encoder per connection. Payloads are bounded by MaxFrame; a
// malformed stream closes the connection with ReasonDecodeError (ReasonFrameTooLarge for a
// value over the limit).
type GOBDecoder struct{}

func (LengthPrefixedDecoder) apply(op string, o C.pw_opts_h) error {
	return setCodec(op, o, C.PEERWIRE_CODEC_LENGTH_PREFIXED)
}

func (d DefaultDecoder) apply(op string, o C.pw_opts_h) error {
	if d.BufferSize < 0 {
		return newError(op, StatusErrInvalid, "DefaultDecoder.BufferSize must not be negative (got %d)", d.BufferSize)
	}
	if err := setCodec(op, o, C.PEERWIRE_CODEC_RAW); err != nil {
		return err
	}
	if d.BufferSize > 0 {
		return ret(op, C.pw_options_set(o, C.PW_OPT_READ_BUFFER, C.int64_t(d.BufferSize)))
	}
	return nil
}

func (GOBDecoder) apply(op string, o C.pw_opts_h) error {
	return setCodec(op, o, C.PEERWIRE_CODEC_GOB)
}

func setCodec(op string, o C.pw_opts_h, codec C.int) error {
	return ret(op, C.pw_options_set(o, C.PW_OPT_CODEC, C.int64_t(codec)))
}

// ErrNeedMore is what a SplitDecoder's Split returns when the bytes it was shown do not yet
// tell where the next frame ends.
var ErrNeedMore = errors.New("peerwire: need more bytes")

// MaxCustomHeader is the largest header a SplitDecoder may strip or prepend.
const MaxCustomHeader = 64 << 10

// It is the library's MAX_CUSTOM_HEADER: the build fails if the two ever differ.
const _ = uint(MaxCustomHeader-C.MAX_CUSTOM_HEADER) + uint(C.MAX_CUSTOM_HEADER-MaxCustomHeader)

// SplitDecoder is a framing written in Go: the library's custom codec
// (peerwire_options_set_custom_codec) with Go functions behind its callbacks. Both ends must
// speak it; a foreign program only has to follow the same byte layout.
//
// Split runs on the library's I/O threads (through cgo, not on a goroutine of yours),
// possibly at the same time for different peers, once per decoding step: after every socket
// read, and again after each frame found in it. It must be fast, must not block, must not
// call into the transport, and must be safe for concurrent use. AppendHeader runs on the
// goroutine that calls Send (or Broadcast, once per peer), while the library holds that
// peer's send lock: it must not call into the transport either.
//
// A panic in either function is recovered: in Split it counts as invalid input (the
// connection closes with ReasonDecodeError), in AppendHeader it refuses the send (ErrInvalid).
type SplitDecoder struct {
	// Split is shown the received bytes not yet consumed, never none; buf[0] is the first
	// byte of the next frame. It returns
	//
	//	header, n, nil     a frame: strip header bytes, then deliver the next n bytes as
	//	                   one message; header+n may exceed len(buf): the library reads
	//	                   more and calls Split again with the longer buffer
	//	0, 0, ErrNeedMore  not enough bytes yet to tell
	//	_, _, other error  the bytes are invalid: the connection closes (ReasonDecodeError)
	//
	// A frame must consume at least one byte (header+n > 0) and header must not exceed
	// MaxCustomHeader; otherwise the input counts as invalid. A frame with n > MaxFrame
	// closes the connection with ReasonFrameTooLarge, as does buffering more than
	// MaxFrame+MaxCustomHeader bytes while Split keeps answering ErrNeedMore.
	//
	// buf points into the library's buffer and is valid only during the call: do not keep
	// it or any slice of it.
	Split func(buf []byte) (header, n int, err error)

	// AppendHeader, if not nil, appends the bytes that go before payload on the wire to dst
	// and returns the extended slice, in the manner of binary.AppendUvarint. dst has room
	// for MaxCustomHeader bytes, so appending to it allocates nothing; a longer header, or an
	// error, refuses the send with ErrInvalid. nil means nothing is prepended (the payload
	// goes out as it is). payload must not be modified or kept.
	AppendHeader func(dst, payload []byte) ([]byte, error)
}

// splitter is what the library's custom-codec callbacks carry, through a cgo.Handle.
type splitter struct {
	split        func([]byte) (int, int, error)
	appendHeader func(dst, payload []byte) ([]byte, error)
}

// liveCodecHandles counts custom-codec handles the library has not released yet (for tests:
// the library must release each exactly once).
var liveCodecHandles atomic.Int64

func (d SplitDecoder) apply(op string, o C.pw_opts_h) error {
	if d.Split == nil {
		return newError(op, StatusErrInvalid, "SplitDecoder.Split is nil")
	}
	h := cgo.NewHandle(&splitter{split: d.Split, appendHeader: d.AppendHeader})
	liveCodecHandles.Add(1)
	withHeader := C.int(0)
	if d.AppendHeader != nil {
		withHeader = 1
	}
	// From here on the library owns the handle and releases it through
	// peerwireGoCodecRelease, exactly once (when the options or the transport are freed).
	if err := ret(op, C.pw_options_set_custom_codec(o, C.uintptr_t(h), withHeader)); err != nil {
		h.Delete()
		liveCodecHandles.Add(-1)
		return err
	}
	return nil
}

// Answers of split, as in peerwire_split.
const (
	splitNeedMore = int32(C.PEERWIRE_SPLIT_NEED_MORE)
	splitFrame    = int32(C.PEERWIRE_SPLIT_FRAME)
	splitInvalid  = int32(C.PEERWIRE_SPLIT_INVALID)
)

// splitOnce runs the user's Split on buf and turns its answer into the library's. It allocates
// nothing of its own, and a panic becomes splitInvalid.
func (s *splitter) splitOnce(buf []byte) (rc int32, header, n uint64) {
	defer func() {
		if recover() != nil {
			rc, header, n = splitInvalid, 0, 0
		}
	}()
	h, size, err := s.split(buf)
	switch {
	case err == nil:
	case err == ErrNeedMore || errors.Is(err, ErrNeedMore):
		return splitNeedMore, 0, 0
	default:
		return splitInvalid, 0, 0
	}
	// A zero-size frame would consume nothing, and the library would find it again and
	// again: refuse it here.
	if h < 0 || size < 0 || h > MaxCustomHeader || h+size <= 0 {
		return splitInvalid, 0, 0
	}
	return splitFrame, uint64(h), uint64(size)
}

// header runs the user's AppendHeader with dst over the library's output buffer (capacity
// cap). It returns the header length, or ok false to refuse the send. When the user's
// function appended within dst's capacity, the bytes are already in place.
func (s *splitter) header(dst, payload []byte) (n int, ok bool) {
	defer func() {
		if recover() != nil {
			n, ok = 0, false
		}
	}()
	out, err := s.appendHeader(dst[:0], payload)
	if err != nil || len(out) > cap(dst) {
		return 0, false
	}
	if len(out) > 0 && unsafe.SliceData(out) != unsafe.SliceData(dst) {
		copy(dst[:len(out)], out) // the function built its header elsewhere
	}
	return len(out), true
}
