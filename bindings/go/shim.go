package peerwire

/*
#include "pwshim.h"
*/
import "C"

import "unsafe"

// ret converts a shim result into (status, error). err is nil for rc >= 0.
func ret(op string, r C.pw_ret) error {
	if r.rc >= 0 {
		return nil
	}
	msg := ""
	if r.err != nil {
		msg = C.GoString(r.err)
		C.free(unsafe.Pointer(r.err))
	}
	return &Error{Op: op, Status: Status(r.rc), Message: msg}
}

// emptyByte backs empty slices: C gets a valid pointer with length 0, never NULL, so the
// core judges an empty message on its merits.
var emptyByte [1]byte

// bytesPtr gives C a pointer to b's bytes.
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return (*C.uint8_t)(unsafe.Pointer(&emptyByte[0]))
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// handshakeInfo reads the peer id, remote address and direction of a handshake.
func handshakeInfo(hs uintptr) (id uint64, addr string, outbound bool, err error) {
	var buf [128]byte // zeroed: the address stays NUL-terminated
	r := C.pw_hs_info(C.pw_hs_h(hs), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)-1))
	if err := ret("handshake", r); err != nil {
		return 0, "", false, err
	}
	return uint64(r.val), C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), r.flag != 0, nil
}
