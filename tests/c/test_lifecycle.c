/* Lifecycle and the network's bad input: close before listen, close while traffic flows,
 * close from inside a callback, no callback after close returns, destructors once,
 * disconnect reasons, a blocked recv woken by close, the readiness fd, an oversize frame and
 * garbage from raw sockets closing only that connection. */
#include "check.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    atomic_int msgs;
    atomic_int after_close;
    atomic_int closed_flag;
    atomic_int drops;
    peerwire_transport *self; /* for close-from-callback */
    int close_at;             /* close when this many messages arrived (0 = never) */
} state;

static void st_init(state *s) {
    atomic_init(&s->msgs, 0);
    atomic_init(&s->after_close, 0);
    atomic_init(&s->closed_flag, 0);
    atomic_init(&s->drops, 0);
    s->self = NULL;
    s->close_at = 0;
}

static void on_msg(void *user, const peerwire_event *ev) {
    state *s = (state *)user;
    (void)ev;
    if (atomic_load(&s->closed_flag)) atomic_fetch_add(&s->after_close, 1);
    int n = atomic_fetch_add(&s->msgs, 1) + 1;
    if (s->close_at && n == s->close_at) {
        /* Every call is legal here; close cannot wait for itself, so it returns at once. */
        int32_t rc = peerwire_transport_close(s->self, 0, NULL);
        if (rc != PEERWIRE_OK) fprintf(stderr, "close in callback: %d\n", rc), exit(1);
        uint64_t id;
        rc = peerwire_transport_dial(s->self, "127.0.0.1:1", -1, &id);
        if (rc != PEERWIRE_ERR_CLOSED) fprintf(stderr, "dial after close in callback: %d\n", rc), exit(1);
    }
}

static void on_drop(void *user) { atomic_fetch_add(&((state *)user)->drops, 1); }

static void *sender(void *arg) {
    void **a = (void **)arg;
    peerwire_transport *t = (peerwire_transport *)a[0];
    uint64_t peer = *(uint64_t *)a[1];
    uint8_t buf[1000];
    memset(buf, 'z', sizeof buf);
    double end = now_s() + 20;
    for (int i = 0; i < 200000 && now_s() < end; i++) {
        int32_t rc = peerwire_transport_send_timeout(t, peer, buf, sizeof buf, 1000);
        if (rc != PEERWIRE_OK) break; /* the remote went away: expected */
    }
    return NULL;
}

static void *blocked_recv(void *arg) {
    peerwire_event ev;
    int32_t rc;
    do {
        rc = peerwire_transport_recv((peerwire_transport *)arg, &ev, -1);
        if (rc == PEERWIRE_OK) peerwire_event_release(&ev);
    } while (rc == PEERWIRE_OK);
    return (void *)(intptr_t)rc;
}

int main(void) {
    char addr[128];
    peerwire_event ev;

    /* Close before listen, and free without close. */
    peerwire_transport *t0 = transport_from(NULL);
    peerwire_close_report rep;
    OK(peerwire_transport_close(t0, -1, &rep));
    CHECK(rep.peers_closed == 0);
    peerwire_transport_free(t0);
    peerwire_transport_free(transport_from(NULL));

    /* Close while traffic flows; no callback after close returns; destructor ran. */
    state s;
    st_init(&s);
    peerwire_options *o = opts_new();
    OK(peerwire_options_set_message_cb(o, on_msg, &s, on_drop));
    peerwire_transport *a = listener(o, addr, sizeof addr);
    peerwire_transport *b = transport_from(NULL);
    uint64_t pa;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    pthread_t th;
    void *args[2] = {b, &pa};
    CHECK(pthread_create(&th, NULL, sender, args) == 0);
    double end = now_s() + 10;
    while (atomic_load(&s.msgs) < 1000 && now_s() < end) sleep_ms(1);
    CHECK(atomic_load(&s.msgs) >= 1000);
    double t = now_s();
    OK(peerwire_transport_close(a, 200, &rep));
    CHECK(now_s() - t < 2.0);
    atomic_store(&s.closed_flag, 1);
    CHECK(atomic_load(&s.drops) == 1);
    int at_close = atomic_load(&s.msgs);
    sleep_ms(200);
    CHECK(atomic_load(&s.msgs) == at_close);
    CHECK(atomic_load(&s.after_close) == 0);
    pthread_join(th, NULL);
    /* b sees its peer go away: closed by the remote (or reset while it was sending). */
    CHECK(wait_event(b, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_REMOTE_CLOSED || ev.reason == PEERWIRE_REASON_IO_ERROR);
    peerwire_event_release(&ev);
    peerwire_transport_free(a);
    CHECK(atomic_load(&s.drops) == 1);
    peerwire_transport_free(b);

    /* Close from inside a callback. */
    st_init(&s);
    s.close_at = 10;
    o = opts_new();
    OK(peerwire_options_set_message_cb(o, on_msg, &s, on_drop));
    a = listener(o, addr, sizeof addr);
    s.self = a;
    b = transport_from(NULL);
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    for (int i = 0; i < 100; i++) {
        if (peerwire_transport_send(b, pa, (const uint8_t *)"m", 1) != PEERWIRE_OK) break;
    }
    end = now_s() + 5;
    while (atomic_load(&s.drops) == 0 && now_s() < end) sleep_ms(1);
    CHECK(atomic_load(&s.drops) == 1); /* ran once the callback returned */
    CHECK(atomic_load(&s.msgs) == 10); /* nothing delivered after the in-callback close */
    OK(peerwire_transport_close(a, 0, NULL)); /* closing again from outside: fine */
    peerwire_transport_free(a);
    peerwire_transport_free(b);
    CHECK(atomic_load(&s.drops) == 1);

    /* Disconnect reasons on both sides; readiness fd; blocked recv woken by close. */
    a = listener(NULL, addr, sizeof addr);
    b = transport_from(NULL);
    int fd = -1;
    OK(peerwire_transport_event_fd(a, &fd));
    CHECK(fd >= 0);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0); /* nothing yet */
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    CHECK(poll(&p, 1, 2000) == 1 && (p.revents & POLLIN)); /* PEER_CONNECTED waits */
    CHECK(poll(&p, 1, 0) == 1); /* level-triggered: still readable */
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 1));
    peerwire_event_release(&ev);
    CHECK(poll(&p, 1, 0) == 0); /* drained */
    OK(peerwire_transport_disconnect(b, pa));
    CHECK(wait_event(b, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_CLOSED_LOCALLY && ev.peer == pa);
    peerwire_event_release(&ev);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_REMOTE_CLOSED);
    peerwire_event_release(&ev);
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    CHECK(pthread_create(&th, NULL, blocked_recv, b) == 0);
    sleep_ms(100);
    OK(peerwire_transport_close(b, 500, &rep));
    void *ret = NULL;
    pthread_join(th, &ret); /* returns: close wakes it */
    CHECK((int32_t)(intptr_t)ret == PEERWIRE_CLOSED);
    int bfd = -1;
    OK(peerwire_transport_event_fd(b, &bfd));
    struct pollfd pb = {bfd, POLLIN, 0};
    CHECK(poll(&pb, 1, 0) == 1 && (pb.revents & POLLIN)); /* a closed transport's fd stays readable */
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_REMOTE_CLOSED);
    peerwire_event_release(&ev);

    /* From raw sockets: an oversize frame and garbage close only their own connection. */
    peerwire_transport_free(b);
    b = transport_from(NULL);
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    int big = raw_connect(addr);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    uint8_t claim[8] = {0x7f, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'}; /* ~2 GiB claimed */
    CHECK(send(big, claim, sizeof claim, 0) == (ssize_t)sizeof claim);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_FRAME_TOO_LARGE);
    peerwire_event_release(&ev);
    CHECK(raw_closed_by_remote(big));
    close(big);
    int garbage = raw_connect(addr);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    uint8_t junk[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16) | 0x80;
    CHECK(send(garbage, junk, sizeof junk, 0) > 0);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_FRAME_TOO_LARGE || ev.reason == PEERWIRE_REASON_DECODE_ERROR);
    peerwire_event_release(&ev);
    close(garbage);
    /* A peer that disconnects mid-frame. */
    int half = raw_connect(addr);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    uint8_t partial[6] = {0, 0, 0, 100, 'x', 'y'};
    CHECK(send(half, partial, sizeof partial, 0) == 6);
    close(half);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_REMOTE_CLOSED);
    peerwire_event_release(&ev);
    /* The well-behaved peer is still served. */
    OK(peerwire_transport_send(b, pa, (const uint8_t *)"ok", 2));
    CHECK(wait_event(a, PEERWIRE_EVENT_MESSAGE, &ev, 5));
    CHECK(ev.len == 2 && memcmp(ev.data, "ok", 2) == 0);
    peerwire_event_release(&ev);
    peerwire_stats st = {.size = sizeof st};
    OK(peerwire_transport_stats(a, &st));
    CHECK(st.frames_refused >= 1 && st.peers == 1);

    /* Transport close: the remaining peer sees TRANSPORT_CLOSED on our side. */
    OK(peerwire_transport_close(a, 500, &rep));
    CHECK(rep.peers_closed == 1);
    int saw_closed = 0, saw_transport_closed = 0;
    int32_t rc;
    while ((rc = peerwire_transport_recv(a, &ev, 0)) == PEERWIRE_OK) {
        if (ev.kind == PEERWIRE_EVENT_PEER_DISCONNECTED && ev.reason == PEERWIRE_REASON_TRANSPORT_CLOSED) saw_closed = 1;
        if (ev.kind == PEERWIRE_EVENT_TRANSPORT_CLOSED) saw_transport_closed = 1;
        peerwire_event_release(&ev);
    }
    CHECK_RC(rc, PEERWIRE_CLOSED);
    CHECK(saw_closed && saw_transport_closed);
    peerwire_transport_free(a);
    peerwire_transport_free(b);
    DONE("test_lifecycle");
}
