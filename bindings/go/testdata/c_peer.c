/* A peer written in C against include/peerwire.h, for the Go binding's tests.
 * Usage: c_peer ADDR COUNT
 * Dials ADDR, sends COUNT messages "c<i>", expects COUNT replies "go:c<i>" in order,
 * prints "ok <COUNT>" and exits 0; any failure exits 1 with a message on stderr. */
#include <peerwire.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int32_t rc) {
  fprintf(stderr, "c_peer: %s: %s (%d): %s\n", what, peerwire_status_str(rc), rc, peerwire_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c_peer ADDR COUNT\n");
    return 2;
  }
  int count = atoi(argv[2]);
  peerwire_transport *t = NULL;
  int32_t rc = peerwire_transport_new(NULL, &t);
  if (rc != PEERWIRE_OK) return fail("transport_new", rc);
  uint64_t peer = 0;
  rc = peerwire_transport_dial(t, argv[1], 5000, &peer);
  if (rc != PEERWIRE_OK) return fail("dial", rc);
  char buf[64];
  for (int i = 0; i < count; i++) {
    int n = snprintf(buf, sizeof buf, "c%d", i);
    rc = peerwire_transport_send(t, peer, (const uint8_t *)buf, (size_t)n);
    if (rc != PEERWIRE_OK) return fail("send", rc);
  }
  int got = 0;
  while (got < count) {
    peerwire_event ev;
    memset(&ev, 0, sizeof ev);
    rc = peerwire_transport_recv(t, &ev, 10000);
    if (rc != PEERWIRE_OK) return fail("recv", rc);
    if (ev.kind == PEERWIRE_EVENT_MESSAGE) {
      int n = snprintf(buf, sizeof buf, "go:c%d", got);
      if (ev.len != (size_t)n || memcmp(ev.data, buf, (size_t)n) != 0) {
        fprintf(stderr, "c_peer: reply %d: got %.*s, want %s\n", got, (int)ev.len, (const char *)ev.data, buf);
        return 1;
      }
      got++;
    } else if (ev.kind == PEERWIRE_EVENT_PEER_DISCONNECTED) {
      fprintf(stderr, "c_peer: disconnected after %d replies: %s\n", got, peerwire_reason_str(ev.reason));
      return 1;
    }
    peerwire_event_release(&ev);
  }
  rc = peerwire_transport_close(t, -1, NULL);
  if (rc != PEERWIRE_OK) return fail("close", rc);
  peerwire_transport_free(t);
  printf("ok %d\n", got);
  return 0;
}
