/* fuzz_lua.c: the embedded Lua state and the input reader (fuzz_lua.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "fuzz_lua.h"
#include "../src/allawee.h"

/* Set by fuzz.mk: the repository root (for lua/, fuzz/oracle.lua and the
 * samples it takes from spec/support/fixtures.lua) and
 * where Debian puts Lua 5.4 C modules (for cjson). */
#ifndef AX_FUZZ_ROOT
#error "AX_FUZZ_ROOT must name the repository root"
#endif
#ifndef AX_FUZZ_CMOD
#error "AX_FUZZ_CMOD must name the Lua 5.4 C module directory"
#endif

#define ORACLE_KEY "allawee.fuzz.oracle"

static lua_State *state;

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
    return 1;
}

void fuzz_call_or_die(lua_State *L, int nargs, int nresults, const char *what)
{
    int base = lua_gettop(L) - nargs;

    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    if (lua_pcall(L, nargs, nresults, base) != LUA_OK) {
        fprintf(stderr, "fuzz: %s failed: %s\n", what, lua_tostring(L, -1));
        abort();
    }
    lua_remove(L, base);
}

static void setup(lua_State *L)
{
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, AX_FUZZ_ROOT "/lua/?.lua;" AX_FUZZ_ROOT "/fuzz/?.lua;"
                      AX_FUZZ_ROOT "/spec/?.lua");
    lua_setfield(L, -2, "path");
    lua_pushstring(L, AX_FUZZ_CMOD "/?.so");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_allawee_core);
    lua_setfield(L, -2, "allawee.core");
    lua_pop(L, 2);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "oracle");
    fuzz_call_or_die(L, 1, 1, "require \"oracle\"");
    lua_setfield(L, LUA_REGISTRYINDEX, ORACLE_KEY);
}

lua_State *fuzz_lua(void)
{
    if (state == NULL) {
        state = luaL_newstate();
        if (state == NULL)
            abort();
        setup(state);
    }
    return state;
}

void fuzz_push_oracle_function(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, ORACLE_KEY);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
}

void fuzz_end_input(lua_State *L)
{
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
}

uint8_t fuzz_byte(fuzz_input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

uint64_t fuzz_u64(fuzz_input *in)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | fuzz_byte(in);
    return v;
}

size_t fuzz_bytes(fuzz_input *in, const uint8_t **out, size_t max)
{
    size_t n = in->n < max ? in->n : max;

    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}
