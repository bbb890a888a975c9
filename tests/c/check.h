/* Small helpers shared by the C tests: checks that abort with a message, transports on
 * loopback, bounded event waits, raw sockets. Every wait is bounded. */
#ifndef PEERWIRE_TEST_CHECK_H
#define PEERWIRE_TEST_CHECK_H

#include "peerwire.h"
#include "peerwire.h" /* included twice on purpose: the include guard must hold */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int checks_run = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        checks_run++;                                                                          \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__,  \
                    #cond, peerwire_last_error());                                             \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#define CHECK_RC(expr, want)                                                                   \
    do {                                                                                       \
        int32_t rc_ = (expr);                                                                  \
        checks_run++;                                                                          \
        if (rc_ != (want)) {                                                                   \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %d; last error: %s\n", __FILE__, \
                    __LINE__, #expr, rc_, peerwire_status_str(rc_), (int)(want),               \
                    peerwire_last_error());                                                    \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#define OK(expr) CHECK_RC(expr, PEERWIRE_OK)

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Quick mode (valgrind) runs smaller loops. */
static inline int quick(void) { return getenv("PEERWIRE_TEST_QUICK") != NULL; }

static inline peerwire_options *opts_new(void) {
    peerwire_options *o = NULL;
    OK(peerwire_options_new(&o));
    CHECK(o != NULL);
    return o;
}

/* A transport from `o` (freed here; NULL = defaults). */
static inline peerwire_transport *transport_from(peerwire_options *o) {
    peerwire_transport *t = NULL;
    OK(peerwire_transport_new(o, &t));
    peerwire_options_free(o);
    CHECK(t != NULL);
    return t;
}

static inline void addr_of(peerwire_transport *t, char *buf, size_t cap) {
    size_t n = 0;
    OK(peerwire_transport_local_addr(t, buf, cap, &n));
    CHECK(n > 0 && n < cap);
}

static inline peerwire_transport *listener(peerwire_options *o, char *addr, size_t cap) {
    peerwire_transport *t = transport_from(o);
    OK(peerwire_transport_listen(t));
    addr_of(t, addr, cap);
    return t;
}

/* Waits up to `secs` for an event of `kind` (others are released and skipped);
 * fills *ev (owned) and returns 1, or 0 on timeout. */
static inline int wait_event(peerwire_transport *t, int32_t kind, peerwire_event *ev, double secs) {
    double end = now_s() + secs;
    while (now_s() < end) {
        int32_t rc = peerwire_transport_recv(t, ev, 50);
        if (rc == PEERWIRE_OK) {
            if (ev->kind == kind) return 1;
            peerwire_event_release(ev);
        } else if (rc == PEERWIRE_CLOSED) {
            return 0;
        } else {
            CHECK(rc == PEERWIRE_TIMED_OUT);
        }
    }
    return 0;
}

/* A plain TCP client to "127.0.0.1:port". */
static inline int raw_connect(const char *addr) {
    const char *colon = strrchr(addr, ':');
    CHECK(colon != NULL);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* A raw listening socket on 127.0.0.1:0 that never accepts or speaks; its address into addr. */
static inline int raw_listener(char *addr, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, 16) == 0);
    socklen_t len = sizeof sa;
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    snprintf(addr, cap, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

/* Whether the remote closed `fd` within 5 s (read returns 0 or an error). */
static inline int raw_closed_by_remote(int fd) {
    char b[256];
    double end = now_s() + 5;
    while (now_s() < end) {
        ssize_t n = recv(fd, b, sizeof b, 0); /* SO_RCVTIMEO bounds each call */
        if (n <= 0) return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
    return 0;
}

#define DONE(name)                                                                             \
    do {                                                                                       \
        printf("%s: %d checks passed\n", name, checks_run);                                    \
        return 0;                                                                              \
    } while (0)

#endif
