/* Reference transport: libzmq (Debian libzmq3-dev), default options.
 *   recv/send : PULL binds tcp://127.0.0.1:*, PUSH connects            -> row "libzmq"
 *   pong/ping : PAIR binds, PAIR connects; 64 B ping-pong
 * MODE is ignored ("-").  See ../common.h for the command line and the output. */
#include "../common.h"

#include <zmq.h>

static const char *g_role = "?";

static void *bind_and_print(void *ctx, int type) {
  void *s = zmq_socket(ctx, type);
  if (!s) bench_fail(g_role, "zmq_socket: %s", zmq_strerror(zmq_errno()));
  int to = bench_timeout_s() * 1000;
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &to, sizeof to);
  if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) bench_fail(g_role, "zmq_bind: %s", zmq_strerror(zmq_errno()));
  char ep[256];
  size_t len = sizeof ep;
  zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
  const char *colon = strrchr(ep, ':');
  bench_print_port(colon ? atoi(colon + 1) : 0);
  return s;
}

static void *connect_to(void *ctx, int type, int port) {
  void *s = zmq_socket(ctx, type);
  if (!s) bench_fail(g_role, "zmq_socket: %s", zmq_strerror(zmq_errno()));
  int to = bench_timeout_s() * 1000, linger = to;
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &to, sizeof to);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger); /* flush everything on close */
  char ep[64];
  snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
  if (zmq_connect(s, ep) != 0) bench_fail(g_role, "zmq_connect: %s", zmq_strerror(zmq_errno()));
  return s;
}

static void do_recv(void *ctx, const bench_args *a) {
  void *s = bind_and_print(ctx, ZMQ_PULL);
  zmq_msg_t m;
  zmq_msg_init(&m);
  uint64_t msgs = 0, bytes = 0;
  double t_first = 0;
  while (msgs < a->count) {
    int n = zmq_msg_recv(&m, s, 0);
    if (n < 0) {
      if (zmq_errno() == EINTR) continue;
      bench_fail("recv", "zmq_msg_recv after %llu: %s", (unsigned long long)msgs, zmq_strerror(zmq_errno()));
    }
    if ((size_t)n != a->size) bench_fail("recv", "message of %d bytes, expected %zu", n, a->size);
    if (msgs == 0) t_first = bench_now();
    msgs++;
    bytes += (uint64_t)n;
  }
  double t_last = bench_now();
  zmq_msg_close(&m);
  zmq_close(s);
  zmq_ctx_term(ctx);
  bench_result_tp("recv", msgs, bytes, t_last - t_first);
}

static void do_send(void *ctx, const bench_args *a) {
  void *s = connect_to(ctx, ZMQ_PUSH, a->port);
  char *payload = malloc(a->size);
  memset(payload, 0xab, a->size);
  double t0 = bench_now();
  for (uint64_t i = 0; i < a->count; i++) {
    if (zmq_send(s, payload, a->size, 0) < 0) {
      if (zmq_errno() == EINTR) { i--; continue; }
      bench_fail("send", "zmq_send: %s", zmq_strerror(zmq_errno()));
    }
  }
  zmq_close(s);
  zmq_ctx_term(ctx); /* returns once every queued message went out (linger) */
  double t1 = bench_now();
  bench_result_tp("send", a->count, a->count * a->size, t1 - t0);
}

static void do_pong(void *ctx, const bench_args *a) {
  void *s = bind_and_print(ctx, ZMQ_PAIR);
  zmq_msg_t m;
  zmq_msg_init(&m);
  uint64_t total = a->count + a->warmup;
  for (uint64_t i = 0; i < total; i++) {
    int n = zmq_msg_recv(&m, s, 0);
    if (n < 0) bench_fail("pong", "zmq_msg_recv: %s", zmq_strerror(zmq_errno()));
    if (zmq_msg_send(&m, s, 0) < 0) bench_fail("pong", "zmq_msg_send: %s", zmq_strerror(zmq_errno()));
  }
  zmq_msg_close(&m);
  zmq_close(s);
  zmq_ctx_term(ctx);
  bench_result_tp("pong", total, total * a->size, 0);
}

static void do_ping(void *ctx, const bench_args *a) {
  void *s = connect_to(ctx, ZMQ_PAIR, a->port);
  char *out = malloc(a->size), *in = malloc(a->size);
  memset(out, 0xcd, a->size);
  double *rtt = malloc(sizeof(double) * a->count);
  double t0 = 0;
  for (uint64_t i = 0; i < a->warmup + a->count; i++) {
    if (i == a->warmup) t0 = bench_now();
    double st = bench_now();
    if (zmq_send(s, out, a->size, 0) < 0) bench_fail("ping", "zmq_send: %s", zmq_strerror(zmq_errno()));
    int n = zmq_recv(s, in, a->size, 0);
    if (n != (int)a->size) bench_fail("ping", "zmq_recv: %d %s", n, zmq_strerror(zmq_errno()));
    double e = bench_now();
    if (i >= a->warmup) rtt[i - a->warmup] = e - st;
  }
  double t1 = bench_now();
  zmq_close(s);
  zmq_ctx_term(ctx);
  bench_result_rtt(rtt, a->count, t1 - t0);
}

int main(int argc, char **argv) {
  bench_args a = bench_parse(argc, argv);
  g_role = a.role;
  void *ctx = zmq_ctx_new();
  if (!strcmp(a.role, "send")) do_send(ctx, &a);
  else if (!strcmp(a.role, "recv")) do_recv(ctx, &a);
  else if (!strcmp(a.role, "pong")) do_pong(ctx, &a);
  else if (!strcmp(a.role, "ping")) do_ping(ctx, &a);
  else bench_usage(argv[0]);
  return 0;
}
