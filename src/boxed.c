/*
 * boxed.c: userdata that point to their state in C memory.
 *
 * A call (the engine for Lua transports) holds about 2.6 KiB and a libcurl
 * request about 3 KiB (two answers, messages, waits). In Lua's heap that
 * much per call made the collector run about twice as often per create, so
 * their userdata hold only a pointer. The userdata owns the memory from the
 * moment it exists (a raise leaks nothing); __gc takes it back and frees
 * it, after which the pointer is NULL and the object refuses use. Their
 * metatables are locked, so Lua code cannot run that __gc while a method
 * is using the memory.
 */
#include <stdlib.h>

#include "internal.h"

typedef struct boxed {
    void *state;
    int finished;                /* state was given back by ax_boxed_finish */
} boxed;

static void *boxed_new(lua_State *L, const char *mt, size_t size, int zeroed)
{
    boxed *b = ax_newuserdata(L, sizeof *b);

    b->state = NULL;
    b->finished = 0;
    luaL_getmetatable(L, mt);
    lua_setmetatable(L, -2);
    b->state = zeroed ? calloc(1, size) : malloc(size);
    if (b->state == NULL) {
        luaL_error(L, "allawee: out of memory");
        abort();   /* not reached: luaL_error does not return */
    }
    return b->state;
}

void *ax_boxed_new(lua_State *L, const char *mt, size_t size)
{
    return boxed_new(L, mt, size, 1);
}

void *ax_boxed_new_raw(lua_State *L, const char *mt, size_t size)
{
    return boxed_new(L, mt, size, 0);
}

void *ax_boxed_check(lua_State *L, int idx, const char *mt, const char *what)
{
    boxed *b = luaL_checkudata(L, idx, mt);

    if (b->state == NULL)
        luaL_error(L, "attempt to use a %s %s", b->finished ? "finished" : "collected", what);
    return b->state;
}

void *ax_boxed_take(lua_State *L, int idx, const char *mt)
{
    boxed *b = luaL_checkudata(L, idx, mt);
    void *state = b->state;

    b->state = NULL;
    return state;
}

void *ax_boxed_finish(lua_State *L, int idx, const char *mt)
{
    boxed *b = luaL_checkudata(L, idx, mt);
    void *state = b->state;

    b->state = NULL;
    b->finished = state != NULL;
    return state;
}

void ax_boxed_lock(lua_State *L)
{
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
}
