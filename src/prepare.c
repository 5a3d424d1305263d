/*
 * prepare.c: one call's Lua arguments to what it will send.
 *
 * This is the only step of a call that reads the caller's values, so it is
 * where Lua code may run (an options table's __index, a finalizer at an
 * allocation, LuaJIT's tostring for cdata) and where a call may raise. It
 * writes only into the spec, which its request owns; nothing is committed
 * to the client until it has returned (the rule of request.c).
 */
#include <stdlib.h>
#include <strings.h>

#include "engine.h"

void ax_call_spec_init(ax_call_spec *s)
{
    memset(s, 0, sizeof *s);
    ax_buf_init(&s->target);
    ax_buf_init(&s->body);
    ax_buf_init(&s->lookup);
    s->page = -1;
}

/* Bodies can hold card secrets (cvv, pin): wiped, not just freed. */
static void wipe_free(ax_buf *b)
{
    if (b->data != NULL)
        ax_wipe(b->data, b->cap);
    ax_buf_free(b);
}

void ax_call_spec_free(ax_call_spec *s)
{
    ax_buf_free(&s->target);
    wipe_free(&s->body);
    ax_buf_free(&s->lookup);
}

static int validation(ax_encode_error *err, const char *field, const char *problem)
{
    ax_format(err->field, sizeof err->field, "%s", field);
    ax_format(err->message, sizeof err->message, "%s: %s", field, problem);
    return 0;
}

/* luaL_argerror's message, for arguments that start at a->first and a
 * caller `a->level` frames up (a Lua client's wrapper is one more). */
static int arg_error(lua_State *L, const ax_call_args *a, int pos, const char *msg)
{
    luaL_where(L, a->level);
    lua_pushfstring(L, "bad argument #%d to '%s' (%s)", pos - a->first + 1, a->name, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

static void expect(lua_State *L, const ax_call_args *a, int pos, int type, int optional)
{
    int t = lua_type(L, pos);
    if (t != type && !(optional && t <= LUA_TNIL))
        arg_error(L, a, pos, lua_pushfstring(L, "%s expected, got %s", lua_typename(L, type),
                                             luaL_typename(L, pos)));
}

int ax_endpoint_args(lua_State *L, const ax_endpoint *ep, int first, int level, int async,
                     ax_call_args *a)
{
    int pos, callback = 0, i, n = ax_path_param_count(ep->path);

    memset(a, 0, sizeof *a);
    a->ep = ep;
    a->where = ep->name;
    a->first = first;
    a->level = level;
    ax_format(a->name, sizeof a->name, "%s%s", strchr(ep->name, '.') + 1, async ? "_async" : "");
    a->first_param = first;
    for (i = 0; i < n; i++)
        expect(L, a, first + i, LUA_TSTRING, 0);
    pos = first + n;
    if (ep->body != NULL || ep->query != NULL) {
        int optional = ep->query != NULL || ep->body_optional;
        /* list_async(callback) reads as list_async(nil, callback) */
        if (async && optional && lua_type(L, pos) == LUA_TFUNCTION &&
            lua_type(L, pos + 1) != LUA_TFUNCTION) {
            lua_pushnil(L);
            lua_insert(L, pos);
        }
        expect(L, a, pos, LUA_TTABLE, optional);
        a->payload = pos++;
    }
    if (async) {
        expect(L, a, pos, LUA_TFUNCTION, 0);
        callback = pos++;
    }
    expect(L, a, pos, LUA_TTABLE, 1);
    a->options = pos;
    lua_settop(L, pos);
    return callback;
}

int ax_request_args(lua_State *L, int first, int level, int async, ax_call_args *a)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };
    static const char *const arg_names[] = { "query", "body", "secure", "idempotent", NULL };
    int i, callback = 0, args = first + 2, options = first + (async ? 4 : 3), argt;
    const char *m;
    size_t mlen;

    memset(a, 0, sizeof *a);
    a->where = async ? "request_async" : "request";
    a->first = first;
    a->level = level;
    ax_format(a->name, sizeof a->name, "%s", a->where);
    expect(L, a, first, LUA_TSTRING, 0);
    m = lua_tolstring(L, first, &mlen);
    for (i = 0; methods[i] != NULL; i++)
        if (mlen == strlen(methods[i]) && strcasecmp(m, methods[i]) == 0)   /* no NUL inside */
            a->method = methods[i];
    if (a->method == NULL)
        arg_error(L, a, first, "expected GET, POST, PUT, PATCH or DELETE");
    expect(L, a, first + 1, LUA_TSTRING, 0);
    expect(L, a, args, LUA_TTABLE, 1);
    if (async) {
        expect(L, a, first + 3, LUA_TFUNCTION, 0);
        callback = first + 3;
    }
    expect(L, a, options, LUA_TTABLE, 1);
    argt = options + 1;   /* args.query and args.body are kept at argt, argt + 1 */
    lua_settop(L, argt + 1);
    if (lua_type(L, args) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, args) != 0) {
            const char *const *k;
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            for (k = arg_names; key != NULL && *k != NULL; k++)
                if (strcmp(*k, key) == 0)
                    break;
            if (key == NULL || *k == NULL)
                arg_error(L, a, args, "unknown key in args (query, body, secure, idempotent)");
            lua_pop(L, 1);
        }
        lua_getfield(L, args, "query");
        lua_replace(L, argt);
        lua_getfield(L, args, "body");
        lua_replace(L, argt + 1);
        lua_getfield(L, args, "secure");
        a->secure = lua_toboolean(L, -1);
        lua_getfield(L, args, "idempotent");
        a->idempotent = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    if (!lua_isnil(L, argt) && lua_type(L, argt) != LUA_TTABLE)
        arg_error(L, a, args, "args.query must be a table");
    if (!lua_isnil(L, argt + 1) && lua_type(L, argt + 1) != LUA_TTABLE &&
        lua_type(L, argt + 1) != LUA_TSTRING)
        arg_error(L, a, args, "args.body must be a table or a string");
    if (!lua_isnil(L, argt + 1) && strcmp(a->method, "GET") == 0)
        arg_error(L, a, args, "a GET has no body");
    a->path = first + 1;
    a->query = argt;
    a->payload = argt + 1;
    a->options = options;
    return callback;
}

/* "/customers/:id" with each ":name" replaced by the next string argument,
 * percent-encoded. */
static int expand_path(lua_State *L, const char *path, int first, ax_buf *out,
                       ax_encode_error *err)
{
    int arg = first;

    while (*path != '\0') {
        const char *colon = strchr(path, ':'), *end;
        char name[32];
        size_t len;
        const char *value, *problem;
        if (colon == NULL) {
            ax_buf_append(out, path, strlen(path));
            break;
        }
        ax_buf_append(out, path, (size_t)(colon - path));
        end = colon + 1 + strcspn(colon + 1, "/");
        ax_format(name, sizeof name, "%.*s", (int)(end - colon - 1), colon + 1);
        value = lua_tolstring(L, arg, &len);   /* checked by ax_endpoint_args */
        problem = ax_path_param_problem(value, len);
        if (problem != NULL)
            return validation(err, name, problem);
        ax_url_append_pct(out, value, len);
        arg++;
        path = end;
    }
    return 1;
}

/* GET <path>?filter=reference||EQ||<reference>&limit=1: how an object our
 * own earlier attempt created is found again (exactly-once creates). */
static void lookup_target(ax_call_spec *s, size_t path_len, const ax_buf *reference)
{
    static const char prefix[] = "reference||EQ||";
    size_t i;

    if (s->target.oom || reference->oom)
        return;   /* prepare raises for the out-of-memory after this */
    for (i = 0; i + 1 < reference->len; i++)
        if (reference->data[i] == '|' && reference->data[i + 1] == '|')
            return;   /* the filter could not say it: no lookup, the conflict stands */
    ax_buf_append(&s->lookup, s->target.data, path_len);
    ax_buf_lit(&s->lookup, "?filter=");
    ax_url_append_pct(&s->lookup, prefix, sizeof prefix - 1);
    ax_url_append_pct(&s->lookup, reference->data, reference->len);
    ax_buf_lit(&s->lookup, "&limit=1");
}

int ax_prepare(lua_State *L, const ax_config *cfg, const ax_call_args *a, ax_call_spec *s,
               ax_encode_error *err)
{
    const ax_endpoint *ep = a->ep;
    ax_buf reference;
    int ok = 1, query_idx = 0;
    size_t path_len;

    err->field[0] = err->message[0] = '\0';
    ax_read_call_options(L, a->options, &cfg->defaults, &s->o, s->key, a->where);
    if (ep != NULL) {
        s->method = ep->method;
        s->host = ep->host;
        s->retry = ep->retry;
        s->answer = ep->answer;
        if (!expand_path(L, ep->path, a->first_param, &s->target, err))
            return 0;
        if (ep->query != NULL)
            query_idx = a->payload;
    } else {
        size_t len;
        const char *path = lua_tolstring(L, a->path, &len), *problem;
        s->method = a->method;
        s->host = a->secure ? AX_HOST_SECURE : AX_HOST_API;
        s->answer = AX_ANSWER_ANY;
        s->retry = strcmp(a->method, "GET") == 0 || strcmp(a->method, "PUT") == 0 ||
                   strcmp(a->method, "DELETE") == 0 || a->idempotent
                       ? AX_RETRY_IDEMPOTENT : AX_RETRY_UNSAFE;
        problem = ax_path_problem(path, len);
        if (problem != NULL)
            return validation(err, "path", problem);
        ax_buf_append(&s->target, path, len);
        query_idx = a->query;
    }
    s->effectful = strcmp(s->method, "GET") != 0;
    path_len = s->target.len;
    /* The key first: a refused call reports the key it would have sent. */
    if (s->key[0] == '\0' && s->effectful && !ax_config_new_key((ax_config *)cfg, s->key)) {
        ax_format(err->message, sizeof err->message,
                  "the operating system's random source failed: no idempotency key");
        return -1;
    }

    if (query_idx != 0 && !lua_isnil(L, query_idx)) {
        ax_buf_putc(&s->target, '?');
        if (!ax_encode_query(L, query_idx, ep != NULL ? ep->query : NULL,
                             ep != NULL && s->o.validate, &s->target, &s->page, err))
            return 0;
        if (s->target.len == path_len + 1)
            s->target.len = path_len;   /* an empty query: no '?' */
    }

    ax_buf_init(&reference);
    if (ep != NULL && ep->body != NULL && !(ep->body_optional && lua_isnoneornil(L, a->payload))) {
        /* `reference` lives in the spec's lookup buffer until it is used. */
        ok = ax_encode(L, a->payload, ep->body, s->o.validate, &s->body,
                       ep->retry == AX_RETRY_REFERENCE ? &s->lookup : NULL, err);
        s->has_body = 1;
    } else if (ep != NULL && ep->body != NULL) {
        ax_buf_lit(&s->body, "{}");
        s->has_body = 1;
    } else if (ep == NULL && a->payload != 0 && lua_type(L, a->payload) == LUA_TSTRING) {
        size_t len;
        const char *raw = lua_tolstring(L, a->payload, &len);
        ax_buf_append(&s->body, raw, len);
        s->has_body = 1;
    } else if (ep == NULL && a->payload != 0 && !lua_isnil(L, a->payload)) {
        ok = ax_encode(L, a->payload, NULL, 0, &s->body, NULL, err);
        s->has_body = 1;
        if (!ok) {   /* the path from args: body.metadata, not metadata */
            char field[AX_ERR_FIELD_MAX], message[AX_ERR_MESSAGE_MAX];
            ax_format(field, sizeof field, "body%s%s", err->field[0] ? "." : "", err->field);
            ax_format(message, sizeof message, "body%s%s", err->field[0] ? "." : ": ",
                      err->message);
            memcpy(err->field, field, sizeof field);
            memcpy(err->message, message, sizeof message);
        }
    }
    if (!ok)
        return 0;
    if (s->retry == AX_RETRY_REFERENCE && s->lookup.len == 0)
        s->retry = AX_RETRY_UNSAFE;   /* nothing to deduplicate it by */
    if (s->lookup.len > 0) {
        reference = s->lookup;   /* move: the lookup target is built from it */
        ax_buf_init(&s->lookup);
        lookup_target(s, path_len, &reference);
        if (reference.oom)
            s->lookup.oom = 1;   /* so the check below raises */
        ax_buf_free(&reference);
    }
    if (s->target.oom || s->body.oom || s->lookup.oom)
        luaL_error(L, "allawee: not enough memory to prepare the request");
    return 1;
}
