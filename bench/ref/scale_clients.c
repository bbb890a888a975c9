/* Scale benchmark clients: PEERS raw TCP connections to 127.0.0.1:PORT from one process
 * (non-blocking connects, at most WINDOW in flight), then each waits for one length-prefixed
 * frame of SIZE bytes (the server's broadcast).  Times are CLOCK_MONOTONIC seconds, comparable
 * with the server's.
 *   scale_clients PORT PEERS SIZE
 * Prints one JSON line; exits 1 if not every connection got its frame within the timeout. */
#include "../common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define WINDOW 256

typedef struct conn {
  int fd;
  int state; /* 0 connecting, 1 connected, 2 frame received, -1 failed */
  size_t got;
} conn;

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PORT PEERS SIZE\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  int peers = atoi(argv[2]);
  size_t size = (size_t)atoi(argv[3]);
  if (port <= 0 || peers <= 0) return 2;
  raise_nofile((rlim_t)peers + 1024);

  conn *cs = calloc((size_t)peers, sizeof *cs);
  int ep = epoll_create1(0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct epoll_event evs[512];
  double deadline = bench_now() + bench_timeout_s();
  double t_start = bench_now(), t_connected = 0, t_all = 0;
  int next = 0, inflight = 0, connected = 0, received = 0, failed = 0;
  size_t need = 4 + size;
  char *sink = malloc(need > 65536 ? need : 65536);

  while ((received + failed < peers) && bench_now() < deadline) {
    while (next < peers && inflight < WINDOW) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (fd < 0) bench_fail("scale-clients", "socket #%d: %s", next, strerror(errno));
      cs[next].fd = fd;
      int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
      if (r < 0 && errno != EINPROGRESS) bench_fail("scale-clients", "connect #%d: %s", next, strerror(errno));
      struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)next};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
      inflight++;
      next++;
    }
    int n = epoll_wait(ep, evs, 512, 100);
    for (int i = 0; i < n; i++) {
      conn *c = &cs[evs[i].data.u32];
      if (c->state == 0 && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t sl = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        inflight--;
        if (err) {
          c->state = -1;
          failed++;
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          continue;
        }
        c->state = 1;
        connected++;
        if (connected == peers) t_connected = bench_now();
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
      }
      if (c->state == 1 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        ssize_t r = read(c->fd, sink, need - c->got);
        if (r > 0) {
          if (c->got == 0 && r >= 4) {
            uint32_t len = (uint32_t)(uint8_t)sink[0] << 24 | (uint32_t)(uint8_t)sink[1] << 16 |
                           (uint32_t)(uint8_t)sink[2] << 8 | (uint8_t)sink[3];
            if (len != size) bench_fail("scale-clients", "frame length %u, expected %zu", len, size);
          }
          c->got += (size_t)r;
          if (c->got == need) {
            c->state = 2;
            received++;
            if (received == peers) t_all = bench_now();
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          }
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          c->state = -1;
          failed++;
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        }
      }
    }
  }
  for (int i = 0; i < next; i++) close(cs[i].fd);
  double u, s;
  bench_cpu(&u, &s);
  int ok = received == peers;
  printf("{\"ok\":%s,\"role\":\"scale-clients\",\"peers\":%d,\"connected\":%d,\"received\":%d,"
         "\"failed\":%d,\"t_start\":%.6f,\"t_connected\":%.6f,\"t_all_received\":%.6f,"
         "\"cpu_user\":%.6f,\"cpu_sys\":%.6f%s}\n",
         ok ? "true" : "false", peers, connected, received, failed, t_start, t_connected, t_all, u, s,
         ok ? "" : ",\"error\":\"not every connection received the broadcast\"");
  return ok ? 0 : 1;
}
