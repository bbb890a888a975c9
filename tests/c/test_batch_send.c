/* peerwire_transport_send_batch: many messages per call arrive complete and in order, mixed
 * with single sends; an over-size message refuses the whole batch; a full queue stops the
 * batch part-way and reports how many were queued; bad arguments get a status. */
#include "check.h"

int main(void) {
    char addr[128];
    peerwire_transport *a = listener(NULL, addr, sizeof addr);
    peerwire_transport *b = transport_from(NULL);
    uint64_t pa;
    OK(peerwire_transport_dial(b, addr, -1, &pa));

    enum { BATCH = 500, ROUNDS = 40 };
    static uint8_t data[BATCH * 8];
    size_t lens[BATCH];
    uint32_t next = 0;
    for (int r = 0; r < ROUNDS; r++) {
        size_t off = 0;
        for (int i = 0; i < BATCH; i++) {
            lens[i] = 4 + (size_t)(next % 5); /* 4..8 bytes: the counter, then padding */
            memset(data + off, 0xAB, lens[i]);
            memcpy(data + off, &next, 4);
            off += lens[i];
            next++;
        }
        size_t sent = 0;
        OK(peerwire_transport_send_batch(b, pa, data, lens, BATCH, -1, &sent));
        CHECK(sent == BATCH);
        OK(peerwire_transport_send(b, pa, (const uint8_t *)&next, 4)); /* a single send in between */
        next++;
    }
    uint32_t want = 0;
    peerwire_event evs[256];
    double end = now_s() + 20;
    while (want < next && now_s() < end) {
        size_t n = 0;
        int32_t rc = peerwire_transport_recv_batch(a, evs, 256, &n, 100);
        CHECK(rc == PEERWIRE_OK || rc == PEERWIRE_TIMED_OUT);
        for (size_t i = 0; i < n; i++) {
            if (evs[i].kind != PEERWIRE_EVENT_MESSAGE) continue;
            uint32_t v;
            CHECK(evs[i].len >= 4);
            memcpy(&v, evs[i].data, 4);
            CHECK(v == want);
            want++;
        }
        peerwire_events_release(evs, n);
    }
    CHECK(want == next);

    /* Over-size: the whole batch is refused, nothing sent. */
    static uint8_t big[17 * 1024 * 1024];
    size_t blens[2] = {1, sizeof big - 1};
    size_t sent = 99;
    CHECK_RC(peerwire_transport_send_batch(b, pa, big, blens, 2, 0, &sent), PEERWIRE_ERR_TOO_LARGE);
    CHECK(sent == 0);
    blens[1] = PEERWIRE_DEFAULT_MAX_FRAME + 1;
    CHECK_RC(peerwire_transport_send_batch(b, pa, big, blens, 2, 0, &sent), PEERWIRE_ERR_TOO_LARGE);
    /* Arguments. */
    CHECK_RC(peerwire_transport_send_batch(b, pa, big, NULL, 2, 0, &sent), PEERWIRE_ERR_NULL);
    CHECK_RC(peerwire_transport_send_batch(b, pa, NULL, blens, 2, 0, &sent), PEERWIRE_ERR_NULL);
    CHECK_RC(peerwire_transport_send_batch(b, 12345, big, blens, 1, 0, &sent), PEERWIRE_ERR_UNKNOWN_PEER);
    OK(peerwire_transport_send_batch(b, pa, NULL, NULL, 0, 0, &sent));
    CHECK(sent == 0);

    /* A peer that never reads: the batch stops part-way with WOULD_BLOCK and says how far. */
    int silent = raw_listener(addr, sizeof addr);
    peerwire_options *o = opts_new();
    OK(peerwire_options_set_send_queue_bytes(o, 256 * 1024));
    peerwire_transport *c = transport_from(o);
    uint64_t ps;
    OK(peerwire_transport_dial(c, addr, -1, &ps));
    size_t chunk[64];
    for (int i = 0; i < 64; i++) chunk[i] = 64 * 1024;
    size_t total = 0;
    int32_t rc = PEERWIRE_OK;
    for (int i = 0; i < 1000 && rc == PEERWIRE_OK; i++) {
        rc = peerwire_transport_send_batch(c, ps, big, chunk, 64, 50, &sent);
        total += sent;
        if (rc == PEERWIRE_OK) CHECK(sent == 64);
    }
    CHECK_RC(rc, PEERWIRE_ERR_WOULD_BLOCK);
    CHECK(sent < 64);
    CHECK(total > 0);
    printf("queued %zu x 64 KiB before the silent peer's buffers filled\n", total);
    peerwire_close_report rep;
    OK(peerwire_transport_close(c, 0, &rep));
    CHECK(rep.msgs_dropped > 0);
    close(silent);

    peerwire_transport_free(c);
    peerwire_transport_free(b);
    peerwire_transport_free(a);
    DONE("test_batch_send");
}
