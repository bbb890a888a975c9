/* Handshakes: bytes exchanged both ways, accept, reject (both sides see it), timeout of a
 * silent peer at the deadline, handshake handle dead after the callback, drop runs once. */
#include "check.h"

#include <stdatomic.h>

static atomic_int drops;
static peerwire_handshake *kept; /* deliberately kept past the callback */

/* Sends "PW1" + a role byte, expects the same greeting back. user: expected token. */
static int32_t greet(void *user, peerwire_handshake *hs) {
    const char *token = (const char *)user;
    bool outbound = false;
    if (peerwire_handshake_outbound(hs, &outbound) != PEERWIRE_OK) return 1;
    char addr[64];
    size_t n = 0;
    if (peerwire_handshake_peer_addr(hs, addr, sizeof addr, &n) != PEERWIRE_OK || n == 0) return 1;
    uint64_t id = 0;
    if (peerwire_handshake_peer_id(hs, &id) != PEERWIRE_OK || id == 0) return 1;
    if (peerwire_handshake_send(hs, (const uint8_t *)token, 4) != PEERWIRE_OK) return 1;
    uint8_t got[4];
    if (peerwire_handshake_recv_exact(hs, got, 4, -1) != PEERWIRE_OK) return 1;
    kept = hs;
    if (memcmp(got, "PW1", 3) != 0) return 1;
    /* Confirmation round: a remote that rejected us closes instead of confirming. */
    if (peerwire_handshake_send(hs, (const uint8_t *)"OK!!", 4) != PEERWIRE_OK) return 1;
    if (peerwire_handshake_recv_exact(hs, got, 4, -1) != PEERWIRE_OK) return 1;
    return memcmp(got, "OK!!", 4) == 0 ? 0 : 1;
}

static void on_drop(void *user) {
    (void)user;
    atomic_fetch_add(&drops, 1);
}

static peerwire_options *hs_opts(const char *token, uint32_t deadline_ms) {
    peerwire_options *o = opts_new();
    OK(peerwire_options_set_handshake(o, greet, (void *)token, on_drop));
    OK(peerwire_options_set_handshake_timeout_ms(o, deadline_ms));
    return o;
}

int main(void) {
    char addr[128];
    atomic_init(&drops, 0);
    peerwire_transport *a = listener(hs_opts("PW1a", 500), addr, sizeof addr);

    /* Accept: both sides greet correctly; dial returns after the handshake. */
    peerwire_transport *b = transport_from(hs_opts("PW1b", 500));
    uint64_t pa = 0;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    peerwire_event ev;
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    OK(peerwire_transport_send(b, pa, (const uint8_t *)"after", 5));
    CHECK(wait_event(a, PEERWIRE_EVENT_MESSAGE, &ev, 5));
    CHECK(ev.len == 5 && memcmp(ev.data, "after", 5) == 0); /* no handshake byte leaked */
    peerwire_event_release(&ev);

    /* The handle is dead once the callback returned. */
    CHECK(kept != NULL);
    CHECK_RC(peerwire_handshake_send(kept, (const uint8_t *)"x", 1), PEERWIRE_ERR_HANDLE);
    CHECK(strlen(peerwire_last_error()) > 0);

    /* Reject: a dialler with the wrong greeting; the listener rejects, the dial fails. */
    peerwire_transport *c = transport_from(hs_opts("XX1c", 500));
    uint64_t pc = 0;
    CHECK_RC(peerwire_transport_dial(c, addr, -1, &pc), PEERWIRE_ERR_HANDSHAKE);
    CHECK(wait_event(a, PEERWIRE_EVENT_HANDSHAKE_FAILED, &ev, 5));
    CHECK(ev.reason == PEERWIRE_REASON_HANDSHAKE_REJECTED);
    peerwire_event_release(&ev);

    /* Timeout: a raw client that never speaks is dropped at the deadline. */
    double t0 = now_s();
    int fd = raw_connect(addr);
    CHECK(wait_event(a, PEERWIRE_EVENT_HANDSHAKE_FAILED, &ev, 5));
    double took = now_s() - t0;
    CHECK(ev.reason == PEERWIRE_REASON_HANDSHAKE_TIMEOUT);
    CHECK(took >= 0.4 && took < 2.0);
    peerwire_event_release(&ev);
    CHECK(raw_closed_by_remote(fd));
    close(fd);

    /* Dialling a listener whose handshake never answers: our deadline fires. */
    int silent = raw_listener(addr, sizeof addr); /* accepts (backlog) but never speaks */
    peerwire_transport *d = transport_from(hs_opts("PW1d", 300));
    t0 = now_s();
    CHECK_RC(peerwire_transport_dial(d, addr, -1, &pc), PEERWIRE_ERR_HANDSHAKE_TIMEOUT);
    CHECK(now_s() - t0 < 2.0);

    peerwire_stats st = {.size = sizeof st};
    OK(peerwire_transport_stats(a, &st));
    CHECK(st.handshake_failures == 2);

    peerwire_transport_free(d);
    close(silent);
    peerwire_transport_free(c);
    peerwire_transport_free(b);
    peerwire_transport_free(a);
    CHECK(atomic_load(&drops) == 4); /* a, b, c, d: each destructor exactly once */
    DONE("test_handshake");
}
