/*
 * codec_api.c: the C module without its transport, for hosts whose own
 * event loop must move the bytes (OpenResty cosockets).
 *
 *   core.encode(params [, validate]) -> body  |  nil, err (kind "validation")
 *   core.interpret(status, body [, headers [, attempts]]) -> data  |  nil, err
 *   core.error(fields)               -> fields with the error metatable
 *
 * They are the very functions customers.create uses, so every path gives
 * the same bodies, the same decoding and the same error kinds.
 */
#include <stdlib.h>

#include "client.h"

/* The buffer encode writes into lives in a userdata, so a memory error
 * cannot leak it. One is kept per module instance (upvalue 1) and reused,
 * which saves a userdata, its finalizer and the buffer's growth on every
 * call; `busy` sends a re-entrant call (or any call after a memory error
 * left it set) to a buffer of its own. */
typedef struct encode_scratch {
    ax_buf buf;
    int busy;
} encode_scratch;

#define SCRATCH_KEEP ((size_t)64 * 1024)   /* a larger body's memory is given back */

static ax_buf *encode_buffer(lua_State *L, encode_scratch **scratch)
{
    encode_scratch *own;

    *scratch = lua_touserdata(L, lua_upvalueindex(1));
    if (*scratch != NULL && !(*scratch)->busy) {
        (*scratch)->busy = 1;
        (*scratch)->buf.len = 0;
        return &(*scratch)->buf;
    }
    *scratch = NULL;
    own = ax_newuserdata(L, sizeof *own);
    memset(own, 0, sizeof *own);
    ax_buf_init(&own->buf);
    luaL_getmetatable(L, "allawee.buffer");
    lua_setmetatable(L, -2);
    return &own->buf;
}

static void encode_buffer_done(encode_scratch *scratch)
{
    if (scratch == NULL)
        return;
    if (scratch->buf.cap > SCRATCH_KEEP)
        ax_buf_free(&scratch->buf);
    scratch->busy = 0;
}

static int codec_encode(lua_State *L)
{
    ax_encode_error err;
    encode_scratch *scratch;
    ax_buf *body;
    int validate;

    luaL_checktype(L, 1, LUA_TTABLE);
    validate = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    lua_settop(L, 1);
    body = encode_buffer(L, &scratch);
    if (!ax_encode(L, 1, &ax_customer_schema, validate, body, NULL, &err)) {
        encode_buffer_done(scratch);
        ax_error e;
        memset(&e, 0, sizeof e);
        e.kind = "validation";
        e.code = "invalid_params";
        e.message = err.message;
        e.field = err.field[0] ? err.field : NULL;
        lua_pushnil(L);
        ax_push_error(L, &e);
        return 2;
    }
    lua_pushlstring(L, body->data, body->len);
    if (scratch != NULL)
        encode_buffer_done(scratch);
    else
        ax_buf_free(body);
    return 1;
}

static int buffer_gc(lua_State *L)
{
    encode_scratch *scratch = lua_touserdata(L, 1);
    ax_buf_free(&scratch->buf);
    return 0;
}

/* core.interpret(status, body [, headers [, attempts]]): what
 * customers.create would make of this answer (data | nil, err). */
static int codec_interpret(lua_State *L)
{
    ax_call_spec spec;
    ax_policy policy;
    ax_final final;
    ax_response r;
    size_t len;
    const char *body;
    int headers = 0, n;

    memset(&r, 0, sizeof r);
    memset(&policy, 0, sizeof policy);
    memset(&final, 0, sizeof final);
    memset(&spec, 0, sizeof spec);
    spec.answer = AX_ANSWER_OBJECT;
    spec.page = -1;
    r.status = (long)luaL_checkinteger(L, 1);
    body = luaL_optlstring(L, 2, "", &len);
    if (lua_type(L, 3) == LUA_TTABLE)
        headers = 3;
    policy.sends = (int)luaL_optinteger(L, 4, 1);
    /* read only: never freed or grown here. NULL when empty, as the
     * client's own buffer is, so an empty answer has no err.body either. */
    r.body.data = len > 0 ? (char *)body : NULL;
    /* The decoder can take the caller's string itself, not a copy. */
    r.body_index = lua_type(L, 2) == LUA_TSTRING ? 2 : 0;
    r.body.len = r.body.cap = len;
    r.max_bytes = len;
    r.retry_after = -1;
    ax_header_from_table(L, headers, "x-request-id", r.request_id, sizeof r.request_id);
    ax_header_from_table(L, headers, "content-type", r.content_type, sizeof r.content_type);
    lua_settop(L, 4);
    final.end = AX_END_ANSWER;
    n = ax_push_outcome(L, &spec, &policy, &final, &r);
    if (n == 3) {
        lua_pop(L, 2);   /* data only */
        return 1;
    }
    return 2;
}

static int codec_error(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_getmetatable(L, "allawee.error");
    lua_setmetatable(L, 1);
    return 1;
}

void ax_codec_register(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "encode", codec_encode },
        { "interpret", codec_interpret },
        { "error", codec_error },
        { NULL, NULL }
    };

    encode_scratch *scratch;

    if (luaL_newmetatable(L, "allawee.buffer")) {
        lua_pushcfunction(L, buffer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    ax_setfuncs(L, functions, 0);   /* into the module table on top */
    /* encode gets its reusable buffer as upvalue 1. */
    scratch = ax_newuserdata(L, sizeof *scratch);
    memset(scratch, 0, sizeof *scratch);
    ax_buf_init(&scratch->buf);
    luaL_getmetatable(L, "allawee.buffer");
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, codec_encode, 1);
    lua_setfield(L, -2, "encode");
}
