/* Codecs from C: raw (bytes in order, boundaries not kept), gob between two transports,
 * custom framing (a 2-byte big-endian length header) with invalid input closing only that
 * connection, and each codec's garbage handling. */
#include "check.h"

#include <stdatomic.h>

static atomic_int custom_drops;

/* Frames: u16 big-endian length, then the payload. 0xFFFF is reserved: invalid. */
static int32_t split16(void *user, const uint8_t *buf, size_t len, size_t *out_header, size_t *out_len) {
    (void)user;
    if (len < 2) return PEERWIRE_SPLIT_NEED_MORE;
    size_t n = ((size_t)buf[0] << 8) | buf[1];
    if (n == 0xFFFF) return PEERWIRE_SPLIT_INVALID;
    *out_header = 2;
    *out_len = n;
    return PEERWIRE_SPLIT_FRAME;
}

static int32_t header16(void *user, const uint8_t *payload, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
    (void)user;
    (void)payload;
    if (cap < 2 || len >= 0xFFFF) return 1;
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    *out_len = 2;
    return 0;
}

static void custom_drop(void *user) {
    (void)user;
    atomic_fetch_add(&custom_drops, 1);
}

static peerwire_options *codec_opts(int32_t codec) {
    peerwire_options *o = opts_new();
    if (codec == PEERWIRE_CODEC_CUSTOM)
        OK(peerwire_options_set_custom_codec(o, split16, header16, NULL, custom_drop));
    else
        OK(peerwire_options_set_codec(o, codec));
    return o;
}

/* Sends 200 messages of 1..200 bytes; returns the concatenation the receiver saw. */
static size_t roundtrip(int32_t codec, uint8_t *got, size_t cap, int *msgs) {
    char addr[128];
    peerwire_transport *a = listener(codec_opts(codec), addr, sizeof addr);
    peerwire_transport *b = transport_from(codec_opts(codec));
    uint64_t pa;
    OK(peerwire_transport_dial(b, addr, -1, &pa));
    size_t want = 0;
    uint8_t buf[256];
    for (int i = 1; i <= 200; i++) {
        for (int k = 0; k < i; k++) buf[k] = (uint8_t)(want + (size_t)k);
        OK(peerwire_transport_send(b, pa, buf, (size_t)i));
        want += (size_t)i;
    }
    size_t n = 0;
    *msgs = 0;
    peerwire_event ev;
    double end = now_s() + 10;
    while (n < want && now_s() < end) {
        if (peerwire_transport_recv(a, &ev, 50) != PEERWIRE_OK) continue;
        if (ev.kind == PEERWIRE_EVENT_MESSAGE) {
            CHECK(n + ev.len <= cap);
            memcpy(got + n, ev.data, ev.len);
            n += ev.len;
            (*msgs)++;
            if (codec != PEERWIRE_CODEC_RAW) CHECK(ev.len == (size_t)*msgs); /* boundaries kept */
        }
        peerwire_event_release(&ev);
    }
    CHECK(n == want);
    for (size_t i = 0; i < n; i++) CHECK(got[i] == (uint8_t)i);
    peerwire_transport_free(b);
    peerwire_transport_free(a);
    return n;
}

/* Garbage from a raw socket closes that connection with the given reason(s). */
static void garbage(int32_t codec, const void *junk, size_t len, int32_t reason1, int32_t reason2) {
    char addr[128];
    peerwire_transport *a = listener(codec_opts(codec), addr, sizeof addr);
    int fd = raw_connect(addr);
    peerwire_event ev;
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_CONNECTED, &ev, 5));
    peerwire_event_release(&ev);
    CHECK(send(fd, junk, len, 0) == (ssize_t)len);
    CHECK(wait_event(a, PEERWIRE_EVENT_PEER_DISCONNECTED, &ev, 5));
    CHECK(ev.reason == reason1 || ev.reason == reason2);
    peerwire_event_release(&ev);
    CHECK(raw_closed_by_remote(fd));
    close(fd);
    peerwire_transport_free(a);
}

int main(void) {
    static uint8_t got[64 * 1024];
    int msgs = 0;
    atomic_init(&custom_drops, 0);
    roundtrip(PEERWIRE_CODEC_LENGTH_PREFIXED, got, sizeof got, &msgs);
    CHECK(msgs == 200);
    roundtrip(PEERWIRE_CODEC_GOB, got, sizeof got, &msgs);
    CHECK(msgs == 200);
    roundtrip(PEERWIRE_CODEC_CUSTOM, got, sizeof got, &msgs);
    CHECK(msgs == 200);
    CHECK(atomic_load(&custom_drops) == 2); /* one per transport, after its close */
    roundtrip(PEERWIRE_CODEC_RAW, got, sizeof got, &msgs);
    CHECK(msgs >= 1); /* raw keeps bytes and order, not boundaries */
    printf("raw: 20100 bytes arrived as %d messages\n", msgs);

    /* set_codec(CUSTOM) without callbacks is refused; the options keep their codec. */
    peerwire_options *o = opts_new();
    CHECK_RC(peerwire_options_set_codec(o, PEERWIRE_CODEC_CUSTOM), PEERWIRE_ERR_INVALID);
    CHECK_RC(peerwire_options_set_custom_codec(o, NULL, NULL, NULL, NULL), PEERWIRE_ERR_NULL);
    peerwire_options_free(o);

    uint8_t invalid16[4] = {0xFF, 0xFF, 1, 2};
    garbage(PEERWIRE_CODEC_CUSTOM, invalid16, sizeof invalid16, PEERWIRE_REASON_DECODE_ERROR, -1);
    uint8_t gob_junk[16] = {0x0b, 0xff, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    garbage(PEERWIRE_CODEC_GOB, gob_junk, sizeof gob_junk, PEERWIRE_REASON_DECODE_ERROR, PEERWIRE_REASON_FRAME_TOO_LARGE);
    uint8_t gob_huge[9] = {0xf8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* length ~2^63 */
    garbage(PEERWIRE_CODEC_GOB, gob_huge, sizeof gob_huge, PEERWIRE_REASON_FRAME_TOO_LARGE, PEERWIRE_REASON_DECODE_ERROR);
    DONE("test_codecs");
}
