/*
 * host_lua.h: what the two example hosts do the same way with a lua_State:
 * register the statically linked allawee.core without dlopen, point
 * package.path at allawee.lua and the host's scripts, and run Lua with a
 * traceback on error.
 */
#ifndef HOST_LUA_H
#define HOST_LUA_H

#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "allawee.h"

/* Where allawee.lua and the host scripts live; the build passes absolute
 * paths, and the environment may override them. */
#ifndef HOST_LUA_DIR
#define HOST_LUA_DIR "lua"
#endif
#ifndef HOST_SCRIPT_DIR
#define HOST_SCRIPT_DIR "examples/host"
#endif

/* allawee.core comes from liballawee.a, so `require` must not look for a
 * core.so: on 5.2+ luaL_requiref puts it in package.loaded directly. */
static void host_register_allawee(lua_State *L)
{
#if LUA_VERSION_NUM >= 502
    luaL_requiref(L, "allawee.core", luaopen_allawee_core, 0);
    lua_pop(L, 1);
#else
    /* 5.1 and LuaJIT: package.preload, called by the first require. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_allawee_core);
    lua_setfield(L, -2, "allawee.core");
    lua_pop(L, 2);
#endif
}

/* package.path = <lua dir>/?.lua;<script dir>/?.lua;<the default>. lua-cjson
 * stays on the default package.cpath (Debian's lua-cjson). */
static void host_set_paths(lua_State *L)
{
    const char *lua_dir = getenv("ALLAWEE_LUA_DIR");
    const char *script_dir = getenv("HOST_SCRIPT_DIR");

    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?.lua;", lua_dir ? lua_dir : HOST_LUA_DIR,
                    script_dir ? script_dir : HOST_SCRIPT_DIR);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

static int host_traceback(lua_State *L)
{
#if LUA_VERSION_NUM >= 502
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
#else
    (void)L;    /* 5.1 has no luaL_traceback: the message alone */
#endif
    return 1;
}

/* lua_pcall with a traceback; on error prints it (prefixed by `who`) and
 * returns 0, leaving nothing on the stack. */
static int host_pcall(lua_State *L, int nargs, int nresults, const char *who)
{
    int base = lua_gettop(L) - nargs;
    int status;

    lua_pushcfunction(L, host_traceback);
    lua_insert(L, base);
    status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (status != 0) {
        fprintf(stderr, "%s: %s\n", who, lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Runs unprotected code under lua_pcall: luaL_requiref calls
 * luaopen_allawee_core directly, and its error (libcurl failed to
 * initialise, out of memory) must not become a panic that aborts the host. */
static int host_open(lua_State *L)
{
    luaL_openlibs(L);
    host_register_allawee(L);
    host_set_paths(L);
    return 0;
}

/* A new state with the standard libraries and allawee registered, or NULL
 * (after printing why). */
static lua_State *host_new_state(void)
{
    lua_State *L = luaL_newstate();

    if (L == NULL) {
        fprintf(stderr, "host: out of memory for a lua_State\n");
        return NULL;
    }
    lua_pushcfunction(L, host_open);
    if (!host_pcall(L, 0, 0, "host: opening Lua")) {
        lua_close(L);
        return NULL;
    }
    return L;
}

#endif
