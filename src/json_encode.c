/*
 * json_encode.c: a Lua table to the exact JSON body of a create-customer call.
 *
 * Why not cjson.encode: Debian's lua-cjson 2.1.0 prints 12345678901234567 as
 * 1.2345678901235e+16, cannot tell an empty array from an empty object and
 * walks keys in hash order. Here integers keep all 64 bits, floats are the
 * shortest text that reads back to the same double, empty tables take the
 * shape the schema gives them, and keys come out in a fixed order, so the
 * same table always gives the same bytes.
 *
 * The walk is raw (lua_next, lua_rawget): no metamethod of the caller's
 * tables runs while we encode, and a table that relies on one (__index,
 * __pairs: a proxy or a class instance) is refused by path rather than sent
 * as {}. Lua code can still run in the middle (a finalizer at an allocation,
 * LuaJIT's tostring for cdata), so nothing trusts a count taken before an
 * allocation, and every key and value in use is kept on the Lua stack (or in
 * an anchor table) until it has been written: no pointer outlives its string.
 * On the first problem the walk stops and the error names the path to the
 * offending value.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

const char ax_empty_array_sentinel = 0;
const char ax_array_mt_key = 0;
const char ax_tostring_key = 0;
const char ax_index_name_key = 0;
const char ax_pairs_name_key = 0;

#define SMALL_KEYS 32

/* Word-at-a-time byte tests (Bit Twiddling Hacks: haszero, hasless; exact
 * as yes/no answers): does the 8-byte word w hold a zero byte, a byte
 * below n (n <= 128); HIGHS picks out the non-ASCII bytes. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HAS_ZERO_BYTE(w) (((w) - ONES) & ~(w) & HIGHS)
#define HAS_BYTE_BELOW(w, n) (((w) - ONES * (n)) & ~(w) & HIGHS)

typedef struct path_step {
    const char *key;     /* NULL for an array index */
    size_t key_len;
    lua_Integer index;
} path_step;

typedef struct encoder {
    lua_State *L;
    ax_buf *out;
    ax_buf *reference;   /* receives the top-level "reference" string, or NULL */
    ax_encode_error *err;
    int validate;
    int failed;
    int depth;
    const void *open_tables[AX_MAX_DEPTH + 1];  /* the path, for cycles */
    path_step path[AX_MAX_DEPTH + 2];
    int path_len;
} encoder;

typedef struct key_ref {
    const char *s;       /* the key string, anchored on the stack or in a table */
    size_t len;
    size_t slot;         /* where its key/value pair is kept */
} key_ref;

/* -------------------------------------------------------------- errors */

static size_t utf8_char_len(const unsigned char *s, size_t avail);

static size_t append_text(char *dst, size_t cap, size_t used, const char *s, size_t n)
{
    if (n > cap - used - 1)
        n = cap - used - 1;
    memcpy(dst + used, s, n);
    dst[used + n] = '\0';
    return used + n;
}

/* A key as it may appear in a message: valid printable UTF-8 as is, any
 * other byte as \xNN, so an error never carries raw invalid bytes. */
static size_t append_key(char *dst, size_t cap, size_t used, const char *key, size_t len)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t i = 0;

    while (i < len && used + 1 < cap) {
        size_t n = k[i] >= 0x80 ? utf8_char_len(k + i, len - i) : 0;
        if (k[i] >= 0x20 && k[i] < 0x7f) {
            used = append_text(dst, cap, used, key + i, 1);
            i++;
        } else if (n > 0) {
            used = append_text(dst, cap, used, key + i, n);
            i += n;
        } else {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", k[i]);
            used = append_text(dst, cap, used, esc, 4);
            i++;
        }
    }
    return used;
}

static void path_text(const encoder *e, char *dst, size_t cap)
{
    size_t used = 0;
    int i;

    dst[0] = '\0';
    for (i = 0; i < e->path_len && used + 1 < cap; i++) {
        const path_step *s = &e->path[i];
        if (s->key != NULL) {
            if (used > 0)
                used = append_text(dst, cap, used, ".", 1);
            used = append_key(dst, cap, used, s->key, s->key_len > 64 ? 64 : s->key_len);
        } else {
            char index[32];
            int n = snprintf(index, sizeof index, "[%lld]", (long long)s->index);
            used = append_text(dst, cap, used, index, n > 0 ? (size_t)n : 0);
        }
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(encoder *e, const char *fmt, ...)
{
    char reason[AX_ERR_MESSAGE_MAX - AX_ERR_FIELD_MAX - 2];
    va_list ap;

    if (e->failed)
        return 0;
    e->failed = 1;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    path_text(e, e->err->field, sizeof e->err->field);
    if (e->err->field[0] != '\0')
        snprintf(e->err->message, sizeof e->err->message, "%s: %s",
                 e->err->field, reason);
    else
        snprintf(e->err->message, sizeof e->err->message, "%s", reason);
    return 0;
}

/* "number", "null", "array", ... as a JSON user would name the Lua value. */
static const char *value_kind(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
        void *p = lua_touserdata(L, idx);
        if (p == NULL)
            return "null";
        if (p == &ax_empty_array_sentinel)
            return "array";
    }
    return luaL_typename(L, idx);
}

static void push_key(encoder *e, const char *key, size_t len)
{
    path_step *s = &e->path[e->path_len++];
    s->key = key;
    s->key_len = len;
}

static void push_index(encoder *e, lua_Integer index)
{
    path_step *s = &e->path[e->path_len++];
    s->key = NULL;
    s->index = index;
}

static void pop_step(encoder *e)
{
    if (!e->failed)   /* on failure the path is kept for the message */
        e->path_len--;
}

/* ------------------------------------------------------------- strings */

/* 0: copy as is; 1: needs an escape; 2, 3, 4: lead byte of a UTF-8 sequence
 * of that length; 5: a byte that can never start a valid sequence. */
static const unsigned char byte_class[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5, 5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,
    5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5, 5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,
    5,5,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3, 4,4,4,4,4,5,5,5,5,5,5,5,5,5,5,5
};

/* Length of the valid UTF-8 sequence at s (class c), or 0 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s, size_t avail, unsigned c)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t i;

    if (c == 5 || avail < c)
        return 0;
    if (s[0] == 0xE0) lo = 0xA0;
    else if (s[0] == 0xED) hi = 0x9F;
    else if (s[0] == 0xF0) lo = 0x90;
    else if (s[0] == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < c; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return c;
}

static size_t utf8_char_len(const unsigned char *s, size_t avail)
{
    return utf8_sequence(s, avail, byte_class[s[0]]);
}

int ax_utf8_valid(const char *str, size_t len, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < len) {
        unsigned c;
        size_t n;
        if (s[i] < 0x80) {
            /* Response bodies are mostly ASCII: skip it 8 bytes at a time. */
            uint64_t word;
            i++;
            while (len - i >= 8) {
                memcpy(&word, s + i, 8);
                if (word & HIGHS)
                    break;
                i += 8;
            }
            continue;
        }
        c = byte_class[s[i]];
        n = utf8_sequence(s + i, len - i, c);
        if (n == 0) {
            *bad = i;
            return 0;
        }
        i += n;
    }
    return 1;
}

/* How many leading bytes of s are plain ASCII that JSON takes as they are:
 * 8 at a time while no byte is below 0x20, '"', '\\' or non-ASCII. */
static size_t plain_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (HAS_BYTE_BELOW(w, 0x20) | HAS_ZERO_BYTE(w ^ (ONES * '"')) |
            HAS_ZERO_BYTE(w ^ (ONES * '\\')) | (w & HIGHS))
            break;
        i += 8;
    }
    while (i < len && byte_class[s[i]] == 0)
        i++;
    return i;
}

static int write_string(encoder *e, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    ax_buf *out = e->out;

    if (len > AX_MAX_STRING_BYTES)
        return fail(e, "string of %zu bytes is longer than the %d bytes allowed",
                    len, AX_MAX_STRING_BYTES);
    /* Worst case is 6 bytes per input byte; reserve the common case. */
    if (out->cap - out->len < len + 2 && !ax_buf_grow(out, len + 2))
        return 0;
    i = plain_prefix(s, len);
    if (i == len) {   /* nothing to escape or check: the common case */
        char *d = out->data + out->len;
        d[0] = '"';
        memcpy(d + 1, str, len);
        d[len + 1] = '"';
        out->len += len + 2;
        return 1;
    }
    ax_buf_putc(out, '"');
    while (i < len) {
        unsigned c = byte_class[s[i]];
        if (c == 0) {
            i++;
            continue;
        }
        ax_buf_append(out, s + run, i - run);
        if (c == 1) {
            char esc[6] = { '\\', 0, 0, 0, 0, 0 };
            size_t n = 2;
            switch (s[i]) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            default:
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[s[i] >> 4]; esc[5] = hex[s[i] & 15];
                n = 6;
            }
            ax_buf_append(out, esc, n);
            i++;
        } else {
            size_t n = utf8_sequence(s + i, len - i, c);
            if (n == 0)
                return fail(e, "invalid UTF-8 at byte %zu", i + 1);
            ax_buf_append(out, s + i, n);
            i += n;
        }
        run = i;
    }
    ax_buf_append(out, s + run, i - run);
    ax_buf_putc(out, '"');
    return 1;
}

/* ------------------------------------------------------------- numbers */

/* The shortest of %.15g, %.16g, %.17g that reads back to the same double. */
static void write_double(ax_buf *out, double d)
{
    char tmp[40];
    int prec, n = 0;
    char *comma;

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* A host may have set a locale whose decimal point is a comma. */
    comma = strchr(tmp, ',');
    if (comma != NULL)
        *comma = '.';
    ax_buf_append(out, tmp, (size_t)n);
}

static int write_number(encoder *e, int idx)
{
    lua_Number d;

#if AX_HAS_INTEGERS
    if (lua_isinteger(e->L, idx)) {
        ax_buf_put_integer(e->out, (long long)lua_tointeger(e->L, idx));
        return 1;
    }
#endif
    d = lua_tonumber(e->L, idx);
    if (isnan(d))
        return fail(e, "NaN is not a JSON number");
    if (isinf(d))
        return fail(e, "%s is not a JSON number", d > 0 ? "inf" : "-inf");
    if (d == 0 && signbit(d)) {   /* -0.0 is a float: "0" would lose its sign */
        ax_buf_lit(e->out, "-0.0");
        return 1;
    }
    /* Integral doubles (all numbers on 5.1/5.2/LuaJIT) up to 2^53 are
     * written without a fraction or exponent. */
    if (d == floor(d) && fabs(d) <= 9007199254740992.0)
        ax_buf_put_integer(e->out, (long long)d);
    else
        write_double(e->out, (double)d);
    return 1;
}

/* -------------------------------------------------------------- tables */

static int encode_value(encoder *e, int idx, const ax_field *schema);

static int key_compare(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static const ax_field *find_field(const ax_field *fields, const char *key, size_t len)
{
    if (fields == NULL)
        return NULL;
    for (; fields->name != NULL; fields++)
        if (fields->name_len == len && fields->name[0] == key[0] &&
            memcmp(fields->name, key, len) == 0)
            return fields;
    return NULL;
}

/* What the keys of a table say about its shape. */
typedef struct table_shape {
    size_t string_keys;
    size_t index_keys;
    lua_Integer max_index;
} table_shape;

static int describe_key(encoder *e, table_shape *shape)
{
    lua_State *L = e->L;
    int t = lua_type(L, -2);

    if (t == LUA_TSTRING) {
        shape->string_keys++;
        return 1;
    }
    if (t == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, -2);
        lua_Integer i;
#if AX_HAS_INTEGERS
        if (lua_isinteger(L, -2))
            i = lua_tointeger(L, -2);
        else
#endif
        if (n == floor(n) && n >= 1 && n < 9007199254740992.0)
            i = (lua_Integer)n;
        else
            i = 0;
        if (i >= 1) {
            shape->index_keys++;
            if (i > shape->max_index)
                shape->max_index = i;
            return 1;
        }
        lua_pushvalue(L, -2);
        fail(e, "non-string key %s in an object", lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return fail(e, "non-string key of type %s in an object", value_kind(L, -2));
}

static int scan_table(encoder *e, int idx, table_shape *shape)
{
    lua_State *L = e->L;

    memset(shape, 0, sizeof *shape);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (!describe_key(e, shape)) {
            lua_pop(L, 2);
            return 0;
        }
        lua_pop(L, 1);
    }
    if (shape->string_keys && shape->index_keys)
        return fail(e, "mixed table: both string keys and array items");
    if (shape->index_keys && (lua_Integer)shape->index_keys != shape->max_index)
        return fail(e, "sparse array: %zu items but index %lld",
                    shape->index_keys, (long long)shape->max_index);
    return 1;
}

static int write_array(encoder *e, int idx, lua_Integer n, const ax_field *items)
{
    lua_Integer i;

    ax_buf_putc(e->out, '[');
    for (i = 1; i <= n; i++) {
        if (i > 1)
            ax_buf_putc(e->out, ',');
        lua_rawgeti(e->L, idx, i);
        push_index(e, i);
        if (lua_isnil(e->L, -1))   /* a finalizer emptied it meanwhile */
            return fail(e, "the table changed while it was being encoded");
        if (!encode_value(e, lua_gettop(e->L), items))
            return 0;
        pop_step(e);
        lua_pop(e->L, 1);
    }
    ax_buf_putc(e->out, ']');
    return 1;
}

/* Free-form object: keys sorted bytewise. Known fields still lend their
 * schema to their values, so an empty businessDirectors stays [] even
 * when validation is off.
 *
 * Every key/value pair is kept on the stack (an anchor table when the
 * stack cannot grow that far: 5.1 and LuaJIT cap C frames at 8000 slots)
 * before anything is written, so the pointers to the keys stay valid and a
 * table changed by a finalizer meanwhile is noticed, not overrun. */
static int write_sorted_object(encoder *e, int idx, size_t nkeys, const ax_field *fields)
{
    lua_State *L = e->L;
    key_ref small[SMALL_KEYS];
    key_ref *keys = small;
    size_t n = 0, i;
    int base, anchor = 0;

    if (nkeys > SMALL_KEYS)   /* a userdata, not malloc: a raise must not leak it */
        keys = ax_newuserdata(L, nkeys * sizeof *keys);
    if (nkeys > 100000 || !lua_checkstack(L, (int)(2 * nkeys) + 8)) {
        lua_createtable(L, (int)(2 * nkeys), 0);
        anchor = lua_gettop(L);
    }
    base = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (n == nkeys || lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return fail(e, "the table changed while it was being encoded");
        }
        keys[n].s = lua_tolstring(L, -2, &keys[n].len);
        keys[n].slot = n;
        if (anchor) {
            lua_rawseti(L, anchor, (int)(2 * n + 2));   /* the value */
            lua_pushvalue(L, -1);
            lua_rawseti(L, anchor, (int)(2 * n + 1));   /* the key */
        } else {
            lua_pushvalue(L, -2);   /* key, value stay; a copy of the key goes on */
        }
        n++;
    }
    qsort(keys, n, sizeof *keys, key_compare);
    ax_buf_putc(e->out, '{');
    for (i = 0; i < n; i++) {
        const char *key = keys[i].s;
        size_t len = keys[i].len;
        if (i > 0)
            ax_buf_putc(e->out, ',');
        push_key(e, key, len);
        if (!write_string(e, key, len))
            return 0;
        ax_buf_putc(e->out, ':');
        if (anchor)
            lua_rawgeti(L, anchor, (int)(2 * keys[i].slot + 2));
        else
            lua_pushvalue(L, base + (int)(2 * keys[i].slot) + 2);
        if (!encode_value(e, lua_gettop(L), find_field(fields, key, len)))
            return 0;
        lua_pop(L, 1);
        pop_step(e);
    }
    ax_buf_putc(e->out, '}');
    lua_settop(L, base - (anchor != 0) - (keys != small));
    return 1;
}

/* A schema object under validation: every key must be known, required
 * fields present, and members come out in schema order. */
static int write_schema_object(encoder *e, int idx, const ax_field *fields)
{
    lua_State *L = e->L;
    uint32_t present = 0;
    const ax_field *f;
    int first = 1, nfields = 0, slots;

    /* Each value found is kept in a stack slot of its field, so writing
     * them in schema order needs no second lookup by key. */
    for (f = fields; f->name != NULL; f++)
        nfields++;
    luaL_checkstack(L, nfields + 4, "allawee: encoding");
    slots = lua_gettop(L) + 1;
    lua_settop(L, slots + nfields - 1);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        size_t len;
        const char *key;
        if (lua_type(L, -2) != LUA_TSTRING) {
            table_shape ignored;
            memset(&ignored, 0, sizeof ignored);
            if (describe_key(e, &ignored))
                fail(e, "expected object, got array");
            lua_pop(L, 2);
            return 0;
        }
        key = lua_tolstring(L, -2, &len);
        f = find_field(fields, key, len);
        if (f == NULL) {
            push_key(e, key, len);
            fail(e, "unknown field (a typo? the API's documentation does not "
                    "list it; validate = false sends it anyway)");
            lua_pop(L, 2);
            return 0;
        }
        present |= (uint32_t)1 << (f - fields);
        lua_replace(L, slots + (int)(f - fields));
    }
    ax_buf_putc(e->out, '{');
    for (f = fields; f->name != NULL; f++) {
        if (!(present & ((uint32_t)1 << (f - fields)))) {
            if (f->required) {
                push_key(e, f->name, f->name_len);
                return fail(e, "required field is missing");
            }
            continue;
        }
        if (!first)
            ax_buf_putc(e->out, ',');
        first = 0;
        /* Schema names are plain ASCII: no escaping to look for. */
        push_key(e, f->name, f->name_len);
        ax_buf_putc(e->out, '"');
        ax_buf_append(e->out, f->name, f->name_len);
        ax_buf_lit(e->out, "\":");
        if (!encode_value(e, slots + (int)(f - fields), f))
            return 0;
        pop_step(e);
    }
    ax_buf_putc(e->out, '}');
    lua_settop(L, slots - 1);
    return 1;
}

/* A metatable field, read raw by a name kept in the registry (pushing the
 * name would allocate, and any allocation may run a finalizer). */
static int has_metafield(lua_State *L, int mt, const char *name_key)
{
    int yes;
    ax_rawgetp(L, LUA_REGISTRYINDEX, name_key);
    lua_rawget(L, mt);
    yes = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return yes;
}

int ax_is_proxy_table(lua_State *L, int idx)
{
    int yes = 0, mt;
    if (!lua_getmetatable(L, idx))
        return 0;
    mt = lua_gettop(L);
    yes = has_metafield(L, mt, &ax_index_name_key) || has_metafield(L, mt, &ax_pairs_name_key);
    lua_pop(L, 1);
    return yes;
}

/* 1: allawee.array's metatable; 0: none, or one that changes nothing the
 * raw walk sees; -1: __index or __pairs, whose table the walk would get
 * wrong (it would send {} for a proxy). */
static int table_metatable(lua_State *L, int idx)
{
    int kind = 0, mt;
    if (!lua_getmetatable(L, idx))
        return 0;
    mt = lua_gettop(L);
    ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_array_mt_key);
    if (lua_rawequal(L, -1, mt))
        kind = 1;
    else if (has_metafield(L, mt, &ax_index_name_key) || has_metafield(L, mt, &ax_pairs_name_key))
        kind = -1;
    lua_pop(L, 2);
    return kind;
}

static int encode_table(encoder *e, int idx, const ax_field *schema)
{
    lua_State *L = e->L;
    const void *self = lua_topointer(L, idx);
    int want_array = schema != NULL && schema->type == AX_T_ARRAY;
    int want_object = schema != NULL && (schema->type == AX_T_OBJECT ||
                                         schema->type == AX_T_FREE);
    table_shape shape;
    int i, ok, meta;

    for (i = 0; i < e->depth; i++)
        if (e->open_tables[i] == self)
            return fail(e, "cycle: this table contains itself");
    if (e->depth >= AX_MAX_DEPTH)
        return fail(e, "nested deeper than %d levels", AX_MAX_DEPTH);
    luaL_checkstack(L, 8, "allawee: encoding");
    meta = table_metatable(L, idx);
    if (meta < 0)
        return fail(e, "a table with an __index or __pairs metamethod (a proxy or an "
                       "object?) cannot be sent as it is: copy it into a plain table");
    e->open_tables[e->depth++] = self;

    if (e->validate && schema != NULL && schema->type == AX_T_OBJECT) {
        ok = write_schema_object(e, idx, schema->fields);
    } else if (!scan_table(e, idx, &shape)) {
        ok = 0;
    } else if (shape.index_keys > 0) {
        if (e->validate && want_object)
            ok = fail(e, "expected object, got array");
        else
            ok = write_array(e, idx, shape.max_index,
                             schema != NULL ? schema->items : NULL);
    } else if (shape.string_keys > 0) {
        if (e->validate && want_array)
            ok = fail(e, "expected array, got object");
        else
            ok = write_sorted_object(e, idx, shape.string_keys,
                                     schema != NULL ? schema->fields : NULL);
    } else if (want_array || (!want_object && meta == 1)) {
        ax_buf_lit(e->out, "[]");
        ok = 1;
    } else {
        ax_buf_lit(e->out, "{}");
        ok = 1;
    }
    e->depth--;
    return ok;
}

/* --------------------------------------------------------------- values */

static int check_choice(encoder *e, const char *s, size_t len, const ax_field *schema)
{
    const char *const *c;
    char list[160] = "";
    size_t used = 0;

    for (c = schema->choices; *c != NULL; c++)
        if (strlen(*c) == len && memcmp(*c, s, len) == 0)
            return 1;
    for (c = schema->choices; *c != NULL && used < sizeof list - 1; c++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s",
                         used ? ", " : "", *c);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return fail(e, "expected one of %s, got \"%.40s\"", list, s);
}

static int is_int64_cdata(lua_State *L, int idx);

/* AX_T_UINT: a Lua integer >= 0, an integral float in 0..2^53 (all numbers
 * on 5.1, 5.2 and LuaJIT; above 2^53 a float is no longer exact), or a
 * LuaJIT int64_t/uint64_t cdata that is not negative. */
static int check_whole_number(encoder *e, int idx, int t)
{
    lua_State *L = e->L;
    lua_Number d;

    if (t == LUA_TNUMBER) {
#if AX_HAS_INTEGERS
        if (lua_isinteger(L, idx)) {
            if (lua_tointeger(L, idx) >= 0)
                return 1;
            return fail(e, "expected a whole number >= 0, got %lld",
                        (long long)lua_tointeger(L, idx));
        }
#endif
        d = lua_tonumber(L, idx);
        if (d >= 0 && d <= 9007199254740992.0 && d == floor(d))
            return 1;
        return fail(e, "expected a whole number >= 0 (a float only up to 2^53), got %.17g",
                    (double)d);
    }
    if (is_int64_cdata(L, idx)) {
        const char *s;
        int negative;
        ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_tostring_key);   /* as it was at load */
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);
        s = lua_tostring(L, -1);
        negative = s != NULL && s[0] == '-';
        lua_pop(L, 1);
        /* any other cdata is refused when it is written */
        return negative ? fail(e, "expected a whole number >= 0, got a negative int64") : 1;
    }
    return fail(e, "expected a whole number >= 0, got %s", value_kind(L, idx));
}

/* Under validation, the value's Lua type must be the one the schema wants. */
static int check_type(encoder *e, int idx, int t, const ax_field *schema)
{
    lua_State *L = e->L;

    /* An optional string may be null: answers carry "addressLineTwo": null,
     * so a fetched object can be sent back as it came. */
    if (!schema->required && t == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL &&
        (schema->type == AX_T_STRING || schema->type == AX_T_NONEMPTY ||
         schema->type == AX_T_ENUM))
        return 1;
    switch (schema->type) {
    case AX_T_ANY:
        return 1;
    case AX_T_STRING:
    case AX_T_NONEMPTY:
    case AX_T_ENUM:
        if (t != LUA_TSTRING)
            return fail(e, "expected string, got %s", value_kind(L, idx));
        if (schema->type == AX_T_NONEMPTY && ax_rawlen(L, idx) == 0)
            return fail(e, "must not be empty");
        if (schema->type == AX_T_ENUM) {
            size_t len;
            const char *s = lua_tolstring(L, idx, &len);
            return check_choice(e, s, len, schema);
        }
        return 1;
    case AX_T_ARRAY:
        if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &ax_empty_array_sentinel)
            return 1;
        if (t != LUA_TTABLE)
            return fail(e, "expected array, got %s", value_kind(L, idx));
        return 1;
    case AX_T_OBJECT:
    case AX_T_FREE:
        if (t != LUA_TTABLE)
            return fail(e, "expected object, got %s", value_kind(L, idx));
        return 1;
    case AX_T_UINT:
        return check_whole_number(e, idx, t);
    }
    return 1;
}

/*
 * LuaJIT numbers are doubles; its int64_t/uint64_t cdata (123LL, 123ULL) are
 * how LuaJIT code holds integers beyond 2^53. The C API cannot read cdata,
 * but tostring() prints them exactly ("123LL"), so that text is the value.
 */
#define AX_TYPE_CDATA 10   /* LuaJIT's lua_type for cdata; unused elsewhere */

static int is_int64_cdata(lua_State *L, int idx)
{
    return lua_type(L, idx) == AX_TYPE_CDATA;
}

static int write_int64_cdata(encoder *e, int idx)
{
    lua_State *L = e->L;
    size_t len, digits;
    const char *s;

    /* tostring as it was when the module loaded: a replaced global (or
     * one that raises) must not decide what is sent. */
    ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_tostring_key);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    s = lua_tolstring(L, -1, &len);
    digits = s != NULL && len > 0 && s[0] == '-' ? 1 : 0;
    while (s != NULL && digits < len && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (s == NULL || digits == 0 || digits >= len ||
        !(strcmp(s + digits, "LL") == 0 || strcmp(s + digits, "ULL") == 0)) {
        lua_pop(L, 1);
        return fail(e, "cannot encode a cdata (only int64_t and uint64_t)");
    }
    ax_buf_append(e->out, s, digits);
    lua_pop(L, 1);
    return 1;
}

static int encode_value(encoder *e, int idx, const ax_field *schema)
{
    lua_State *L = e->L;
    int t = lua_type(L, idx);

    if (t == LUA_TSTRING) {   /* most values: checked and written in one go */
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (e->validate && schema != NULL) {
            if (schema->type == AX_T_NONEMPTY && len == 0)
                return fail(e, "must not be empty");
            if (schema->type == AX_T_ENUM && !check_choice(e, s, len, schema))
                return 0;
            if (schema->type != AX_T_STRING && schema->type != AX_T_NONEMPTY &&
                schema->type != AX_T_ENUM && !check_type(e, idx, t, schema))
                return 0;
        }
        if (e->reference != NULL && e->depth == 1 && e->path_len == 1 &&
            e->path[0].key_len == 9 && memcmp(e->path[0].key, "reference", 9) == 0) {
            e->reference->len = 0;
            ax_buf_append(e->reference, s, len);
        }
        return write_string(e, s, len);
    }
    if (e->validate && schema != NULL && !check_type(e, idx, t, schema))
        return 0;
    switch (t) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return write_string(e, s, len);
    }
    case LUA_TNUMBER:
        return write_number(e, idx);
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            ax_buf_lit(e->out, "true");
        else
            ax_buf_lit(e->out, "false");
        return 1;
    case LUA_TTABLE:
        return encode_table(e, idx, schema);
    case LUA_TLIGHTUSERDATA: {
        void *p = lua_touserdata(L, idx);
        if (p == NULL) {            /* allawee.null, which is cjson.null */
            ax_buf_lit(e->out, "null");
            return 1;
        }
        if (p == &ax_empty_array_sentinel) {
            ax_buf_lit(e->out, "[]");
            return 1;
        }
        return fail(e, "cannot encode a light userdata");
    }
    default:
        if (is_int64_cdata(L, idx))
            return write_int64_cdata(e, idx);
        return fail(e, "cannot encode a %s", value_kind(L, idx));
    }
}

int ax_encode(lua_State *L, int idx, const ax_field *schema, int validate, ax_buf *out,
              ax_buf *reference, ax_encode_error *err)
{
    encoder e;
    int ok, top = lua_gettop(L);

    e.L = L;
    e.out = out;
    e.reference = reference;
    e.err = err;
    e.validate = validate;
    e.failed = 0;
    e.depth = 0;
    e.path_len = 0;
    err->field[0] = '\0';
    err->message[0] = '\0';
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    ok = encode_value(&e, idx, schema);
    lua_settop(L, top);   /* a failed walk stops with values on the stack */
    if (out->oom || (reference != NULL && reference->oom))
        luaL_error(L, "allawee: not enough memory to encode the request");
    return ok;
}
