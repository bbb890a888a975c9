/* Shared helpers for the peerwire benchmark programs (C references, peerwire rows, scale).
 *
 * Every program takes:  ROLE MODE SIZE COUNT PORT WARMUP
 *   ROLE   recv | send | pong | ping
 *   MODE   program specific (e.g. "plain" / "batch", "pull" / "cb")
 *   SIZE   payload bytes per message
 *   COUNT  messages (recv/send) or timed round trips (ping/pong)
 *   PORT   port to connect to (send/ping); 0 for recv/pong, which listen on 127.0.0.1:0
 *   WARMUP untimed round trips before the timed ones (ping/pong); 0 otherwise
 * Listening roles print "PORT <n>" on a line of their own, then every role prints one JSON
 * result line.  Every wait is bounded by BENCH_TIMEOUT_S (default 60 s). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct bench_args {
  const char *role, *mode;
  size_t size;
  uint64_t count;
  int port;
  uint64_t warmup;
} bench_args;

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int bench_timeout_s(void) {
  const char *e = getenv("BENCH_TIMEOUT_S");
  int v = e ? atoi(e) : 0;
  return v > 0 ? v : 60;
}

static inline void bench_cpu(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
  *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Raises the open-file limit to at least n (the hard limit too, where allowed: root), else
 * to the hard limit.  For the scale programs, which hold one descriptor per peer. */
static inline void raise_nofile(rlim_t n) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max < n) rl.rlim_max = n; /* root may raise the hard limit */
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static inline void bench_usage(const char *prog) {
  fprintf(stderr, "usage: %s recv|send|pong|ping MODE SIZE COUNT PORT WARMUP\n", prog);
  exit(2);
}

static inline bench_args bench_parse(int argc, char **argv) {
  bench_args a;
  if (argc != 7) bench_usage(argv[0]);
  a.role = argv[1];
  a.mode = argv[2];
  a.size = (size_t)strtoull(argv[3], NULL, 10);
  a.count = strtoull(argv[4], NULL, 10);
  a.port = atoi(argv[5]);
  a.warmup = strtoull(argv[6], NULL, 10);
  if (a.size == 0 || a.count == 0) bench_usage(argv[0]);
  return a;
}

static inline void bench_print_port(int port) {
  printf("PORT %d\n", port);
  fflush(stdout);
}

/* One JSON result line for throughput roles. */
static inline void bench_result_tp(const char *role, uint64_t msgs, uint64_t bytes, double seconds) {
  double u, s;
  bench_cpu(&u, &s);
  printf("{\"ok\":true,\"role\":\"%s\",\"msgs\":%llu,\"bytes\":%llu,\"seconds\":%.9f,"
         "\"cpu_user\":%.6f,\"cpu_sys\":%.6f}\n",
         role, (unsigned long long)msgs, (unsigned long long)bytes, seconds, u, s);
  fflush(stdout);
}

/* Printed on failure; the program then exits with status 1. */
static inline void bench_fail(const char *role, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  for (char *p = buf; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
  printf("{\"ok\":false,\"role\":\"%s\",\"error\":\"%s\"}\n", role, buf);
  fflush(stdout);
  exit(1);
}

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts rtt[] (seconds) and prints the ping result line. */
static inline void bench_result_rtt(double *rtt, uint64_t n, double seconds) {
  double u, s, sum = 0;
  qsort(rtt, n, sizeof *rtt, bench_cmp_double);
  for (uint64_t i = 0; i < n; i++) sum += rtt[i];
  uint64_t i50 = (n - 1) * 50 / 100, i99 = (n - 1) * 99 / 100;
  bench_cpu(&u, &s);
  printf("{\"ok\":true,\"role\":\"ping\",\"rtts\":%llu,\"p50_us\":%.3f,\"p99_us\":%.3f,"
         "\"mean_us\":%.3f,\"min_us\":%.3f,\"max_us\":%.3f,\"seconds\":%.6f,"
         "\"cpu_user\":%.6f,\"cpu_sys\":%.6f}\n",
         (unsigned long long)n, rtt[i50] * 1e6, rtt[i99] * 1e6, sum / (double)n * 1e6,
         rtt[0] * 1e6, rtt[n - 1] * 1e6, seconds, u, s);
  fflush(stdout);
}

#endif
