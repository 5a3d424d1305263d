/*
 * errors.c: the error value every failure returns (`nil, err`).
 *
 * An error is a plain table, so callers can read err.kind, err.status, ...
 * and copy or log it as they like; its metatable gives it a one-line
 * __tostring. Nothing in it ever holds the secret key: the messages are
 * built from the response and from libcurl's error text, which never quotes
 * request headers.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

#define CODE_MAX 128   /* err.code is an identifier: bounded, one line */

#define ERROR_MT "allawee.error"

static void set_string(lua_State *L, const char *name, const char *value)
{
    if (value == NULL)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
}

/* Appends s with every control character (CR, LF, TAB, ...) turned into a
 * space: a message from the server must not split a log line in two. */
static void add_one_line(luaL_Buffer *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        luaL_addchar(b, ch < 0x20 || ch == 0x7f ? ' ' : *s);
    }
}

/* A count from an error table, or 0. core.error tables come from callers:
 * a huge or NaN float must not reach an integer cast (undefined). */
static lua_Integer whole_number(lua_State *L, int idx)
{
    lua_Number n = lua_tonumber(L, idx);
    return n > 0 && n < 1e15 ? (lua_Integer)n : 0;
}

static int error_tostring(lua_State *L)
{
    luaL_Buffer b;
    const char *kind, *message, *code, *request_id;
    lua_Integer status, attempts;
    int ambiguous;
    char tail[64];

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "request_id");
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "attempts");
    lua_getfield(L, 1, "ambiguous");
    ambiguous = lua_toboolean(L, -1);
    lua_pop(L, 1);
    kind = lua_tostring(L, -6);
    message = lua_tostring(L, -5);
    code = lua_tostring(L, -4);
    request_id = lua_tostring(L, -3);
    status = whole_number(L, -2);
    attempts = whole_number(L, -1);

    luaL_buffinit(L, &b);
    luaL_addstring(&b, "allawee ");
    add_one_line(&b, kind ? kind : "unknown");
    luaL_addstring(&b, " error: ");
    add_one_line(&b, message ? message : "(no message)");
    if (status > 0) {
        snprintf(tail, sizeof tail, " (HTTP %lld)", (long long)status);
        luaL_addstring(&b, tail);
    }
    if (code != NULL) {
        luaL_addstring(&b, " [");
        add_one_line(&b, code);
        luaL_addstring(&b, "]");
    }
    if (request_id != NULL) {
        luaL_addstring(&b, " request_id=");
        add_one_line(&b, request_id);
    }
    if (attempts > 1) {
        snprintf(tail, sizeof tail, " after %lld attempts", (long long)attempts);
        luaL_addstring(&b, tail);
    }
    if (ambiguous)
        luaL_addstring(&b, " (ambiguous: the request may have been processed)");
    luaL_pushresult(&b);
    return 1;
}

void ax_error_register(lua_State *L)
{
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, ERROR_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

/* The length of the longest prefix of s[0..len) that ends on a character
 * boundary: a cut never leaves half a UTF-8 sequence behind. */
static size_t utf8_boundary(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t start = len, need;

    while (start > 0 && (s[start - 1] & 0xC0) == 0x80)
        start--;                   /* back over continuation bytes */
    if (start == 0)
        return len;
    start--;                       /* the last lead (or ASCII) byte */
    if (s[start] < 0x80)
        return len;
    need = s[start] >= 0xF0 ? 4 : s[start] >= 0xE0 ? 3 : s[start] >= 0xC0 ? 2 : 1;
    return len - start >= need ? len : start;
}

size_t ax_utf8_prefix(const char *s, size_t len, size_t cap)
{
    return len <= cap ? len : utf8_boundary(s, cap);
}

void ax_format(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= cap)
        dst[utf8_boundary(dst, cap - 1)] = '\0';
}

/* A code from a server: one line, bounded, never split inside a character. */
static void set_code(lua_State *L, const char *code)
{
    char clean[CODE_MAX + 1];
    size_t i, n;

    if (code == NULL)
        return;
    n = ax_utf8_prefix(code, strlen(code), CODE_MAX);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)code[i];
        clean[i] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
    }
    clean[n] = '\0';
    lua_pushstring(L, clean);
    lua_setfield(L, -2, "code");
}

void ax_push_error(lua_State *L, const ax_error *e)
{
    lua_createtable(L, 0, 12);
    set_string(L, "kind", e->kind);
    set_string(L, "message", e->message);
    set_code(L, e->code);
    set_string(L, "request_id", e->request_id);
    set_string(L, "field", e->field);
    if (e->status > 0) {
        lua_pushinteger(L, (lua_Integer)e->status);
        lua_setfield(L, -2, "status");
    }
    if (e->body != NULL && !e->secret) {
        lua_pushlstring(L, e->body,
                        e->body_len > AX_ERROR_BODY_CAP ? AX_ERROR_BODY_CAP : e->body_len);
        lua_setfield(L, -2, "body");
    }
    set_string(L, "idempotency_key", e->idempotency_key);
    lua_pushboolean(L, e->retryable);
    lua_setfield(L, -2, "retryable");
    lua_pushboolean(L, e->ambiguous);
    lua_setfield(L, -2, "ambiguous");
    lua_pushinteger(L, e->attempts);
    lua_setfield(L, -2, "attempts");
    luaL_getmetatable(L, ERROR_MT);
    lua_setmetatable(L, -2);
}
