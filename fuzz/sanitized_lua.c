/*
 * sanitized_lua.c: `lua5.4 script [args...]`, nothing more, for builds
 * with sanitizers (make asan builds it as build/asan/lua5.4).
 *
 * Linked with -fsanitize=address,undefined, the executable carries the
 * sanitizer runtimes itself, so the instrumented allawee/core.so loads into
 * it without LD_PRELOAD. That matters because LD_PRELOAD is inherited: every
 * process the suite starts (/bin/sh, make, cc, mktemp, nginx, the sandbox)
 * would run under ASan and LeakSanitizer too, and their own reports would
 * drown out the module's. Here only this process is checked.
 *
 * It follows lua.c where busted depends on it: the `arg` table (script at
 * arg[0], the interpreter at arg[-1]), the script's arguments as `...`, a
 * traceback on error, exit status 1 on error, and lua_close at the end so
 * that every __gc runs before LeakSanitizer looks.
 */
#include <stdio.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
    return 1;
}

static int run(lua_State *L, int argc, char **argv)
{
    int i, status;

    lua_createtable(L, argc, 1);
    for (i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");

    lua_pushcfunction(L, traceback);
    status = luaL_loadfile(L, argv[1]);
    if (status != LUA_OK)
        return status;
    luaL_checkstack(L, argc, "too many arguments");
    for (i = 2; i < argc; i++)
        lua_pushstring(L, argv[i]);
    return lua_pcall(L, argc - 2, 0, 1);
}

int main(int argc, char **argv)
{
    lua_State *L;
    int status;

    if (argc < 2) {
        fprintf(stderr, "usage: %s script [args...]\n", argv[0]);
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create a Lua state\n", argv[0]);
        return 1;
    }
    luaL_openlibs(L);
    status = run(L, argc, argv);
    if (status != LUA_OK)
        fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
