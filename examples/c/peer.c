/* A demo peer: listens on loopback, greets with a handshake, dials the peers it is given,
 * says hello to each, broadcasts once, and prints what it receives for a few seconds.
 *
 *   peer --name NAME [--dial ADDR,ADDR...] [--seconds N] [--addr-file FILE]
 *
 * Handshake (the demo's, spoken by the C, Python and Go demo peers): each side sends the 8
 * bytes "PWDEMO1\n" and expects the same 8 bytes back. */
#include "peerwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GREETING "PWDEMO1\n"

static int32_t handshake(void *user, peerwire_handshake *hs) {
    (void)user;
    uint8_t got[8];
    if (peerwire_handshake_send(hs, (const uint8_t *)GREETING, 8) != PEERWIRE_OK) return 1;
    if (peerwire_handshake_recv_exact(hs, got, 8, -1) != PEERWIRE_OK) return 1;
    return memcmp(got, GREETING, 8) == 0 ? 0 : 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int32_t rc) {
    fprintf(stderr, "%s: %s (%s)\n", what, peerwire_status_str(rc), peerwire_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *name = "peer", *dial = NULL, *addr_file = NULL;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--name")) name = argv[i + 1];
        else if (!strcmp(argv[i], "--dial")) dial = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--addr-file")) addr_file = argv[i + 1];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    peerwire_options *o = NULL;
    int32_t rc = peerwire_options_new(&o);
    if (rc) return fail("options", rc);
    peerwire_options_set_listen_addr(o, "127.0.0.1:0");
    peerwire_options_set_handshake(o, handshake, NULL, NULL);
    peerwire_options_set_handshake_timeout_ms(o, 3000);
    peerwire_transport *t = NULL;
    rc = peerwire_transport_new(o, &t);
    peerwire_options_free(o);
    if (rc) return fail("transport", rc);
    if ((rc = peerwire_transport_listen(t))) return fail("listen", rc);
    char addr[64];
    peerwire_transport_local_addr(t, addr, sizeof addr, NULL);
    printf("[%s] listening on %s\n", name, addr);
    if (addr_file) {
        FILE *f = fopen(addr_file, "w");
        if (!f) return 1;
        fprintf(f, "%s\n", addr);
        fclose(f);
    }

    char msg[256];
    if (dial && *dial) {
        char *list = strdup(dial);
        for (char *a = strtok(list, ","); a; a = strtok(NULL, ",")) {
            uint64_t peer = 0;
            rc = peerwire_transport_dial(t, a, 3000, &peer);
            if (rc) {
                fail(a, rc);
                continue;
            }
            int n = snprintf(msg, sizeof msg, "hello from %s (C)", name);
            peerwire_transport_send(t, peer, (const uint8_t *)msg, (size_t)n);
        }
        free(list);
    }

    double start = now_s(), end = start + seconds;
    int broadcast_done = 0;
    while (now_s() < end) {
        if (!broadcast_done && now_s() > start + seconds / 3) {
            int n = snprintf(msg, sizeof msg, "broadcast from %s (C) to everyone", name);
            size_t sent = 0;
            peerwire_transport_broadcast(t, (const uint8_t *)msg, (size_t)n, &sent);
            printf("[%s] broadcast to %zu peers\n", name, sent);
            broadcast_done = 1;
        }
        peerwire_event evs[32];
        size_t n = 0;
        rc = peerwire_transport_recv_batch(t, evs, 32, &n, 100);
        if (rc < 0) return fail("recv", rc);
        for (size_t i = 0; i < n; i++) {
            peerwire_event *ev = &evs[i];
            switch (ev->kind) {
            case PEERWIRE_EVENT_MESSAGE:
                printf("[%s] from peer %llu (%s): %.*s\n", name, (unsigned long long)ev->peer, ev->addr, (int)ev->len,
                       (const char *)ev->data);
                break;
            case PEERWIRE_EVENT_PEER_CONNECTED:
                printf("[%s] peer %llu connected (%s, %s)\n", name, (unsigned long long)ev->peer, ev->addr,
                       ev->outbound ? "outbound" : "inbound");
                break;
            case PEERWIRE_EVENT_PEER_DISCONNECTED:
            case PEERWIRE_EVENT_HANDSHAKE_FAILED:
                printf("[%s] peer %llu gone: %s\n", name, (unsigned long long)ev->peer, peerwire_reason_str(ev->reason));
                break;
            default:
                break;
            }
        }
        peerwire_events_release(evs, n);
    }
    peerwire_close_report rep;
    peerwire_transport_close(t, 500, &rep);
    printf("[%s] closed: %llu peers, %llu messages dropped\n", name, (unsigned long long)rep.peers_closed,
           (unsigned long long)rep.msgs_dropped);
    peerwire_transport_free(t);
    return 0;
}
