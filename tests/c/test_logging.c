/* The logging hook: silent by default, a callback receives messages up to its level from
 * library threads, and removing it stops them (its user data may then be freed). */
#include "check.h"

#include <stdatomic.h>

typedef struct {
    atomic_int count;
    atomic_int above_level;
    atomic_int saw_listen;
} logstate;

static void on_log(void *user, int32_t level, const char *msg) {
    logstate *s = (logstate *)user;
    atomic_fetch_add(&s->count, 1);
    if (level > PEERWIRE_LOG_DEBUG || level < PEERWIRE_LOG_ERROR) atomic_fetch_add(&s->above_level, 1);
    if (strstr(msg, "listening on") != NULL) atomic_fetch_add(&s->saw_listen, 1);
}

int main(void) {
    char addr[128];
    logstate s;
    atomic_init(&s.count, 0);
    atomic_init(&s.above_level, 0);
    atomic_init(&s.saw_listen, 0);

    OK(peerwire_log_set(on_log, &s, PEERWIRE_LOG_DEBUG));
    peerwire_transport *a = listener(NULL, addr, sizeof addr);
    peerwire_transport *b = transport_from(NULL);
    uint64_t pa;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    /* A frame over the limit from a raw socket is logged (from a library thread). */
    int fd = raw_connect(addr);
    uint8_t claim[4] = {0x7f, 0xff, 0xff, 0xff};
    CHECK(send(fd, claim, 4, 0) == 4);
    CHECK(raw_closed_by_remote(fd));
    close(fd);
    peerwire_transport_free(b);
    peerwire_transport_free(a);
    CHECK(atomic_load(&s.saw_listen) == 1);
    CHECK(atomic_load(&s.count) >= 3);
    CHECK(atomic_load(&s.above_level) == 0);

    /* Off: no more calls. */
    OK(peerwire_log_set(NULL, NULL, PEERWIRE_LOG_OFF));
    int before = atomic_load(&s.count);
    a = listener(NULL, addr, sizeof addr);
    peerwire_transport_free(a);
    CHECK(atomic_load(&s.count) == before);

    /* ERROR level only: a listen (info) is not reported. */
    OK(peerwire_log_set(on_log, &s, PEERWIRE_LOG_ERROR));
    a = listener(NULL, addr, sizeof addr);
    peerwire_transport_free(a);
    CHECK(atomic_load(&s.saw_listen) == 1);
    OK(peerwire_log_set(NULL, NULL, PEERWIRE_LOG_OFF));
    DONE("test_logging");
}
