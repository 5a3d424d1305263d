/*
 * client.c: the client object as Lua sees it.
 *
 *   allawee.core.new(options)         -> client (userdata, __gc, __close)
 *   client.customers.create(p [, o])  -> data, nil, meta  |  nil, err
 *   client.customers.create_async(p, callback [, o]) -> request
 *   client:poll(timeout_ms), client:wait(), client:close()
 *
 * Following liolib's handles, a client has an explicit closed state; using
 * a closed client is a programmer error and raises. Everything that can go
 * wrong at run time (network, service, bad params) returns nil, err.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "client.h"

#define DEFAULT_BASE_URL "https://api.allawee.com"

/* -------------------------------------------------------------- helpers */

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* Overwrites a secret before freeing it; volatile so it is not elided. */
static void free_secret(char *s)
{
    volatile char *p = s;
    if (s == NULL)
        return;
    while (*p != '\0')
        *p++ = '\0';
    free(s);
}

static int has_control_chars(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 1;
    return 0;
}

static ax_client *check_client(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CLIENT_MT);
}

static ax_client *check_open(lua_State *L, int idx)
{
    ax_client *c = check_client(L, idx);
    if (c->closed)
        luaL_error(L, "attempt to use a closed client");
    return c;
}

/* -------------------------------------------------------------- options */

typedef struct option_reader {
    lua_State *L;
    int idx;
    const char *where;     /* "allawee.new" or "customers.create" */
} option_reader;

/* Pushes options[name]; returns 0 (and pushes nothing) when it is nil. */
static int get_option(option_reader *o, const char *name)
{
    if (o->idx == 0)
        return 0;
    lua_getfield(o->L, o->idx, name);
    if (lua_isnil(o->L, -1)) {
        lua_pop(o->L, 1);
        return 0;
    }
    return 1;
}

static double number_option(option_reader *o, const char *name, double def,
                            double min, double max)
{
    double v;
    if (!get_option(o, name))
        return def;
    if (lua_type(o->L, -1) != LUA_TNUMBER)
        luaL_error(o->L, "%s: option '%s' must be a number, got %s", o->where,
                   name, luaL_typename(o->L, -1));
    v = lua_tonumber(o->L, -1);
    if (!(v >= min && v <= max))   /* also refuses NaN */
        luaL_error(o->L, "%s: option '%s' must be between %f and %f", o->where,
                   name, min, max);
    lua_pop(o->L, 1);
    return v;
}

static long integer_option(option_reader *o, const char *name, long def,
                           long min, long max)
{
    double v = number_option(o, name, (double)def, (double)min, (double)max);
    if (v != (double)(long)v)
        luaL_error(o->L, "%s: option '%s' must be a whole number", o->where, name);
    return (long)v;
}

static int boolean_option(option_reader *o, const char *name, int def)
{
    int v;
    if (!get_option(o, name))
        return def;
    if (lua_type(o->L, -1) != LUA_TBOOLEAN)
        luaL_error(o->L, "%s: option '%s' must be a boolean, got %s", o->where,
                   name, luaL_typename(o->L, -1));
    v = lua_toboolean(o->L, -1);
    lua_pop(o->L, 1);
    return v;
}

/* A string option (or env fallback). Control characters are refused: they
 * would let a value inject headers. The value is never quoted in errors. */
static const char *string_option(option_reader *o, const char *name, const char *def)
{
    const char *s;
    size_t len;

    if (!get_option(o, name)) {
        if (def != NULL && has_control_chars(def, strlen(def)))
            luaL_error(o->L, "%s: the default for '%s' contains a control character",
                       o->where, name);
        return def;
    }
    if (lua_type(o->L, -1) != LUA_TSTRING)
        luaL_error(o->L, "%s: option '%s' must be a string, got %s", o->where,
                   name, luaL_typename(o->L, -1));
    s = lua_tolstring(o->L, -1, &len);
    if (has_control_chars(s, len) || strlen(s) != len)
        luaL_error(o->L, "%s: option '%s' contains a control character (CR, LF, NUL, ...)",
                   o->where, name);
    lua_pop(o->L, 1);   /* still referenced by the options table */
    return s;
}

static void refuse_unknown(option_reader *o, const char *const *known)
{
    lua_State *L = o->L;

    if (o->idx == 0)
        return;
    lua_pushnil(L);
    while (lua_next(L, o->idx) != 0) {
        const char *const *k;
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        for (k = known; key != NULL && *k != NULL; k++)
            if (strcmp(*k, key) == 0)
                break;
        if (key == NULL || *k == NULL)
            luaL_error(L, "%s: unknown option '%s'", o->where,
                       key != NULL ? key : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
}

/* ------------------------------------------------------------- base URL */

static int is_loopback_host(const char *host, size_t len)
{
    size_t i;
    int dots = 0;

    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && memcmp(host, "[::1]", 5) == 0))
        return 1;
    if (len < 9 || memcmp(host, "127.", 4) != 0)
        return 0;
    for (i = 0; i < len; i++) {
        if (host[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)host[i]))
            return 0;
    }
    return dots == 3;
}

/* Checks base_url: http(s), a host, no credentials, query or fragment, and
 * plain http only to loopback. Returns an error message or NULL. */
static const char *check_base_url(const char *url)
{
    const char *host, *end, *port;
    int https;

    if (strncasecmp(url, "https://", 8) == 0)
        https = 1;
    else if (strncasecmp(url, "http://", 7) == 0)
        https = 0;
    else
        return "base_url must start with https:// (or http:// for loopback)";
    host = url + (https ? 8 : 7);
    end = host + strcspn(host, "/?#");
    if (strpbrk(url, "?#") != NULL)
        return "base_url must not have a query or a fragment";
    if (memchr(host, '@', (size_t)(end - host)) != NULL)
        return "base_url must not carry credentials";
    if (*host == '[') {
        port = memchr(host, ']', (size_t)(end - host));
        port = port != NULL ? port + 1 : end;
    } else {
        port = memchr(host, ':', (size_t)(end - host));
        if (port == NULL)
            port = end;
    }
    if (port == host)
        return "base_url has no host";
    if (!https && !is_loopback_host(host, (size_t)(port - host)))
        return "plain http:// is only allowed to loopback (127.0.0.0/8, ::1, "
               "localhost); use https://";
    return NULL;
}

/* ------------------------------------------------------------------ new */

static const char *const client_options[] = {
    "secret_key", "base_url", "timeout", "connect_timeout", "max_retries",
    "ca_file", "proxy", "user_agent", "validate", "deadline",
    "max_response_bytes", "max_connections", "backoff_base", "backoff_max",
    "max_retry_after", NULL
};

static void read_call_defaults(option_reader *o, ax_call_options *d)
{
    d->timeout_ms = (long)(number_option(o, "timeout", 80, 0.001, 86400) * 1000.0);
    d->connect_timeout_ms =
        (long)(number_option(o, "connect_timeout", 30, 0.001, 86400) * 1000.0);
    d->max_retries = (int)integer_option(o, "max_retries", 2, 0, 10);
    d->deadline_s = number_option(o, "deadline", 120, 0.001, 86400);
    d->validate = boolean_option(o, "validate", 1);
}

static void client_close_all(ax_client *c);

static int client_new(lua_State *L)
{
    option_reader o = { L, 0, "allawee.new" };
    ax_client *c;
    const char *key, *base_url, *ua_suffix, *ca_file, *proxy, *problem;
    char ua[256], *auth;
    size_t base_len;

    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        o.idx = 1;
    }
    refuse_unknown(&o, client_options);
    key = string_option(&o, "secret_key", getenv("ALLAWEE_SECRET_KEY"));
    if (key == NULL || *key == '\0')
        return luaL_error(L, "allawee.new: no secret_key (pass one, or set "
                             "ALLAWEE_SECRET_KEY)");
    base_url = string_option(&o, "base_url", getenv("ALLAWEE_BASE_URL"));
    if (base_url == NULL || *base_url == '\0')
        base_url = DEFAULT_BASE_URL;
    problem = check_base_url(base_url);
    if (problem != NULL)
        return luaL_error(L, "allawee.new: %s", problem);
    ua_suffix = string_option(&o, "user_agent", NULL);
    ca_file = string_option(&o, "ca_file", NULL);
    proxy = string_option(&o, "proxy", NULL);

    c = ax_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);   /* every pointer NULL: close is safe at any point */
    luaL_getmetatable(L, CLIENT_MT);
    lua_setmetatable(L, -2);

    read_call_defaults(&o, &c->defaults);
    c->max_response_bytes =
        (size_t)integer_option(&o, "max_response_bytes", 8L << 20, 1024, 1L << 30);
    c->max_connections = integer_option(&o, "max_connections", 16, 1, 1024);
    c->backoff_base = number_option(&o, "backoff_base", 0.5, 0, 60);
    c->backoff_max = number_option(&o, "backoff_max", 5, 0, 600);
    c->max_retry_after = number_option(&o, "max_retry_after", 30, 0, 3600);

    snprintf(ua, sizeof ua, "allawee-lua/%s libcurl/%s %s%s%s", AX_VERSION,
             ax_curl_version(), LUA_VERSION, ua_suffix ? " " : "", ua_suffix ? ua_suffix : "");
    base_len = strlen(base_url);
    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;

    c->base_url = malloc(base_len + 1);
    c->url = malloc(base_len + sizeof "/customers");
    auth = malloc(strlen(key) + sizeof "Authorization: Bearer ");
    c->auth_header = auth;
    c->user_agent = dup_string(ua);
    c->ca_file = ca_file ? dup_string(ca_file) : NULL;
    c->proxy = proxy ? dup_string(proxy) : NULL;
    c->multi = curl_multi_init();
    if (c->base_url == NULL || c->url == NULL || auth == NULL || c->user_agent == NULL ||
        (ca_file && c->ca_file == NULL) || (proxy && c->proxy == NULL) || c->multi == NULL) {
        client_close_all(c);
        return luaL_error(L, "allawee.new: out of memory");
    }
    memcpy(c->base_url, base_url, base_len);
    c->base_url[base_len] = '\0';
    memcpy(c->url, base_url, base_len);
    memcpy(c->url + base_len, "/customers", sizeof "/customers");
    /* NOLINTBEGIN(clang-analyzer-security.insecureAPI.strcpy): auth was
     * malloc'ed above for exactly these two strings and the NUL. */
    strcpy(auth, "Authorization: Bearer ");
    strcat(auth, key);
    /* NOLINTEND(clang-analyzer-security.insecureAPI.strcpy) */
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (!ax_random_bytes(&c->rng, sizeof c->rng) || c->rng == 0)
        c->rng = (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ULL;

    /* User value: the anchors of requests in flight, and `customers`. */
    lua_createtable(L, 0, 1);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, lua_tocfunction(L, lua_upvalueindex(1)), 1);
    lua_setfield(L, -2, "create");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, lua_tocfunction(L, lua_upvalueindex(2)), 1);
    lua_setfield(L, -2, "create_async");
    lua_setfield(L, -2, "customers");
    ax_setuservalue(L, -2);
    return 1;
}

/* ---------------------------------------------------------------- close */

static void client_close_all(ax_client *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    /* Requests in flight are cancelled without running their callbacks. */
    while (c->requests != NULL)
        ax_request_release(c->requests);
    while (c->n_idle > 0)
        curl_easy_cleanup(c->idle[--c->n_idle]);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    c->multi = NULL;
    free_secret(c->auth_header);
    c->auth_header = NULL;
    free(c->base_url);
    free(c->url);
    free(c->user_agent);
    free(c->ca_file);
    free(c->proxy);
    c->base_url = c->url = c->user_agent = c->ca_file = c->proxy = NULL;
}

static int client_gc(lua_State *L)
{
    client_close_all(check_client(L, 1));
    return 0;
}

static int client_close(lua_State *L)
{
    ax_client *c = check_client(L, 1);
    client_close_all(c);
    lua_pushboolean(L, 1);
    return 1;
}

static int client_tostring(lua_State *L)
{
    ax_client *c = check_client(L, 1);
    if (c->closed)
        lua_pushliteral(L, "allawee.client (closed)");
    else
        lua_pushfstring(L, "allawee.client (%s)", c->base_url);
    return 1;
}

/* ---------------------------------------------------------------- calls */

static const char *const call_options[] = {
    "timeout", "connect_timeout", "max_retries", "deadline", "validate",
    "idempotency_key", NULL
};

/* Reads per-call options over the client's defaults; returns the caller's
 * idempotency key or NULL. */
static const char *read_call_options(lua_State *L, int idx, const ax_client *c,
                                     ax_call_options *out, const char *where)
{
    option_reader o = { L, 0, where };
    const char *key;

    *out = c->defaults;
    if (lua_isnoneornil(L, idx))
        return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    o.idx = idx;
    refuse_unknown(&o, call_options);
    out->timeout_ms = (long)(number_option(&o, "timeout", out->timeout_ms / 1000.0,
                                           0.001, 86400) * 1000.0);
    out->connect_timeout_ms = (long)(number_option(&o, "connect_timeout",
                                                   out->connect_timeout_ms / 1000.0,
                                                   0.001, 86400) * 1000.0);
    out->max_retries = (int)integer_option(&o, "max_retries", out->max_retries, 0, 10);
    out->deadline_s = number_option(&o, "deadline", out->deadline_s, 0.001, 86400);
    out->validate = boolean_option(&o, "validate", out->validate);
    key = string_option(&o, "idempotency_key", NULL);
    if (key != NULL) {
        size_t i, n = strlen(key);
        if (n == 0 || n > AX_KEY_MAX)
            luaL_error(L, "%s: idempotency_key must be 1 to %d bytes", where, AX_KEY_MAX);
        for (i = 0; i < n; i++)
            if ((unsigned char)key[i] > 0x7e)
                luaL_error(L, "%s: idempotency_key must be printable ASCII", where);
    }
    return key;
}

/* params must be a table: anything else is a programmer error. */
static void check_params(lua_State *L, const char *where)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        luaL_error(L, "%s: params must be a table, got %s", where, luaL_typename(L, 1));
}

/* customers.create(params [, options]); upvalue 1: the client. */
static int customers_create(lua_State *L)
{
    ax_client *c = check_open(L, lua_upvalueindex(1));
    ax_call_options o;
    const char *key;
    ax_request *r;

    check_params(L, "customers.create");
    key = read_call_options(L, 2, c, &o, "customers.create");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));              /* 3: client */
    r = ax_request_new(L, c, 3);                         /* 4: request */
    ax_request_submit(L, c, r, 4, 1, &o, key);
    lua_pushvalue(L, 3);                                 /* client on top */
    while (r->state != REQ_FINISHED)
        ax_drive(L, c, 1.0);
    return ax_push_outcome(L, c, r);
}

/* customers.create_async(params, callback [, options]) -> request */
static int customers_create_async(lua_State *L)
{
    ax_client *c = check_open(L, lua_upvalueindex(1));
    ax_call_options o;
    const char *key;
    ax_request *r;

    check_params(L, "customers.create_async");
    if (lua_type(L, 2) != LUA_TFUNCTION)
        luaL_error(L, "customers.create_async: the callback must be a function, got %s",
                   luaL_typename(L, 2));
    key = read_call_options(L, 3, c, &o, "customers.create_async");
    lua_settop(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));              /* 4: client */
    r = ax_request_new(L, c, 4);                         /* 5: request */
    ax_getuservalue(L, 5);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "callback");
    lua_pop(L, 1);
    r->has_callback = 1;
    ax_request_submit(L, c, r, 5, 1, &o, key);
    lua_settop(L, 5);
    return 1;
}

static int count_in_flight(const ax_client *c)
{
    const ax_request *r;
    int n = 0;
    for (r = c->requests; r != NULL; r = r->next)
        if (r->has_callback)
            n++;
    return n;
}

/* The finished request with a callback that finished first, or NULL. */
static ax_request *next_to_deliver(ax_client *c)
{
    ax_request *r, *best = NULL;
    for (r = c->requests; r != NULL; r = r->next)
        if (r->has_callback && r->state == REQ_FINISHED &&
            (best == NULL || r->finish_seq < best->finish_seq))
            best = r;
    return best;
}

/* Runs the callbacks of finished requests, one at a time. The client is at
 * `client_idx`. An error in a callback propagates; the client stays
 * consistent because each request is retired before its callback runs. */
static int deliver(lua_State *L, ax_client *c, int client_idx)
{
    int delivered = 0;
    ax_request *r;

    while (!c->closed && (r = next_to_deliver(c)) != NULL) {
        int base = lua_gettop(L), n, status;
        ax_getuservalue(L, client_idx);
        ax_rawgetp(L, -1, r);
        ax_getuservalue(L, -1);
        lua_getfield(L, -1, "callback");                 /* base + 4 */
        lua_pushvalue(L, client_idx);
        n = ax_push_outcome(L, c, r);                    /* pops the client */
        lua_remove(L, -(n + 1));
        c->delivering = 1;
        status = lua_pcall(L, n, 0, 0);
        c->delivering = 0;
        if (status != 0)
            lua_error(L);
        lua_settop(L, base);
        delivered++;
    }
    return delivered;
}

static void check_not_in_callback(lua_State *L, const ax_client *c, const char *what)
{
    if (c->delivering)
        luaL_error(L, "%s: called from inside a callback (callbacks never nest)", what);
}

/* client:poll([timeout_ms]) -> requests still in flight
 * One non-blocking turn, then the callbacks of what finished; if nothing
 * finished, wait up to timeout_ms for something to. With nothing in flight
 * it returns at once: there is nothing to wait for. */
static int client_poll(lua_State *L)
{
    ax_client *c = check_open(L, 1);
    double timeout = luaL_optnumber(L, 2, 0) / 1000.0;
    double until = ax_now() + timeout;
    int delivered;

    check_not_in_callback(L, c, "poll");
    lua_settop(L, 1);
    ax_drive(L, c, 0);
    delivered = deliver(L, c, 1);
    while (!delivered && !c->closed && count_in_flight(c) > 0) {
        double left = until - ax_now();
        if (left <= 0)
            break;
        ax_drive(L, c, left);
        delivered = deliver(L, c, 1);
    }
    lua_pushinteger(L, c->closed ? 0 : count_in_flight(c));
    return 1;
}

/* client:wait(): drive until nothing is in flight. */
static int client_wait(lua_State *L)
{
    ax_client *c = check_open(L, 1);

    check_not_in_callback(L, c, "wait");
    lua_settop(L, 1);
    for (;;) {
        deliver(L, c, 1);
        if (c->closed || count_in_flight(c) == 0)
            break;
        ax_drive(L, c, 1.0);
    }
    return 0;
}

/* --------------------------------------------------------------- request */

static int request_cancel(lua_State *L)
{
    ax_request *r = luaL_checkudata(L, 1, REQUEST_MT);
    lua_pushboolean(L, ax_request_cancel(L, r, 1));
    return 1;
}

static int request_tostring(lua_State *L)
{
    ax_request *r = luaL_checkudata(L, 1, REQUEST_MT);
    static const char *const names[] = { "waiting", "running", "finished", "done" };
    lua_pushfstring(L, "allawee.request (%s, %d attempts)", names[r->state], r->attempts);
    return 1;
}

static int request_gc(lua_State *L)
{
    ax_request *r = luaL_checkudata(L, 1, REQUEST_MT);
    ax_request_release(r);
    return 0;
}

/* ------------------------------------------------------------- metatables */

static int client_index(lua_State *L)
{
    const char *key = lua_tostring(L, 2);
    if (key != NULL && strcmp(key, "customers") == 0) {
        check_open(L, 1);
        ax_getuservalue(L, 1);
        lua_getfield(L, -1, "customers");
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

void ax_client_register(lua_State *L)
{
    static const luaL_Reg client_methods[] = {
        { "poll", client_poll },
        { "wait", client_wait },
        { "close", client_close },
        { NULL, NULL }
    };
    static const luaL_Reg request_methods[] = {
        { "cancel", request_cancel },
        { NULL, NULL }
    };

    luaL_newmetatable(L, CLIENT_MT);
    lua_newtable(L);
    ax_setfuncs(L, client_methods, 0);
    lua_pushcclosure(L, client_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, client_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, client_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, client_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    luaL_newmetatable(L, REQUEST_MT);
    lua_newtable(L);
    ax_setfuncs(L, request_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, request_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, request_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}

/* Pushes allawee.core.new: a closure over the two customers functions, so
 * that new() can bind them to each client it makes. */
void ax_push_client_new(lua_State *L)
{
    lua_pushcfunction(L, customers_create);
    lua_pushcfunction(L, customers_create_async);
    lua_pushcclosure(L, client_new, 2);
}
