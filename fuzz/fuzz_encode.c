/*
 * fuzz_encode.c: libFuzzer target for the request encoder (json_encode.c
 * through core.encode, the function customers.create uses).
 *
 * The input is a program that builds one Lua value: nested tables, integers
 * (all 64 bits), floats (any bit pattern: NaN, inf, -0, subnormals),
 * strings of arbitrary bytes, booleans, allawee.null, allawee.empty_array,
 * tables marked with allawee.array, cycles and shared subtables, deep
 * chains, mixed and sparse tables, keys of every type, values no JSON can
 * hold (functions, userdata, coroutines). Half the inputs start instead from
 * a valid documented customer and mutate fields along the schema's paths,
 * so validation gets past the first required field. fuzz/oracle.lua then
 * encodes the value with and without validation and checks the output.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_lua.h"

#define MAX_DEPTH 40        /* deeper than the encoder's bound of 32 */
#define MAX_NODES 2000      /* values per input: keeps one run fast */
#define MAX_REFS 6          /* shared subtables: bounds the output's blow-up */
#define MAX_ITEMS 40        /* entries per table */

typedef struct builder {
    lua_State *L;
    fuzz_input in;
    int oracle;     /* stack index: fuzz/oracle.lua's table */
    int tables;     /* stack index: array of every table made so far */
    int ntables;
    int nodes;
    int refs;
} builder;

static const char *const words[] = {
    "name", "reference", "type", "claims", "verifications", "metadata",
    "individualInformation", "individualAddress", "individualIdentity",
    "businessInformation", "businessIdentity", "businessDirectors",
    "businessAddress", "firstName", "lastName", "middleName", "email",
    "phoneNumber", "title", "gender", "dateOfBirth", "nationalityCode", "city",
    "state", "countryCode", "addressLineOne", "addressLineTwo", "postalCode",
    "id", "url", "issuingCountry", "registrationName", "individual",
    "business", "corporate", "tier-1", "tier-2", "tier-3", "tier-4", "", "x",
    "\"\\/\b\f\n\r\t", "\xc3\xa9", "\xed\xa0\x80", "\xf4\x90\x80\x80",
    "\xe2\x82", "\xf0\x9f\x98\x80", "a\0b"
};
#define N_WORDS (sizeof words / sizeof words[0])

static const double special_numbers[] = {
    0.0, -0.0, 1.0, -1.0, 0.5, 1e-320, 2.2250738585072014e-308,
    1.7976931348623157e308, 9007199254740992.0, 9007199254740993.0,
    -9007199254740992.0, 9223372036854775808.0, -9223372036854775808.0,
    18446744073709551616.0, 0.1, 1e21, 1e22, 123456789.123456789, 3.0e-5,
    5e-324, 1e300
};
#define N_SPECIAL (sizeof special_numbers / sizeof special_numbers[0])

static void build_value(builder *b, int depth);
static void push_leaf(builder *b);

static void push_word(builder *b)
{
    const char *w = words[fuzz_byte(&b->in) % N_WORDS];
    /* The one word with a NUL inside ("a\0b") reads as "a" to strlen. */
    size_t len = strcmp(w, "a") == 0 ? 3 : strlen(w);
    lua_pushlstring(b->L, w, len);
}

static void push_bytes(builder *b)
{
    const uint8_t *p;
    size_t n = fuzz_bytes(&b->in, &p, fuzz_byte(&b->in) % 80);
    lua_pushlstring(b->L, (const char *)p, n);
}

static void push_special_number(builder *b)
{
    uint8_t c = fuzz_byte(&b->in);
    switch (c % 8) {
    case 0: lua_pushnumber(b->L, NAN); break;
    case 1: lua_pushnumber(b->L, INFINITY); break;
    case 2: lua_pushnumber(b->L, -INFINITY); break;
    case 3: lua_pushinteger(b->L, LUA_MININTEGER); break;
    case 4: lua_pushinteger(b->L, LUA_MAXINTEGER); break;
    default: lua_pushnumber(b->L, special_numbers[c % N_SPECIAL]);
    }
}

static void push_double_bits(builder *b)
{
    uint64_t bits = fuzz_u64(&b->in);
    double d;
    memcpy(&d, &bits, sizeof d);
    lua_pushnumber(b->L, d);
}

/* A new empty table, remembered for later references (cycles, sharing). */
static void new_table(builder *b, int narr, int nrec)
{
    lua_createtable(b->L, narr, nrec);
    lua_pushvalue(b->L, -1);
    lua_rawseti(b->L, b->tables, ++b->ntables);
}

/* Pushes a key for an object-like table; never NaN (not a valid key). */
static void push_key(builder *b)
{
    uint8_t c = fuzz_byte(&b->in);
    switch (c % 10) {
    case 0: case 1: case 2: case 3: case 4:
        push_word(b);
        break;
    case 5:
        push_bytes(b);
        break;
    case 6:
        lua_pushinteger(b->L, (lua_Integer)(int8_t)fuzz_byte(&b->in));
        break;
    case 7: {
        static const double float_keys[] = { 1.5, -0.5, 1e300, 2.0, 0.0, -0.0 };
        lua_pushnumber(b->L, float_keys[fuzz_byte(&b->in) % 6]);
        break;
    }
    case 8:
        lua_pushboolean(b->L, c & 0x10);
        break;
    default:
        new_table(b, 0, 0);
    }
}

static void fill_object(builder *b, int depth, int n)
{
    int i;
    for (i = 0; i < n && b->in.n > 0; i++) {
        push_key(b);
        build_value(b, depth + 1);
        lua_rawset(b->L, -3);
    }
}

static void fill_array(builder *b, int depth, int n, lua_Integer first)
{
    int i;
    for (i = 0; i < n && b->in.n > 0; i++) {
        build_value(b, depth + 1);
        lua_rawseti(b->L, -2, first + i);
    }
}

/* An object with `n` generated keys ("k<i>", under a fuzzed prefix), for
 * the sorted-keys path past its fixed array of 32 (json_encode.c). */
static void fill_wide_object(builder *b, int depth, int n)
{
    uint8_t prefix = fuzz_byte(&b->in);
    int i;

    new_table(b, 0, n);
    for (i = 0; i < n && b->in.n > 0; i++) {
        lua_pushfstring(b->L, "%ck%d", (int)(prefix % 3 == 0 ? 'a' + i % 26 : 'k'), i);
        if (fuzz_byte(&b->in) % 2)
            push_leaf(b);
        else
            build_value(b, depth + 1);
        lua_rawset(b->L, -3);
    }
}

static void push_unencodable(builder *b)
{
    switch (fuzz_byte(&b->in) % 4) {
    case 0: lua_pushcfunction(b->L, lua_gettop); break;
    case 1: lua_newuserdatauv(b->L, 8, 0); break;
    case 2: lua_newthread(b->L); break;
    default: lua_pushlightuserdata(b->L, (void *)&b->nodes);
    }
}

static void push_leaf(builder *b)
{
    uint8_t c = fuzz_byte(&b->in);
    switch (c % 6) {
    case 0: lua_pushboolean(b->L, c & 0x40); break;
    case 1: lua_pushinteger(b->L, (lua_Integer)(int8_t)fuzz_byte(&b->in)); break;
    case 2: push_word(b); break;
    case 3: lua_pushlightuserdata(b->L, NULL); break;   /* allawee.null */
    default: push_bytes(b);
    }
}

static void build_value(builder *b, int depth)
{
    uint8_t c;
    int n;

    luaL_checkstack(b->L, 8, "fuzz: building");
    if (++b->nodes > MAX_NODES || depth > MAX_DEPTH || b->in.n == 0) {
        push_leaf(b);
        return;
    }
    c = fuzz_byte(&b->in);
    n = fuzz_byte(&b->in) % MAX_ITEMS;
    switch (c % 19) {
    case 0: lua_pushboolean(b->L, c & 0x80); break;
    case 1: lua_pushinteger(b->L, (lua_Integer)(int8_t)fuzz_byte(&b->in)); break;
    case 2: lua_pushinteger(b->L, (lua_Integer)fuzz_u64(&b->in)); break;
    case 3: push_double_bits(b); break;
    case 4: push_special_number(b); break;
    case 5: push_word(b); break;
    case 6: push_bytes(b); break;
    case 7: lua_pushlightuserdata(b->L, NULL); break;
    case 8: lua_getfield(b->L, b->oracle, "empty_array"); break;
    case 9: case 10:
        new_table(b, 0, n);
        fill_object(b, depth, n);
        break;
    case 11: case 12:
        new_table(b, n, 0);
        fill_array(b, depth, n, 1);
        break;
    case 13:                                   /* allawee.array(t) */
        new_table(b, n, 0);
        fill_array(b, depth, n % 3, 1);
        lua_getfield(b->L, b->oracle, "array_mt");
        lua_setmetatable(b->L, -2);
        break;
    case 14:                                   /* a table made before: shared or a cycle */
        if (b->ntables > 0 && b->refs < MAX_REFS) {
            b->refs++;
            lua_rawgeti(b->L, b->tables, 1 + fuzz_byte(&b->in) % b->ntables);
        } else {
            push_leaf(b);
        }
        break;
    case 15: {                                 /* a deep chain {{{...}}} */
        int i, chain = fuzz_byte(&b->in) % 48;
        new_table(b, 1, 0);
        for (i = 0; i < chain; i++) {
            new_table(b, 1, 0);
            lua_insert(b->L, -2);
            lua_rawseti(b->L, -2, 1);
        }
        break;
    }
    case 16:                                   /* mixed or sparse */
        new_table(b, n, 1);
        fill_array(b, depth, n % 4, (lua_Integer)(fuzz_byte(&b->in) % 3));
        fill_object(b, depth, n % 3);
        break;
    case 17:                                   /* wide: more keys than the */
        fill_wide_object(b, depth, 24 + n * 2);  /* encoder's stack array */
        break;
    default:
        push_unencodable(b);
    }
}

/* Paths of the schema, for mutating a valid template ("#n": index n). */
static const char *const paths[][4] = {
    { "name" }, { "reference" }, { "type" }, { "claims" }, { "verifications" },
    { "metadata" }, { "unknownTop" },
    { "verifications", "#1" }, { "verifications", "#2" }, { "verifications", "#5" },
    { "claims", "individualInformation" }, { "claims", "individualAddress" },
    { "claims", "individualIdentity" }, { "claims", "businessInformation" },
    { "claims", "businessIdentity" }, { "claims", "businessDirectors" },
    { "claims", "businessAddress" }, { "claims", "other" },
    { "claims", "individualInformation", "firstName" },
    { "claims", "individualInformation", "email" },
    { "claims", "individualInformation", "bogus" },
    { "claims", "individualAddress", "postalCode" },
    { "claims", "individualIdentity", "type" },
    { "claims", "businessDirectors", "#1" }, { "claims", "businessDirectors", "#3" },
    { "claims", "businessAddress", "city" },
    { "metadata", "userId" }, { "metadata", "nested" }, { "metadata", "#1" },
};
#define N_PATHS (sizeof paths / sizeof paths[0])

static void push_path_key(lua_State *L, const char *key)
{
    if (key[0] == '#')
        lua_pushinteger(L, key[1] - '0');
    else
        lua_pushstring(L, key);
}

/* Sets (or removes) one field of the template on top of the stack. */
static void mutate(builder *b)
{
    const char *const *path = paths[fuzz_byte(&b->in) % N_PATHS];
    int i, top = lua_gettop(b->L);

    lua_pushvalue(b->L, top);
    for (i = 0; i < 3 && path[i + 1] != NULL; i++) {
        push_path_key(b->L, path[i]);
        lua_rawget(b->L, -2);
        if (lua_type(b->L, -1) != LUA_TTABLE) {
            lua_settop(b->L, top);
            return;
        }
    }
    push_path_key(b->L, path[i]);
    if (fuzz_byte(&b->in) % 4 == 0)
        lua_pushnil(b->L);
    else
        build_value(b, 2);
    lua_rawset(b->L, -3);
    lua_settop(b->L, top);
}

static int run(lua_State *L)
{
    builder *b = lua_touserdata(L, 1);
    uint8_t mode = fuzz_byte(&b->in);

    lua_settop(L, 0);
    fuzz_push_oracle_function(L, "check_encode");   /* 1 */
    lua_getfield(L, LUA_REGISTRYINDEX, "allawee.fuzz.oracle");   /* 2: oracle */
    lua_newtable(L);                                  /* 3: every table made */
    b->L = L;
    b->oracle = 2;
    b->tables = 3;
    if (mode & 1) {
        int i, n = fuzz_byte(&b->in) % 8 + 1;
        fuzz_push_oracle_function(L, "template");
        lua_pushinteger(L, mode >> 1);
        lua_call(L, 1, 1);
        for (i = 0; i < n && b->in.n > 0; i++)
            mutate(b);
    } else {
        build_value(b, 0);
    }
    lua_replace(L, 2);
    lua_settop(L, 2);
    lua_call(L, 1, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = fuzz_lua();
    builder b;

    memset(&b, 0, sizeof b);
    b.in.p = data;
    b.in.n = size;
    lua_pushcfunction(L, run);
    lua_pushlightuserdata(L, &b);
    fuzz_call_or_die(L, 1, 0, "encode check");
    fuzz_end_input(L);
    return 0;
}
