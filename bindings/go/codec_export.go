package peerwire

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// The custom codec's callbacks. They are called by the library through the trampolines in
// pwshim.h with the cgo.Handle of a *splitter as user data. This file holds only them: a
// file with //export may declare, not define, C functions in its preamble.

// peerwireGoSplit is the split callback. It runs on library I/O threads; buf is the
// library's buffer, viewed without copying.
//
//export peerwireGoSplit
func peerwireGoSplit(user C.uintptr_t, buf *C.uint8_t, n C.size_t, outHeader, outLen *C.size_t) C.int32_t {
	if n == 0 || buf == nil { // Split is promised a non-empty buffer
		*outHeader, *outLen = 0, 0
		return C.int32_t(splitNeedMore)
	}
	s := cgo.Handle(user).Value().(*splitter)
	rc, h, size := s.splitOnce(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n)))
	*outHeader = C.size_t(h)
	*outLen = C.size_t(size)
	return C.int32_t(rc)
}

// peerwireGoHeader is the header callback: it runs on the thread of the Send that needs it.
//
//export peerwireGoHeader
func peerwireGoHeader(user C.uintptr_t, payload *C.uint8_t, n C.size_t, out *C.uint8_t, capacity C.size_t, outLen *C.size_t) C.int32_t {
	s := cgo.Handle(user).Value().(*splitter)
	*outLen = 0
	if s.appendHeader == nil || out == nil || capacity == 0 {
		return 1
	}
	var p []byte
	if n > 0 {
		p = unsafe.Slice((*byte)(unsafe.Pointer(payload)), int(n))
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(out)), int(capacity))
	hl, ok := s.header(dst, p)
	if !ok {
		return 1
	}
	*outLen = C.size_t(hl)
	return 0
}

// peerwireGoCodecRelease is the custom codec's drop function: the library calls it exactly
// once, after the last call of either callback.
//
//export peerwireGoCodecRelease
func peerwireGoCodecRelease(user C.uintptr_t) {
	cgo.Handle(user).Delete()
	liveCodecHandles.Add(-1)
}
