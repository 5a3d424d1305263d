/*
 * module.c: luaopen_allawee_core, the one exported symbol.
 *
 * allawee.lua is the public face; it hands this module its private cjson
 * decoder (set_decoder) and re-exports the rest.
 */
#include <pthread.h>

#include "allawee.h"
#include "client.h"

static pthread_mutex_t curl_init_lock = PTHREAD_MUTEX_INITIALIZER;
static int curl_initialised;
static CURLcode curl_init_result = CURLE_FAILED_INIT;
static const char *curl_version_string = "unknown";

/* libcurl's global state is set up exactly once per process, whichever
 * thread (each with its own lua_State) loads the module first; it is never
 * torn down, since other threads may still be using it.
 *
 * A mutex, not pthread_once: both are correct, but Helgrind cannot see
 * glibc's pthread_once fast path and flags every later read of the result.
 * The lock is taken per luaopen and per allawee.new, never per request.
 *
 * curl_version_info is called here, once, too: libcurl (7.88) rewrites
 * static buffers inside it on every call, so two threads calling it at the
 * same time race inside libcurl. */
CURLcode ax_curl_global_init_once(void)
{
    CURLcode result;

    pthread_mutex_lock(&curl_init_lock);
    if (!curl_initialised) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
        ax_json_decode_init();
        curl_version_string = curl_version_info(CURLVERSION_NOW)->version;
        curl_initialised = 1;
    }
    result = curl_init_result;
    pthread_mutex_unlock(&curl_init_lock);
    return result;
}

/* libcurl's version string ("7.88.1"), read once by the function above. */
const char *ax_curl_version(void)
{
    const char *version;

    pthread_mutex_lock(&curl_init_lock);
    version = curl_version_string;
    pthread_mutex_unlock(&curl_init_lock);
    return version;
}

/* set_decoder(decode): the private cjson instance's decode. (JSON null
 * needs no registration: cjson.null is the NULL light userdata in both
 * lua-cjson lines, and the encoder recognises it as such.) */
static int set_decoder(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_decoder_key);
    return 0;
}

/* set_pager(f): f(list) returns a resource's `each` iterator (allawee.lua). */
static int set_pager(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_each_factory_key);
    return 0;
}

/* What the engine reads later without running Lua or allocating: the
 * global tostring as it is now (LuaJIT cdata), the metamethod names, and
 * debug.traceback where the C API has no luaL_traceback (5.1, LuaJIT). */
static void capture_globals(lua_State *L)
{
    lua_getglobal(L, "tostring");
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_tostring_key);
    lua_pushliteral(L, "__index");
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_index_name_key);
    lua_pushliteral(L, "__pairs");
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_pairs_name_key);
    lua_getglobal(L, "debug");
    if (lua_type(L, -1) == LUA_TTABLE)
        lua_getfield(L, -1, "traceback");
    else
        lua_pushnil(L);
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_traceback_key);
    lua_pop(L, 1);
}

/* core.endpoints(): { ["customers.get"] = { method =, path =, host =, body =, query = }, ... }
 * for clients written in Lua and for the editor annotations' check. */
static int endpoints(lua_State *L)
{
    size_t i;

    lua_createtable(L, 0, (int)ax_endpoint_count);
    for (i = 0; i < ax_endpoint_count; i++) {
        const ax_endpoint *ep = &ax_endpoints[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, ep->method);
        lua_setfield(L, -2, "method");
        lua_pushstring(L, ep->path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, ep->host == AX_HOST_SECURE ? "secure" : "api");
        lua_setfield(L, -2, "host");
        lua_pushboolean(L, ep->body != NULL);
        lua_setfield(L, -2, "body");
        lua_pushboolean(L, ep->query != NULL);
        lua_setfield(L, -2, "query");
        lua_pushinteger(L, ax_path_param_count(ep->path));
        lua_setfield(L, -2, "params");
        lua_setfield(L, -2, ep->name);
    }
    return 1;
}

static void push_names(lua_State *L, const char *const *names)
{
    int i;
    lua_newtable(L);
    for (i = 0; names[i] != NULL; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_allawee_core(lua_State *L)
{
    CURLcode init = ax_curl_global_init_once();

    if (init != CURLE_OK)
        return luaL_error(L, "allawee: libcurl failed to initialise: %s",
                          curl_easy_strerror(init));
    capture_globals(L);
    ax_error_register(L);
    ax_client_register(L);

    lua_createtable(L, 0, 8);
    ax_push_client_new(L);
    lua_setfield(L, -2, "new");
    lua_pushcfunction(L, set_decoder);
    lua_setfield(L, -2, "set_decoder");
    lua_pushcfunction(L, set_pager);
    lua_setfield(L, -2, "set_pager");
    lua_pushcfunction(L, endpoints);
    lua_setfield(L, -2, "endpoints");
    push_names(L, ax_client_option_names);
    lua_setfield(L, -2, "option_names");
    push_names(L, ax_call_option_names);
    lua_setfield(L, -2, "call_option_names");
    lua_pushlightuserdata(L, (void *)&ax_empty_array_sentinel);
    lua_setfield(L, -2, "empty_array");

    /* Tables with this metatable encode as arrays even when empty. */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "allawee.array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_array_mt_key);
    lua_setfield(L, -2, "array_mt");

    ax_codec_register(L);
    ax_call_api_register(L);
    ax_webhooks_register(L);

    lua_pushliteral(L, AX_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, ax_curl_version());
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, ax_random_source());
    lua_setfield(L, -2, "random_source");
    return 1;
}
