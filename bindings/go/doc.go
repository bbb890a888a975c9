// Package peerwire is the Go binding of peerwire, a peer-to-peer TCP transport with a Rust
// core and a C ABI. It keeps the shapes of the Go p2p package peerwire grew out of:
//
//	tr, err := peerwire.NewTCPTransport(peerwire.TCPTransportOpts{ListenAddr: ":3000"})
//	if err != nil { ... }
//	defer tr.Close()
//	tr.OnPeer = func(p peerwire.Peer) error { ...; return nil }
//	if err := tr.ListenAndAccept(); err != nil { ... }
//	for rpc := range tr.Consume() { ... rpc.Peer.Send(reply) ... }
//
// Events come from the library in batches (one cgo call for many) and feed the Consume()
// channel from one goroutine per transport; handshakes call back into Go through
// runtime/cgo.Handle. Errors are *Error values that match the sentinels (ErrClosed,
// ErrHandshake, ...) with errors.Is. Close is the contract; a finalizer is only a safety net.
//
// Linking: by default against the repository's build (make lib) through ${SRCDIR}-relative
// cgo flags with an rpath; with the build tag peerwire_pkgconfig, against an installed
// libpeerwire found by pkg-config. See README.md.
package peerwire
