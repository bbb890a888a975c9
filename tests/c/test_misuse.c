/* Bad input at the boundary: NULL pointers, freed and made-up handles, a closed transport
 * used again, unknown and departed peers, unparsable addresses, bad UTF-8, over-size and
 * bad-value arguments. Each gets a status and a message; nothing crashes. */
#include "check.h"

#define CHECK_ERR(expr, want)                                                                  \
    do {                                                                                       \
        CHECK_RC(expr, want);                                                                  \
        CHECK(strlen(peerwire_last_error()) > 0);                                              \
    } while (0)

int main(void) {
    char addr[128];
    uint64_t id = 0;
    size_t n = 0;
    peerwire_event ev;
    memset(&ev, 0, sizeof ev);

    /* Every status has text; unknown codes too. */
    for (int c = -18; c <= 3; c++) CHECK(strlen(peerwire_status_str(c)) > 0);
    CHECK(strcmp(peerwire_status_str(12345), "unknown status") == 0);
    for (int r = 0; r <= 8; r++) CHECK(strlen(peerwire_reason_str(r)) > 0);

    /* NULL everywhere. */
    CHECK_ERR(peerwire_options_new(NULL), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_new(NULL, NULL), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_listen(NULL), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_send(NULL, 1, (const uint8_t *)"x", 1), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_dial(NULL, "127.0.0.1:1", -1, &id), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_recv(NULL, &ev, 0), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_close(NULL, 0, NULL), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_options_set_max_frame(NULL, 10), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_handshake_send(NULL, (const uint8_t *)"x", 1), PEERWIRE_ERR_NULL);
    peerwire_transport_free(NULL);
    peerwire_options_free(NULL);
    peerwire_event_release(NULL);
    peerwire_events_release(NULL, 5);

    /* Made-up handles are looked up, never dereferenced. */
    peerwire_transport *bogus = (peerwire_transport *)(uintptr_t)0xdeadbeef;
    CHECK_ERR(peerwire_transport_listen(bogus), PEERWIRE_ERR_HANDLE);
    peerwire_transport_free(bogus);
    CHECK_ERR(peerwire_options_set_max_frame((peerwire_options *)(uintptr_t)8, 10), PEERWIRE_ERR_HANDLE);

    /* Option values. */
    peerwire_options *o = opts_new();
    CHECK_ERR(peerwire_options_set_max_frame(o, 0), PEERWIRE_ERR_INVALID);
    CHECK_ERR(peerwire_options_set_read_buffer(o, 1), PEERWIRE_ERR_INVALID);
    CHECK_ERR(peerwire_options_set_codec(o, 99), PEERWIRE_ERR_INVALID);
    CHECK_ERR(peerwire_options_set_listen_addr(o, NULL), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_options_set_listen_addr(o, "\xff\xfe:1"), PEERWIRE_ERR_INVALID);
    CHECK_ERR(peerwire_options_set_listen_addr(o, ""), PEERWIRE_ERR_ADDR);
    CHECK_ERR(peerwire_options_set_handshake_timeout_ms(o, 0), PEERWIRE_ERR_INVALID);
    OK(peerwire_options_set_max_frame(o, 64));
    /* An options handle is not a transport handle. */
    CHECK_ERR(peerwire_transport_listen((peerwire_transport *)o), PEERWIRE_ERR_HANDLE);

    /* Listen on an unparsable address: a status, and the transport still works after. */
    OK(peerwire_options_set_listen_addr(o, "not an address"));
    peerwire_transport *bad = transport_from(o);
    CHECK_ERR(peerwire_transport_listen(bad), PEERWIRE_ERR_ADDR);
    CHECK_ERR(peerwire_transport_local_addr(bad, addr, sizeof addr, &n), PEERWIRE_ERR_STATE);
    peerwire_transport_free(bad);

    o = opts_new();
    OK(peerwire_options_set_max_frame(o, 64));
    peerwire_transport *a = listener(o, addr, sizeof addr);
    CHECK_ERR(peerwire_transport_listen(a), PEERWIRE_ERR_STATE); /* twice */

    /* local_addr with a short buffer reports the needed length. */
    char tiny[4];
    CHECK_ERR(peerwire_transport_local_addr(a, tiny, sizeof tiny, &n), PEERWIRE_ERR_BUFFER);
    CHECK(n == strlen(addr));

    peerwire_transport *b = transport_from(NULL);
    CHECK_ERR(peerwire_transport_dial(b, "nonsense", -1, &id), PEERWIRE_ERR_ADDR);
    CHECK_ERR(peerwire_transport_dial(b, "127.0.0.1:99999", -1, &id), PEERWIRE_ERR_ADDR);
    CHECK_ERR(peerwire_transport_dial(b, "[::1", -1, &id), PEERWIRE_ERR_ADDR);
    CHECK_ERR(peerwire_transport_dial(b, "\xc3\x28:80", -1, &id), PEERWIRE_ERR_INVALID);
    CHECK_ERR(peerwire_transport_dial(b, NULL, -1, &id), PEERWIRE_ERR_NULL);
    CHECK_ERR(peerwire_transport_dial(b, addr, -1, NULL), PEERWIRE_ERR_NULL);
    {
        /* A port nobody listens on: refused. */
        char dead[64];
        int fd = raw_listener(dead, sizeof dead);
        close(fd);
        CHECK_ERR(peerwire_transport_dial(b, dead, 2000, &id), PEERWIRE_ERR_CONNECT);
    }

    uint64_t pa = 0;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    /* Unknown peers. */
    CHECK_ERR(peerwire_transport_send(b, 0, (const uint8_t *)"x", 1), PEERWIRE_ERR_UNKNOWN_PEER);
    CHECK_ERR(peerwire_transport_send(b, 999999, (const uint8_t *)"x", 1), PEERWIRE_ERR_UNKNOWN_PEER);
    CHECK_ERR(peerwire_transport_disconnect(b, 424242), PEERWIRE_ERR_UNKNOWN_PEER);
    peerwire_peer_info info = {.size = sizeof info};
    CHECK_ERR(peerwire_transport_peer_info(b, 77, &info), PEERWIRE_ERR_UNKNOWN_PEER);
    CHECK_ERR(peerwire_transport_peer_info(b, pa, NULL), PEERWIRE_ERR_NULL);
    peerwire_stats st = {.size = 0};
    CHECK_ERR(peerwire_transport_stats(b, &st), PEERWIRE_ERR_INVALID); /* size not set */

    /* Byte arguments: NULL with a length, over-size. */
    CHECK_ERR(peerwire_transport_send(b, pa, NULL, 5), PEERWIRE_ERR_NULL);
    static uint8_t big[17 * 1024 * 1024];
    CHECK_ERR(peerwire_transport_send(b, pa, big, sizeof big), PEERWIRE_ERR_TOO_LARGE);
    CHECK_ERR(peerwire_transport_broadcast(b, big, sizeof big, NULL), PEERWIRE_ERR_TOO_LARGE);
    /* a's limit is 64 bytes. */
    peerwire_event got;
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &got, 5));
    uint64_t pb = got.peer;
    peerwire_event_release(&got);
    CHECK_ERR(peerwire_transport_send(a, pb, big, 65), PEERWIRE_ERR_TOO_LARGE);
    OK(peerwire_transport_send(a, pb, big, 64));

    /* Pull API arguments. */
    CHECK_ERR(peerwire_transport_recv(a, NULL, 0), PEERWIRE_ERR_NULL);
    peerwire_event arr[2];
    CHECK_ERR(peerwire_transport_recv_batch(a, arr, 0, &n, 0), PEERWIRE_ERR_INVALID);
    CHECK_ERR(peerwire_transport_recv_batch(a, arr, 2, NULL, 0), PEERWIRE_ERR_NULL);
    CHECK_RC(peerwire_transport_recv(a, &ev, 0), PEERWIRE_EMPTY);
    CHECK_RC(peerwire_transport_recv(a, &ev, 20), PEERWIRE_TIMED_OUT);

    /* A departed peer: disconnect, then its id is unknown. */
    OK(peerwire_transport_disconnect(b, pa));
    CHECK_ERR(peerwire_transport_send(b, pa, (const uint8_t *)"x", 1), PEERWIRE_ERR_UNKNOWN_PEER);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &got, 5));
    CHECK(got.reason == PEERWIRE_REASON_REMOTE_CLOSED);
    peerwire_event_release(&got);
    CHECK_ERR(peerwire_transport_send(a, pb, (const uint8_t *)"x", 1), PEERWIRE_ERR_UNKNOWN_PEER);

    /* A closed transport used again; then freed: the handle is dead. */
    OK(peerwire_transport_close(b, 0, NULL));
    OK(peerwire_transport_close(b, 0, NULL)); /* idempotent */
    CHECK_ERR(peerwire_transport_dial(b, addr, -1, &id), PEERWIRE_ERR_CLOSED);
    CHECK_ERR(peerwire_transport_send(b, pa, (const uint8_t *)"x", 1), PEERWIRE_ERR_CLOSED);
    CHECK_ERR(peerwire_transport_listen(b), PEERWIRE_ERR_CLOSED);
    CHECK_ERR(peerwire_transport_broadcast(b, (const uint8_t *)"x", 1, NULL), PEERWIRE_ERR_CLOSED);
    int32_t rc;
    do { /* drain what is left, then CLOSED */
        rc = peerwire_transport_recv(b, &ev, 0);
        if (rc == PEERWIRE_OK) peerwire_event_release(&ev);
    } while (rc == PEERWIRE_OK);
    CHECK_RC(rc, PEERWIRE_CLOSED);
    peerwire_transport_free(b);
    CHECK_ERR(peerwire_transport_send(b, pa, (const uint8_t *)"x", 1), PEERWIRE_ERR_HANDLE);
    CHECK_ERR(peerwire_transport_close(b, 0, NULL), PEERWIRE_ERR_HANDLE);
    peerwire_transport_free(b); /* double free of a handle is a no-op */

    /* The other transport is untouched by all of the above. */
    peerwire_transport *c = transport_from(NULL);
    uint64_t pc;
    OK(peerwire_transport_dial(c, addr, -1, &pc));
    OK(peerwire_transport_send(c, pc, (const uint8_t *)"fine", 4));
    CHECK(wait_event(a, PEERWIRE_EVENT_MESSAGE, &got, 5));
    CHECK(got.len == 4 && memcmp(got.data, "fine", 4) == 0);
    peerwire_event_release(&got);

    /* Log hook: invalid level refused; NULL turns it off. */
    CHECK_ERR(peerwire_log_set(NULL, NULL, 42), PEERWIRE_ERR_INVALID);
    OK(peerwire_log_set(NULL, NULL, PEERWIRE_LOG_OFF));

    peerwire_transport_free(c);
    peerwire_transport_free(a);
    DONE("test_misuse");
}
