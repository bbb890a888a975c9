/* peerwire through its C API, in the benchmark protocol of common.h:
 *   peerwire_bench ROLE MODE SIZE COUNT PORT WARMUP
 * MODE pull: the receiver / ponger pulls events with peerwire_transport_recv_batch
 *            (batches of 256) and releases them with peerwire_events_release.
 * MODE cb:   the receiver counts in the message callback (atomics); the ponger answers from
 *            the message callback.
 * The sender (both modes) dials, sends COUNT messages with peerwire_transport_send (waits when
 * the peer's send queue is full: default send timeout -1), then closes with a linger long
 * enough to flush everything and checks that nothing was dropped.
 * The pinger (both modes) sends, then pulls the answer with peerwire_transport_recv. */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#include <peerwire.h>

#define BATCH 256

static const char *g_role = "?";

#define CHECK(call)                                                                               \
  do {                                                                                            \
    int32_t st_ = (call);                                                                         \
    if (st_ != PEERWIRE_OK)                                                                       \
      bench_fail(g_role, "%s: %s (%d): %s", #call, peerwire_status_str(st_), st_,                 \
                 peerwire_last_error());                                                          \
  } while (0)

static int timeout_ms(void) { return bench_timeout_s() * 1000; }

/* ---------------------------------------------------------------- callback state */

typedef struct cb_state {
  const bench_args *a;
  peerwire_transport *t; /* for the pong callback; set before listen */
  atomic_uint_fast64_t msgs;
  atomic_int bad_len;
  atomic_int send_err;
  double t_first, t_last; /* written by the callback that sees the first / last message */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
} cb_state;

static void cb_finish(cb_state *s) {
  pthread_mutex_lock(&s->mu);
  s->done = 1;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void on_message_count(void *user, const peerwire_event *ev) {
  cb_state *s = user;
  if (ev->len != s->a->size) atomic_store(&s->bad_len, (int)1);
  uint64_t n = atomic_fetch_add_explicit(&s->msgs, 1, memory_order_relaxed) + 1;
  if (n == 1) s->t_first = bench_now();
  if (n == s->a->count) {
    s->t_last = bench_now();
    cb_finish(s);
  }
}

static void on_message_pong(void *user, const peerwire_event *ev) {
  cb_state *s = user;
  int32_t st = peerwire_transport_send(s->t, ev->peer, ev->data, ev->len);
  if (st != PEERWIRE_OK) atomic_store(&s->send_err, st);
  uint64_t n = atomic_fetch_add_explicit(&s->msgs, 1, memory_order_relaxed) + 1;
  if (n == s->a->count + s->a->warmup || st != PEERWIRE_OK) cb_finish(s);
}

/* Waits (bounded) until the callback says it is done. Returns 0 on time-out. */
static int cb_wait(cb_state *s) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += bench_timeout_s();
  pthread_mutex_lock(&s->mu);
  while (!s->done) {
    if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0) break;
  }
  int done = s->done;
  pthread_mutex_unlock(&s->mu);
  return done;
}

/* Readies s for the callback roles and returns new options with cb as the message callback. */
static peerwire_options *cb_options(cb_state *s, const bench_args *a, peerwire_event_cb cb) {
  s->a = a;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  peerwire_options *o = NULL;
  CHECK(peerwire_options_new(&o));
  CHECK(peerwire_options_set_message_cb(o, cb, s, NULL));
  return o;
}

/* ---------------------------------------------------------------- helpers */

/* Creates a transport that will listen on 127.0.0.1:0 (not listening yet). */
static peerwire_transport *new_listener(peerwire_options *o) {
  peerwire_transport *t = NULL;
  CHECK(peerwire_options_set_listen_addr(o, "127.0.0.1:0"));
  CHECK(peerwire_transport_new(o, &t));
  return t;
}

/* Starts listening and prints the port. */
static void start_listening(peerwire_transport *t) {
  CHECK(peerwire_transport_listen(t));
  char addr[128];
  size_t len = 0;
  CHECK(peerwire_transport_local_addr(t, addr, sizeof addr, &len));
  const char *colon = strrchr(addr, ':');
  if (!colon) bench_fail(g_role, "local address without a port: %s", addr);
  bench_print_port(atoi(colon + 1));
}

/* Creates a transport listening on 127.0.0.1:0 and prints its port. */
static peerwire_transport *listen_and_print(peerwire_options *o) {
  peerwire_transport *t = new_listener(o);
  start_listening(t);
  return t;
}

static peerwire_transport *dial(int port, uint64_t *peer) {
  peerwire_transport *t = NULL;
  CHECK(peerwire_transport_new(NULL, &t));
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  CHECK(peerwire_transport_dial(t, addr, timeout_ms(), peer));
  return t;
}

static void close_checked(peerwire_transport *t) {
  peerwire_close_report rep;
  memset(&rep, 0, sizeof rep);
  CHECK(peerwire_transport_close(t, timeout_ms(), &rep));
  peerwire_transport_free(t);
  if (rep.msgs_dropped)
    bench_fail(g_role, "close dropped %llu queued messages", (unsigned long long)rep.msgs_dropped);
}

/* ---------------------------------------------------------------- roles */

static void do_send(const bench_args *a) {
  uint64_t peer = 0;
  peerwire_transport *t = dial(a->port, &peer);
  uint8_t *payload = malloc(a->size);
  memset(payload, 0xab, a->size);
  double t0 = bench_now();
  for (uint64_t i = 0; i < a->count; i++) CHECK(peerwire_transport_send(t, peer, payload, a->size));
  close_checked(t); /* linger: returns once every queued message went out */
  double t1 = bench_now();
  bench_result_tp("send", a->count, a->count * a->size, t1 - t0);
}

static void do_recv_pull(const bench_args *a) {
  peerwire_options *o = NULL;
  CHECK(peerwire_options_new(&o));
  peerwire_transport *t = listen_and_print(o);
  peerwire_options_free(o);
  static peerwire_event evs[BATCH];
  uint64_t msgs = 0, bytes = 0;
  double t_first = 0, deadline = bench_now() + bench_timeout_s();
  while (msgs < a->count) {
    if (bench_now() > deadline) bench_fail("recv", "timed out after %llu messages", (unsigned long long)msgs);
    size_t n = 0;
    int32_t st = peerwire_transport_recv_batch(t, evs, BATCH, &n, 1000);
    if (st == PEERWIRE_TIMED_OUT || st == PEERWIRE_EMPTY) continue;
    if (st != PEERWIRE_OK)
      bench_fail("recv", "recv_batch: %s: %s", peerwire_status_str(st), peerwire_last_error());
    for (size_t i = 0; i < n; i++) {
      const peerwire_event *ev = &evs[i];
      if (ev->kind == PEERWIRE_EVENT_MESSAGE) {
        if (ev->len != a->size) bench_fail("recv", "message of %zu bytes, expected %zu", ev->len, a->size);
        if (msgs == 0) t_first = bench_now();
        msgs++;
        bytes += ev->len;
      } else if (ev->kind == PEERWIRE_EVENT_PEER_DISCONNECTED && msgs < a->count) {
        /* a peer's events arrive in order: a disconnect before the last message is a loss */
        bench_fail("recv", "peer disconnected (%s) after %llu of %llu messages",
                   peerwire_reason_str(ev->reason), (unsigned long long)msgs,
                   (unsigned long long)a->count);
      }
    }
    peerwire_events_release(evs, n);
  }
  double t_last = bench_now();
  CHECK(peerwire_transport_close(t, 0, NULL));
  peerwire_transport_free(t);
  bench_result_tp("recv", msgs, bytes, t_last - t_first);
}

static void do_recv_cb(const bench_args *a) {
  static cb_state s;
  peerwire_options *o = cb_options(&s, a, on_message_count);
  peerwire_transport *t = listen_and_print(o);
  peerwire_options_free(o);
  if (!cb_wait(&s))
    bench_fail("recv", "timed out after %llu messages", (unsigned long long)atomic_load(&s.msgs));
  uint64_t msgs = atomic_load(&s.msgs);
  CHECK(peerwire_transport_close(t, 0, NULL));
  peerwire_transport_free(t);
  if (atomic_load(&s.bad_len)) bench_fail("recv", "a message had the wrong length");
  bench_result_tp("recv", msgs, msgs * a->size, s.t_last - s.t_first);
}

static void do_pong_pull(const bench_args *a) {
  peerwire_options *o = NULL;
  CHECK(peerwire_options_new(&o));
  peerwire_transport *t = listen_and_print(o);
  peerwire_options_free(o);
  static peerwire_event evs[BATCH];
  uint64_t total = a->count + a->warmup, msgs = 0;
  double deadline = bench_now() + bench_timeout_s();
  while (msgs < total) {
    if (bench_now() > deadline) bench_fail("pong", "timed out after %llu messages", (unsigned long long)msgs);
    size_t n = 0;
    int32_t st = peerwire_transport_recv_batch(t, evs, BATCH, &n, 1000);
    if (st == PEERWIRE_TIMED_OUT || st == PEERWIRE_EMPTY) continue;
    if (st != PEERWIRE_OK) bench_fail("pong", "recv_batch: %s: %s", peerwire_status_str(st), peerwire_last_error());
    for (size_t i = 0; i < n; i++) {
      if (evs[i].kind != PEERWIRE_EVENT_MESSAGE) continue;
      CHECK(peerwire_transport_send(t, evs[i].peer, evs[i].data, evs[i].len));
      msgs++;
    }
    peerwire_events_release(evs, n);
  }
  close_checked(t);
  bench_result_tp("pong", msgs, msgs * a->size, 0);
}

static void do_pong_cb(const bench_args *a) {
  static cb_state s;
  peerwire_options *o = cb_options(&s, a, on_message_pong);
  /* the callback needs the transport: s.t is set before listen, so before any peer connects */
  peerwire_transport *t = new_listener(o);
  peerwire_options_free(o);
  s.t = t;
  start_listening(t);
  if (!cb_wait(&s)) bench_fail("pong", "timed out after %llu messages", (unsigned long long)atomic_load(&s.msgs));
  if (atomic_load(&s.send_err))
    bench_fail("pong", "send from the callback: %s", peerwire_status_str(atomic_load(&s.send_err)));
  uint64_t msgs = atomic_load(&s.msgs);
  close_checked(t);
  bench_result_tp("pong", msgs, msgs * a->size, 0);
}

/* Pulls events until a MESSAGE arrives (bounded). */
static void pull_message(peerwire_transport *t, size_t size) {
  peerwire_event ev;
  double deadline = bench_now() + bench_timeout_s();
  for (;;) {
    int32_t st = peerwire_transport_recv(t, &ev, 1000);
    if (st == PEERWIRE_OK) {
      int kind = ev.kind;
      size_t len = ev.len;
      peerwire_event_release(&ev);
      if (kind == PEERWIRE_EVENT_MESSAGE) {
        if (len != size) bench_fail("ping", "answer of %zu bytes, expected %zu", len, size);
        return;
      }
      if (kind == PEERWIRE_EVENT_PEER_DISCONNECTED) bench_fail("ping", "ponger disconnected");
    } else if (st != PEERWIRE_TIMED_OUT && st != PEERWIRE_EMPTY) {
      bench_fail("ping", "recv: %s: %s", peerwire_status_str(st), peerwire_last_error());
    }
    if (bench_now() > deadline) bench_fail("ping", "no answer within the timeout");
  }
}

static void do_ping(const bench_args *a) {
  uint64_t peer = 0;
  peerwire_transport *t = dial(a->port, &peer);
  uint8_t *out = malloc(a->size);
  memset(out, 0xcd, a->size);
  double *rtt = malloc(sizeof(double) * a->count);
  double t0 = 0;
  for (uint64_t i = 0; i < a->warmup + a->count; i++) {
    if (i == a->warmup) t0 = bench_now();
    double s = bench_now();
    CHECK(peerwire_transport_send(t, peer, out, a->size));
    pull_message(t, a->size);
    double e = bench_now();
    if (i >= a->warmup) rtt[i - a->warmup] = e - s;
  }
  double t1 = bench_now();
  CHECK(peerwire_transport_close(t, timeout_ms(), NULL));
  peerwire_transport_free(t);
  bench_result_rtt(rtt, a->count, t1 - t0);
}

int main(int argc, char **argv) {
  bench_args a = bench_parse(argc, argv);
  g_role = a.role;
  int cb = strcmp(a.mode, "cb") == 0;
  if (!cb && strcmp(a.mode, "pull") != 0) bench_usage(argv[0]);
  if (!strcmp(a.role, "send")) do_send(&a);
  else if (!strcmp(a.role, "recv")) cb ? do_recv_cb(&a) : do_recv_pull(&a);
  else if (!strcmp(a.role, "pong")) cb ? do_pong_cb(&a) : do_pong_pull(&a);
  else if (!strcmp(a.role, "ping")) do_ping(&a);
  else bench_usage(argv[0]);
  return 0;
}
