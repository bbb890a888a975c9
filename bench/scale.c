/* Scale benchmark, peerwire side: one transport, PEERS inbound peers (raw-socket clients in
 * another process: ref/scale_clients.c).
 *   scale PEERS SIZE
 * Prints "PORT <n>", then waits for PEERS PEER_CONNECTED events (the default NOP handshake has
 * run for each), reports the accept+handshake rate and the memory per idle peer (VmRSS delta
 * divided by the peers), broadcasts one SIZE-byte message to all of them, reports how long the
 * broadcast call took, waits (bounded) for the clients to hang up and closes.
 * Times are CLOCK_MONOTONIC seconds, comparable with the clients'. */
#include "common.h"

#include <unistd.h>

#include <peerwire.h>

#define BATCH 256

#define CHECK(call)                                                                               \
  do {                                                                                            \
    int32_t st_ = (call);                                                                         \
    if (st_ != PEERWIRE_OK)                                                                       \
      bench_fail("scale-server", "%s: %s (%d): %s", #call, peerwire_status_str(st_), st_,         \
                 peerwire_last_error());                                                          \
  } while (0)

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
  fclose(f);
  return v;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PEERS SIZE\n", argv[0]);
    return 2;
  }
  long want = atol(argv[1]);
  size_t size = (size_t)atol(argv[2]);
  if (want <= 0 || size == 0) return 2;
  raise_nofile((rlim_t)want + 1024);

  peerwire_options *o = NULL;
  peerwire_transport *t = NULL;
  CHECK(peerwire_options_new(&o));
  CHECK(peerwire_options_set_listen_addr(o, "127.0.0.1:0"));
  CHECK(peerwire_transport_new(o, &t));
  peerwire_options_free(o);
  CHECK(peerwire_transport_listen(t));
  char addr[128];
  size_t alen = 0;
  CHECK(peerwire_transport_local_addr(t, addr, sizeof addr, &alen));
  const char *colon = strrchr(addr, ':');
  if (!colon) bench_fail("scale-server", "local address without a port: %s", addr);
  long base = rss_kb();
  bench_print_port(atoi(colon + 1));

  static peerwire_event evs[BATCH];
  long connected = 0, disconnected = 0;
  double t_first = 0, t_last = 0, deadline = bench_now() + bench_timeout_s();
  while (connected < want) {
    if (bench_now() > deadline)
      bench_fail("scale-server", "only %ld of %ld peers connected within the timeout", connected, want);
    size_t n = 0;
    int32_t st = peerwire_transport_recv_batch(t, evs, BATCH, &n, 200);
    if (st == PEERWIRE_TIMED_OUT || st == PEERWIRE_EMPTY) continue;
    if (st != PEERWIRE_OK)
      bench_fail("scale-server", "recv_batch: %s: %s", peerwire_status_str(st), peerwire_last_error());
    double now = bench_now();
    for (size_t i = 0; i < n; i++) {
      if (evs[i].kind == PEERWIRE_EVENT_PEER_CONNECTED) {
        if (connected == 0) t_first = now;
        connected++;
        t_last = now;
      } else if (evs[i].kind == PEERWIRE_EVENT_PEER_DISCONNECTED ||
                 evs[i].kind == PEERWIRE_EVENT_HANDSHAKE_FAILED) {
        bench_fail("scale-server", "a connection failed: %s", peerwire_reason_str(evs[i].reason));
      }
    }
    peerwire_events_release(evs, n);
  }
  usleep(300 * 1000);
  long rss = rss_kb();
  peerwire_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.size = sizeof stats;
  CHECK(peerwire_transport_stats(t, &stats));

  uint8_t *msg = malloc(size);
  memset(msg, 0xee, size);
  size_t sent = 0;
  double b0 = bench_now();
  CHECK(peerwire_transport_broadcast(t, msg, size, &sent));
  double b1 = bench_now();

  double u, s;
  bench_cpu(&u, &s);
  printf("{\"ok\":true,\"role\":\"scale-server\",\"impl\":\"peerwire\",\"peers\":%ld,"
         "\"stats_peers\":%llu,\"rss_base_kb\":%ld,\"rss_peers_kb\":%ld,\"bytes_per_peer\":%.1f,"
         "\"t_first_conn\":%.6f,\"t_last_conn\":%.6f,\"accept_per_s\":%.1f,"
         "\"bcast_t0\":%.6f,\"bcast_call_s\":%.6f,\"bcast_sent\":%zu,\"cpu_user\":%.6f,\"cpu_sys\":%.6f}\n",
         connected, (unsigned long long)stats.peers, base, rss,
         (double)(rss - base) * 1024.0 / (double)connected, t_first, t_last,
         connected > 1 && t_last > t_first ? (double)(connected - 1) / (t_last - t_first) : 0.0, b0,
         b1 - b0, sent, u, s);
  fflush(stdout);

  /* the clients hang up once they have the message: wait for that (bounded), then close */
  deadline = bench_now() + bench_timeout_s();
  while (disconnected < connected && bench_now() < deadline) {
    size_t n = 0;
    int32_t st = peerwire_transport_recv_batch(t, evs, BATCH, &n, 200);
    if (st == PEERWIRE_TIMED_OUT || st == PEERWIRE_EMPTY) continue;
    if (st != PEERWIRE_OK) break;
    for (size_t i = 0; i < n; i++)
      if (evs[i].kind == PEERWIRE_EVENT_PEER_DISCONNECTED) disconnected++;
    peerwire_events_release(evs, n);
  }
  peerwire_close_report rep;
  memset(&rep, 0, sizeof rep);
  CHECK(peerwire_transport_close(t, 2000, &rep));
  peerwire_transport_free(t);
  return 0;
}
