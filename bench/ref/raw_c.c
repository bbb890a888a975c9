/* Reference transport: raw TCP in C, blocking sockets, TCP_NODELAY, 4-byte big-endian length
 * followed by the payload.
 *   MODE plain : one writev (header + payload) per message          -> row "raw-c"
 *   MODE batch : frames packed into 64 KiB writes                   -> row "raw-c-batch"
 * The receiver reads into one large buffer and parses frames in place.
 * See ../common.h for the command line and the output. */
#include "../common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BATCH_BYTES (64 * 1024)

static const char *g_role = "?";

static void set_sock_opts(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {.tv_sec = bench_timeout_s(), .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Listens on 127.0.0.1:0, prints the port, accepts one connection (bounded wait). */
static int listen_accept_one(void) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) bench_fail(g_role, "socket: %s", strerror(errno));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) bench_fail(g_role, "bind: %s", strerror(errno));
  if (listen(lfd, 16) < 0) bench_fail(g_role, "listen: %s", strerror(errno));
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  bench_print_port(ntohs(sa.sin_port));
  struct pollfd pfd = {.fd = lfd, .events = POLLIN};
  if (poll(&pfd, 1, bench_timeout_s() * 1000) != 1) bench_fail(g_role, "no connection within timeout");
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) bench_fail(g_role, "accept: %s", strerror(errno));
  close(lfd);
  set_sock_opts(fd);
  return fd;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) bench_fail(g_role, "socket: %s", strerror(errno));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) bench_fail(g_role, "connect: %s", strerror(errno));
  set_sock_opts(fd);
  return fd;
}

/* Writes the whole iovec array, resuming after partial writes. */
static void writev_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      bench_fail(g_role, "writev: %s", strerror(errno));
    }
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
}

static void write_all(int fd, const void *p, size_t len) {
  struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
  writev_all(fd, &iov, 1);
}

static void read_exact(int fd, void *p, size_t len) {
  char *c = p;
  while (len > 0) {
    ssize_t r = read(fd, c, len);
    if (r == 0) bench_fail(g_role, "peer closed early");
    if (r < 0) {
      if (errno == EINTR) continue;
      bench_fail(g_role, "read: %s", strerror(errno));
    }
    c += r;
    len -= (size_t)r;
  }
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void do_send(const bench_args *a, int batch) {
  int fd = connect_to(a->port);
  uint8_t *payload = malloc(a->size);
  memset(payload, 0xab, a->size);
  uint8_t hdr[4];
  put_be32(hdr, (uint32_t)a->size);
  uint8_t *buf = batch ? malloc(BATCH_BYTES) : NULL;
  size_t fill = 0;
  double t0 = bench_now();
  for (uint64_t i = 0; i < a->count; i++) {
    if (!batch) {
      struct iovec iov[2] = {{hdr, 4}, {payload, a->size}};
      writev_all(fd, iov, 2);
      continue;
    }
    size_t frame = 4 + a->size;
    if (fill + frame > BATCH_BYTES) { /* no room: flush what is packed */
      write_all(fd, buf, fill);
      fill = 0;
    }
    if (frame > BATCH_BYTES) { /* larger than a batch: straight out */
      struct iovec iov[2] = {{hdr, 4}, {payload, a->size}};
      writev_all(fd, iov, 2);
      continue;
    }
    memcpy(buf + fill, hdr, 4);
    memcpy(buf + fill + 4, payload, a->size);
    fill += frame;
  }
  if (fill) write_all(fd, buf, fill);
  shutdown(fd, SHUT_WR);
  /* wait for the receiver to close, so "seconds" covers delivery */
  char c;
  while (read(fd, &c, 1) > 0) {
  }
  double t1 = bench_now();
  close(fd);
  bench_result_tp("send", a->count, a->count * a->size, t1 - t0);
}

static void do_recv(const bench_args *a) {
  int fd = listen_accept_one();
  size_t cap = 4 * 1024 * 1024;
  if (cap < 2 * (a->size + 4)) cap = 2 * (a->size + 4);
  uint8_t *buf = malloc(cap);
  size_t have = 0, pos = 0;
  uint64_t msgs = 0, bytes = 0;
  double t_first = 0, t_last = 0;
  while (msgs < a->count) {
    /* parse every complete frame in place */
    while (have - pos >= 4) {
      uint32_t len = get_be32(buf + pos);
      if (len != a->size) bench_fail("recv", "frame length %u, expected %zu", len, a->size);
      if (have - pos < 4 + (size_t)len) break;
      if (msgs == 0) t_first = bench_now();
      msgs++;
      bytes += len;
      pos += 4 + len;
    }
    if (msgs >= a->count) break;
    if (pos > 0 && (cap - have < a->size + 4 || pos == have)) { /* compact */
      memmove(buf, buf + pos, have - pos);
      have -= pos;
      pos = 0;
    }
    ssize_t r = read(fd, buf + have, cap - have);
    if (r == 0) bench_fail("recv", "sender closed after %llu messages", (unsigned long long)msgs);
    if (r < 0) {
      if (errno == EINTR) continue;
      bench_fail("recv", "read: %s", strerror(errno));
    }
    have += (size_t)r;
  }
  t_last = bench_now();
  close(fd);
  bench_result_tp("recv", msgs, bytes, t_last - t_first);
}

static void do_pong(const bench_args *a) {
  int fd = listen_accept_one();
  uint8_t *buf = malloc(a->size + 4);
  uint64_t total = a->count + a->warmup;
  for (uint64_t i = 0; i < total; i++) {
    read_exact(fd, buf, 4);
    uint32_t len = get_be32(buf);
    if (len != a->size) bench_fail("pong", "frame length %u, expected %zu", len, a->size);
    read_exact(fd, buf + 4, len);
    write_all(fd, buf, 4 + len);
  }
  close(fd);
  bench_result_tp("pong", total, total * a->size, 0);
}

static void do_ping(const bench_args *a) {
  int fd = connect_to(a->port);
  uint8_t *out = malloc(a->size), *in = malloc(a->size + 4);
  memset(out, 0xcd, a->size);
  uint8_t hdr[4];
  put_be32(hdr, (uint32_t)a->size);
  double *rtt = malloc(sizeof(double) * a->count);
  double t0 = 0;
  for (uint64_t i = 0; i < a->warmup + a->count; i++) {
    if (i == a->warmup) t0 = bench_now();
    double s = bench_now();
    struct iovec iov[2] = {{hdr, 4}, {out, a->size}};
    writev_all(fd, iov, 2);
    read_exact(fd, in, 4 + a->size);
    double e = bench_now();
    if (i >= a->warmup) rtt[i - a->warmup] = e - s;
  }
  double t1 = bench_now();
  close(fd);
  bench_result_rtt(rtt, a->count, t1 - t0);
}

int main(int argc, char **argv) {
  bench_args a = bench_parse(argc, argv);
  g_role = a.role;
  int batch = strcmp(a.mode, "batch") == 0;
  if (!batch && strcmp(a.mode, "plain") != 0) bench_usage(argv[0]);
  if (!strcmp(a.role, "send")) do_send(&a, batch);
  else if (!strcmp(a.role, "recv")) do_recv(&a);
  else if (!strcmp(a.role, "pong")) do_pong(&a);
  else if (!strcmp(a.role, "ping")) do_ping(&a);
  else bench_usage(argv[0]);
  return 0;
}
