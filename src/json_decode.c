/*
 * json_decode.c: JSON text to Lua values, the same on every Lua and with
 * either lua-cjson.
 *
 * The text is decoded by the private cjson instance that allawee.lua
 * registers (never the host's global one). Before that, one pass over the
 * text checks its UTF-8 and notes where its numbers are; after it, integral
 * numbers become Lua integers on 5.3+, so the result does not depend on
 * which lua-cjson is installed (Debian's 2.1.0 decodes every number as a
 * float). Integer literals too long for a double's 53 bits are decoded
 * exactly on 5.3+: the text is rewritten with each one as a marked string,
 * and the walk turns the marks back into integers. Beyond 64 bits, or on
 * 5.1/LuaJIT (no integers), they stay floats.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

const char ax_decoder_key = 0;

/* ------------------------------------------------------------- decoding */

/* The mark that stands for a long integer literal in the rewritten text:
 * a NUL byte, this process's random nonce, then the digits. A JSON string
 * can hold a NUL (\u0000), but not this nonce by chance. */
static int number_char(unsigned char c);

#define MARK_LEN 17
static char big_mark[MARK_LEN + 1];

static const char *mark(void)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[8];
    int i;

    if (big_mark[1] != '\0')
        return big_mark;
    if (!ax_random_bytes(r, sizeof r))
        memcpy(r, "axbig-64", sizeof r);   /* still no JSON string holds a NUL by chance */
    for (i = 0; i < 8; i++) {
        big_mark[1 + 2 * i] = hex[r[i] >> 4];
        big_mark[2 + 2 * i] = hex[r[i] & 15];
    }
    return big_mark;
}

void ax_json_decode_init(void)
{
    mark();
}

/* The integer a marked string stands for: pushes it and returns 1. */
static int push_marked_integer(lua_State *L, int idx)
{
#if AX_HAS_INTEGERS
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    char digits[24];

    if (len <= MARK_LEN || len - MARK_LEN >= sizeof digits || memcmp(s, big_mark, MARK_LEN) != 0)
        return 0;
    memcpy(digits, s + MARK_LEN, len - MARK_LEN);
    digits[len - MARK_LEN] = '\0';
    lua_pushinteger(L, (lua_Integer)strtoll(digits, NULL, 10));
    return 1;
#else
    (void)L; (void)idx;
    return 0;
#endif
}

/* Lua integers for integral floats and marked long integers, everywhere in
 * the decoded tree. */
static void normalise_numbers(lua_State *L, int idx, int depth)
{
#if AX_HAS_INTEGERS
    if (depth > AX_MAX_DEPTH * 4)
        return;  /* the decoder's own depth bound stops far earlier */
    luaL_checkstack(L, 4, "allawee: decoding");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int t = lua_type(L, -1);
        if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            if (n == floor(n) && n >= -9223372036854775808.0 &&
                n < 9223372036854775808.0 && !(n == 0 && signbit(n))) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)n);
                lua_rawset(L, idx);  /* assigning an existing key is safe in lua_next */
            }
        } else if (t == LUA_TSTRING && big_mark[1] != '\0') {
            if (push_marked_integer(L, -1)) {
                lua_pushvalue(L, -3);
                lua_insert(L, -2);
                lua_rawset(L, idx);
            }
        } else if (t == LUA_TTABLE) {
            normalise_numbers(L, lua_gettop(L), depth + 1);
        }
        lua_pop(L, 1);
    }
#else
    (void)L; (void)idx; (void)depth;
#endif
}

/* Pushes the text with every integer literal of 16 to 19 digits that fits
 * 64 bits replaced by a marked string. Strings are copied as they are. */
static void push_rewritten(lua_State *L, const char *s, size_t len)
{
    luaL_Buffer b;
    size_t i = 0, run = 0;

    luaL_buffinit(L, &b);
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            size_t start = i, digits;
            int integral = 1;
            while (i < len && number_char((unsigned char)s[i])) {
                if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
                    integral = 0;
                i++;
            }
            digits = i - start - (c == '-');
            if (integral && digits >= 16 && digits <= 19) {
                char tmp[24];
                memcpy(tmp, s + start, i - start);
                tmp[i - start] = '\0';
                errno = 0;
                (void)strtoll(tmp, NULL, 10);
                if (errno == 0) {
                    luaL_addlstring(&b, s + run, start - run);
                    luaL_addstring(&b, "\"\\u0000");
                    luaL_addlstring(&b, big_mark + 1, MARK_LEN - 1);
                    luaL_addlstring(&b, tmp, i - start);
                    luaL_addchar(&b, '"');
                    run = i;
                }
            }
        } else {
            i++;
        }
    }
    if (run < len)
        luaL_addlstring(&b, s + run, len - run);
    luaL_pushresult(&b);
}

/* ------------------------------------------------------ number paths
 *
 * Walking the whole decoded tree to find its numbers costs about a seventh
 * of the decode itself, for answers that hold one number (metadata.userId)
 * or none. The pass over the text that checks UTF-8 anyway also notes
 * where each number is: the keys and indices that lead to it. The fix-up
 * then looks those few up. Answers with more numbers, deeper ones, or
 * escaped keys (whose text is not the decoded key) fall back to the walk.
 * The notes only guide the fix-up: each value found is checked again, and
 * a body that is not JSON is refused by the decoder whatever they say.
 */
#define PATH_NUMBERS 4   /* numbers located by path; more: walk the tree */
#define PATH_DEPTH 8     /* deepest number located by path */

typedef struct path_step {
    const char *key;     /* object member (raw text, no escapes), or NULL */
    size_t len;
    lua_Integer index;   /* array item (1-based); 0 for an object member */
} path_step;

typedef struct number_paths {
    int count;
    int walk;            /* 1: the paths are incomplete, walk the tree */
    int big;             /* an integer literal too long for a double */
    int depth[PATH_NUMBERS];
    path_step steps[PATH_NUMBERS][PATH_DEPTH];
} number_paths;

/* 1 for the bytes that end a plain run inside a string: '"', '\\' and
 * every non-ASCII byte (whose UTF-8 is checked). */
static const unsigned char string_stop[256] = {
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
};

static int number_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
           c == 'E';
}

static void note_number(number_paths *np, const path_step *frame, int depth)
{
    int k;

    if (np->walk)
        return;
    if (np->count == PATH_NUMBERS || depth > PATH_DEPTH) {
        np->walk = 1;
        return;
    }
    for (k = 0; k < depth; k++) {
        if (frame[k].index == 0 && frame[k].key == NULL) {
            np->walk = 1;
            return;
        }
        np->steps[np->count][k] = frame[k];
    }
    np->depth[np->count++] = depth;
}

/* Checks the UTF-8 of the run of non-ASCII bytes at i; returns its end
 * (always > i), or 0 with *bad set. */
static size_t high_run(const char *data, size_t i, size_t len, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t end = i, at;

    while (end < len && s[end] >= 0x80)
        end++;
    if (!ax_utf8_valid(data + i, end - i, &at)) {
        *bad = i + at;
        return 0;
    }
    return end;
}

/* One pass over the body: UTF-8 validity (each run of non-ASCII bytes on
 * its own, which is exact: a multi-byte sequence never holds an ASCII
 * byte) and the paths of its numbers. Returns 1, or 0 with *bad. */
static int scan_body(const char *data, size_t len, size_t *bad, number_paths *np)
{
    const unsigned char *s = (const unsigned char *)data;
    path_step frame[PATH_DEPTH];     /* frame[d - 1]: where we are at depth d */
    const char *last = NULL;         /* the last string: a key before ':' */
    size_t i = 0, last_len = 0;
    int depth = 0, last_escaped = 0;

    np->count = 0;
    np->walk = 0;
    np->big = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            if ((i = high_run(data, i, len, bad)) == 0)
                return 0;
            continue;
        }
        switch (c) {
        case '"':
            last = data + i + 1;
            last_escaped = 0;
            for (i++;;) {
                while (i < len && !string_stop[s[i]])
                    i++;
                if (i >= len || s[i] == '"')
                    break;
                if (s[i] == '\\') {
                    last_escaped = 1;   /* skip the escaped byte, if ASCII */
                    i += i + 1 < len && s[i + 1] < 0x80 ? 2 : 1;
                } else if ((i = high_run(data, i, len, bad)) == 0) {
                    return 0;
                }
            }
            last_len = (size_t)((const char *)s + i - last);
            break;
        case '{':
        case '[':
            if (++depth <= PATH_DEPTH) {
                frame[depth - 1].key = NULL;
                frame[depth - 1].len = 0;
                frame[depth - 1].index = c == '[' ? 1 : 0;
            }
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            break;
        case ',':
            if (depth > 0 && depth <= PATH_DEPTH && frame[depth - 1].index > 0)
                frame[depth - 1].index++;
            break;
        case ':':
            if (depth > 0 && depth <= PATH_DEPTH) {
                frame[depth - 1].key = last_escaped ? NULL : last;
                frame[depth - 1].len = last_len;
            }
            break;
        default:
            if ((c >= '0' && c <= '9') || c == '-') {
                size_t start = i;
                int integral = 1;
                note_number(np, frame, depth);
                while (i + 1 < len && number_char(s[i + 1])) {
                    i++;
                    if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
                        integral = 0;
                }
                /* 16+ digits may not fit a double's 53 bits exactly. */
                if (integral && i + 1 - start - (s[start] == '-') >= 16)
                    np->big = 1;
            }
        }
        i++;
    }
    return 1;
}

/* Makes the number at the top of the stack a Lua integer when it is an
 * integral float in range: pushes the integer and returns 1, or returns 0. */
static int push_as_integer(lua_State *L)
{
#if AX_HAS_INTEGERS
    if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
        lua_Number n = lua_tonumber(L, -1);
        if (n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0 &&
            !(n == 0 && signbit(n))) {   /* -0.0 stays a float: an integer has no sign */
            lua_pushinteger(L, (lua_Integer)n);
            return 1;
        }
    }
#else
    (void)L;
#endif
    return 0;
}

/* Normalises the numbers that scan_body located, in the table at idx. */
static void normalise_paths(lua_State *L, int idx, const number_paths *np)
{
    int n, k;

    luaL_checkstack(L, 6, "allawee: decoding");
    for (n = 0; n < np->count; n++) {
        int top = lua_gettop(L), depth = np->depth[n];
        const path_step *last;
        if (depth == 0)
            continue;   /* a bare number, not a table: nothing to fix */
        last = &np->steps[n][depth - 1];   /* only now: [-1] is out of bounds */
        lua_pushvalue(L, idx);
        for (k = 0; k < depth - 1 && lua_type(L, -1) == LUA_TTABLE; k++) {
            const path_step *st = &np->steps[n][k];
            if (st->index > 0) {
                lua_rawgeti(L, -1, st->index);
            } else {
                lua_pushlstring(L, st->key, st->len);
                lua_rawget(L, -2);
            }
            lua_replace(L, -2);
        }
        if (lua_type(L, -1) == LUA_TTABLE) {       /* the number's table */
            if (last->index > 0) {
                lua_rawgeti(L, -1, last->index);
                if (push_as_integer(L))
                    lua_rawseti(L, -3, last->index);
            } else {
                lua_pushlstring(L, last->key, last->len);
                lua_pushvalue(L, -1);
                lua_rawget(L, -3);
                if (push_as_integer(L)) {
                    lua_replace(L, -2);
                    lua_rawset(L, -3);
                }
            }
        }
        lua_settop(L, top);
    }
}

int ax_decode_json(lua_State *L, const char *data, size_t len, int string_idx)
{
    size_t bad = 0;
    number_paths numbers;
    int status;

    if (len == 0) {
        lua_pushliteral(L, "empty response body");
        return 0;
    }
    /* Without integers (5.1, 5.2, LuaJIT: every number is a double) there
     * is nothing to restore afterwards: only the UTF-8 is checked, a word
     * at a time over ASCII. */
    numbers.count = numbers.walk = numbers.big = 0;
    if (AX_HAS_INTEGERS ? !scan_body(data, len, &bad, &numbers) : !ax_utf8_valid(data, len, &bad)) {
        lua_pushfstring(L, "response body is not valid UTF-8 (byte %d)", (int)bad + 1);
        return 0;
    }
    luaL_checkstack(L, 4, "allawee: decoding");
    ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_decoder_key);
    if (numbers.big && AX_HAS_INTEGERS)
        push_rewritten(L, data, len);
    else if (string_idx > 0)
        lua_pushvalue(L, string_idx);
    else
        lua_pushlstring(L, data, len);
    status = lua_pcall(L, 1, 1, 0);
    if (status == LUA_ERRMEM)
        lua_error(L);   /* out of memory is not "not JSON" */
    if (status != 0) {
        if (!lua_isstring(L, -1)) {
            lua_pop(L, 1);
            lua_pushliteral(L, "response body is not JSON");
        }
        return 0;
    }
    if (lua_type(L, -1) == LUA_TSTRING && numbers.big && push_marked_integer(L, -1)) {
        lua_replace(L, -2);   /* the whole text was one long integer */
    } else if (lua_type(L, -1) == LUA_TTABLE && AX_HAS_INTEGERS) {
        if (numbers.walk || numbers.big)
            normalise_numbers(L, lua_gettop(L), 0);
        else
            normalise_paths(L, lua_gettop(L), &numbers);
    }
    return 1;
}

