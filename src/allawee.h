/*
 * allawee.h: for C and C++ hosts that link liballawee.a into their binary
 * (game servers, embedded interpreters) instead of loading allawee/core.so.
 *
 *   luaL_requiref(L, "allawee.core", luaopen_allawee_core, 0);  // 5.2+
 *   lua_pop(L, 1);
 *   // or, on any Lua: package.preload["allawee.core"] = luaopen_allawee_core
 *
 * then `require "allawee"` works as usual (allawee.lua and lua-cjson must be
 * on package.path / package.cpath, or preloaded the same way).
 */
#ifndef ALLAWEE_H
#define ALLAWEE_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

int luaopen_allawee_core(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
