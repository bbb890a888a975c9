// C shims for the Go binding; included by every cgo file that calls them (never by the
// file holding the //export functions). All functions are static: each cgo file gets its
// own copy, which is what cgo needs.
#ifndef PEERWIRE_GO_SHIM_H
#define PEERWIRE_GO_SHIM_H
#include <stdlib.h>
#include <string.h>
#include <peerwire.h>

// The library's handles are ids in a table, not addresses. Go must never hold them in a
// pointer-typed variable (the runtime rejects small values it finds in pointer slots), so
// the Go side keeps them as uintptr_t and only C turns them back into handle types.
typedef uintptr_t pw_opts_h;
typedef uintptr_t pw_transport_h;
typedef uintptr_t pw_hs_h;
#define PW_OPTS(h) ((peerwire_options *)(h))
#define PW_T(h) ((peerwire_transport *)(h))
#define PW_HS(h) ((peerwire_handshake *)(h))

// peerwire_last_error() is per OS thread, and a goroutine may change threads between two cgo
// calls. So every fallible call goes through a shim that reads the detail on the same thread,
// in the same cgo call, and hands it back (malloc'd, freed by Go) together with the outputs.
typedef struct {
	int32_t rc;
	uint64_t val;  // the call's scalar output (peer id, count, length), when it has one
	uintptr_t handle; // the call's handle output (options, transport), when it has one
	int32_t flag;  // the call's boolean output, when it has one
	char *err;     // strdup'd peerwire_last_error() when rc < 0, else NULL
} pw_ret;

static pw_ret pw_wrap(int32_t rc) {
	pw_ret r;
	r.rc = rc;
	r.val = 0;
	r.handle = 0;
	r.flag = 0;
	r.err = NULL;
	if (rc < 0) {
		const char *m = peerwire_last_error();
		if (m != NULL && m[0] != 0) r.err = strdup(m);
	}
	return r;
}

static pw_ret pw_options_new(void) {
	peerwire_options *o = NULL;
	pw_ret r = pw_wrap(peerwire_options_new(&o));
	r.handle = (uintptr_t)o;
	return r;
}

enum {
	PW_OPT_CODEC = 1,
	PW_OPT_MAX_FRAME,
	PW_OPT_HANDSHAKE_TIMEOUT_MS,
	PW_OPT_CONNECT_TIMEOUT_MS,
	PW_OPT_SEND_QUEUE_BYTES,
	PW_OPT_SEND_TIMEOUT_MS,
	PW_OPT_RECV_QUEUE_EVENTS,
	PW_OPT_RECV_QUEUE_BYTES,
	PW_OPT_LINGER_MS,
	PW_OPT_READ_BUFFER,
	PW_OPT_MAX_CONNECTIONS,
	PW_OPT_WORKERS,
};

static pw_ret pw_options_set(pw_opts_h o, int key, int64_t v) {
	int32_t rc;
	switch (key) {
	case PW_OPT_CODEC: rc = peerwire_options_set_codec(PW_OPTS(o), (int32_t)v); break;
	case PW_OPT_MAX_FRAME: rc = peerwire_options_set_max_frame(PW_OPTS(o), (size_t)v); break;
	case PW_OPT_HANDSHAKE_TIMEOUT_MS: rc = peerwire_options_set_handshake_timeout_ms(PW_OPTS(o), (uint32_t)v); break;
	case PW_OPT_CONNECT_TIMEOUT_MS: rc = peerwire_options_set_connect_timeout_ms(PW_OPTS(o), (uint32_t)v); break;
	case PW_OPT_SEND_QUEUE_BYTES: rc = peerwire_options_set_send_queue_bytes(PW_OPTS(o), (size_t)v); break;
	case PW_OPT_SEND_TIMEOUT_MS: rc = peerwire_options_set_send_timeout_ms(PW_OPTS(o), (int32_t)v); break;
	case PW_OPT_RECV_QUEUE_EVENTS: rc = peerwire_options_set_recv_queue_events(PW_OPTS(o), (size_t)v); break;
	case PW_OPT_RECV_QUEUE_BYTES: rc = peerwire_options_set_recv_queue_bytes(PW_OPTS(o), (size_t)v); break;
	case PW_OPT_LINGER_MS: rc = peerwire_options_set_linger_ms(PW_OPTS(o), (uint32_t)v); break;
	case PW_OPT_READ_BUFFER: rc = peerwire_options_set_read_buffer(PW_OPTS(o), (size_t)v); break;
	case PW_OPT_MAX_CONNECTIONS: rc = peerwire_options_set_max_connections(PW_OPTS(o), (size_t)v); break;
	case PW_OPT_WORKERS: rc = peerwire_options_set_workers(PW_OPTS(o), (uint32_t)v); break;
	default: rc = PEERWIRE_ERR_INVALID; break;
	}
	return pw_wrap(rc);
}

static pw_ret pw_options_set_listen_addr(pw_opts_h o, const char *addr) {
	return pw_wrap(peerwire_options_set_listen_addr(PW_OPTS(o), addr));
}

// Implemented in Go (callbacks.go).
extern int32_t peerwireGoHandshake(uintptr_t user, pw_hs_h hs);
extern void peerwireGoRelease(uintptr_t user);

static int32_t pw_handshake_trampoline(void *user, peerwire_handshake *hs) {
	return peerwireGoHandshake((uintptr_t)user, (uintptr_t)hs);
}

static void pw_release_trampoline(void *user) {
	peerwireGoRelease((uintptr_t)user);
}

// The user pointer carries a runtime/cgo.Handle; it is converted here, on the C side, so that
// Go never turns an integer into an unsafe.Pointer.
static pw_ret pw_options_set_handshake(pw_opts_h o, uintptr_t handle) {
	return pw_wrap(peerwire_options_set_handshake(PW_OPTS(o), pw_handshake_trampoline, (void *)handle,
	                                              pw_release_trampoline));
}

// Implemented in Go (codec_export.go): the custom codec's callbacks.
extern int32_t peerwireGoSplit(uintptr_t user, uint8_t *buf, size_t len, size_t *out_header, size_t *out_len);
extern int32_t peerwireGoHeader(uintptr_t user, uint8_t *payload, size_t len, uint8_t *out, size_t cap,
                                size_t *out_header_len);
extern void peerwireGoCodecRelease(uintptr_t user);

static int32_t pw_split_trampoline(void *user, const uint8_t *buf, size_t len, size_t *out_header, size_t *out_len) {
	return peerwireGoSplit((uintptr_t)user, (uint8_t *)buf, len, out_header, out_len);
}

static int32_t pw_header_trampoline(void *user, const uint8_t *payload, size_t len, uint8_t *out, size_t cap,
                                    size_t *out_header_len) {
	return peerwireGoHeader((uintptr_t)user, (uint8_t *)payload, len, out, cap, out_header_len);
}

static void pw_codec_release_trampoline(void *user) {
	peerwireGoCodecRelease((uintptr_t)user);
}

// The custom codec; handle is a runtime/cgo.Handle of the Go splitter. Without a header
// function nothing is prepended on send.
static pw_ret pw_options_set_custom_codec(pw_opts_h o, uintptr_t handle, int with_header) {
	return pw_wrap(peerwire_options_set_custom_codec(PW_OPTS(o), pw_split_trampoline,
	                                                 with_header ? pw_header_trampoline : NULL, (void *)handle,
	                                                 pw_codec_release_trampoline));
}

static pw_ret pw_transport_new(pw_opts_h o) {
	peerwire_transport *t = NULL;
	pw_ret r = pw_wrap(peerwire_transport_new(PW_OPTS(o), &t));
	r.handle = (uintptr_t)t;
	return r;
}

static void pw_options_free(pw_opts_h o) {
	peerwire_options_free(PW_OPTS(o));
}

static void pw_transport_free(pw_transport_h t) {
	peerwire_transport_free(PW_T(t));
}

static pw_ret pw_listen(pw_transport_h t) {
	return pw_wrap(peerwire_transport_listen(PW_T(t)));
}

static pw_ret pw_local_addr(pw_transport_h t, char *buf, size_t cap) {
	size_t n = 0;
	pw_ret r = pw_wrap(peerwire_transport_local_addr(PW_T(t), buf, cap, &n));
	r.val = n;
	return r;
}

static pw_ret pw_dial(pw_transport_h t, const char *addr, int32_t timeout_ms) {
	uint64_t peer = 0;
	pw_ret r = pw_wrap(peerwire_transport_dial(PW_T(t), addr, timeout_ms, &peer));
	r.val = peer;
	return r;
}

static pw_ret pw_send(pw_transport_h t, uint64_t peer, const uint8_t *data, size_t len) {
	return pw_wrap(peerwire_transport_send(PW_T(t), peer, data, len));
}

static pw_ret pw_send_timeout(pw_transport_h t, uint64_t peer, const uint8_t *data, size_t len,
                              int32_t timeout_ms) {
	return pw_wrap(peerwire_transport_send_timeout(PW_T(t), peer, data, len, timeout_ms));
}

// Many messages to one peer in one cgo call (one library lock, one writer wake-up): data
// holds the payloads back to back, lens their sizes. val reports how many were queued, also
// on error.
static pw_ret pw_send_batch(pw_transport_h t, uint64_t peer, const uint8_t *data, const size_t *lens, size_t n,
                            int32_t timeout_ms) {
	size_t sent = 0;
	pw_ret r = pw_wrap(peerwire_transport_send_batch(PW_T(t), peer, data, lens, n, timeout_ms, &sent));
	r.val = sent;
	return r;
}

static pw_ret pw_broadcast(pw_transport_h t, const uint8_t *data, size_t len) {
	size_t sent = 0;
	pw_ret r = pw_wrap(peerwire_transport_broadcast(PW_T(t), data, len, &sent));
	r.val = sent;
	return r;
}

static pw_ret pw_disconnect(pw_transport_h t, uint64_t peer) {
	return pw_wrap(peerwire_transport_disconnect(PW_T(t), peer));
}

static pw_ret pw_peers(pw_transport_h t, uint64_t *ids, size_t cap) {
	size_t total = 0;
	pw_ret r = pw_wrap(peerwire_transport_peers(PW_T(t), ids, cap, &total));
	r.val = total;
	return r;
}

static pw_ret pw_peer_info(pw_transport_h t, uint64_t peer, peerwire_peer_info *out) {
	out->size = sizeof(peerwire_peer_info);
	return pw_wrap(peerwire_transport_peer_info(PW_T(t), peer, out));
}

static pw_ret pw_stats(pw_transport_h t, peerwire_stats *out) {
	out->size = sizeof(peerwire_stats);
	return pw_wrap(peerwire_transport_stats(PW_T(t), out));
}

// Releases the previous batch (its first `release` events) and takes the next one, in one
// cgo call.
static pw_ret pw_recv_batch(pw_transport_h t, peerwire_event *evs, size_t cap, int32_t timeout_ms, size_t release) {
	size_t n = 0;
	if (release > 0) peerwire_events_release(evs, release);
	pw_ret r = pw_wrap(peerwire_transport_recv_batch(PW_T(t), evs, cap, &n, timeout_ms));
	r.val = n;
	return r;
}

static pw_ret pw_close(pw_transport_h t, int32_t linger_ms, peerwire_close_report *out) {
	return pw_wrap(peerwire_transport_close(PW_T(t), linger_ms, out));
}

static pw_ret pw_hs_send(pw_hs_h hs, const uint8_t *data, size_t len) {
	return pw_wrap(peerwire_handshake_send(PW_HS(hs), data, len));
}

static pw_ret pw_hs_recv(pw_hs_h hs, uint8_t *buf, size_t cap, int32_t timeout_ms) {
	size_t n = 0;
	pw_ret r = pw_wrap(peerwire_handshake_recv(PW_HS(hs), buf, cap, &n, timeout_ms));
	r.val = n;
	return r;
}

// Everything the Go side wants to know about a handshake, in one call.
static pw_ret pw_hs_info(pw_hs_h hs, char *addr, size_t cap) {
	uint64_t id = 0;
	bool outbound = false;
	size_t n = 0;
	int32_t rc = peerwire_handshake_peer_id(PW_HS(hs), &id);
	if (rc == PEERWIRE_OK) rc = peerwire_handshake_outbound(PW_HS(hs), &outbound);
	if (rc == PEERWIRE_OK) rc = peerwire_handshake_peer_addr(PW_HS(hs), addr, cap, &n);
	pw_ret r = pw_wrap(rc);
	r.val = id;
	r.flag = outbound ? 1 : 0;
	return r;
}
#endif
