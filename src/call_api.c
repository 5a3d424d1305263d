/*
 * call_api.c: the engine for transports written in Lua (allawee.openresty's
 * cosockets; any event loop). The transport only moves bytes; every rule
 * (options, URLs, encoding, the idempotency key, retries, backoff, the
 * deadline, exactly-once lookups, what an answer means) is the C engine's,
 * the very code the libcurl client runs.
 *
 *   local cfg = core.config(options, where, agent)   -- raises for bad options
 *   cfg:options()            -> the effective options (never the key)
 *   cfg:target("api"|"secure") -> { https, host, port, connect_host, sni, host_header }
 *   local call, err = cfg:call("customers.create", <the method's arguments>)
 *   local call, err = cfg:request(method, path [, args] [, options])
 *   call:next()   -> "send", request, body, timeout_s, connect_timeout_s, host
 *                    (request: the array of strings to send as they are,
 *                    sock:send(request): the head in pieces, then the body)
 *                 |  "wait", seconds
 *                 |  "done", data, err, meta   (the call is then finished:
 *                                              its memory goes back at once,
 *                                              and any further use raises;
 *                                              after a method of it raised,
 *                                              at __gc, and "done" repeats)
 *   A method that finds the call driven on by Lua it ran (a finalizer or a
 *   headers table's metamethod calling the same call's methods) commits
 *   nothing: call:next, call:answer and call:failed raise "the call moved
 *   on ...", call:head returns what it parsed and keeps none of it; call:next
 *   on a call cfg:call has not returned yet raises "the call is not prepared
 *   yet".
 *   call:resend() -> true | false   (a pooled connection died: may the same
 *                                    attempt go out again on a fresh one?)
 *   call:head(buf, from, scanned, max_head, max_fields)
 *                 -> "more", scanned | "head", status, version, next, te, cl,
 *                    connection, retry_after | "lines" | "bad", why
 *                    (the answer's head parsed in C; see call_head)
 *   call:answer(status, headers, body)       (headers: lower-case names, or
 *                                             nil after call:head)
 *   call:failed(phase, reason, received_any [, status [, headers]])
 *                                            (no headers after call:head: the
 *                                             request id it kept)
 *       phase: "connect", "tls", "send", "receive"; reason: the cosocket's
 *       error ("timeout", "closed", "connection refused", ...) or one of
 *       "malformed", "too large body", "header too large"
 *
 *   core.options(options)    -> core.config(options):options()
 */
#include <stdlib.h>
#include <strings.h>

#include "client.h"

#define CONFIG_MT "allawee.config"
#define CALL_MT "allawee.call"

/* The part of a request head that is the same for every call to one host,
 * built once per client: "Host: ...\r\n" up to the User-Agent's value
 * (Authorization included: secret, wiped), and the base URL's path. */
typedef struct host_head {
    ax_buf fixed;
    const char *base_path;       /* into cfg.base_url / secure_base_url */
    size_t base_path_len;
} host_head;

typedef struct config_box {
    ax_config cfg;
    host_head heads[2];          /* [AX_HOST_API], [AX_HOST_SECURE] */
    int closed;
} config_box;

typedef enum call_state { CALL_SEND, CALL_SENT, CALL_WAIT, CALL_DONE, CALL_NEW } call_state;

typedef struct stale_head { struct stale_head *next; char *data; size_t len; } stale_head;

typedef struct call_box {
    call_state state;
    double start_at;
    const char *method;
    const ax_buf *target;        /* spec.target, or spec.lookup */
    ax_call_spec spec;
    ax_policy policy;
    ax_final final;
    ax_response resp;
    char *head;                  /* the request head, Authorization included: wiped */
    size_t head_len;
    size_t key_at;               /* where the Idempotency-Key value starts in head, or 0 */
    /* What call:head kept of the answer's head for call:answer / failed
     * (when they get no headers table); valid while head_kept is set. */
    int head_kept;
    lua_Integer head_lines;      /* header lines call:head has checked of this head */
    char head_request_id[sizeof ((ax_response *)0)->request_id];
    char head_content_type[sizeof ((ax_response *)0)->content_type];
    char head_retry_after[64];
    /* Its methods running now (a finalizer can call one inside another),
     * and whether call:next has handed out the outcome: the memory then
     * goes back when the outermost method returns, while it is still in
     * the cache, instead of at the next collection (see with_call). */
    int busy;
    int delivered;
    stale_head *stale;           /* heads replaced under a running method */
} call_box;

static config_box *check_config(lua_State *L, int idx)
{
    config_box *b = luaL_checkudata(L, idx, CONFIG_MT);
    if (b->closed)
        luaL_error(L, "attempt to use a closed client");
    return b;
}

/* ----------------------------------------------------------------- config */

/* The per-host head lines hold the Authorization line: wiped in place. */
static void host_heads_wipe(config_box *b)
{
    int i;

    for (i = 0; i < 2; i++) {
        if (b->heads[i].fixed.data != NULL)
            ax_wipe(b->heads[i].fixed.data, b->heads[i].fixed.cap);
    }
}

static void host_heads_free(config_box *b)
{
    host_heads_wipe(b);
    ax_buf_free(&b->heads[0].fixed);
    ax_buf_free(&b->heads[1].fixed);
}

static int config_gc(lua_State *L)
{
    config_box *b = luaL_checkudata(L, 1, CONFIG_MT);
    b->closed = 1;
    host_heads_free(b);
    ax_config_free(&b->cfg);
    return 0;
}

/* Parses each base URL once (the options were checked: a failure here is
 * a bug) and builds its fixed head lines. Raises; the box stays closed. */
static void build_host_heads(lua_State *L, config_box *b)
{
    int i;

    for (i = 0; i < 2; i++) {
        const char *base = ax_config_base(&b->cfg, i == 0 ? AX_HOST_API : AX_HOST_SECURE);
        host_head *h = &b->heads[i];
        ax_url u;

        if (ax_url_parse(base, strlen(base), &u) != NULL)
            luaL_error(L, "allawee: the base URL went bad");
        h->base_path = u.path;
        h->base_path_len = u.path_len;
        /* One allocation of the final size: a realloc would leave a copy
         * of the Authorization line in freed memory, unwiped. */
        ax_buf_grow(&h->fixed, strlen(u.host) + strlen(b->cfg.auth) +
                                   strlen(b->cfg.user_agent) + 128);
        ax_buf_lit(&h->fixed, "Host: ");
        ax_buf_append(&h->fixed, u.host, strlen(u.host));
        if (u.has_port) {
            ax_buf_putc(&h->fixed, ':');
            ax_buf_put_integer(&h->fixed, u.port);
        }
        ax_buf_lit(&h->fixed, "\r\n");
        ax_buf_append(&h->fixed, b->cfg.auth, strlen(b->cfg.auth));
        ax_buf_lit(&h->fixed, "\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
                              "User-Agent: ");
        ax_buf_append(&h->fixed, b->cfg.user_agent, strlen(b->cfg.user_agent));
        if (h->fixed.oom)
            luaL_error(L, "allawee: out of memory");
    }
}

static int config_new(lua_State *L)
{
    const char *where = luaL_optstring(L, 2, "allawee.new");
    const char *agent = luaL_optstring(L, 3, "allawee-lua/" AX_VERSION);
    config_box *b;

    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    b = ax_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    b->closed = 1;
    luaL_getmetatable(L, CONFIG_MT);
    lua_setmetatable(L, -2);
    ax_config_read(L, 1, where, agent, &b->cfg);
    build_host_heads(L, b);
    b->closed = 0;
    return 1;
}

static void set_number(lua_State *L, const char *name, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

static void push_options(lua_State *L, const ax_config *cfg)
{
    lua_createtable(L, 0, 16);
    lua_pushstring(L, cfg->base_url);
    lua_setfield(L, -2, "base_url");
    lua_pushstring(L, cfg->secure_base_url);
    lua_setfield(L, -2, "secure_base_url");
    set_number(L, "timeout", (double)cfg->defaults.timeout_ms / 1000.0);
    set_number(L, "connect_timeout", (double)cfg->defaults.connect_timeout_ms / 1000.0);
    lua_pushinteger(L, cfg->defaults.max_retries);
    lua_setfield(L, -2, "max_retries");
    set_number(L, "deadline", cfg->defaults.deadline_s);
    lua_pushboolean(L, cfg->defaults.validate);
    lua_setfield(L, -2, "validate");
    lua_pushinteger(L, (lua_Integer)cfg->max_response_bytes);
    lua_setfield(L, -2, "max_response_bytes");
    lua_pushinteger(L, (lua_Integer)cfg->max_connections);
    lua_setfield(L, -2, "max_connections");
    set_number(L, "backoff_base", cfg->backoff_base);
    set_number(L, "backoff_max", cfg->backoff_max);
    set_number(L, "max_retry_after", cfg->max_retry_after);
    if (cfg->ca_file != NULL) {
        lua_pushstring(L, cfg->ca_file);
        lua_setfield(L, -2, "ca_file");
    }
    if (cfg->proxy != NULL) {
        lua_pushstring(L, cfg->proxy);
        lua_setfield(L, -2, "proxy");
    }
}

static int config_options(lua_State *L)
{
    push_options(L, &check_config(L, 1)->cfg);
    return 1;
}

static int lua_options(lua_State *L)
{
    lua_settop(L, 1);
    lua_pushliteral(L, "allawee.new");
    config_new(L);
    push_options(L, &check_config(L, -1)->cfg);
    return 1;
}

static int config_target(lua_State *L)
{
    config_box *b = check_config(L, 1);
    const char *which = luaL_checkstring(L, 2);
    const char *base = ax_config_base(&b->cfg, strcmp(which, "secure") == 0 ? AX_HOST_SECURE
                                                                          : AX_HOST_API);
    ax_url u;
    size_t hl;

    if (ax_url_parse(base, strlen(base), &u) != NULL)
        return luaL_error(L, "allawee: the %s base URL went bad", which);
    hl = strlen(u.host);
    lua_createtable(L, 0, 8);
    lua_pushboolean(L, u.https);
    lua_setfield(L, -2, "https");
    lua_pushstring(L, u.host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, u.port);
    lua_setfield(L, -2, "port");
    lua_pushboolean(L, u.loopback);
    lua_setfield(L, -2, "loopback");
    /* "localhost" is answered locally, as libcurl does: nginx would need
     * a resolver for it; brackets go for the socket API. */
    if (hl == 9 && strncasecmp(u.host, "localhost", 9) == 0)
        lua_pushliteral(L, "127.0.0.1");
    else if (u.host[0] == '[')
        lua_pushlstring(L, u.host + 1, hl - 2);
    else
        lua_pushstring(L, u.host);
    lua_setfield(L, -2, "connect_host");
    if (u.host[0] != '[') {
        lua_pushstring(L, u.host);   /* SNI and certificate name */
        lua_setfield(L, -2, "sni");
    }
    if (u.has_port)
        lua_pushfstring(L, "%s:%d", u.host, (int)u.port);
    else
        lua_pushstring(L, u.host);
    lua_setfield(L, -2, "host_header");
    return 1;
}

/* cfg:close(): closed at once, and the secrets wiped in place (the
 * Authorization line, the per-host head lines that hold it, the key
 * pool's random state); the memory itself goes at __gc. A finalizer may
 * close the config while one of its methods reads its strings
 * (cfg:options, cfg:target: 5.1 and LuaJIT collect before they copy a new
 * string), so close frees nothing such a method could still be reading. */
static int config_close(lua_State *L)
{
    config_box *b = luaL_checkudata(L, 1, CONFIG_MT);

    b->closed = 1;
    host_heads_wipe(b);
    ax_config_wipe(&b->cfg);
    lua_pushboolean(L, 1);
    return 1;
}

/* ------------------------------------------------------------------- call */

/* A call's box lives in C memory, its userdata a pointer (boxed.c). */
static call_box *check_call(lua_State *L)
{
    return ax_boxed_check(L, 1, CALL_MT, "call");
}

/* Whether the call is still where a method found it (state, and sends
 * counted): Lua run by the method (a finalizer, a metamethod) may have
 * driven the same call on meanwhile, and the method must then not commit. */
static int unmoved(const call_box *c, call_state state, int sends)
{
    return c->state == state && c->policy.sends == sends;
}

static void stale_free(call_box *c)
{
    while (c->stale != NULL) {
        stale_head *s = c->stale;
        c->stale = s->next;
        ax_wipe(s->data, s->len);
        free(s->data);
        free(s);
    }
}

/* Gives a call's memory back: its buffers (wiped where they can hold
 * secrets), then the box. */
static void call_free(call_box *c)
{
    stale_free(c);
    ax_call_spec_free(&c->spec);
    if (c->resp.body.data != NULL)
        ax_wipe(c->resp.body.data, c->resp.body.cap);
    ax_buf_free(&c->resp.body);
    ax_buf_free(&c->final.conflict.body);
    if (c->head != NULL)
        ax_wipe(c->head, c->head_len);
    free(c->head);
    free(c);
}

/* Runs a method of the call at index 1. A method can run Lua (an
 * allocation runs finalizers), and a finalizer can call another method of
 * the same call: the memory is freed only when the outermost one returns,
 * never under a running one. A method that raises leaves busy set, and
 * the memory to __gc. */
static int with_call(lua_State *L, int (*method)(lua_State *, call_box *))
{
    call_box *c = check_call(L);
    int n;

    c->busy++;
    n = method(L, c);
    if (--c->busy == 0) {
        stale_free(c);
        if (c->delivered) {
            ax_boxed_finish(L, 1, CALL_MT);   /* later use: "attempt to use a finished call" */
            call_free(c);
        }
    }
    return n;
}

static int call_gc(lua_State *L)
{
    call_box *c = ax_boxed_take(L, 1, CALL_MT);
    if (c != NULL)
        call_free(c);
    return 0;
}

/* Pushes a new call, inert until prepared. Raises (nothing leaks). The
 * memory is not zeroed: every field is set here, the buffers by their
 * first character (the rest of a message buffer is touched only when a
 * message is written). */
static call_box *call_new(lua_State *L)
{
    call_box *c = ax_boxed_new_raw(L, CALL_MT, sizeof *c);

    c->state = CALL_NEW;    /* inert until prepared: every method refuses it */
    c->stale = NULL;
    c->start_at = 0;
    c->method = NULL;
    c->target = NULL;
    ax_call_spec_init(&c->spec);
    memset(&c->policy, 0, sizeof c->policy);
    ax_final_init(&c->final);
    ax_response_init(&c->resp);
    c->head = NULL;
    c->head_len = 0;
    c->key_at = 0;
    c->head_kept = 0;
    c->head_lines = 0;
    c->head_request_id[0] = '\0';
    c->head_content_type[0] = '\0';
    c->head_retry_after[0] = '\0';
    c->busy = 0;
    c->delivered = 0;
    return c;
}

/* The call's state after prepare: ready, or done with the refusal. */
static int call_start(lua_State *L, config_box *b, call_box *c, ax_call_args *a, int at)
{
    ax_encode_error err;
    int prepared = ax_prepare(L, &b->cfg, a, &c->spec, &err);

    ax_policy_init(&c->policy, &c->spec, &b->cfg, ax_now());
    c->method = c->spec.method;
    c->target = &c->spec.target;
    c->resp.max_bytes = b->cfg.max_response_bytes;
    if (prepared <= 0) {
        int n;

        ax_final_refused(&c->final, prepared, &err);
        lua_settop(L, at);
        n = ax_push_outcome(L, &c->spec, &c->policy, &c->final, &c->resp);   /* nil, err */
        /* Pushed: the call (never seen by Lua) goes back now, not at the
         * next collection. */
        ax_boxed_finish(L, at, CALL_MT);
        call_free(c);
        return n;
    }
    c->state = CALL_SEND;
    lua_settop(L, at);
    return 1;
}

/* cfg:call(name, ...): the arguments of client.<resource>.<method>(...) */
static int config_call(lua_State *L)
{
    config_box *b = check_config(L, 1);
    const ax_endpoint *ep = ax_endpoint_find(luaL_checkstring(L, 2));
    ax_call_args a;
    call_box *c;
    int at;

    if (ep == NULL)
        return luaL_argerror(L, 2, "no such endpoint");
    ax_endpoint_args(L, ep, 3, 2, 0, &a);
    c = call_new(L);
    at = lua_gettop(L);
    return call_start(L, b, c, &a, at);
}

/* cfg:request(method, path [, args] [, options]) */
static int config_request(lua_State *L)
{
    config_box *b = check_config(L, 1);
    ax_call_args a;
    call_box *c;
    int at;

    ax_request_args(L, 2, 2, 0, &a);
    c = call_new(L);
    at = lua_gettop(L);
    return call_start(L, b, c, &a, at);
}

/* The request head, Authorization included, in C memory (wiped later):
 * the request line, the client's fixed lines for the host, then the
 * Idempotency-Key and Content-Length of this call. */
static int build_head(lua_State *L, call_box *c, const config_box *b, int get)
{
    const host_head *hh = &b->heads[c->spec.host == AX_HOST_SECURE ? 1 : 0];
    ax_buf h;
    size_t key_at = 0, key_len = strlen(c->spec.key);

    ax_buf_init(&h);
    ax_buf_grow(&h, strlen(c->method) + hh->base_path_len + c->target->len + hh->fixed.len +
                        key_len + 80);
    ax_buf_append(&h, c->method, strlen(c->method));
    ax_buf_putc(&h, ' ');
    ax_buf_append(&h, hh->base_path, hh->base_path_len);
    ax_buf_append(&h, c->target->data, c->target->len);
    ax_buf_lit(&h, " HTTP/1.1\r\n");
    ax_buf_append(&h, hh->fixed.data, hh->fixed.len);
    if (!get && key_len > 0) {
        ax_buf_lit(&h, "\r\nIdempotency-Key: ");
        key_at = h.len;
        ax_buf_append(&h, c->spec.key, key_len);
    }
    if (!get) {
        ax_buf_lit(&h, "\r\nContent-Length: ");
        ax_buf_put_integer(&h, c->spec.has_body ? (long long)c->spec.body.len : 0);
    }
    ax_buf_lit(&h, "\r\n\r\n");
    if (h.oom) {
        if (h.data != NULL)
            ax_wipe(h.data, h.cap);
        ax_buf_free(&h);
        return luaL_error(L, "allawee: out of memory");
    }
    if (c->head != NULL && c->busy > 1) {   /* an outer method may be reading it */
        stale_head *st = malloc(sizeof *st);
        if (st == NULL) {
            ax_wipe(h.data, h.cap);
            ax_buf_free(&h);
            return luaL_error(L, "allawee: out of memory");
        }
        st->data = c->head;
        st->len = c->head_len;
        st->next = c->stale;
        c->stale = st;
    } else if (c->head != NULL) {
        ax_wipe(c->head, c->head_len);
        free(c->head);
    }
    c->head = h.data;
    c->head_len = h.len;
    c->key_at = key_at;
    return 1;
}

/* The request as an array of strings for sock:send: the head in pieces,
 * then the body. The piece that changes with every call (the
 * Idempotency-Key) is its own string: LuaJIT hashes a long string by a few
 * sampled bytes, so whole heads differing only in the key would share one
 * hash and every new head would be compared with all the dead ones still in
 * the string table. The pieces around the key are the same for every call
 * of a route and are interned once. */
static void push_request(lua_State *L, const call_box *c, int body_at)
{
    int n = 0;
    size_t key_len = c->key_at ? strlen(c->spec.key) : 0;

    lua_createtable(L, 4, 0);
    if (c->key_at) {
        lua_pushlstring(L, c->head, c->key_at);
        lua_rawseti(L, -2, ++n);
        lua_pushlstring(L, c->head + c->key_at, key_len);
        lua_rawseti(L, -2, ++n);
        lua_pushlstring(L, c->head + c->key_at + key_len, c->head_len - c->key_at - key_len);
    } else {
        lua_pushlstring(L, c->head, c->head_len);
    }
    lua_rawseti(L, -2, ++n);
    if (body_at) {
        lua_pushvalue(L, body_at);
        lua_rawseti(L, -2, ++n);
    }
}

/* call:next(cfg) */
static int call_next(lua_State *L, call_box *c)
{
    config_box *b = check_config(L, 2);
    double now = ax_now(), remaining;
    int get, top, sends = c->policy.sends;
    const char *built;

    switch (c->state) {
    case CALL_WAIT:
        if (c->start_at > now) {
            lua_pushliteral(L, "wait");   /* may raise: before the commit */
            lua_pushnumber(L, c->start_at - now);
            if (!unmoved(c, CALL_WAIT, sends))   /* as below */
                return luaL_error(L, "call:next(): the call moved on under this call:next");
            c->start_at = 0;
            c->state = CALL_SEND;
            return 2;
        }
        c->state = CALL_SEND;
        /* fall through */
    case CALL_SEND:
        remaining = c->policy.deadline - now;
        if (remaining <= 0.001) {
            c->final.end = AX_END_CLIENT;
            c->final.kind = "timeout";
            c->final.code = "deadline_exceeded";
            ax_format(c->final.message, sizeof c->final.message,
                      "the deadline passed before the request could be sent");
            c->state = CALL_DONE;
            break;
        }
        /* Everything that can raise (out of memory) first; then the send
         * is counted and committed, without calling Lua. */
        get = strcmp(c->method, "GET") == 0;
        build_head(L, c, b, get);
        built = c->head;
        luaL_checkstack(L, 8, "allawee: call:next");
        lua_pushliteral(L, "send");
        top = lua_gettop(L);
        if (!get && c->spec.has_body && c->spec.body.len > 0)
            lua_pushlstring(L, c->spec.body.data, c->spec.body.len);
        else
            lua_pushnil(L);
        push_request(L, c, lua_isnil(L, top + 1) ? 0 : top + 1);
        lua_insert(L, top + 1);   /* "send", request, body */
        lua_pushnumber(L, remaining * 1000.0 < (double)c->spec.o.timeout_ms
                              ? remaining : (double)c->spec.o.timeout_ms / 1000.0);
        lua_pushnumber(L, (double)c->spec.o.connect_timeout_ms / 1000.0);
        lua_pushstring(L, c->spec.host == AX_HOST_SECURE ? "secure" : "api");
        /* A finalizer above may have driven this call on (sent it, ended
         * it, or built another head): then this send is not handed out. */
        if (c->delivered)
            return luaL_error(L, "attempt to use a finished call");
        if (!unmoved(c, CALL_SEND, sends) || c->head != built)
            return luaL_error(L, "call:next(): the call moved on under this call:next");
        ax_policy_may_send(&c->policy, now, 0);
        c->state = CALL_SENT;
        c->head_kept = 0;         /* nothing of an earlier answer's head */
        c->head_lines = 0;
        return 6;
    case CALL_SENT:
        return luaL_error(L, "call:next(): the last send has no answer or failure yet");
    case CALL_NEW:
        return luaL_error(L, "call:next(): the call is not prepared yet");
    case CALL_DONE:
        break;
    }
    lua_pushliteral(L, "done");
    top = 1 + ax_push_outcome(L, &c->spec, &c->policy, &c->final, &c->resp);
    c->delivered = 1;   /* pushed: nothing is left to raise */
    return top;
}

static int call_resend(lua_State *L, call_box *c)
{
    lua_pushboolean(L, c->state == CALL_SENT && ax_policy_may_send(&c->policy, ax_now(), 1));
    return 1;
}

/* What the policy says after an attempt. */
static void decide(call_box *c, const ax_attempt *a, int transport_ok)
{
    double wait, now = ax_now();

    switch (ax_policy_after(&c->policy, a, now, &wait)) {
    case AX_NEXT_RETRY:
        c->start_at = now + wait;
        c->state = CALL_WAIT;
        break;
    case AX_NEXT_LOOKUP: {
        ax_buf keep = c->final.conflict.body;
        c->final.conflict = c->resp;
        c->resp.body = keep;
        c->resp.body.len = 0;
        c->method = "GET";
        c->target = &c->spec.lookup;
        c->state = CALL_SEND;
        break;
    }
    case AX_NEXT_DONE:
        c->final.end = transport_ok ? AX_END_ANSWER : AX_END_TRANSPORT;
        c->state = CALL_DONE;
        break;
    }
}

static double parse_retry_after(const char *v)
{
    char *end;
    double secs;

    if (v[0] == '\0')
        return -1;
    secs = strtod(v, &end);
    if (end != v && *end == '\0' && secs >= 0)
        return secs;
    return -1;   /* an HTTP-date: the transport converts it (ngx.parse_http_time) */
}

/* call:head(buf, from, scanned, max_head, max_fields): the answer's head,
 * starting at buf[from], parsed in C (a transport's Lua reader made a
 * dozen strings and a table of it per answer):
 *   "more", scanned   not all there: read more, call again with scanned
 *                     (0 for a new head; then what this returned). The
 *                     lines already complete are checked now, so a bad
 *                     head fails as soon as its bad line is in.
 *   "head", status, version, next, transfer-encoding, content-length,
 *           connection, retry-after   (each nil when absent; next: the
 *           position after the head). The request id, content type and
 *           Retry-After are kept for call:answer / call:failed when those
 *           get no headers table.
 *   "lines"           a wanted field repeats or a line is folded: the
 *                     transport reads this head line by line
 *   "bad", why        "bad status line", "bad header line", "too large"
 * The kept fields are dropped first and set last, after everything that
 * can raise, and only while the call still waits for this answer (a
 * finalizer may have answered it meanwhile). */
static int call_head(lua_State *L, call_box *c)
{
    size_t len, end, next;
    const char *buf = luaL_checklstring(L, 2, &len);
    lua_Integer from = luaL_checkinteger(L, 3);
    lua_Integer scanned = luaL_checkinteger(L, 4);
    lua_Integer max_head = luaL_checkinteger(L, 5);
    lua_Integer max_fields = luaL_checkinteger(L, 6);
    int sends = c->policy.sends;
    ax_http_head h;
    const char *why;
    int i;

    luaL_argcheck(L, from >= 1 && (size_t)from - 1 <= len, 3, "out of range");
    len -= (size_t)from - 1;
    luaL_argcheck(L, scanned >= 0 && (size_t)scanned <= len, 4, "out of range");
    luaL_argcheck(L, max_head > 0, 5, "must be positive");
    luaL_argcheck(L, max_fields > 0, 6, "must be positive");
    if (c->state != CALL_SENT)
        return luaL_error(L, "call:head(): no send is waiting for an answer");
    luaL_checkstack(L, 8, "allawee: call:head");
    c->head_kept = 0;
    if (scanned == 0)
        c->head_lines = 0;
    buf += from - 1;
    /* The lines before `scanned` were checked and none was empty: the
     * empty line's LF comes after the LF that ends the last of them. */
    end = ax_http_head_end(buf, len, scanned > 0 ? (size_t)scanned - 1 : 0);
    if (end == 0) {
        size_t lines = 0;
        why = ax_http_head_check(buf, len, (size_t)scanned, &next, &lines);
        c->head_lines += (lua_Integer)lines;
        if (why == NULL && (len > (size_t)max_head || c->head_lines > max_fields))
            why = "too large";
        if (why == NULL) {
            lua_pushliteral(L, "more");
            lua_pushinteger(L, (lua_Integer)next);
            return 2;
        }
    } else if (end > (size_t)max_head) {
        why = "too large";
    } else {
        why = ax_http_head_parse(buf, end, (size_t)max_fields, &h);
    }
    if (why != NULL && strcmp(why, "complex") == 0) {
        lua_pushliteral(L, "lines");
        return 1;
    }
    if (why != NULL) {
        lua_pushliteral(L, "bad");
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushliteral(L, "head");
    lua_pushinteger(L, h.status);
    lua_pushinteger(L, h.version);
    lua_pushinteger(L, from + (lua_Integer)end);
    for (i = AX_HEAD_TRANSFER_ENCODING; i <= AX_HEAD_RETRY_AFTER; i++) {
        if (h.field[i].p != NULL)
            lua_pushlstring(L, h.field[i].p, h.field[i].len);
        else
            lua_pushnil(L);
    }
    /* Commit: plain copies from buf (still on the stack), no Lua call; cut
     * as ax_header_from_table cuts a value from a headers table. */
    if (unmoved(c, CALL_SENT, sends)) {
        ax_header_keep(c->head_request_id, sizeof c->head_request_id,
                       h.field[AX_HEAD_REQUEST_ID].p, h.field[AX_HEAD_REQUEST_ID].len);
        ax_header_keep(c->head_content_type, sizeof c->head_content_type,
                       h.field[AX_HEAD_CONTENT_TYPE].p, h.field[AX_HEAD_CONTENT_TYPE].len);
        ax_header_keep(c->head_retry_after, sizeof c->head_retry_after,
                       h.field[AX_HEAD_RETRY_AFTER].p, h.field[AX_HEAD_RETRY_AFTER].len);
        c->head_kept = 1;
    }
    return 8;
}

/* call:answer(status, headers, body [, retry_after_seconds]); headers nil
 * after call:head: the fields it kept. */
static int call_answer(lua_State *L, call_box *c)
{
    long status = (long)luaL_checkinteger(L, 2);
    size_t len;
    const char *body = luaL_optlstring(L, 4, "", &len);
    int headers = lua_type(L, 3) == LUA_TTABLE ? 3 : 0;
    int sends = c->policy.sends;
    char request_id[sizeof c->resp.request_id];
    char content_type[sizeof c->resp.content_type];
    char retry_after[64];
    double retry_after_s;
    ax_attempt a;

    if (c->state != CALL_SENT)
        return luaL_error(L, "call:answer(): no send is waiting for an answer");
    /* What can run Lua (a headers table's metamethods, finalizers) first,
     * into locals: a finalizer may answer or end this call meanwhile. */
    if (headers == 0 && c->head_kept) {
        memcpy(request_id, c->head_request_id, sizeof request_id);
        memcpy(content_type, c->head_content_type, sizeof content_type);
        memcpy(retry_after, c->head_retry_after, sizeof retry_after);
    } else {
        ax_header_from_table(L, headers, "x-request-id", request_id, sizeof request_id);
        ax_header_from_table(L, headers, "content-type", content_type, sizeof content_type);
        ax_header_from_table(L, headers, "retry-after", retry_after, sizeof retry_after);
    }
    retry_after_s = lua_isnumber(L, 5) ? lua_tonumber(L, 5) : parse_retry_after(retry_after);
    if (!unmoved(c, CALL_SENT, sends))
        return luaL_error(L, "call:answer(): the call moved on while its answer was read");
    ax_response_reset(&c->resp);
    c->resp.max_bytes = len;
    c->resp.status = status;
    memcpy(c->resp.request_id, request_id, sizeof request_id);
    memcpy(c->resp.content_type, content_type, sizeof content_type);
    c->head_kept = 0;
    c->resp.retry_after = retry_after_s;
    ax_buf_append(&c->resp.body, body, len);
    if (c->resp.body.oom)   /* still waiting for this answer: the caller may report it again */
        return luaL_error(L, "allawee: out of memory");
    memset(&a, 0, sizeof a);
    a.sent = AX_ANSWERED;
    a.status = status;
    a.retry_after = c->resp.retry_after;
    a.reference_conflict = status == 409 && ax_is_reference_conflict(body, len);
    decide(c, &a, 1);
    return 0;
}

/* The cosocket's words, in libcurl's (so err.code is the same whichever
 * transport ran the call). */
static CURLcode failure_code(const char *phase, const char *reason, int received,
                             ax_sent *sent)
{
    int timeout = strcmp(reason, "timeout") == 0;

    *sent = AX_NO_ANSWER;
    if (strcmp(phase, "connect") == 0) {
        *sent = AX_NOT_SENT;
        if (timeout)
            return CURLE_OPERATION_TIMEDOUT;
        return strstr(reason, "resolve") != NULL ? CURLE_COULDNT_RESOLVE_HOST
                                                 : CURLE_COULDNT_CONNECT;
    }
    if (strcmp(phase, "tls") == 0) {
        *sent = AX_NOT_SENT;
        if (timeout)
            return CURLE_OPERATION_TIMEDOUT;
        /* nginx reports verification failures as "<X509 code>: <text>" */
        if (strstr(reason, "certificate") != NULL || strstr(reason, "verify") != NULL ||
            strstr(reason, "mismatch") != NULL ||
            (reason[0] >= '0' && reason[0] <= '9' && strstr(reason, ": ") != NULL)) {
            *sent = AX_FATAL;
            return CURLE_PEER_FAILED_VERIFICATION;
        }
        return CURLE_SSL_CONNECT_ERROR;
    }
    if (timeout)
        return CURLE_OPERATION_TIMEDOUT;
    if (strcmp(phase, "send") == 0)
        return CURLE_SEND_ERROR;
    if (strcmp(reason, "too large body") == 0) {
        *sent = AX_FATAL;
        return CURLE_FILESIZE_EXCEEDED;
    }
    if (strcmp(reason, "header too large") == 0) {
        *sent = AX_FATAL;
        return CURLE_OUT_OF_MEMORY;   /* as libcurl reports it; mapped by response.c */
    }
    if (strcmp(reason, "malformed") == 0)
        return CURLE_WEIRD_SERVER_REPLY;
    if (strcmp(reason, "closed") == 0)
        return received ? CURLE_PARTIAL_FILE : CURLE_GOT_NOTHING;
    return CURLE_RECV_ERROR;
}

/* call:failed(phase, reason, received_any [, status [, headers]]) */
static int call_failed(lua_State *L, call_box *c)
{
    const char *phase = luaL_checkstring(L, 2);
    const char *reason = luaL_checkstring(L, 3);
    int received = lua_toboolean(L, 4);
    long status = (long)luaL_optinteger(L, 5, 0);
    int headers = lua_type(L, 6) == LUA_TTABLE ? 6 : 0;
    int sends = c->policy.sends;
    char request_id[sizeof c->resp.request_id];
    ax_attempt a;
    ax_sent sent;
    CURLcode code = failure_code(phase, reason, received, &sent);

    if (c->state != CALL_SENT)
        return luaL_error(L, "call:failed(): no send is waiting for an answer");
    if (headers == 0 && c->head_kept)
        memcpy(request_id, c->head_request_id, sizeof request_id);
    else   /* may run Lua: into a local, then checked below */
        ax_header_from_table(L, headers, "x-request-id", request_id, sizeof request_id);
    if (!unmoved(c, CALL_SENT, sends))
        return luaL_error(L, "call:failed(): the call moved on while its failure was reported");
    ax_response_reset(&c->resp);
    c->resp.status = status;
    memcpy(c->resp.request_id, request_id, sizeof request_id);
    c->head_kept = 0;
    c->resp.curl_code = code;
    c->resp.too_large = code == CURLE_FILESIZE_EXCEEDED;
    if (code == CURLE_OUT_OF_MEMORY)
        ax_format(c->resp.curl_error, sizeof c->resp.curl_error,
                  "the response header is larger than the transport's bound");
    else
        ax_format(c->resp.curl_error, sizeof c->resp.curl_error, "%s: %s", phase, reason);
    memset(&a, 0, sizeof a);
    a.sent = sent;
    a.fatal_after_send = sent == AX_FATAL && strcmp(phase, "receive") == 0;
    a.retry_after = -1;
    decide(c, &a, 0);
    return 0;
}

#define CALL_METHOD(name) \
    static int lua_##name(lua_State *L) { return with_call(L, name); }
CALL_METHOD(call_next)
CALL_METHOD(call_resend)
CALL_METHOD(call_head)
CALL_METHOD(call_answer)
CALL_METHOD(call_failed)

void ax_call_api_register(lua_State *L)
{
    static const luaL_Reg config_methods[] = {
        { "options", config_options }, { "target", config_target },
        { "call", config_call }, { "request", config_request },
        { "close", config_close }, { NULL, NULL }
    };
    static const luaL_Reg call_methods[] = {
        { "next", lua_call_next }, { "resend", lua_call_resend }, { "head", lua_call_head },
        { "answer", lua_call_answer }, { "failed", lua_call_failed }, { NULL, NULL }
    };

    luaL_newmetatable(L, CONFIG_MT);
    lua_newtable(L);
    ax_setfuncs(L, config_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, config_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    luaL_newmetatable(L, CALL_MT);
    lua_newtable(L);
    ax_setfuncs(L, call_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, call_gc);
    lua_setfield(L, -2, "__gc");
    ax_boxed_lock(L);
    lua_pop(L, 1);

    lua_pushcfunction(L, config_new);
    lua_setfield(L, -2, "config");
    lua_pushcfunction(L, lua_options);
    lua_setfield(L, -2, "options");
}
