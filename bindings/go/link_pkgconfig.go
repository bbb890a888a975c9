//go:build peerwire_pkgconfig

package peerwire

// Linking against an installed libpeerwire described by peerwire.pc
// (go build -tags peerwire_pkgconfig; set PKG_CONFIG_PATH if it is not in a default place).

// #cgo pkg-config: peerwire
import "C"
