/* 100,000 messages arrive complete and in order: through the pull API (batched) and
 * through a message callback. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#define COUNT 100000

static void fill(uint8_t *buf, uint32_t i, size_t len) {
    for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)(i * 31 + k);
    memcpy(buf, &i, sizeof i);
}

static int verify(const uint8_t *data, size_t len, uint32_t want) {
    uint8_t tmp[512];
    if (len != 16 + (want % 200)) return 0;
    fill(tmp, want, len);
    return memcmp(tmp, data, len) == 0;
}

static void send_all(peerwire_transport *b, uint64_t peer, int count) {
    uint8_t buf[512];
    for (int i = 0; i < count; i++) {
        size_t len = 16 + ((uint32_t)i % 200);
        fill(buf, (uint32_t)i, len);
        OK(peerwire_transport_send(b, peer, buf, len));
    }
}

typedef struct {
    peerwire_transport *t;
    uint64_t peer;
    int count;
} sender_args;

static void *sender(void *arg) {
    sender_args *a = (sender_args *)arg;
    send_all(a->t, a->peer, a->count);
    return NULL;
}

/* Sends from another thread: the queues are bounded, so one thread cannot send 100,000
 * messages and only then start receiving them. */
static pthread_t start_sender(sender_args *args) {
    pthread_t th;
    CHECK(pthread_create(&th, NULL, sender, args) == 0);
    return th;
}

typedef struct {
    atomic_int next;
    atomic_int bad;
    atomic_int dropped;
} counter;

static void on_msg(void *user, const peerwire_event *ev) {
    counter *c = (counter *)user;
    int want = atomic_load(&c->next);
    if (!verify(ev->data, ev->len, (uint32_t)want)) atomic_fetch_add(&c->bad, 1);
    atomic_store(&c->next, want + 1);
}

static void on_drop(void *user) { atomic_fetch_add(&((counter *)user)->dropped, 1); }

int main(void) {
    int count = quick() ? 5000 : COUNT;
    char addr[128];

    /* Pull API with a small queue, so that backpressure (stop reading) is exercised. */
    peerwire_options *o = opts_new();
    OK(peerwire_options_set_recv_queue_events(o, 1024));
    peerwire_transport *a = listener(o, addr, sizeof addr);
    peerwire_transport *b = transport_from(NULL);
    uint64_t pa;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    double t0 = now_s();
    sender_args sa = {b, pa, count};
    pthread_t th = start_sender(&sa);
    int got = 0;
    peerwire_event evs[256];
    double end = now_s() + 60;
    while (got < count && now_s() < end) {
        size_t n = 0;
        int32_t rc = peerwire_transport_recv_batch(a, evs, 256, &n, 100);
        CHECK(rc == PEERWIRE_OK || rc == PEERWIRE_TIMED_OUT);
        for (size_t i = 0; i < n; i++) {
            if (evs[i].kind != PEERWIRE_EVENT_MESSAGE) continue;
            if (!verify(evs[i].data, evs[i].len, (uint32_t)got)) {
                fprintf(stderr, "message %d corrupt or out of order\n", got);
                exit(1);
            }
            got++;
        }
        peerwire_events_release(evs, n);
    }
    CHECK(got == count);
    pthread_join(th, NULL);
    printf("pull: %d messages in %.2f s\n", got, now_s() - t0);
    peerwire_stats st = {.size = sizeof st};
    OK(peerwire_transport_stats(a, &st));
    CHECK(st.msgs_in == (uint64_t)count);
    peerwire_transport_free(b);
    peerwire_transport_free(a);

    /* Message callback. */
    counter c;
    atomic_init(&c.next, 0);
    atomic_init(&c.bad, 0);
    atomic_init(&c.dropped, 0);
    o = opts_new();
    OK(peerwire_options_set_message_cb(o, on_msg, &c, on_drop));
    a = listener(o, addr, sizeof addr);
    b = transport_from(NULL);
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    t0 = now_s();
    sa.t = b;
    sa.peer = pa;
    th = start_sender(&sa);
    end = now_s() + 60;
    while (atomic_load(&c.next) < count && now_s() < end) sleep_ms(5);
    pthread_join(th, NULL);
    CHECK(atomic_load(&c.next) == count);
    CHECK(atomic_load(&c.bad) == 0);
    printf("callback: %d messages in %.2f s\n", count, now_s() - t0);
    peerwire_transport_free(b);
    CHECK(atomic_load(&c.dropped) == 0);
    peerwire_transport_free(a);
    CHECK(atomic_load(&c.dropped) == 1);
    DONE("test_bulk");
}
