/*
 * response.c: what a finished attempt means, as a value or as an error.
 *
 * The body is decoded with the private cjson instance that allawee.lua
 * registers (never the host's global one); integral numbers are then turned
 * into Lua integers on 5.3+, so the result does not depend on which
 * lua-cjson is installed (Debian's 2.1.0 decodes every number as a float).
 */
#include <math.h>
#include <stdio.h>

#include "internal.h"

const char ax_decoder_key = 0;

/* ------------------------------------------------------------- decoding */

/* Lua integers for integral floats, everywhere in the decoded tree. */
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
                n < 9223372036854775808.0) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, (lua_Integer)n);
                lua_rawset(L, idx);  /* assigning an existing key is safe in lua_next */
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
                note_number(np, frame, depth);
                while (i + 1 < len && number_char(s[i + 1]))
                    i++;
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
        if (n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0) {
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

    if (len == 0) {
        lua_pushliteral(L, "empty response body");
        return 0;
    }
    if (!scan_body(data, len, &bad, &numbers)) {
        lua_pushfstring(L, "response body is not valid UTF-8 (byte %d)", (int)bad + 1);
        return 0;
    }
    ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_decoder_key);
    if (string_idx > 0)
        lua_pushvalue(L, string_idx);
    else
        lua_pushlstring(L, data, len);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        if (!lua_isstring(L, -1)) {
            lua_pop(L, 1);
            lua_pushliteral(L, "response body is not JSON");
        }
        return 0;
    }
    if (lua_type(L, -1) == LUA_TTABLE && AX_HAS_INTEGERS) {
        if (numbers.walk)
            normalise_numbers(L, lua_gettop(L), 0);
        else
            normalise_paths(L, lua_gettop(L), &numbers);
    }
    return 1;
}

/* Pushes the decoded body and returns 1, or pushes the decoder's message
 * and returns 0. */
static int decode_body(lua_State *L, const ax_response *r)
{
    return ax_decode_json(L, r->body.data, r->body.len, r->body_index);
}

/* The string field `name` of the table on top, or NULL (kept on the stack
 * under the table's index so the pointer stays valid). */
static const char *string_field(lua_State *L, int table, const char *name)
{
    lua_getfield(L, table, name);
    if (lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    return NULL;
}

/* ------------------------------------------------------------- mapping */

static const char *kind_for_status(long status)
{
    switch (status) {
    case 401: return "authentication";
    case 403: return "permission";
    case 404: return "not_found";
    case 409: return "conflict";
    case 429: return "rate_limit";
    default:
        return status >= 400 && status < 500 ? "invalid_request" : "api";
    }
}

static const char *code_for_status(long status)
{
    switch (status) {
    case 400: return "bad-request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not-found";
    case 409: return "conflict";
    case 429: return "too-many-requests";
    case 500: return "application-error";
    case 503: return "service-unavailable";
    default: return NULL;
    }
}

static int status_is_retryable(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

static void base_error(ax_error *e, const ax_response *r, int attempts)
{
    memset(e, 0, sizeof *e);
    e->status = r->status;
    e->request_id = r->request_id[0] ? r->request_id : NULL;
    e->attempts = attempts;
}

static int transport_failure(lua_State *L, ax_response *r, int attempts, int *retryable)
{
    ax_error e;
    char message[CURL_ERROR_SIZE + 96];
    const char *detail = r->curl_error[0] ? r->curl_error : curl_easy_strerror(r->curl_code);

    base_error(&e, r, attempts);
    e.code = ax_curl_code_name(r->curl_code);
    e.kind = "connection";
    e.retryable = 1;
    switch (r->curl_code) {
    case CURLE_OPERATION_TIMEDOUT:
        e.kind = "timeout";
        snprintf(message, sizeof message, "the request timed out: %s", detail);
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (r->too_large || r->curl_code == CURLE_FILESIZE_EXCEEDED) {
            e.kind = "decode";
            e.code = "response_too_large";
            e.retryable = 0;
            snprintf(message, sizeof message,
                     "the response body is larger than max_response_bytes (%zu bytes)",
                     r->max_bytes);
        } else {
            snprintf(message, sizeof message, "could not store the response: %s", detail);
        }
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        e.retryable = 0;   /* a certificate does not fix itself in a second */
        snprintf(message, sizeof message,
                 "the server certificate could not be verified: %s", detail);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_OUT_OF_MEMORY:
        e.retryable = 0;
        snprintf(message, sizeof message, "%s", detail);
        break;
    case CURLE_PARTIAL_FILE:
        snprintf(message, sizeof message, "the response was truncated: %s", detail);
        break;
    default:
        snprintf(message, sizeof message, "%s", detail);
    }
    e.message = message;
    *retryable = e.retryable;
    ax_push_error(L, &e);
    return 0;
}

/* 202: Guaranteed Request Processing. The service has the request and will
 * process it; sending it again would be wrong, so it is never retried. */
static int accepted(lua_State *L, ax_response *r, int attempts, int *retryable)
{
    ax_error e;
    int top = lua_gettop(L);
    const char *message = NULL;

    base_error(&e, r, attempts);
    if (decode_body(L, r) && lua_type(L, -1) == LUA_TTABLE)
        message = string_field(L, top + 1, "message");
    e.kind = "accepted";
    e.code = "request-accepted";
    e.message = message ? message :
        "Request accepted and will be processed asynchronously";
    e.body = r->body.len ? r->body.data : NULL;
    e.body_len = r->body.len;
    *retryable = 0;
    ax_push_error(L, &e);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
}

static int success(lua_State *L, ax_response *r, int attempts, int *retryable)
{
    ax_error e;
    int top = lua_gettop(L);
    char message[AX_ERR_MESSAGE_MAX];

    *retryable = 0;
    base_error(&e, r, attempts);
    e.body = r->body.len ? r->body.data : NULL;
    e.body_len = r->body.len;
    if (!decode_body(L, r)) {
        snprintf(message, sizeof message, "HTTP %ld with a body that is not JSON: %s",
                 r->status, lua_tostring(L, -1));
        e.kind = "decode";
        e.code = "invalid_json";
    } else if (lua_type(L, -1) != LUA_TTABLE) {
        snprintf(message, sizeof message, "HTTP %ld with a JSON body that is not an object",
                 r->status);
        e.kind = "decode";
        e.code = "unexpected_body";
    } else {
        const char *code = string_field(L, top + 1, "code");
        lua_getfield(L, top + 1, "data");
        if (code != NULL && strcmp(code, "success") == 0 &&
            lua_type(L, -1) == LUA_TTABLE) {
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return 1;
        }
        if (code != NULL && strcmp(code, "success") != 0) {
            /* A well-formed envelope that reports a failure. */
            const char *m = string_field(L, top + 1, "message");
            snprintf(message, sizeof message, "HTTP %ld but the body says \"%s\"%s%s",
                     r->status, code, m ? ": " : "", m ? m : "");
            e.kind = "api";
            e.code = code;
        } else {
            snprintf(message, sizeof message,
                     "HTTP %ld with a body that is not the documented envelope "
                     "(code \"success\" and a data object)", r->status);
            e.kind = "decode";
            e.code = "unexpected_body";
        }
    }
    e.message = message;
    ax_push_error(L, &e);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
}

/* Error statuses: {code, message}, {statusCode, message}, or not JSON. */
static int failure_status(lua_State *L, ax_response *r, int attempts, int *retryable)
{
    ax_error e;
    int top = lua_gettop(L);
    char message[AX_ERR_MESSAGE_MAX];
    const char *code = NULL, *api_message = NULL;

    base_error(&e, r, attempts);
    e.kind = kind_for_status(r->status);
    e.retryable = status_is_retryable(r->status);
    e.body = r->body.len ? r->body.data : NULL;
    e.body_len = r->body.len;
    if (decode_body(L, r) && lua_type(L, -1) == LUA_TTABLE) {
        code = string_field(L, top + 1, "code");
        api_message = string_field(L, top + 1, "message");
    }
    e.code = code ? code : code_for_status(r->status);
    if (api_message != NULL) {
        snprintf(message, sizeof message, "%s", api_message);
    } else if (r->status >= 300 && r->status < 400) {
        snprintf(message, sizeof message,
                 "HTTP %ld redirect, not followed (the key is never sent elsewhere)",
                 r->status);
    } else {
        snprintf(message, sizeof message, "HTTP %ld with %s body%s%s%s", r->status,
                 r->body.len ? "a non-JSON" : "an empty",
                 r->content_type[0] ? " (" : "", r->content_type,
                 r->content_type[0] ? ")" : "");
    }
    e.message = message;
    *retryable = e.retryable;
    ax_push_error(L, &e);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
}

int ax_response_outcome(lua_State *L, ax_response *r, int attempts, int *retryable)
{
    luaL_checkstack(L, 8, "allawee: response");
    if (r->curl_code != CURLE_OK)
        return transport_failure(L, r, attempts, retryable);
    if (r->status == 202)
        return accepted(L, r, attempts, retryable);
    if (r->status >= 200 && r->status < 300)
        return success(L, r, attempts, retryable);
    return failure_status(L, r, attempts, retryable);
}
