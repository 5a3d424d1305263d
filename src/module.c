/*
 * module.c: luaopen_allawee_core, the one exported symbol.
 *
 * allawee.lua is the public face; it hands this module its private cjson
 * decoder (set_decoder) and re-exports the rest.
 */
#include <pthread.h>

#include "allawee.h"
#include "client.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl's global state is set up exactly once per process, whichever
 * thread (each with its own lua_State) loads the module first; it is never
 * torn down, since other threads may still be using it. */
void ax_curl_global_init_once(void)
{
    pthread_once(&curl_once, curl_init);
}

/* set_decoder(decode, null): the private cjson instance's decode. */
static int set_decoder(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_decoder_key);
    lua_pushvalue(L, 2);
    ax_rawsetp(L, LUA_REGISTRYINDEX, &ax_null_key);
    return 0;
}

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_allawee_core(lua_State *L)
{
    ax_curl_global_init_once();
    if (curl_init_result != CURLE_OK)
        return luaL_error(L, "allawee: libcurl failed to initialise: %s",
                          curl_easy_strerror(curl_init_result));
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

    lua_pushliteral(L, AX_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    lua_setfield(L, -2, "curl_version");
    return 1;
}
