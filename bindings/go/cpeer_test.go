//go:build !peerwire_pkgconfig

package peerwire

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCPeer talks to a peer written in C against the same library: it dials this Go
// transport, sends messages, and checks the replies.
func TestCPeer(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build the C peer", cc)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(root, "target", "release")
	bin := filepath.Join(t.TempDir(), "c_peer")
	build := exec.Command(cc, "-std=c11", "-Wall", "-Werror", "-o", bin, "testdata/c_peer.c",
		"-I"+filepath.Join(root, "include"), "-L"+lib, "-Wl,-rpath,"+lib, "-lpeerwire")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the C peer: %v\n%s", err, out)
	}

	srv := listener(t, TCPTransportOpts{})
	go func() {
		for rpc := range srv.Consume() {
			_ = rpc.Peer.Send(append([]byte("go:"), rpc.Payload...))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, srv.Addr(), "2000").CombinedOutput()
	if err != nil {
		t.Fatalf("C peer: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "ok 2000" {
		t.Fatalf("C peer said %q", out)
	}
}
