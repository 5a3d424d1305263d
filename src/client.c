/*
 * client.c: the libcurl client as Lua sees it.
 *
 *   allawee.core.new(options)              -> client (userdata, __gc, __close)
 *   client.<resource>.<method>(...)        -> data, nil, meta  |  nil, err
 *   client.<resource>.<method>_async(..., callback [, options]) -> request
 *   client:request(method, path [, args] [, options])           (any route)
 *   client:request_async(method, path, args, callback [, options])
 *   client:poll([ms]), client:wait(), client:close(), request:cancel()
 *
 * Resources and methods come from the endpoint table (endpoints.c); a
 * resource table is built on first use and kept in the client's user value.
 *
 * Following liolib's handles, a client is made in a closed state and opened
 * once everything that can fail has been done; using a closed client is a
 * programmer error and raises. Everything that can go wrong at run time
 * (network, service, bad params) returns nil, err. See client.h for the
 * rule that makes Lua code running inside these functions harmless.
 */
#include <stdio.h>
#include <stdlib.h>

#include "client.h"

const char ax_each_factory_key = 0;
const char ax_traceback_key = 0;

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

/* ------------------------------------------------------------ lifetime */

/* Releases the client's resources, once no engine frame uses them. The
 * anchors of its requests go first (so callbacks and the coroutines they
 * hold are not kept alive by a closed client); that only assigns nil to
 * existing keys, which allocates nothing. */
static void teardown(lua_State *L, int client_idx, ax_client *c)
{
    ax_request *r;

    if (c->torn_down)
        return;
    ax_getuservalue(L, client_idx);
    if (lua_type(L, -1) == LUA_TTABLE) {
        for (r = c->requests; r != NULL; r = r->next) {
            if (r->is_async) {
                lua_pushnil(L);
                ax_rawsetp(L, -2, r);
            }
        }
    }
    lua_pop(L, 1);
    ax_client_teardown(c);
}

/* After an engine frame: the last one out of a closed client frees it. */
static void leave(lua_State *L, int client_idx, ax_client *c)
{
    ax_request *r;

    c->busy--;
    if (c->busy == 0) {
        c->delivering = 0;
        for (r = c->requests; r != NULL; r = r->next)
            r->building = 0;   /* a raise may have left one marked */
    }
    if (c->closed && c->busy == 0)
        teardown(L, client_idx, c);
}

static int client_gc(lua_State *L)
{
    ax_client *c = check_client(L, 1);
    c->closed = 1;
    if (c->busy == 0)
        teardown(L, 1, c);
    return 0;
}

static int client_close(lua_State *L)
{
    client_gc(L);
    lua_pushboolean(L, 1);
    return 1;
}

static int client_tostring(lua_State *L)
{
    ax_client *c = check_client(L, 1);
    if (c->closed || c->cfg.base_url == NULL)
        lua_pushliteral(L, "allawee.client (closed)");
    else
        lua_pushfstring(L, "allawee.client (%s)", c->cfg.base_url);
    return 1;
}

/* Authorization, Content-Type, Accept, and an empty Expect (no 100-continue
 * round trip, whatever the body size): the same for every request, built
 * once. libcurl copies the lines; the copy of the key is wiped by close. */
static struct curl_slist *fixed_headers(const char *auth)
{
    static const char *const fixed[] = {
        "Content-Type: application/json", "Accept: application/json", "Expect:", NULL
    };
    struct curl_slist *list = curl_slist_append(NULL, auth);
    const char *const *h;

    for (h = fixed; *h != NULL && list != NULL; h++) {
        struct curl_slist *next = curl_slist_append(list, *h);
        if (next == NULL) {
            ax_wipe(list->data, strlen(list->data));
            curl_slist_free_all(list);
            list = NULL;
        }
    }
    return list;
}

static int client_new(lua_State *L)
{
    ax_client *c;
    char agent[128];

    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    c = ax_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->closed = 1;             /* usable only once everything below worked */
    luaL_getmetatable(L, CLIENT_MT);
    lua_setmetatable(L, -2);   /* from here __gc frees whatever was made */
    lua_newtable(L);
    ax_setuservalue(L, -2);    /* anchors of requests in flight, resource tables */
    snprintf(agent, sizeof agent, "allawee-lua/%s libcurl/%s %s", AX_VERSION,
             ax_curl_version(), LUA_VERSION);
    ax_config_read(L, 1, "allawee.new", agent, &c->cfg);   /* raises for a bad option */
    c->fixed_headers = fixed_headers(c->cfg.auth);
    c->multi = curl_multi_init();
    if (c->fixed_headers == NULL || c->multi == NULL)
        return luaL_error(L, "allawee.new: out of memory");
    if (curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->cfg.max_connections) ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->cfg.max_connections) ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->cfg.max_connections) ||
        curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX))
        return luaL_error(L, "allawee.new: libcurl refused the connection pool settings");
    c->closed = 0;
    return 1;
}

/* ---------------------------------------------------------------- calls */

/* The error of a call that was refused before anything was sent. */
static void set_refusal(ax_request *r, int prepared, const ax_encode_error *err)
{
    ax_final_refused(&r->final, prepared, err);
    r->policy.effectful = r->spec.effectful;
}

/* The body of a blocking call, run protected: drive until its request has
 * its answer, then build the result. Upvalue-free: args (client, request). */
static int drive_until_answered(lua_State *L)
{
    ax_client *c = lua_touserdata(L, 1);
    ax_request *r = lua_touserdata(L, 2);
    int n;

    lua_settop(L, 0);
    while (r->state != REQ_ANSWERED) {
        if (c->closed)
            ax_request_cancel(r, "cancelled", "client_closed",
                              "the client was closed while the call was running");
        else
            ax_drive(c, 1.0);
    }
    n = ax_request_push_outcome(L, r);
    ax_request_retire(r);
    return n;
}

static int run_sync(lua_State *L, int client_idx, ax_client *c, const ax_call_args *a)
{
    ax_encode_error err;
    ax_request *r = ax_request_new(L);
    int base = lua_gettop(L), prepared, status;

    prepared = ax_prepare(L, &c->cfg, a, &r->spec, &err);
    if (prepared <= 0) {   /* refused: nothing was or will be sent */
        set_refusal(r, prepared, &err);
        return ax_push_outcome(L, &r->spec, &r->policy, &r->final, &r->resp);
    }
    lua_pushcfunction(L, drive_until_answered);
    lua_pushlightuserdata(L, c);
    lua_pushlightuserdata(L, r);
    if (c->closed)   /* Lua code above (an __index, a finalizer) closed it */
        return luaL_error(L, "attempt to use a closed client");
    ax_request_commit(c, r, 0);
    c->busy++;
    status = lua_pcall(L, 2, LUA_MULTRET, 0);
    if (status != 0 && r->state != REQ_DONE) {
        /* A call that raises takes its request with it: never sent later. */
        ax_request_cancel(r, "cancelled", "cancelled", "the call raised");
        ax_request_retire(r);
    }
    leave(L, client_idx, c);
    if (status != 0)
        return lua_error(L);
    return lua_gettop(L) - base;
}

static int run_async(lua_State *L, int client_idx, ax_client *c, const ax_call_args *a,
                     int callback)
{
    ax_encode_error err;
    ax_request *r = ax_request_new(L);
    int req = lua_gettop(L), prepared;

    lua_createtable(L, 0, 1);
    lua_pushvalue(L, callback);
    lua_setfield(L, -2, "callback");
    ax_setuservalue(L, req);
    prepared = ax_prepare(L, &c->cfg, a, &r->spec, &err);
    if (prepared <= 0)
        set_refusal(r, prepared, &err);
    if (c->closed)
        return luaL_error(L, "attempt to use a closed client");
    ax_getuservalue(L, client_idx);   /* anchor it: the last thing that allocates */
    lua_pushvalue(L, req);
    ax_rawsetp(L, -2, r);
    lua_pop(L, 1);
    if (c->closed)
        return luaL_error(L, "attempt to use a closed client");
    if (prepared <= 0)
        ax_request_commit_refused(c, r);   /* its callback gets the error at the next poll */
    else
        ax_request_commit(c, r, 1);
    lua_settop(L, req);
    return 1;
}

/* client.<resource>.<method>[_async](path params..., [body | query], [callback], [options])
 * upvalues: 1 the client, 2 the endpoint, 3 true for _async */
static int endpoint_call(lua_State *L)
{
    ax_client *c = check_open(L, lua_upvalueindex(1));
    const ax_endpoint *ep = lua_touserdata(L, lua_upvalueindex(2));
    int async = lua_toboolean(L, lua_upvalueindex(3));
    ax_call_args a;
    int callback = ax_endpoint_args(L, ep, 1, 1, async, &a);

    if (async)
        return run_async(L, lua_upvalueindex(1), c, &a, callback);
    return run_sync(L, lua_upvalueindex(1), c, &a);
}

/* client:request(method, path [, args] [, options]) and
 * client:request_async(method, path, args, callback [, options]) */
static int client_request(lua_State *L)
{
    ax_client *c = check_open(L, 1);
    ax_call_args a;

    ax_request_args(L, 2, 1, 0, &a);
    return run_sync(L, 1, c, &a);
}

static int client_request_async(lua_State *L)
{
    ax_client *c = check_open(L, 1);
    ax_call_args a;
    int callback = ax_request_args(L, 2, 1, 1, &a);

    return run_async(L, 1, c, &a, callback);
}

/* ------------------------------------------------------------ delivery */

/* luv's way: a callback's error keeps its traceback. */
static int traceback(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING)
        return 1;   /* an error object goes through as it is */
#if LUA_VERSION_NUM >= 502
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
#else
    ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_traceback_key);
    if (lua_isfunction(L, -1)) {
        lua_pushvalue(L, 1);
        lua_pushinteger(L, 2);
        lua_call(L, 2, 1);
    } else {
        lua_pop(L, 1);
    }
#endif
    return 1;
}

static ax_request *next_to_deliver(ax_client *c)
{
    ax_request *r;
    for (r = c->answered_head; r != NULL; r = r->answered_next)
        if (!r->building)
            return r;
    return NULL;
}

/* Runs the callbacks of answered requests, in the order they finished.
 * Each request is retired before its callback runs, so an error in the
 * callback (which propagates) never delivers it twice. */
static int deliver(lua_State *L, ax_client *c, int client_idx)
{
    int delivered = 0, handler;
    ax_request *r;

    lua_pushcfunction(L, traceback);
    handler = lua_gettop(L);
    while (!c->closed && (r = next_to_deliver(c)) != NULL) {
        int n, status;
        ax_getuservalue(L, client_idx);                 /* anchors */
        ax_rawgetp(L, -1, r);                           /* the request */
        ax_getuservalue(L, -1);
        lua_getfield(L, -1, "callback");
        n = ax_request_push_outcome(L, r);              /* may raise: r stays queued */
        lua_pushnil(L);
        ax_rawsetp(L, handler + 1, r);                  /* unanchor: no allocation */
        ax_request_retire(r);
        c->delivering = 1;
        status = lua_pcall(L, n, 0, handler);
        c->delivering = 0;
        if (status != 0)
            return lua_error(L);
        lua_settop(L, handler);
        delivered++;
    }
    lua_settop(L, handler - 1);
    return delivered;
}

static void check_not_in_callback(lua_State *L, const ax_client *c, const char *what)
{
    if (c->delivering)
        luaL_error(L, "%s: called from inside a callback (callbacks never nest)", what);
}

/* Protected bodies of poll and wait: args (client, timeout s | nil). */
static int poll_body(lua_State *L)
{
    ax_client *c = lua_touserdata(L, 1);
    double timeout = lua_tonumber(L, 3);
    double until = ax_now() + timeout;
    int delivered;

    ax_drive(c, 0);
    delivered = deliver(L, c, 2);
    while (!delivered && !c->closed && c->n_async > 0) {
        double left = until - ax_now();
        if (left <= 0)
            break;
        ax_drive(c, left);
        delivered = deliver(L, c, 2);
    }
    lua_pushinteger(L, c->closed ? 0 : c->n_async);
    return 1;
}

static int wait_body(lua_State *L)
{
    ax_client *c = lua_touserdata(L, 1);

    for (;;) {
        deliver(L, c, 2);
        if (c->closed || c->n_async == 0)
            break;
        ax_drive(c, 1.0);
    }
    return 0;
}

static int protected_turn(lua_State *L, lua_CFunction body, double timeout, int nresults)
{
    ax_client *c = check_open(L, 1);
    int status;

    lua_settop(L, 1);
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, 1);
    lua_pushnumber(L, timeout);
    if (c->closed)
        return luaL_error(L, "attempt to use a closed client");
    c->busy++;
    status = lua_pcall(L, 3, nresults, 0);
    leave(L, 1, c);
    if (status != 0)
        return lua_error(L);
    return nresults;
}

/* client:poll([timeout_ms]) -> requests still in flight
 * One non-blocking turn, then the callbacks of what finished; if nothing
 * finished, wait up to timeout_ms for something to. With nothing in flight
 * it returns at once: there is nothing to wait for. */
static int client_poll(lua_State *L)
{
    ax_client *c = check_open(L, 1);
    double timeout = luaL_optnumber(L, 2, 0) / 1000.0;

    check_not_in_callback(L, c, "poll");
    return protected_turn(L, poll_body, timeout, 1);
}

/* client:wait(): drive until nothing is in flight. */
static int client_wait(lua_State *L)
{
    ax_client *c = check_open(L, 1);

    check_not_in_callback(L, c, "wait");
    return protected_turn(L, wait_body, 0, 0);
}

/* --------------------------------------------------------------- request */

static ax_request *check_request(lua_State *L)
{
    return ax_boxed_check(L, 1, REQUEST_MT, "request");
}

static int request_cancel(lua_State *L)
{
    ax_request *r = check_request(L);
    int cancellable = r->client != NULL && !r->client->closed &&
                      (r->state == REQ_WAITING || r->state == REQ_RUNNING);

    if (cancellable)
        ax_request_cancel(r, "cancelled", "cancelled", "the request was cancelled");
    lua_pushboolean(L, cancellable);
    return 1;
}

static int request_tostring(lua_State *L)
{
    ax_request *r = check_request(L);
    static const char *const names[] = { "new", "waiting", "running", "finished", "done" };
    lua_pushfstring(L, "allawee.request (%s, %d attempts)", names[r->state],
                    r->policy.sends);
    return 1;
}

static int request_gc(lua_State *L)
{
    ax_request *r = ax_boxed_take(L, 1, REQUEST_MT);
    if (r != NULL) {
        ax_request_release(r);
        free(r);
    }
    return 0;
}

/* ------------------------------------------------------------ resources */

/* The resource table `name` (client.customers ...): one closure per
 * endpoint method and its _async twin, and `each` where there is a list. */
static void push_resource(lua_State *L, int client_idx, const char *name, size_t len)
{
    size_t i;
    int found = 0;

    lua_newtable(L);
    for (i = 0; i < ax_endpoint_count; i++) {
        const ax_endpoint *ep = &ax_endpoints[i];
        const char *method = ep->name + len + 1;
        int async;
        if (strncmp(ep->name, name, len) != 0 || ep->name[len] != '.')
            continue;
        found = 1;
        for (async = 0; async <= 1; async++) {
            lua_pushvalue(L, client_idx);
            lua_pushlightuserdata(L, (void *)ep);
            lua_pushboolean(L, async);
            lua_pushcclosure(L, endpoint_call, 3);
            if (async) {
                lua_pushfstring(L, "%s_async", method);
                lua_insert(L, -2);
                lua_rawset(L, -3);
            } else {
                lua_setfield(L, -2, method);
            }
        }
        if (strcmp(method, "list") == 0) {
            ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_each_factory_key);
            if (lua_isfunction(L, -1)) {
                lua_getfield(L, -2, "list");
                lua_call(L, 1, 1);
                lua_setfield(L, -2, "each");
            } else {
                lua_pop(L, 1);
            }
        }
    }
    if (!found) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

static int client_index(lua_State *L)
{
    size_t len;
    const char *key = lua_tolstring(L, 2, &len);

    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));   /* a method: poll, wait, close, ... */
    if (!lua_isnil(L, -1) || key == NULL || lua_type(L, 2) != LUA_TSTRING)
        return 1;
    check_open(L, 1);
    ax_getuservalue(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    push_resource(L, 1, key, len);
    if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    return 1;
}

void ax_client_register(lua_State *L)
{
    static const luaL_Reg client_methods[] = {
        { "poll", client_poll },
        { "wait", client_wait },
        { "close", client_close },
        { "request", client_request },
        { "request_async", client_request_async },
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
    ax_boxed_lock(L);
    lua_pop(L, 1);
}

void ax_push_client_new(lua_State *L)
{
    lua_pushcfunction(L, client_new);
}
