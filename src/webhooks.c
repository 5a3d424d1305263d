/*
 * webhooks.c: the calls Allawee makes to the integrator's server
 * (docs/webhooks.md, catalogue B.3). No HTTP here: the host hands over the
 * raw body and the header, so plain Lua, OpenResty and C hosts share it.
 *
 *   core.webhooks.verify(body, header, key)  -> true | false, why, code
 *   core.webhooks.parse(body, header, key)   -> event | nil, err
 *   core.webhooks.sign(body, key)            -> lowercase hex HMAC-SHA512
 *   core.webhooks.authorization_reply(reply [, request]) -> JSON | nil, err
 *
 * `Allawee-Signature` is the hex HMAC-SHA512 of the raw body bytes under the
 * signing key (the key string's bytes). Nothing returned here ever holds
 * the key, the expected signature or the body: a refusal says which rule
 * failed and no more. The expected MAC exists only on the C stack and is
 * wiped before any Lua call that could raise.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"
#include "sha512.h"

#define HEADER "Allawee-Signature"
#define SIG_HEX ((size_t)2 * AX_SHA512_DIGEST)   /* 128 */
#define BUFFER_MT "allawee.webhooks.buffer"

typedef enum sig_status {
    SIG_OK = 0,
    SIG_MISSING,
    SIG_MALFORMED,
    SIG_MISMATCH
} sig_status;

typedef struct sig_check {
    sig_status status;
    const char *code;           /* signature_missing, ... */
    char why[112];              /* one line, no secret */
} sig_check;

/* ------------------------------------------------------------ arguments */

static int type_error(lua_State *L, int arg, const char *fname, const char *expected)
{
    return luaL_error(L, "bad argument #%d to '%s' (%s expected, got %s)", arg, fname,
                      expected, luaL_typename(L, arg));
}

/* A string argument: only a real string (no number coercion). */
static const char *string_arg(lua_State *L, int arg, const char *fname, size_t *len)
{
    if (lua_type(L, arg) != LUA_TSTRING)
        type_error(L, arg, fname, "string");
    return lua_tolstring(L, arg, len);
}

/* The signing key. An empty key is always a configuration mistake (an
 * unset variable read as ""), and an HMAC under the empty key is one
 * anybody can compute: accepting it would accept forgeries. */
static const char *key_arg(lua_State *L, int arg, const char *fname, size_t *len)
{
    const char *key = string_arg(L, arg, fname, len);
    if (*len == 0)
        luaL_error(L, "bad argument #%d to '%s' (the signing key is empty)", arg, fname);
    return key;
}

/* ------------------------------------------------------------ signature */

static const char hex_digits[] = "0123456789abcdef";

static void to_hex(const unsigned char *mac, char out[SIG_HEX])
{
    size_t i;
    for (i = 0; i < AX_SHA512_DIGEST; i++) {
        out[2 * i] = hex_digits[mac[i] >> 4];
        out[2 * i + 1] = hex_digits[mac[i] & 15];
    }
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void refuse(sig_check *r, sig_status status, const char *code, const char *fmt, ...)
{
    va_list ap;

    r->status = status;
    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

/*
 * The header as the host read it: a string, or nil when absent. OWS (space
 * and tab), which HTTP does not count as part of a field value, is trimmed
 * from both ends; anything else must be exactly 128 hex digits, either
 * case. The expected MAC and the decoded header are compared in constant
 * time, and the expected MAC is wiped before returning: no Lua call (which
 * may raise) ever runs while it is on the stack.
 */
static void check_signature(lua_State *L, const char *body, size_t body_len,
                            const char *key, size_t key_len, int header_idx, sig_check *r)
{
    unsigned char expected[AX_SHA512_DIGEST], given[AX_SHA512_DIGEST];
    const char *h;
    size_t len, i;
    int t = lua_type(L, header_idx);

    r->status = SIG_OK;
    r->code = NULL;
    r->why[0] = '\0';
    if (t == LUA_TNONE || t == LUA_TNIL) {
        refuse(r, SIG_MISSING, "signature_missing", "no " HEADER " header");
        return;
    }
    if (t == LUA_TTABLE) {   /* ngx.req.get_headers() gives a table for a repeated header */
        refuse(r, SIG_MALFORMED, "signature_malformed", HEADER " header appears more than once");
        return;
    }
    if (t != LUA_TSTRING) {
        refuse(r, SIG_MALFORMED, "signature_malformed", HEADER " header is a %s, not a string",
               lua_typename(L, t));
        return;
    }
    h = lua_tolstring(L, header_idx, &len);
    while (len > 0 && (h[0] == ' ' || h[0] == '\t')) {
        h++;
        len--;
    }
    while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 0) {
        refuse(r, SIG_MISSING, "signature_missing", "empty " HEADER " header");
        return;
    }
    if (len != SIG_HEX) {
        refuse(r, SIG_MALFORMED, "signature_malformed",
               HEADER " header is not 128 hex digits (%zu bytes)", len);
        return;
    }
    for (i = 0; i < AX_SHA512_DIGEST; i++) {
        int hi = hex_value((unsigned char)h[2 * i]), lo = hex_value((unsigned char)h[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            refuse(r, SIG_MALFORMED, "signature_malformed",
                   HEADER " header is not 128 hex digits (a byte is not hex)");
            return;
        }
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    /* The expected MAC is a valid signature of this body: it leaves the
     * stack before anything else runs. */
    ax_hmac_sha512(key, key_len, body, body_len, expected);
    if (!ax_equal_ct(expected, given, sizeof expected))
        refuse(r, SIG_MISMATCH, "signature_mismatch",
               HEADER " does not match the body (a wrong signing key, or an altered body)");
    ax_wipe(expected, sizeof expected);
}

/* The three arguments of verify and parse; raises for programmer errors. */
static void signature_args(lua_State *L, const char *fname, sig_check *r)
{
    size_t body_len, key_len;
    const char *body = string_arg(L, 1, fname, &body_len);
    const char *key = key_arg(L, 3, fname, &key_len);
    check_signature(L, body, body_len, key, key_len, 2, r);
}

static void push_webhook_error(lua_State *L, const char *kind, const char *code,
                               const char *message, const char *field)
{
    ax_error e;

    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.code = code;
    e.message = message;
    e.field = field;
    ax_push_error(L, &e);   /* no body: see docs/webhooks.md */
}

/* verify(body, header, key) -> true | false, why, code */
static int webhooks_verify(lua_State *L)
{
    sig_check r;

    signature_args(L, "verify", &r);
    if (r.status == SIG_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushstring(L, r.why);
    lua_pushstring(L, r.code);
    return 3;
}

/* sign(body, key) -> the lowercase hex signature */
static int webhooks_sign(lua_State *L)
{
    unsigned char mac[AX_SHA512_DIGEST];
    char hex[SIG_HEX];
    size_t body_len, key_len;
    const char *body = string_arg(L, 1, "sign", &body_len);
    const char *key = key_arg(L, 2, "sign", &key_len);

    ax_hmac_sha512(key, key_len, body, body_len, mac);
    to_hex(mac, hex);
    ax_wipe(mac, sizeof mac);
    lua_pushlstring(L, hex, sizeof hex);
    return 1;
}

/* ---------------------------------------------------------------- parse */

/* The decoder's message about the body, said of a webhook body. Its
 * messages name a byte offset or a token kind, never the body's text. */
static void push_decode_message(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    static const char prefix[] = "response body ";

    if (msg == NULL)
        lua_pushliteral(L, "webhook body is not JSON");
    else if (strncmp(msg, prefix, sizeof prefix - 1) == 0)
        lua_pushfstring(L, "webhook body %s", msg + sizeof prefix - 1);
    else if (strcmp(msg, "empty response body") == 0)
        lua_pushliteral(L, "empty webhook body");
    else
        lua_pushfstring(L, "webhook body is not JSON: %s", msg);
}

/* parse(body, header, key) -> event | nil, err */
static int webhooks_parse(lua_State *L)
{
    sig_check r;
    size_t len;
    const char *body;
    int event;

    signature_args(L, "parse", &r);
    lua_settop(L, 3);
    if (r.status != SIG_OK) {
        lua_pushnil(L);
        push_webhook_error(L, "signature", r.code, r.why, NULL);
        return 2;
    }
    body = lua_tolstring(L, 1, &len);
    if (!ax_decode_json(L, body, len, 1)) {
        push_decode_message(L);
        lua_pushnil(L);
        push_webhook_error(L, "decode", "invalid_json", lua_tostring(L, -2), NULL);
        return 2;
    }
    event = lua_gettop(L);
    if (lua_type(L, event) != LUA_TTABLE) {
        lua_pushnil(L);
        push_webhook_error(L, "decode", "invalid_event", "webhook body is not a JSON object",
                           NULL);
        return 2;
    }
    lua_pushliteral(L, "event");
    lua_rawget(L, event);
    if (lua_type(L, -1) != LUA_TSTRING || ax_rawlen(L, -1) == 0) {
        lua_pushnil(L);
        push_webhook_error(L, "decode", "invalid_event",
                           "webhook body has no \"event\" string", NULL);
        return 2;
    }
    lua_settop(L, event);
    return 1;
}

/* ------------------------------------------------------------ the reply */

typedef struct reply_buffer {
    ax_buf buf;
} reply_buffer;

static int reply_buffer_gc(lua_State *L)
{
    reply_buffer *b = lua_touserdata(L, 1);
    ax_buf_free(&b->buf);
    return 0;
}

/*
 * The request being answered: nothing, the parsed event, its `data`, or
 * the type itself. 1 when it is a `check` (cardBalance required). A type
 * string written by the caller must be one the docs name (a typo would
 * drop the requirement silently); a type read from Allawee's event is
 * taken as it comes, so a type the docs do not list yet does not break
 * the caller's handler.
 */
static int answers_check(lua_State *L, int idx)
{
    static const char *const fname = "authorization_reply";
    int t = lua_type(L, idx), check = 0;

    if (t == LUA_TNONE || t == LUA_TNIL)
        return 0;
    if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        if (strcmp(s, "check") == 0)
            return 1;
        if (strcmp(s, "capture") == 0)
            return 0;
        char shown[48];
        snprintf(shown, sizeof shown, "%.40s", s);   /* lua_pushfstring has no precision */
        return luaL_error(L, "bad argument #2 to '%s' (\"check\" or \"capture\" expected, "
                          "got \"%s\")", fname, shown);
    }
    if (t != LUA_TTABLE)
        return type_error(L, idx, fname, "table or string");
    lua_pushliteral(L, "data");
    lua_rawget(L, idx);
    if (lua_type(L, -1) != LUA_TTABLE) {   /* the request's data itself */
        lua_pop(L, 1);
        lua_pushvalue(L, idx);
    }
    lua_pushliteral(L, "type");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING)
        check = strcmp(lua_tostring(L, -1), "check") == 0;
    lua_pop(L, 2);
    return check;
}

/* A root key the encoder calls unknown: said in terms of this reply (its
 * own message names create-a-customer.md). The field is the encoder's
 * printable form of the key. */
static int is_reply_field(const char *name)
{
    const ax_field *f;
    for (f = ax_authorization_reply_schema.fields; f->name != NULL; f++)
        if (strcmp(f->name, name) == 0)
            return 1;
    return 0;
}

static int reply_failure(lua_State *L, ax_encode_error *err)
{
    if (err->field[0] != '\0' && strpbrk(err->field, ".[") == NULL &&
        !is_reply_field(err->field))
        snprintf(err->message, sizeof err->message,
                 "%s: unknown field (a typo? an authorization reply has action, code, "
                 "cardBalance, cardHolderName and metadata)", err->field);
    lua_pushnil(L);
    push_webhook_error(L, "validation", "invalid_reply", err->message,
                       err->field[0] != '\0' ? err->field : NULL);
    return 2;
}

/* authorization_reply(reply [, request]) -> JSON text | nil, err */
static int webhooks_reply(lua_State *L)
{
    ax_encode_error err;
    reply_buffer *out;
    int check, ok;

    if (lua_type(L, 1) != LUA_TTABLE)
        return type_error(L, 1, "authorization_reply", "table");
    check = answers_check(L, 2);
    lua_settop(L, 1);

    /* The output lives in a userdata, so a memory error cannot leak it. */
    out = ax_newuserdata(L, sizeof *out);
    ax_buf_init(&out->buf);
    luaL_getmetatable(L, BUFFER_MT);
    lua_setmetatable(L, -2);

    ok = ax_encode(L, 1, &ax_authorization_reply_schema, 1, &out->buf, NULL, &err);
    if (ok && check) {
        lua_pushliteral(L, "cardBalance");
        lua_rawget(L, 1);
        if (lua_isnil(L, -1)) {
            ok = 0;
            snprintf(err.field, sizeof err.field, "cardBalance");
            snprintf(err.message, sizeof err.message,
                     "cardBalance: required field is missing (the request is a check)");
        }
        lua_pop(L, 1);
    }
    if (!ok) {
        ax_buf_free(&out->buf);
        return reply_failure(L, &err);
    }
    lua_pushlstring(L, out->buf.data, out->buf.len);
    ax_buf_free(&out->buf);
    return 1;
}

/* ------------------------------------------------------------- register */

void ax_webhooks_register(lua_State *L)
{
    static const luaL_Reg functions[] = {
        { "verify", webhooks_verify },
        { "parse", webhooks_parse },
        { "sign", webhooks_sign },
        { "authorization_reply", webhooks_reply },
        { NULL, NULL }
    };

    if (luaL_newmetatable(L, BUFFER_MT)) {
        lua_pushcfunction(L, reply_buffer_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    ax_setfuncs(L, functions, 0);
    lua_setfield(L, -2, "webhooks");   /* into the module table on top */
}
