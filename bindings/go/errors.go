package peerwire

// #include <peerwire.h>
import "C"

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// Status is a peerwire status code (peerwire_status): 0 ok, positive non-error outcomes of
// polling calls, negative errors. The values come from the C header.
type Status int32

// Status codes, as in include/peerwire.h.
const (
	StatusOK                  Status = C.PEERWIRE_OK
	StatusEmpty               Status = C.PEERWIRE_EMPTY
	StatusTimedOut            Status = C.PEERWIRE_TIMED_OUT
	StatusClosed              Status = C.PEERWIRE_CLOSED
	StatusErrNull             Status = C.PEERWIRE_ERR_NULL
	StatusErrHandle           Status = C.PEERWIRE_ERR_HANDLE
	StatusErrInvalid          Status = C.PEERWIRE_ERR_INVALID
	StatusErrAddr             Status = C.PEERWIRE_ERR_ADDR
	StatusErrClosed           Status = C.PEERWIRE_ERR_CLOSED
	StatusErrUnknownPeer      Status = C.PEERWIRE_ERR_UNKNOWN_PEER
	StatusErrTooLarge         Status = C.PEERWIRE_ERR_TOO_LARGE
	StatusErrWouldBlock       Status = C.PEERWIRE_ERR_WOULD_BLOCK
	StatusErrTimeout          Status = C.PEERWIRE_ERR_TIMEOUT
	StatusErrConnect          Status = C.PEERWIRE_ERR_CONNECT
	StatusErrHandshake        Status = C.PEERWIRE_ERR_HANDSHAKE
	StatusErrHandshakeTimeout Status = C.PEERWIRE_ERR_HANDSHAKE_TIMEOUT
	StatusErrIO               Status = C.PEERWIRE_ERR_IO
	StatusErrInCallback       Status = C.PEERWIRE_ERR_IN_CALLBACK
	StatusErrState            Status = C.PEERWIRE_ERR_STATE
	StatusErrUnsupported      Status = C.PEERWIRE_ERR_UNSUPPORTED
	StatusErrBuffer           Status = C.PEERWIRE_ERR_BUFFER
	StatusErrPanic            Status = C.PEERWIRE_ERR_PANIC
)

// String returns the library's static text for the code (peerwire_status_str).
func (s Status) String() string {
	return C.GoString(C.peerwire_status_str(C.int32_t(s)))
}

// Error is the error every peerwire call returns. Status is the code; Message the detail the
// library gave for that failure (peerwire_last_error), or the binding's own explanation.
// Compare with the sentinels below through errors.Is: errors.Is(err, peerwire.ErrClosed).
type Error struct {
	Op      string // the operation that failed ("dial", "send", ...)
	Status  Status
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Status.String()
	}
	if e.Op == "" {
		return "peerwire: " + msg
	}
	return "peerwire: " + e.Op + ": " + msg
}

// Timeout reports whether the failure was a deadline running out (net.Error style).
func (e *Error) Timeout() bool {
	switch e.Status {
	case StatusErrTimeout, StatusErrHandshakeTimeout, StatusTimedOut:
		return true
	}
	return false
}

// Is makes errors.Is match by status family: any error with the status of a bare sentinel
// (ErrClosed, ErrTimeout, ...) matches that sentinel; a handshake timeout also matches
// ErrHandshake and ErrTimeout. It also matches the standard library's net.ErrClosed,
// os.ErrDeadlineExceeded and errors.ErrUnsupported where they mean the same thing.
func (e *Error) Is(target error) bool {
	switch target {
	case net.ErrClosed:
		return e.Status == StatusErrClosed
	case os.ErrDeadlineExceeded:
		return e.Timeout()
	case errUnsupportedStd:
		return e.Status == StatusErrUnsupported
	}
	s, ok := target.(*Error)
	if !ok || s.Op != "" || s.Message != "" {
		return false
	}
	if e.Status == s.Status {
		return true
	}
	switch s.Status {
	case StatusErrHandshake:
		return e.Status == StatusErrHandshakeTimeout
	case StatusErrTimeout:
		return e.Timeout()
	}
	return false
}

// Sentinels for errors.Is, one per status family.
var (
	ErrNull             = &Error{Status: StatusErrNull}
	ErrHandle           = &Error{Status: StatusErrHandle}
	ErrInvalid          = &Error{Status: StatusErrInvalid}
	ErrAddr             = &Error{Status: StatusErrAddr}
	ErrClosed           = &Error{Status: StatusErrClosed}
	ErrUnknownPeer      = &Error{Status: StatusErrUnknownPeer}
	ErrTooLarge         = &Error{Status: StatusErrTooLarge}
	ErrWouldBlock       = &Error{Status: StatusErrWouldBlock}
	ErrTimeout          = &Error{Status: StatusErrTimeout}
	ErrConnect          = &Error{Status: StatusErrConnect}
	ErrHandshake        = &Error{Status: StatusErrHandshake}
	ErrHandshakeTimeout = &Error{Status: StatusErrHandshakeTimeout}
	ErrIO               = &Error{Status: StatusErrIO}
	ErrInCallback       = &Error{Status: StatusErrInCallback}
	ErrState            = &Error{Status: StatusErrState}
	ErrUnsupported      = &Error{Status: StatusErrUnsupported}
	ErrBuffer           = &Error{Status: StatusErrBuffer}
	ErrPanic            = &Error{Status: StatusErrPanic}
)

// newError builds an error raised by the binding itself (no C call failed).
func newError(op string, s Status, format string, args ...any) error {
	return &Error{Op: op, Status: s, Message: fmt.Sprintf(format, args...)}
}

func errClosed(op string) error {
	return &Error{Op: op, Status: StatusErrClosed, Message: "transport is closed"}
}

var errUnsupportedStd = errors.ErrUnsupported

// Reason says why a peer went away or a handshake failed (peerwire_reason).
type Reason int32

// Reasons, as in include/peerwire.h.
const (
	ReasonNone              Reason = C.PEERWIRE_REASON_NONE
	ReasonRemoteClosed      Reason = C.PEERWIRE_REASON_REMOTE_CLOSED
	ReasonIOError           Reason = C.PEERWIRE_REASON_IO_ERROR
	ReasonFrameTooLarge     Reason = C.PEERWIRE_REASON_FRAME_TOO_LARGE
	ReasonDecodeError       Reason = C.PEERWIRE_REASON_DECODE_ERROR
	ReasonHandshakeRejected Reason = C.PEERWIRE_REASON_HANDSHAKE_REJECTED
	ReasonHandshakeTimeout  Reason = C.PEERWIRE_REASON_HANDSHAKE_TIMEOUT
	ReasonClosedLocally     Reason = C.PEERWIRE_REASON_CLOSED_LOCALLY
	ReasonTransportClosed   Reason = C.PEERWIRE_REASON_TRANSPORT_CLOSED
)

// String returns the library's static text for the reason (peerwire_reason_str).
func (r Reason) String() string {
	return C.GoString(C.peerwire_reason_str(C.int32_t(r)))
}

// Version is the library's version string (peerwire_version), e.g. "0.1.0".
func Version() string {
	return C.GoString(C.peerwire_version())
}
