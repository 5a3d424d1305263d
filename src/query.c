/*
 * query.c: a Lua table to a query string, deterministically.
 *
 * Keys are sorted bytewise, keys and values percent-encoded (RFC 3986:
 * only unreserved bytes stay as they are, so `+`, `|` and spaces are
 * escaped), an array value becomes the key repeated once per item, in
 * order. Numbers are written exactly (integers without a fraction),
 * booleans as true/false. A `filter` may be given as the documented string
 * ("reference||EQ||customer-8812") or as { key, op, value }, which is
 * checked and joined; nothing is escaped silently: a part holding "||"
 * is refused.
 *
 * Like the body encoder, the walk is raw and keeps every key it uses on the
 * stack; tables with __index or __pairs are refused.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"

#define MAX_QUERY_KEYS 64

typedef struct qkey {
    const char *s;
    size_t len;
    int slot;            /* stack index of its value */
} qkey;

static int qkey_compare(const void *a, const void *b)
{
    const qkey *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int problem(ax_encode_error *err, const char *key, size_t len, const char *what)
{
    char name[64];
    size_t n = ax_utf8_prefix(key, len, sizeof name - 1), i;

    for (i = 0; i < n; i++)
        name[i] = (char)((unsigned char)key[i] < 0x20 ? '?' : key[i]);
    name[n] = '\0';
    ax_format(err->field, sizeof err->field, "query.%s", name);
    ax_format(err->message, sizeof err->message, "query.%s: %s", name, what);
    return 0;
}

/* The text of a scalar at idx: pushes it and returns 1, or returns 0. */
static int push_scalar(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        lua_pushvalue(L, idx);
        return 1;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        return 1;
    case LUA_TNUMBER: {
        char tmp[48];
        lua_Number d = lua_tonumber(L, idx);
#if AX_HAS_INTEGERS
        if (lua_isinteger(L, idx)) {
            snprintf(tmp, sizeof tmp, "%lld", (long long)lua_tointeger(L, idx));
            lua_pushstring(L, tmp);
            return 1;
        }
#endif
        if (d != d || d == HUGE_VAL || d == -HUGE_VAL)
            return 0;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            snprintf(tmp, sizeof tmp, "%.0f", (double)d);
        else
            snprintf(tmp, sizeof tmp, "%.17g", (double)d);
        lua_pushstring(L, tmp);
        return 1;
    }
    default:
        return 0;
    }
}

/* The items of an array value, pushed as strings; returns their count or -1. */
static int push_items(lua_State *L, int idx)
{
    int n, i;

    idx = ax_absindex(L, idx);
    n = (int)ax_rawlen(L, idx);
    if (ax_is_proxy_table(L, idx) || n > 1000)
        return -1;
    luaL_checkstack(L, n + 4, "allawee: query");
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (lua_type(L, -1) == LUA_TTABLE || !push_scalar(L, -1))
            return -1;
        lua_remove(L, -2);
    }
    return n;
}

static const char *const filter_ops[] = { "EQ", "NEQ", "LIKE", "IN", "NIN", NULL };

/* { key, op, value } (or key=, op=, value=) -> "key||OP||value", pushed. */
static int push_filter(lua_State *L, int idx, ax_encode_error *err)
{
    static const char *const names[] = { "key", "op", "value" };
    int i, top = lua_gettop(L);
    luaL_Buffer b;

    luaL_checkstack(L, 8, "allawee: query");
    for (i = 0; i < 3; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushstring(L, names[i]);
            lua_rawget(L, idx);
        }
        if (i == 2 && lua_type(L, -1) == LUA_TTABLE) {
            /* IN / NIN: a list, joined with commas */
            int n = push_items(L, -1), k, first = lua_gettop(L) - n + 1;
            if (n < 0)
                return problem(err, "filter", 6, "the value list must hold strings or numbers");
            luaL_buffinit(L, &b);   /* it may use stack slots: items by absolute index */
            for (k = 0; k < n; k++) {
                size_t len;
                const char *s = lua_tolstring(L, first + k, &len);
                if (memchr(s, ',', len) != NULL)
                    return problem(err, "filter", 6, "a list item must not contain ','");
                if (k > 0)
                    luaL_addchar(&b, ',');
                luaL_addlstring(&b, s, len);
            }
            luaL_pushresult(&b);
            lua_replace(L, top + 3);
            lua_settop(L, top + 3);
            continue;
        }
        if (lua_type(L, -1) == LUA_TTABLE || !push_scalar(L, -1))
            return problem(err, "filter", 6, "expected { key, op, value } of strings");
        lua_remove(L, -2);
    }
    {
        size_t len;
        const char *s = lua_tolstring(L, top + 2, &len);
        const char *const *o;
        char op[8];
        for (i = 0; (size_t)i < len && i < (int)sizeof op - 1; i++)
            op[i] = (char)toupper((unsigned char)s[i]);
        op[i] = '\0';
        for (o = filter_ops; *o != NULL; o++)
            if ((size_t)i == len && strcmp(*o, op) == 0)
                break;
        if (*o == NULL)
            return problem(err, "filter", 6, "op must be one of EQ, NEQ, LIKE, IN, NIN");
        lua_pushstring(L, op);
        lua_replace(L, top + 2);
    }
    for (i = 1; i <= 3; i++) {
        size_t len;
        const char *s = lua_tolstring(L, top + i, &len);
        size_t k;
        if (i == 1 && len == 0)
            return problem(err, "filter", 6, "the key must not be empty");
        for (k = 0; k + 1 < len; k++)
            if (s[k] == '|' && s[k + 1] == '|')
                return problem(err, "filter", 6,
                               "a key or value must not contain '||' (it separates the parts)");
    }
    luaL_buffinit(L, &b);
    for (i = 1; i <= 3; i++) {
        if (i > 1)
            luaL_addstring(&b, "||");
        lua_pushvalue(L, top + i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 1;
}

static const ax_query_key *find_key(const ax_query_key *allowed, const char *k, size_t len)
{
    for (; allowed != NULL && allowed->name != NULL; allowed++)
        if (strlen(allowed->name) == len && memcmp(allowed->name, k, len) == 0)
            return allowed;
    return NULL;
}

static void append_pair(ax_buf *out, int *pairs, const char *k, size_t klen, const char *v,
                        size_t vlen)
{
    if ((*pairs)++ > 0)
        ax_buf_putc(out, '&');
    ax_url_append_pct(out, k, klen);
    ax_buf_putc(out, '=');
    ax_url_append_pct(out, v, vlen);
}

int ax_encode_query(lua_State *L, int idx, const struct ax_query_key *allowed, int validate,
                    ax_buf *out, double *page, ax_encode_error *err)
{
    qkey keys[MAX_QUERY_KEYS];
    int n = 0, i, top = lua_gettop(L), pairs = 0;

    idx = ax_absindex(L, idx);
    if (ax_is_proxy_table(L, idx))
        return problem(err, "", 0, "a table with an __index or __pairs metamethod cannot be "
                                   "sent as it is: copy it into a plain table");
    luaL_checkstack(L, 2 * MAX_QUERY_KEYS + 8, "allawee: query");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (n == MAX_QUERY_KEYS) {
            lua_settop(L, top);
            return problem(err, "", 0, "more than 64 query parameters");
        }
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_settop(L, top);
            return problem(err, "", 0, "query parameter names must be strings");
        }
        keys[n].s = lua_tolstring(L, -2, &keys[n].len);
        keys[n].slot = lua_gettop(L);
        n++;
        lua_pushvalue(L, -2);   /* key and value stay on the stack */
    }
    qsort(keys, (size_t)n, sizeof *keys, qkey_compare);
    for (i = 0; i < n; i++) {
        const ax_query_key *spec = find_key(allowed, keys[i].s, keys[i].len);
        int v = keys[i].slot, t = lua_type(L, v), items, k;
        if (validate && spec == NULL) {
            lua_settop(L, top);
            return problem(err, keys[i].s, keys[i].len,
                           "unknown query parameter (a typo? validate = false sends it anyway)");
        }
        if (spec != NULL && spec->type == AX_Q_FILTER && t == LUA_TTABLE) {
            if (!push_filter(L, v, err)) {
                lua_settop(L, top);
                return 0;
            }
            lua_replace(L, v);
            t = LUA_TSTRING;
        }
        if (validate && spec != NULL && spec->type == AX_Q_INTEGER) {
            lua_Number d = lua_tonumber(L, v);
            if (t != LUA_TNUMBER || d != floor(d) || d < 0 || d > 1e15) {
                lua_settop(L, top);
                return problem(err, keys[i].s, keys[i].len, "expected a whole number >= 0");
            }
        }
        if (page != NULL && keys[i].len == 4 && memcmp(keys[i].s, "page", 4) == 0 &&
            t == LUA_TNUMBER)
            *page = lua_tonumber(L, v);
        if (t == LUA_TTABLE) {
            if (validate && spec != NULL && spec->type != AX_Q_LIST) {
                lua_settop(L, top);
                return problem(err, keys[i].s, keys[i].len, "expected a single value");
            }
            items = push_items(L, v);
            if (items < 0) {
                lua_settop(L, top);
                return problem(err, keys[i].s, keys[i].len,
                               "expected a string, a number, a boolean or an array of them");
            }
        } else {
            if (!push_scalar(L, v)) {
                lua_settop(L, top);
                return problem(err, keys[i].s, keys[i].len,
                               "expected a string, a number, a boolean or an array of them");
            }
            items = 1;
        }
        for (k = 0; k < items; k++) {
            size_t len;
            const char *s = lua_tolstring(L, -items + k, &len);
            append_pair(out, &pairs, keys[i].s, keys[i].len, s, len);
        }
        lua_pop(L, items);
    }
    lua_settop(L, top);
    if (out->oom)
        luaL_error(L, "allawee: not enough memory to encode the query");
    return 1;
}
