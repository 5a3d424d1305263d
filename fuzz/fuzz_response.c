/*
 * fuzz_response.c: libFuzzer target for what a finished attempt becomes:
 * header capture and the body cap (transport.c's libcurl callbacks), then
 * decode and error mapping (outcome.c's ax_push_outcome, as a finished
 * customers.create sees it), and the same mapping through core.interpret
 * (codec_api.c).
 *
 * transport.c is compiled into this file (#include below) because its
 * libcurl callbacks are static: feeding them directly is how bytes from a
 * server reach them in production, minus the socket. fuzz.mk leaves
 * transport.o out of this target's link for that reason.
 *
 * Input layout:
 *   byte 0     flags: bits 0-1 which path (outcome, interpret, both),
 *              bits 2-5 transport result, bit 6 a 1xx response first,
 *              bit 7 a small max_response_bytes
 *   bytes 1-2  HTTP status
 *   byte 3     attempts (1..8)
 *   byte 4     body chunk size (1..256), as libcurl may split a body
 *   then       header lines, each ending in '\n', until an empty line
 *   the rest   the body
 */
#include <stdio.h>
#include <stdlib.h>

#include "../src/transport.c"
#include "../src/engine.h"
#include "fuzz_lua.h"

#define MAX_HEADER_LINES 32

static const long interesting_statuses[] = {
    200, 201, 202, 204, 206, 299, 300, 302, 304, 400, 401, 403, 404, 409,
    410, 422, 429, 499, 500, 502, 503, 504, 599, 0, 100, 199, 600, 999
};
#define N_STATUSES (sizeof interesting_statuses / sizeof interesting_statuses[0])

static const CURLcode transport_results[] = {
    CURLE_OK, CURLE_OK, CURLE_OK, CURLE_OK, CURLE_OPERATION_TIMEDOUT,
    CURLE_WRITE_ERROR, CURLE_FILESIZE_EXCEEDED, CURLE_PEER_FAILED_VERIFICATION,
    CURLE_SSL_CACERT_BADFILE, CURLE_URL_MALFORMAT, CURLE_PARTIAL_FILE,
    CURLE_COULDNT_CONNECT, CURLE_RECV_ERROR, CURLE_OUT_OF_MEMORY,
    CURLE_GOT_NOTHING, CURLE_UNSUPPORTED_PROTOCOL
};

typedef struct attempt {
    ax_response resp;
    int attempts;
} attempt;

/* ax_push_outcome in protected mode: returns ok, value, retryable. */
static int outcome(lua_State *L)
{
    attempt *a = lua_touserdata(L, 1);
    ax_call_spec spec;
    ax_policy policy;
    ax_final final;
    int n, ok, retryable = 0;

    memset(&spec, 0, sizeof spec);
    memset(&policy, 0, sizeof policy);
    memset(&final, 0, sizeof final);
    spec.answer = AX_ANSWER_OBJECT;
    spec.page = -1;
    policy.sends = a->attempts;
    final.end = a->resp.curl_code == CURLE_OK ? AX_END_ANSWER : AX_END_TRANSPORT;
    lua_settop(L, 0);
    n = ax_push_outcome(L, &spec, &policy, &final, &a->resp);
    if (n != 2 && n != 3) {
        fprintf(stderr, "fuzz: ax_push_outcome returned %d values\n", n);
        abort();
    }
    ok = n == 3;
    if (ok) {
        lua_settop(L, 1);   /* data */
    } else {
        lua_remove(L, 1);   /* err */
        lua_getfield(L, 1, "retryable");
        retryable = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, ok);
    lua_insert(L, 1);
    lua_pushboolean(L, retryable);
    return 3;
}

/* Feeds the header lines to on_header as libcurl would (with CRLF). */
static void feed_headers(fuzz_input *in, ax_response *r, int informational)
{
    char line[512];
    int lines = 0;

    if (informational) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n";
        on_header((char *)cont, 1, sizeof cont - 1, r);
        on_header((char *)"x-request-id: req_before_100\r\n", 1, 30, r);
    }
    on_header((char *)"HTTP/1.1 200 OK\r\n", 1, 17, r);
    while (in->n > 0 && lines++ < MAX_HEADER_LINES) {
        const uint8_t *nl = memchr(in->p, '\n', in->n);
        size_t len = nl != NULL ? (size_t)(nl - in->p) : in->n;
        size_t take = len < sizeof line - 2 ? len : sizeof line - 2;
        memcpy(line, in->p, take);
        in->p += len + (nl != NULL);
        in->n -= len + (nl != NULL);
        if (len == 0)
            break;                      /* the blank line ends the head */
        line[take] = '\r';
        line[take + 1] = '\n';
        on_header(line, 1, take + 2, r);
    }
}

/* Feeds the body to on_body in chunks; a refused chunk aborts the
 * transfer, which libcurl reports as CURLE_WRITE_ERROR. */
static void feed_body(fuzz_input *in, ax_response *r, size_t chunk)
{
    while (in->n > 0) {
        size_t n = in->n < chunk ? in->n : chunk;
        if (on_body((char *)in->p, 1, n, r) != n) {
            r->curl_code = CURLE_WRITE_ERROR;
            return;
        }
        in->p += n;
        in->n -= n;
    }
}

static void check_outcome(lua_State *L, attempt *a)
{
    fuzz_push_oracle_function(L, "check_outcome");
    lua_pushcfunction(L, outcome);
    lua_pushlightuserdata(L, a);
    fuzz_call_or_die(L, 1, 3, "ax_push_outcome");
    lua_pushinteger(L, a->resp.status);
    lua_pushinteger(L, a->attempts);
    fuzz_call_or_die(L, 5, 0, "outcome check");
}

static void check_interpret(lua_State *L, attempt *a, const uint8_t *body, size_t len)
{
    fuzz_push_oracle_function(L, "check_interpret");
    lua_pushinteger(L, a->resp.status);
    lua_pushlstring(L, (const char *)body, len);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, a->resp.request_id);
    lua_setfield(L, -2, "x-request-id");
    lua_pushstring(L, a->resp.content_type);
    lua_setfield(L, -2, "content-type");
    lua_pushlstring(L, (const char *)body, len < 12 ? len : 12);
    lua_setfield(L, -2, "retry-after");
    lua_pushinteger(L, a->attempts);
    fuzz_call_or_die(L, 4, 0, "interpret check");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = fuzz_lua();
    fuzz_input in = { data, size };
    attempt a;
    uint8_t flags = fuzz_byte(&in);
    uint8_t s1 = fuzz_byte(&in), s2 = fuzz_byte(&in);
    const uint8_t *body;
    size_t chunk, body_len;
    CURLcode result = transport_results[(flags >> 2) & 15];

    memset(&a, 0, sizeof a);
    ax_buf_init(&a.resp.body);
    ax_response_reset(&a.resp);
    a.resp.status = (s1 & 0x80) ? interesting_statuses[s2 % N_STATUSES]
                                : 100 + (long)(((s1 << 8) | s2) % 500);
    a.attempts = 1 + fuzz_byte(&in) % 8;
    chunk = 1 + fuzz_byte(&in);
    a.resp.max_bytes = (flags & 0x80) ? 64 : 1 << 20;

    feed_headers(&in, &a.resp, flags & 0x40);
    body = in.p;
    body_len = in.n;
    feed_body(&in, &a.resp, chunk);
    if (a.resp.curl_code == CURLE_OK && result != CURLE_OK) {
        a.resp.curl_code = result;
        if (body_len > 0)   /* libcurl's error text, when it gives one */
            snprintf(a.resp.curl_error, sizeof a.resp.curl_error, "%.*s",
                     (int)(body_len < 80 ? body_len : 80), (const char *)body);
    }

    if ((flags & 3) != 1)
        check_outcome(L, &a);
    if ((flags & 3) != 0)
        check_interpret(L, &a, body, body_len);
    ax_buf_free(&a.resp.body);
    fuzz_end_input(L);
    return 0;
}
