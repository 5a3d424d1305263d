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

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_allawee_core(lua_State *L)
{
    CURLcode init = ax_curl_global_init_once();

    if (init != CURLE_OK)
        return luaL_error(L, "allawee: libcurl failed to initialise: %s",
                          curl_easy_strerror(init));
    ax_error_register(L);
    ax_client_register(L);

    lua_createtable(L, 0, 8);
    ax_push_client_new(L);
    lua_setfield(L, -2, "new");
    lua_pushcfunction(L, set_decoder);
    lua_setfield(L, -2, "set_decoder");
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
    ax_options_register(L);

    lua_pushliteral(L, AX_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, ax_curl_version());
    lua_setfield(L, -2, "curl_version");
    lua_pushstring(L, ax_random_source());
    lua_setfield(L, -2, "random_source");
    return 1;
}
