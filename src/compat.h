/*
 * compat.h: the only place that knows which Lua it is compiled against.
 *
 * The rest of src/ is written against the Lua 5.4 API through the ax_*
 * names below, so that one source builds for 5.1, LuaJIT, 5.2, 5.3 and 5.4.
 */
#ifndef ALLAWEE_COMPAT_H
#define ALLAWEE_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* Lua 5.1 and LuaJIT. */
#define ax_rawlen(L, i) lua_objlen((L), (i))

static inline void ax_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

static inline void *ax_testudata(lua_State *L, int ud, const char *tname)
{
    void *p = lua_touserdata(L, ud);
    if (p != NULL && lua_getmetatable(L, ud)) {
        luaL_getmetatable(L, tname);
        if (!lua_rawequal(L, -1, -2))
            p = NULL;
        lua_pop(L, 2);
        return p;
    }
    return NULL;
}

/* 5.1 has no user values: a userdata's environment table plays that role. */
static inline void ax_setuservalue(lua_State *L, int idx) { lua_setfenv(L, idx); }
static inline void ax_getuservalue(lua_State *L, int idx) { lua_getfenv(L, idx); }

static inline void ax_rawgetp(lua_State *L, int idx, const void *p)
{
    idx = (idx < 0 && idx > LUA_REGISTRYINDEX) ? lua_gettop(L) + idx + 1 : idx;
    lua_pushlightuserdata(L, (void *)p);
    lua_rawget(L, idx);
}

static inline void ax_rawsetp(lua_State *L, int idx, const void *p)
{
    idx = (idx < 0 && idx > LUA_REGISTRYINDEX) ? lua_gettop(L) + idx + 1 : idx;
    lua_pushlightuserdata(L, (void *)p);
    lua_insert(L, -2);
    lua_rawset(L, idx);
}

#define ax_newuserdata(L, sz) lua_newuserdata((L), (sz))
#else
#define ax_rawlen(L, i) lua_rawlen((L), (i))
#define ax_setfuncs(L, l, n) luaL_setfuncs((L), (l), (n))
#define ax_testudata(L, i, t) luaL_testudata((L), (i), (t))
#define ax_rawgetp(L, i, p) ((void)lua_rawgetp((L), (i), (p)))
#define ax_rawsetp(L, i, p) lua_rawsetp((L), (i), (p))
#if LUA_VERSION_NUM >= 504
#define ax_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 1)
#define ax_setuservalue(L, i) ((void)lua_setiuservalue((L), (i), 1))
#define ax_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))
#else
#define ax_newuserdata(L, sz) lua_newuserdata((L), (sz))
#define ax_setuservalue(L, i) lua_setuservalue((L), (i))
#define ax_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#endif
#endif

#define ax_absindex(L, i) \
    ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)

/*
 * Numbers. Lua 5.3+ has a separate integer subtype; before that every number
 * is a double and an "integer" is a double with no fraction.
 */
#if LUA_VERSION_NUM >= 503
#define AX_HAS_INTEGERS 1
#define ax_isinteger(L, i) lua_isinteger((L), (i))
#else
#define AX_HAS_INTEGERS 0
#define ax_isinteger(L, i) 0
#endif

#endif
