//go:build !peerwire_pkgconfig

package peerwire

// Default linking: against the repository's own build (make lib), found relative to this
// directory, with an rpath so that binaries and `go test` run without LD_LIBRARY_PATH.
// CGO_CFLAGS / CGO_LDFLAGS from the environment come first on the command line, so they can
// point the build at another copy of the header and library.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lpeerwire
import "C"
