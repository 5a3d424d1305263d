/*
 * outcome.c: how a finished call looks to Lua.
 *
 *   data, nil, meta      a 2xx answer read the way the endpoint says:
 *                        {code = "success", data = ...} gives data; a bare
 *                        JSON object or array is tolerated (the GRP status
 *                        route sends one); a non-JSON 2xx (CSV, PDF) is the
 *                        body string for routes that may send one, with
 *                        meta.content_type; an answer without a body is true
 *   nil, err             anything else (response.c maps statuses and
 *                        transport failures), with err.ambiguous when a send
 *                        may have been processed, and err.cause when the
 *                        exactly-once lookup could not settle it
 *
 * It only reads C state (the spec, the policy, the final answer), so when
 * building the Lua values raises (out of memory), the call is not lost: the
 * next poll builds them again, and nothing is sent again.
 */
#include <stdio.h>

#include "engine.h"

static void base_error(ax_error *e, const ax_call_spec *s, const ax_policy *p)
{
    memset(e, 0, sizeof *e);
    e->attempts = p->sends;
    e->ambiguous = p->ambiguous;
    e->idempotency_key = s->key[0] ? s->key : NULL;
    e->secret = s->host == AX_HOST_SECURE;   /* PAN, CVV: never in an error */
}

static void push_client_error(lua_State *L, const ax_error *base, const char *kind,
                              const char *code, const char *message, const ax_response *r)
{
    ax_error e = *base;
    e.kind = kind;
    e.code = code;
    e.message = message;
    if (r != NULL) {
        e.status = r->status;
        e.request_id = r->request_id[0] ? r->request_id : NULL;
    }
    ax_push_error(L, &e);
}

/* ------------------------------------------------------------ success */

/* What kind of Lua table a decoded JSON value is: 1 array, 0 object,
 * -1 empty (either). */
static int table_shape(lua_State *L, int idx)
{
    int shape;
    lua_pushnil(L);
    if (lua_next(L, idx) == 0)
        return -1;
    shape = lua_type(L, -2) == LUA_TNUMBER;
    lua_pop(L, 2);
    return shape;
}

/* Copies field `name` of the table at `from` into the table on top. */
static void copy_field(lua_State *L, int from, const char *name, const char *as)
{
    lua_getfield(L, from, name);
    if (!lua_isnil(L, -1))
        lua_setfield(L, -2, as);
    else
        lua_pop(L, 1);
}

/* meta.has_more / meta.pagination from a list answer, in either shape the
 * docs show (metadata.hasMore; a pagination object, top level or inside
 * metadata), into the table at `meta`. */
static void list_meta(lua_State *L, int answer, int meta)
{
    int top = lua_gettop(L);

    lua_getfield(L, answer, "metadata");
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, "hasMore");
        if (lua_type(L, -1) == LUA_TBOOLEAN)
            lua_setfield(L, meta, "has_more");
        lua_settop(L, top + 1);
        lua_pushvalue(L, meta);
        copy_field(L, top + 1, "pagination", "pagination");
    }
    lua_settop(L, top);
    lua_pushvalue(L, meta);
    copy_field(L, answer, "pagination", "pagination");
    lua_settop(L, top);
}

/* Reads a 2xx answer: pushes data and returns 1, or pushes an error and
 * returns 0. Extra meta fields go into the table at `meta`. */
static int push_success(lua_State *L, const ax_call_spec *s, const ax_error *base,
                        ax_response *r, int meta)
{
    int top = lua_gettop(L), value;
    char message[AX_ERR_MESSAGE_MAX];
    ax_error e = *base;

    e.status = r->status;
    e.request_id = r->request_id[0] ? r->request_id : NULL;
    e.body = r->body.len ? r->body.data : NULL;
    e.body_len = r->body.len;
    e.kind = "decode";
    /* A 2xx that cannot be read: the service did the work; the caller
     * does not have its result. */
    e.ambiguous |= s->effectful;
    if (r->body.len == 0) {
        /* 204, or a route that may answer with nothing: true. A route that
         * promises an object (a create) without one is not a success the
         * caller can use. */
        if (r->status == 204 || s->answer == AX_ANSWER_ANY) {
            lua_pushboolean(L, 1);
            return 1;
        }
        ax_format(message, sizeof message,
                  "HTTP %ld with a body that is not JSON: empty response body", r->status);
        e.code = "invalid_json";
        e.message = message;
        ax_push_error(L, &e);
        return 0;
    }
    if (!ax_is_json_type(r->content_type)) {
        if (s->answer == AX_ANSWER_ANY) {
            lua_pushlstring(L, r->body.data, r->body.len);
            lua_pushstring(L, r->content_type);
            lua_setfield(L, meta, "content_type");
            return 1;
        }
        ax_format(message, sizeof message, "HTTP %ld with a %s body where JSON was expected",
                  r->status, r->content_type);
        e.code = "unexpected_body";
        e.message = message;
        ax_push_error(L, &e);
        return 0;
    }
    if (!ax_decode_json(L, r->body.data, r->body.len, r->body_index)) {
        ax_format(message, sizeof message, "HTTP %ld with a body that is not JSON: %s",
                  r->status, lua_tostring(L, -1));
        e.code = "invalid_json";
        e.message = message;
        ax_push_error(L, &e);
        lua_replace(L, top + 1);
        return 0;
    }
    value = top + 1;
    if (lua_type(L, value) == LUA_TTABLE) {
        int enveloped;
        lua_getfield(L, value, "code");
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "success") != 0) {
            lua_settop(L, top);   /* a well-formed envelope reporting a failure */
            ax_push_status_error(L, r, base);
            return 0;
        }
        enveloped = lua_type(L, -1) == LUA_TSTRING;
        lua_getfield(L, value, "data");
        /* {code: "success", data: ...}; a list may also come un-enveloped,
         * as {data: [...], metadata: {...}} */
        if (enveloped || (s->answer == AX_ANSWER_LIST && lua_type(L, -1) == LUA_TTABLE)) {
            if (s->answer == AX_ANSWER_LIST)
                list_meta(L, value, meta);
            if (lua_isnil(L, -1) && s->answer == AX_ANSWER_ANY) {
                lua_pop(L, 1);
                lua_pushboolean(L, 1);   /* {code: "success"} and nothing else */
            } else if (lua_isnil(L, -1)) {
                ax_format(message, sizeof message,
                          "HTTP %ld with a body that is not the documented envelope "
                          "(code \"success\" and its data)", r->status);
                e.code = "unexpected_body";
                e.message = message;
                lua_settop(L, top);
                ax_push_error(L, &e);
                return 0;
            }
            lua_replace(L, value);
        }
        lua_settop(L, value);
    }
    if (s->answer == AX_ANSWER_LIST) {
        if (s->page >= 0) {
            if (s->page == (double)(lua_Integer)s->page)
                lua_pushinteger(L, (lua_Integer)s->page);
            else
                lua_pushnumber(L, s->page);
            lua_setfield(L, meta, "page");
        }
        int shape = lua_type(L, value) == LUA_TTABLE ? table_shape(L, value) : 0;
        if (shape == 0) {
            ax_format(message, sizeof message,
                      "HTTP %ld: the answer's data is not a list", r->status);
            e.code = "unexpected_body";
            e.message = message;
            lua_settop(L, top);
            ax_push_error(L, &e);
            return 0;
        }
        if (shape < 0) {   /* an empty list: mark it an array, as it came */
            ax_rawgetp(L, LUA_REGISTRYINDEX, &ax_array_mt_key);
            lua_setmetatable(L, value);
        }
    } else if (s->answer == AX_ANSWER_OBJECT && lua_type(L, value) == LUA_TTABLE &&
               table_shape(L, value) == 1) {
        ax_format(message, sizeof message,
                  "HTTP %ld: the answer's data is a list where an object was expected",
                  r->status);
        e.code = "unexpected_body";
        e.message = message;
        lua_settop(L, top);
        ax_push_error(L, &e);
        return 0;
    } else if (s->answer == AX_ANSWER_OBJECT && lua_type(L, value) != LUA_TTABLE) {
        ax_format(message, sizeof message,
                  "HTTP %ld with a JSON body that is not an object", r->status);
        e.code = "unexpected_body";
        e.message = message;
        lua_settop(L, top);
        ax_push_error(L, &e);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ lookup */

/* The exactly-once lookup answered: pushes the object our earlier attempt
 * created and returns 1, or pushes the conflict (ambiguous, with the
 * lookup's failure as err.cause) and returns 0. */
static int push_recovered(lua_State *L, const ax_call_spec *s, const ax_policy *p,
                          ax_final *f, ax_response *r, int meta)
{
    ax_error base;
    ax_call_spec list = *s;
    int top = lua_gettop(L);

    base_error(&base, s, p);
    base.ambiguous = 1;   /* the object may exist: the caller must know */
    if (f->end == AX_END_ANSWER && r->status >= 200 && r->status < 300) {
        list.answer = AX_ANSWER_LIST;
        list.page = -1;
        lua_newtable(L);   /* scratch meta */
        if (push_success(L, &list, &base, r, top + 1) && lua_type(L, -1) == LUA_TTABLE) {
            lua_rawgeti(L, -1, 1);
            if (lua_type(L, -1) == LUA_TTABLE) {
                lua_replace(L, top + 1);
                lua_settop(L, top + 1);
                lua_pushboolean(L, 1);
                lua_setfield(L, meta, "recovered");
                return 1;
            }
        }
        lua_settop(L, top);
        push_client_error(L, &base, "not_found", "not-found",
                          "the lookup by reference found no object", r);
    } else if (f->end == AX_END_ANSWER) {
        ax_push_status_error(L, r, &base);
    } else if (f->end == AX_END_TRANSPORT) {
        ax_push_transport_error(L, r, &base);
    } else {
        push_client_error(L, &base, f->kind, f->code, f->message, r);
    }
    /* cause on top; the conflict itself from the saved 409 */
    ax_push_status_error(L, &f->conflict, &base);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "cause");
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
}

void ax_final_init(ax_final *f)
{
    f->end = AX_END_ANSWER;
    f->kind = NULL;
    f->code = NULL;
    f->message[0] = '\0';
    f->field[0] = '\0';
    ax_response_init(&f->conflict);
}

void ax_final_refused(ax_final *f, int prepared, const ax_encode_error *err)
{
    f->end = AX_END_CLIENT;
    f->kind = prepared < 0 ? "api" : "validation";
    f->code = prepared < 0 ? "random_unavailable" : "invalid_params";
    ax_format(f->message, sizeof f->message, "%s", err->message);
    ax_format(f->field, sizeof f->field, "%s", prepared < 0 ? "" : err->field);
}

/* --------------------------------------------------------------- entry */

static void push_meta(lua_State *L, const ax_call_spec *s, const ax_policy *p,
                      const ax_response *r)
{
    int i;

    lua_createtable(L, 0, 6);
    if (r->status > 0) {
        lua_pushinteger(L, (lua_Integer)r->status);
        lua_setfield(L, -2, "status");
    }
    if (r->request_id[0]) {
        lua_pushstring(L, r->request_id);
        lua_setfield(L, -2, "request_id");
    }
    lua_pushinteger(L, p->sends);
    lua_setfield(L, -2, "attempts");
    if (s->key[0]) {
        lua_pushstring(L, s->key);
        lua_setfield(L, -2, "idempotency_key");
    }
    lua_createtable(L, p->n_waits, 0);
    for (i = 0; i < p->n_waits; i++) {
        lua_pushnumber(L, p->waits[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "waits");
}

int ax_push_outcome(lua_State *L, const ax_call_spec *s, const ax_policy *p,
                    ax_final *f, ax_response *r)
{
    int top = lua_gettop(L), ok, meta;
    ax_error base;

    luaL_checkstack(L, 12, "allawee: outcome");
    base_error(&base, s, p);
    push_meta(L, s, p, r);
    meta = top + 1;
    if (p->phase == AX_PHASE_LOOKUP) {
        ok = push_recovered(L, s, p, f, r, meta);
    } else if (f->end == AX_END_CLIENT) {
        base.field = f->field[0] ? f->field : NULL;
        push_client_error(L, &base, f->kind, f->code, f->message, r);
        ok = 0;
    } else if (f->end == AX_END_TRANSPORT) {
        ax_push_transport_error(L, r, &base);
        ok = 0;
    } else if (r->status == 202) {
        /* Guaranteed Request Processing: the service has it and will do it;
         * never sent again. Follow it with client.requests.get(request_id). */
        ax_error e = base;
        e.ambiguous = 0;
        e.status = 202;
        e.request_id = r->request_id[0] ? r->request_id : NULL;
        e.kind = "accepted";
        e.code = "request-accepted";
        e.message = "Request accepted and will be processed asynchronously";
        e.body = r->body.len ? r->body.data : NULL;
        e.body_len = r->body.len;
        ax_push_error(L, &e);
        ok = 0;
    } else if (r->status >= 200 && r->status < 300) {
        ok = push_success(L, s, &base, r, meta);
    } else {
        ax_push_status_error(L, r, &base);
        ok = 0;
    }
    if (ok) {                      /* meta, data -> data, nil, meta */
        lua_pushnil(L);
        lua_pushvalue(L, meta);
        lua_remove(L, meta);
        return 3;
    }
    lua_pushnil(L);                /* meta, err -> nil, err */
    lua_replace(L, meta);
    return 2;
}
