/* Two transports exchange messages both ways; an empty message arrives empty; peers,
 * peer info, stats and local address work; IPv6 loopback works. */
#include "check.h"

static void exchange(const char *listen_addr) {
    char addr[128];
    peerwire_options *o = opts_new();
    OK(peerwire_options_set_listen_addr(o, listen_addr));
    peerwire_transport *a = listener(o, addr, sizeof addr);
    peerwire_transport *b = transport_from(NULL);

    uint64_t pa = 0;
    OK(peerwire_transport_dial(b, addr, 2000, &pa));
    CHECK(pa != 0);

    peerwire_event ev;
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    uint64_t pb = ev.peer;
    CHECK(!ev.outbound);
    CHECK(strlen(ev.addr) > 0);
    peerwire_event_release(&ev);
    CHECK(ev.kind == 0); /* released events are zeroed */
    peerwire_event_release(&ev); /* and releasing again is harmless */

    const char *hello = "hello from b";
    OK(peerwire_transport_send(b, pa, (const uint8_t *)hello, strlen(hello)));
    OK(peerwire_transport_send(b, pa, NULL, 0)); /* empty message is legal */
    CHECK(wait_event(a, PEERWIRE_EVENT_MESSAGE, &ev, 5));
    CHECK(ev.len == strlen(hello) && memcmp(ev.data, hello, ev.len) == 0);
    CHECK(ev.peer == pb);
    peerwire_event_release(&ev);
    CHECK(wait_event(a, PEERWIRE_EVENT_MESSAGE, &ev, 5));
    CHECK(ev.len == 0 && ev.data != NULL);
    peerwire_event_release(&ev);

    const char *reply = "reply from a";
    OK(peerwire_transport_send(a, pb, (const uint8_t *)reply, strlen(reply)));
    CHECK(wait_event(b, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    CHECK(ev.outbound && ev.peer == pa);
    peerwire_event_release(&ev);
    CHECK(wait_event(b, PEERWIRE_EVENT_MESSAGE, &ev, 5));
    CHECK(ev.len == strlen(reply) && memcmp(ev.data, reply, ev.len) == 0);
    peerwire_event_release(&ev);

    uint64_t ids[4];
    size_t n = 0;
    OK(peerwire_transport_peers(a, ids, 4, &n));
    CHECK(n == 1 && ids[0] == pb);
    OK(peerwire_transport_peers(a, NULL, 0, &n));
    CHECK(n == 1);

    peerwire_peer_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    OK(peerwire_transport_peer_info(a, pb, &info));
    CHECK(info.id == pb && !info.outbound && info.msgs_in == 2 && info.msgs_out == 1);
    CHECK(strchr(info.addr, ':') != NULL);

    peerwire_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    OK(peerwire_transport_stats(a, &st));
    CHECK(st.peers == 1 && st.msgs_in == 2 && st.msgs_out == 1 && st.connections_accepted == 1);
    CHECK(st.bytes_in == 4 + strlen(hello) + 4);

    /* Broadcast reaches the one peer. */
    size_t sent = 0;
    OK(peerwire_transport_broadcast(a, (const uint8_t *)"all", 3, &sent));
    CHECK(sent == 1);
    CHECK(wait_event(b, PEERWIRE_EVENT_MESSAGE, &ev, 5));
    CHECK(ev.len == 3 && memcmp(ev.data, "all", 3) == 0);
    peerwire_event_release(&ev);

    peerwire_close_report rep;
    OK(peerwire_transport_close(b, 1000, &rep));
    CHECK(rep.peers_closed == 1 && rep.msgs_dropped == 0);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_REMOTE_CLOSED);
    peerwire_event_release(&ev);
    peerwire_transport_free(b);
    peerwire_transport_free(a);
}

int main(void) {
    CHECK(strlen(peerwire_version()) >= 5);
    CHECK(peerwire_version_number() > 0);
    exchange("127.0.0.1:0");
    exchange("[::1]:0");

    /* Batch receive: many events in one call, one release call. */
    char addr[128];
    peerwire_transport *a = listener(NULL, addr, sizeof addr);
    peerwire_transport *b = transport_from(NULL);
    uint64_t pa;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    for (int i = 0; i < 100; i++) OK(peerwire_transport_send(b, pa, (const uint8_t *)&i, sizeof i));
    peerwire_event evs[64];
    int got = 0, expect = 0;
    double end = now_s() + 5;
    while (got < 100 && now_s() < end) {
        size_t n = 0;
        int32_t rc = peerwire_transport_recv_batch(a, evs, 64, &n, 100);
        CHECK(rc == PEERWIRE_OK || rc == PEERWIRE_TIMED_OUT);
        for (size_t i = 0; i < n; i++) {
            if (evs[i].kind != PEERWIRE_EVENT_MESSAGE) continue;
            int v;
            CHECK(evs[i].len == sizeof v);
            memcpy(&v, evs[i].data, sizeof v);
            CHECK(v == expect);
            expect++;
            got++;
        }
        peerwire_events_release(evs, n);
    }
    CHECK(got == 100);
    peerwire_transport_free(b);
    peerwire_transport_free(a);
    DONE("test_exchange");
}
