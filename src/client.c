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
#include <stdio.h>
#include <stdlib.h>

#include "client.h"

/* -------------------------------------------------------------- helpers */

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
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

/* ------------------------------------------------------------------ new */

static void wipe(char *s)
{
    volatile char *p = s;   /* volatile: the stores are not elided */
    while (p != NULL && *p != '\0')
        *p++ = '\0';
}

/* Authorization, Content-Type, Accept, and an empty Expect (no 100-continue
 * round trip, whatever the body size): the same for every request, built
 * once. The key is formatted into a scratch line that is wiped at once;
 * libcurl keeps its own copy in the list, wiped by close. */
static struct curl_slist *fixed_headers(const char *key)
{
    static const char *const fixed[] = {
        "Content-Type: application/json", "Accept: application/json", "Expect:", NULL
    };
    static const char prefix[] = "Authorization: Bearer ";
    size_t key_len = strlen(key);
    char *auth = malloc(sizeof prefix + key_len);
    struct curl_slist *list;
    const char *const *h;

    if (auth == NULL)
        return NULL;
    memcpy(auth, prefix, sizeof prefix - 1);
    memcpy(auth + sizeof prefix - 1, key, key_len + 1);
    list = curl_slist_append(NULL, auth);
    wipe(auth);
    free(auth);
    for (h = fixed; *h != NULL && list != NULL; h++) {
        struct curl_slist *next = curl_slist_append(list, *h);
        if (next == NULL) {
            wipe(list->data);
            curl_slist_free_all(list);
            list = NULL;
        }
    }
    return list;
}

/* base_url without trailing slashes, and the endpoint under it. */
static int set_urls(ax_client *c, const char *base_url)
{
    size_t n = strlen(base_url);

    while (n > 0 && base_url[n - 1] == '/')
        n--;
    c->base_url = malloc(n + 1);
    c->url = malloc(n + sizeof "/customers");
    if (c->base_url == NULL || c->url == NULL)
        return 0;
    memcpy(c->base_url, base_url, n);
    c->base_url[n] = '\0';
    memcpy(c->url, base_url, n);
    memcpy(c->url + n, "/customers", sizeof "/customers");
    return 1;
}

static void client_close_all(ax_client *c);

/* Binds create and create_async (this closure's upvalues) to the client on
 * top, in its user value, which also anchors its requests in flight. */
static void bind_customers(lua_State *L)
{
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
}

static int client_new(lua_State *L)
{
    ax_client_config cfg;
    ax_client *c;
    char ua[256];

    ax_read_client_options(L, 1, "allawee.new", &cfg);   /* raises for any bad option */
    c = ax_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);   /* every pointer NULL: close is safe at any point */
    luaL_getmetatable(L, CLIENT_MT);
    lua_setmetatable(L, -2);

    c->defaults = cfg.defaults;
    c->max_response_bytes = cfg.max_response_bytes;
    c->max_connections = cfg.max_connections;
    c->backoff_base = cfg.backoff_base;
    c->backoff_max = cfg.backoff_max;
    c->max_retry_after = cfg.max_retry_after;
    snprintf(ua, sizeof ua, "allawee-lua/%s libcurl/%s %s%s%s", AX_VERSION,
             ax_curl_version(), LUA_VERSION, cfg.user_agent_suffix ? " " : "",
             cfg.user_agent_suffix ? cfg.user_agent_suffix : "");
    c->user_agent = dup_string(ua);
    c->ca_file = cfg.ca_file ? dup_string(cfg.ca_file) : NULL;
    c->proxy = cfg.proxy ? dup_string(cfg.proxy) : NULL;
    c->fixed_headers = fixed_headers(cfg.secret_key);
    c->multi = curl_multi_init();
    if (!set_urls(c, cfg.base_url) || c->user_agent == NULL || c->fixed_headers == NULL ||
        (cfg.ca_file && c->ca_file == NULL) || (cfg.proxy && c->proxy == NULL) ||
        c->multi == NULL) {
        client_close_all(c);
        return luaL_error(L, "allawee.new: out of memory");
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->max_connections);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (!ax_random_bytes(&c->rng, sizeof c->rng) || c->rng == 0)
        c->rng = (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ULL;
    bind_customers(L);
    return 1;
}

/* ---------------------------------------------------------------- close */

static void client_close_all(ax_client *c)
{
    struct curl_slist *h;

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
    for (h = c->fixed_headers; h != NULL; h = h->next)
        wipe(h->data);   /* the Authorization line holds the key */
    curl_slist_free_all(c->fixed_headers);
    c->fixed_headers = NULL;
    memset(&c->random, 0, sizeof c->random);
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
    key = ax_read_call_options(L, 2, &c->defaults, &o, "customers.create");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));              /* 3: client */
    r = ax_request_new(L, 3);                            /* 4: request */
    ax_request_submit(L, c, r, 4, 1, &o, key);
    while (r->state != REQ_FINISHED)
        ax_drive(L, c, 3, 1.0);
    return ax_push_outcome(L, 3, r);
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
    key = ax_read_call_options(L, 3, &c->defaults, &o, "customers.create_async");
    lua_settop(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));              /* 4: client */
    r = ax_request_new(L, 4);                            /* 5: request */
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
        n = ax_push_outcome(L, client_idx, r);           /* its arguments */
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
    ax_drive(L, c, 1, 0);
    delivered = deliver(L, c, 1);
    while (!delivered && !c->closed && count_in_flight(c) > 0) {
        double left = until - ax_now();
        if (left <= 0)
            break;
        ax_drive(L, c, 1, left);
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
        ax_drive(L, c, 1, 1.0);
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
