/*
 * request.c: the life of one create, from the table to its outcome.
 *
 *   submit: encode (and validate) the table, pick the idempotency key,
 *           start the first attempt on the client's multi handle
 *   drive:  libcurl moves the bytes; a finished attempt becomes a value or
 *           an error (response.c); a retryable error within the retry budget
 *           and the deadline becomes a timer (REQ_WAITING), never a sleep
 *   finish: the outcome is stored on the request until the caller (create,
 *           poll, wait) hands it back
 *
 * The blocking create and the non-blocking create_async both go through
 * here; blocking is submit followed by driving until this request is done.
 *
 * Lua references: the client's user value anchors every request that is not
 * done (key: light userdata of the request), so requests in flight are not
 * collected while the client lives, and they do not keep it alive.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "client.h"

double ax_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ anchoring */

/* Pushes the client's anchor table (its user value). */
static void push_anchors(lua_State *L, int client_idx)
{
    ax_getuservalue(L, client_idx);
}

static void anchor(lua_State *L, int client_idx, ax_request *r, int req_idx)
{
    push_anchors(L, client_idx);
    lua_pushvalue(L, req_idx);
    ax_rawsetp(L, -2, r);
    lua_pop(L, 1);
}

static void unanchor(lua_State *L, int client_idx, ax_request *r)
{
    push_anchors(L, client_idx);
    lua_pushnil(L);
    ax_rawsetp(L, -2, r);
    lua_pop(L, 1);
}

/* Pushes the request's own user value table (callback, outcome, meta). */
static void push_request_data(lua_State *L, int client_idx, ax_request *r)
{
    push_anchors(L, client_idx);
    ax_rawgetp(L, -1, r);
    ax_getuservalue(L, -1);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* ---------------------------------------------------------- life cycle */

static void link_request(ax_client *c, ax_request *r)
{
    r->client = c;
    r->prev = NULL;
    r->next = c->requests;
    if (c->requests != NULL)
        c->requests->prev = r;
    c->requests = r;
}

static void unlink_request(ax_request *r)
{
    ax_client *c = r->client;

    if (c == NULL)
        return;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->requests = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Gives back what an attempt holds: the easy handle (to the client's idle
 * pool, set up for this client, so the next attempt only points it at its
 * own data) and the buffers. */
static void release_transfer(ax_request *r)
{
    ax_client *c = r->client;

    if (r->easy != NULL) {
        if (c != NULL && c->multi != NULL) {
            if (r->state == REQ_RUNNING)
                curl_multi_remove_handle(c->multi, r->easy);
            if (c->n_idle < AX_IDLE_HANDLES) {
                c->idle[c->n_idle++] = r->easy;
                r->easy = NULL;
            }
        }
        if (r->easy != NULL)
            curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    ax_buf_free(&r->body);
    ax_buf_free(&r->resp.body);
}

/* Frees everything and detaches from the client (close, __gc). */
void ax_request_release(ax_request *r)
{
    release_transfer(r);
    unlink_request(r);
    r->client = NULL;
    r->state = REQ_DONE;
}

ax_request *ax_request_new(lua_State *L, int client_idx)
{
    ax_request *r = ax_newuserdata(L, sizeof *r);

    memset(r, 0, sizeof *r);
    ax_buf_init(&r->body);
    ax_buf_init(&r->resp.body);
    r->state = REQ_DONE;     /* inert until submitted */
    luaL_getmetatable(L, REQUEST_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, client_idx);
    lua_setfield(L, -2, "client");   /* a live request keeps its client alive */
    ax_setuservalue(L, -2);
    return r;
}

/* ---------------------------------------------------------------- retry */

static double random_unit(ax_client *c)
{
    /* xorshift64*: jitter only needs to decorrelate clients, seeded from
     * the OS random source in client.c. */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* min(base * 2^(n-1), max) * U[0.5, 1]; Retry-After (429, 503) wins, capped. */
static double backoff(ax_client *c, ax_request *r)
{
    double wait = c->backoff_base * pow(2.0, r->attempts - 1);

    if (wait > c->backoff_max)
        wait = c->backoff_max;
    wait *= 0.5 + 0.5 * random_unit(c);
    if (r->resp.retry_after >= 0 && (r->resp.status == 429 || r->resp.status == 503))
        wait = r->resp.retry_after < c->max_retry_after ? r->resp.retry_after
                                                         : c->max_retry_after;
    return wait;
}

/* ------------------------------------------------------------- attempts */

static void finish(lua_State *L, int client_idx, ax_client *c, ax_request *r, int ok)
{
    int value = lua_gettop(L);
    int i;

    push_request_data(L, client_idx, r);
    lua_pushvalue(L, value);
    lua_setfield(L, -2, ok ? "value" : "err");
    if (!ok) {
        lua_pushstring(L, r->idempotency_key);
        lua_setfield(L, value, "idempotency_key");
    }
    lua_createtable(L, 0, 5);
    if (r->resp.status > 0) {
        lua_pushinteger(L, (lua_Integer)r->resp.status);
        lua_setfield(L, -2, "status");
    }
    if (r->resp.request_id[0]) {
        lua_pushstring(L, r->resp.request_id);
        lua_setfield(L, -2, "request_id");
    }
    lua_pushinteger(L, r->attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushstring(L, r->idempotency_key);
    lua_setfield(L, -2, "idempotency_key");
    lua_createtable(L, r->n_waits, 0);
    for (i = 0; i < r->n_waits; i++) {
        lua_pushnumber(L, r->waits[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "waits");
    lua_setfield(L, -2, "meta");
    lua_settop(L, value - 1);
    release_transfer(r);
    r->state = REQ_FINISHED;
    r->finish_seq = ++c->finish_seq;
}

/* Pushes a client-side error of the given kind and finishes with it. */
static void finish_with_error(lua_State *L, int client_idx, ax_client *c,
                              ax_request *r, const char *kind, const char *code,
                              const char *message, const char *field)
{
    ax_error e;

    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.code = code;
    e.message = message;
    e.field = field;
    e.attempts = r->attempts;
    e.status = r->resp.status;
    e.request_id = r->resp.request_id[0] ? r->resp.request_id : NULL;
    ax_push_error(L, &e);
    finish(L, client_idx, c, r, 0);
}

static void start_attempt(lua_State *L, int client_idx, ax_client *c, ax_request *r)
{
    double remaining = r->deadline - ax_now();
    long timeout_ms = r->timeout_ms;
    CURLcode rc;
    CURLMcode mrc;

    if (remaining <= 0.001) {
        finish_with_error(L, client_idx, c, r, "timeout", "deadline_exceeded",
                          "the deadline passed before the request could be sent",
                          NULL);
        return;
    }
    if (remaining * 1000.0 < (double)timeout_ms)
        timeout_ms = (long)ceil(remaining * 1000.0);
    rc = CURLE_OK;
    if (r->easy == NULL && c->n_idle > 0) {
        r->easy = c->idle[--c->n_idle];
    } else if (r->easy == NULL) {
        r->easy = curl_easy_init();
        if (r->easy == NULL) {
            finish_with_error(L, client_idx, c, r, "connection", "CURLE_FAILED_INIT",
                              "libcurl could not create a transfer", NULL);
            return;
        }
        rc = ax_transport_setup(r->easy, &(ax_transport_config){
                                    c->url, c->user_agent, c->ca_file, c->proxy });
    }
    r->resp.max_bytes = c->max_response_bytes;
    if (rc == CURLE_OK)
        rc = ax_transport_attempt(r->easy, &r->key_header, &r->body, &r->resp,
                                  timeout_ms, r->connect_timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (void *)r);
    if (rc != CURLE_OK) {
        finish_with_error(L, client_idx, c, r, "connection", ax_curl_code_name(rc),
                          curl_easy_strerror(rc), NULL);
        return;
    }
    mrc = curl_multi_add_handle(c->multi, r->easy);
    if (mrc != CURLM_OK) {
        finish_with_error(L, client_idx, c, r, "connection", "CURLM_ERROR",
                          curl_multi_strerror(mrc), NULL);
        return;
    }
    r->attempts++;
    r->state = REQ_RUNNING;
}

static void attempt_done(lua_State *L, int client_idx, ax_client *c, ax_request *r,
                         CURLcode result)
{
    int retryable = 0, ok;
    long status = 0;

    curl_multi_remove_handle(c->multi, r->easy);
    r->state = REQ_WAITING;
    r->resp.curl_code = result;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->resp.status = status;
    ok = ax_response_outcome(L, &r->resp, r->attempts, &retryable);
    if (!ok && retryable && r->attempts <= r->max_retries) {
        double wait = backoff(c, r);
        double now = ax_now();
        if (now + wait < r->deadline) {
            r->start_at = now + wait;
            if (r->n_waits < AX_MAX_WAITS)
                r->waits[r->n_waits++] = wait;
            lua_pop(L, 1);
            return;
        }
    }
    finish(L, client_idx, c, r, ok);
}

/* ---------------------------------------------------------------- submit */

/* The request's headers: its Idempotency-Key line, then the client's fixed
 * list. No allocation, and the key's Authorization line is never copied. */
static void link_headers(ax_client *c, ax_request *r)
{
    snprintf(r->key_line, sizeof r->key_line, "Idempotency-Key: %s", r->idempotency_key);
    r->key_header.data = r->key_line;
    r->key_header.next = c->fixed_headers;
}

int ax_request_submit(lua_State *L, ax_client *c, ax_request *r, int req_idx,
                      int params_idx, const ax_call_options *o,
                      const char *idempotency_key)
{
    int client_idx;
    ax_encode_error err;

    /* The request's user value knows its client; anchor through it. */
    ax_getuservalue(L, req_idx);
    lua_getfield(L, -1, "client");
    client_idx = lua_gettop(L);

    link_request(c, r);
    anchor(L, client_idx, r, req_idx);
    r->state = REQ_WAITING;
    r->max_retries = o->max_retries;
    r->timeout_ms = o->timeout_ms;
    r->connect_timeout_ms = o->connect_timeout_ms;
    r->deadline = ax_now() + o->deadline_s;
    r->start_at = 0;

    if (idempotency_key != NULL) {
        snprintf(r->idempotency_key, sizeof r->idempotency_key, "%s", idempotency_key);
    } else if (!ax_uuid4(&c->random, r->idempotency_key)) {
        finish_with_error(L, client_idx, c, r, "api", "random_unavailable",
                          "the operating system's random source failed", NULL);
        lua_pop(L, 2);
        return 0;
    }
    if (!ax_encode(L, params_idx, &ax_customer_schema, o->validate, &r->body, &err)) {
        finish_with_error(L, client_idx, c, r, "validation", "invalid_params",
                          err.message, err.field[0] ? err.field : NULL);
        lua_pop(L, 2);
        return 0;
    }
    link_headers(c, r);
    start_attempt(L, client_idx, c, r);
    lua_pop(L, 2);
    return 1;
}

/* Finishes a request that has not finished yet with a "cancelled" error;
 * its callback sees it at the next poll. Returns 1 if it was cancelled. */
int ax_request_cancel(lua_State *L, ax_request *r, int req_idx)
{
    ax_client *c = r->client;
    int client_idx;

    if (c == NULL || (r->state != REQ_WAITING && r->state != REQ_RUNNING))
        return 0;
    ax_getuservalue(L, req_idx);
    lua_getfield(L, -1, "client");
    client_idx = lua_gettop(L);
    r->cancelled = 1;
    release_transfer(r);      /* takes the handle off the multi */
    finish_with_error(L, client_idx, c, r, "cancelled", "cancelled",
                      "the request was cancelled", NULL);
    lua_pop(L, 2);
    return 1;
}

/* ----------------------------------------------------------------- drive */

static void start_due(lua_State *L, int client_idx, ax_client *c, double now)
{
    ax_request *r, *next;

    for (r = c->requests; r != NULL; r = next) {
        next = r->next;
        if (r->state == REQ_WAITING && !r->cancelled && r->start_at <= now)
            start_attempt(L, client_idx, c, r);
    }
}

double ax_next_wakeup(ax_client *c)
{
    double at = -1;
    ax_request *r;

    for (r = c->requests; r != NULL; r = r->next)
        if (r->state == REQ_WAITING && !r->cancelled && (at < 0 || r->start_at < at))
            at = r->start_at;
    return at;
}

static int read_messages(lua_State *L, int client_idx, ax_client *c)
{
    CURLMsg *msg;
    int left, finished = 0;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        ax_request *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL || r->state != REQ_RUNNING)
            continue;
        attempt_done(L, client_idx, c, r, msg->data.result);
        if (r->state == REQ_FINISHED)
            finished++;
    }
    return finished;
}

/*
 * One turn: start what is due, let libcurl work, collect finished attempts;
 * if nothing finished and wait_s > 0, sleep in curl_multi_poll until there
 * is I/O, a libcurl timer, or a retry is due (never past wait_s), and turn
 * once more. Returns how many requests finished.
 */
int ax_drive(lua_State *L, ax_client *c, int client_idx, double wait_s)
{
    int running = 0, finished;
    double now = ax_now(), wake;

    /* poll(math.huge), poll(NaN) or a wait past INT_MAX ms must not reach
     * the int cast for curl_multi_poll (undefined); an hour is plenty, the
     * callers loop until their own deadline. */
    if (!(wait_s <= 3600.0))
        wait_s = 3600.0;
    start_due(L, client_idx, c, now);
    curl_multi_perform(c->multi, &running);
    finished = read_messages(L, client_idx, c);
    if (finished > 0 || wait_s <= 0)
        return finished;
    wake = ax_next_wakeup(c);
    if (wake >= 0 && wake - now < wait_s)
        wait_s = wake - now > 0 ? wake - now : 0;
    curl_multi_poll(c->multi, NULL, 0, (int)ceil(wait_s * 1000.0), NULL);
    start_due(L, client_idx, c, ax_now());
    curl_multi_perform(c->multi, &running);
    return read_messages(L, client_idx, c);
}

/* ---------------------------------------------------------------- results */

/* Pushes value, nil, meta or nil, err (2 or 3 results) and retires the
 * request. The client's userdata is at client_idx. */
int ax_push_outcome(lua_State *L, int client_idx, ax_request *r)
{
    int n;

    push_request_data(L, client_idx, r);
    lua_getfield(L, -1, "value");
    if (!lua_isnil(L, -1)) {
        lua_pushnil(L);
        lua_getfield(L, -3, "meta");
        n = 3;
    } else {
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_getfield(L, -2, "err");
        n = 2;
    }
    lua_remove(L, -(n + 1));   /* the request data table */
    unanchor(L, client_idx, r);
    unlink_request(r);
    r->client = NULL;
    r->state = REQ_DONE;
    return n;
}
