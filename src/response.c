/*
 * response.c: what an answer that is not a success means, as an error:
 * HTTP statuses (the service's {code, message}, the {statusCode, message}
 * shape, a proxy's HTML page, an empty body) and transport failures (no
 * complete answer), each with its kind, code and one-line message.
 * outcome.c decides which of these a finished call gets.
 */
#include <stdio.h>
#include <strings.h>

#include "engine.h"

/* The string field `name` of the table at `table`, or NULL (pushed, so the
 * pointer stays valid while the value is on the stack). */
static const char *string_field(lua_State *L, int table, const char *name)
{
    lua_getfield(L, table, name);
    if (lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    return NULL;
}

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

int ax_status_retryable(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

int ax_is_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 1;   /* no Content-Type: try JSON */
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0) ||
           (n == 9 && strncasecmp(ct, "text/json", 9) == 0);
}

/* The words of an answer from the secure host may repeat what was sent or
 * shown there (a PAN, a CVV, a PIN): they are kept with every run of three
 * or more digits masked, so "card 5061... cvv 739 is wrong" reads
 * "card **** cvv *** is wrong". The copy is pushed (its pointer stays
 * valid while it is on the stack); NULL stays NULL. */
static const char *push_masked(lua_State *L, const char *s)
{
    size_t i, n, run = 0;
    luaL_Buffer b;

    if (s == NULL)
        return NULL;
    n = strlen(s);
    luaL_buffinit(L, &b);
    for (i = 0; i <= n; i++) {
        size_t k = run;
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            run++;
            continue;
        }
        for (; run > 0; run--)
            luaL_addchar(&b, k >= 3 ? '*' : s[i - run]);
        if (i < n)
            luaL_addchar(&b, s[i]);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Error statuses: {code, message}, {statusCode, message}, or not JSON; also
 * a 2xx whose envelope reports a failure ({code: "error"}). */
void ax_push_status_error(lua_State *L, ax_response *r, const ax_error *base)
{
    ax_error e = *base;
    int top = lua_gettop(L);
    char message[AX_ERR_MESSAGE_MAX];
    const char *code = NULL, *api_message = NULL;
    int is_2xx = r->status >= 200 && r->status < 300;

    luaL_checkstack(L, 8 + LUA_MINSTACK, "allawee: response");   /* + a luaL_Buffer's levels */
    e.status = r->status;
    e.request_id = r->request_id[0] ? r->request_id : NULL;
    e.kind = is_2xx ? "api" : kind_for_status(r->status);
    e.retryable = ax_status_retryable(r->status);
    e.body = r->body.len ? r->body.data : NULL;
    e.body_len = r->body.len;
    if (r->body.len > 0 && ax_decode_json(L, r->body.data, r->body.len, r->body_index) &&
        lua_type(L, -1) == LUA_TTABLE) {
        code = string_field(L, top + 1, "code");
        api_message = string_field(L, top + 1, "message");
    }
    if (e.secret) {   /* PAN, CVV, PIN: never in an error */
        code = push_masked(L, code);
        api_message = push_masked(L, api_message);
    }
    e.code = code ? code : code_for_status(r->status);
    if (is_2xx) {
        ax_format(message, sizeof message, "HTTP %ld but the body says \"%s\"%s%s", r->status,
                  code ? code : "?", api_message ? ": " : "", api_message ? api_message : "");
    } else if (api_message != NULL) {
        ax_format(message, sizeof message, "%s", api_message);
    } else if (r->status >= 300 && r->status < 400) {
        ax_format(message, sizeof message,
                  "HTTP %ld redirect, not followed (the key is never sent elsewhere)",
                  r->status);
    } else {
        ax_format(message, sizeof message, "HTTP %ld with %s body%s%s%s", r->status,
                  r->body.len ? "a non-JSON" : "an empty",
                  r->content_type[0] ? " (" : "", r->content_type,
                  r->content_type[0] ? ")" : "");
    }
    e.message = message;
    ax_push_error(L, &e);
    lua_insert(L, top + 1);   /* below the decoded body, if there is one */
    lua_settop(L, top + 1);
}

/* libcurl's 100 KiB bound on the response head (CURL_MAX_HTTP_HEADER)
 * fails the transfer as "out of memory", in the middle of the head; it is
 * the server's doing, not ours. (The cosocket client says "header".) */
static int header_too_large(const ax_response *r)
{
    return r->curl_code == CURLE_OUT_OF_MEMORY &&
           (r->in_head || strstr(r->curl_error, "header") != NULL);
}

void ax_push_transport_error(lua_State *L, const ax_response *r, const ax_error *base)
{
    ax_error e = *base;
    char message[CURL_ERROR_SIZE + 128];
    const char *detail = r->curl_error[0] ? r->curl_error : curl_easy_strerror(r->curl_code);

    e.status = r->status;
    e.request_id = r->request_id[0] ? r->request_id : NULL;
    e.code = ax_curl_code_name(r->curl_code);
    e.kind = "connection";
    e.retryable = 1;
    switch (r->curl_code) {
    case CURLE_OPERATION_TIMEDOUT:
        e.kind = "timeout";
        ax_format(message, sizeof message, "the request timed out: %s", detail);
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (r->too_large || r->curl_code == CURLE_FILESIZE_EXCEEDED) {
            e.kind = "decode";
            e.code = "response_too_large";
            e.retryable = 0;
            ax_format(message, sizeof message,
                      "the response body is larger than max_response_bytes (%zu bytes)",
                      r->max_bytes);
        } else {
            ax_format(message, sizeof message, "could not store the response: %s", detail);
        }
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        e.retryable = 0;   /* a certificate does not fix itself in a second */
        ax_format(message, sizeof message,
                  "the server certificate could not be verified: %s", detail);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        e.retryable = 0;
        ax_format(message, sizeof message, "%s", detail);
        break;
    case CURLE_OUT_OF_MEMORY:
        e.retryable = 0;
        if (header_too_large(r)) {
            e.kind = "decode";   /* an answer too big to read, like response_too_large */
            e.code = "response_header_too_large";
            ax_format(message, sizeof message,
                      "the response's headers are too large to read (over the 100 KiB "
                      "a response head may take)");
        } else {
            ax_format(message, sizeof message, "%s", detail);
        }
        break;
    case CURLE_PARTIAL_FILE:
        ax_format(message, sizeof message, "the response was truncated: %s", detail);
        break;
    default:
        ax_format(message, sizeof message, "%s", detail);
    }
    e.message = message;
    ax_push_error(L, &e);
}

void ax_header_keep(char *dst, size_t cap, const char *s, size_t len)
{
    dst[0] = '\0';
    if (s == NULL)
        return;
    len = ax_utf8_prefix(s, len, cap - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* Copies header `name` of the table at idx (lower-case keys, as a Lua
 * transport or core.interpret passes them) into dst, cut between characters. */
void ax_header_from_table(lua_State *L, int idx, const char *name, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (idx == 0)
        return;
    lua_getfield(L, idx, name);
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        ax_header_keep(dst, cap, s, len);
    }
    lua_pop(L, 1);
}
