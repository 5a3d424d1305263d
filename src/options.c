/*
 * options.c: what allawee.new and customers.create accept, and nothing else.
 *
 * Every problem here is a programmer error, so it raises: an unknown option
 * (almost always a typo), a wrong type, a value out of range, a string with
 * a control character (it could inject a header), a base URL that is not
 * http(s) or would send the key in clear text off the machine. Messages name
 * the option, never its value: the value may be the secret key.
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "client.h"

#define DEFAULT_BASE_URL "https://api.allawee.com"

static int has_control_chars(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 1;
    return 0;
}

/* -------------------------------------------------------------- options */

typedef struct option_reader {
    lua_State *L;
    int idx;
    const char *where;     /* "allawee.new" or "customers.create" */
} option_reader;

/* Pushes options[name]; returns 0 (and pushes nothing) when it is nil. */
static int get_option(option_reader *o, const char *name)
{
    if (o->idx == 0)
        return 0;
    lua_getfield(o->L, o->idx, name);
    if (lua_isnil(o->L, -1)) {
        lua_pop(o->L, 1);
        return 0;
    }
    return 1;
}

static double number_option(option_reader *o, const char *name, double def,
                            double min, double max)
{
    double v;
    if (!get_option(o, name))
        return def;
    if (lua_type(o->L, -1) != LUA_TNUMBER)
        luaL_error(o->L, "%s: option '%s' must be a number, got %s", o->where,
                   name, luaL_typename(o->L, -1));
    v = lua_tonumber(o->L, -1);
    if (!(v >= min && v <= max))   /* also refuses NaN */
        luaL_error(o->L, "%s: option '%s' must be between %f and %f", o->where,
                   name, min, max);
    lua_pop(o->L, 1);
    return v;
}

static long integer_option(option_reader *o, const char *name, long def,
                           long min, long max)
{
    double v = number_option(o, name, (double)def, (double)min, (double)max);
    if (v != (double)(long)v)
        luaL_error(o->L, "%s: option '%s' must be a whole number", o->where, name);
    return (long)v;
}

static int boolean_option(option_reader *o, const char *name, int def)
{
    int v;
    if (!get_option(o, name))
        return def;
    if (lua_type(o->L, -1) != LUA_TBOOLEAN)
        luaL_error(o->L, "%s: option '%s' must be a boolean, got %s", o->where,
                   name, luaL_typename(o->L, -1));
    v = lua_toboolean(o->L, -1);
    lua_pop(o->L, 1);
    return v;
}

/* A string option (or env fallback). Control characters are refused: they
 * would let a value inject headers. The value is never quoted in errors. */
static const char *string_option(option_reader *o, const char *name, const char *def)
{
    const char *s;
    size_t len;

    if (!get_option(o, name)) {
        if (def != NULL && has_control_chars(def, strlen(def)))
            luaL_error(o->L, "%s: the default for '%s' contains a control character",
                       o->where, name);
        return def;
    }
    if (lua_type(o->L, -1) != LUA_TSTRING)
        luaL_error(o->L, "%s: option '%s' must be a string, got %s", o->where,
                   name, luaL_typename(o->L, -1));
    s = lua_tolstring(o->L, -1, &len);
    if (has_control_chars(s, len) || strlen(s) != len)
        luaL_error(o->L, "%s: option '%s' contains a control character (CR, LF, NUL, ...)",
                   o->where, name);
    lua_pop(o->L, 1);   /* still referenced by the options table */
    return s;
}

static void refuse_unknown(option_reader *o, const char *const *known)
{
    lua_State *L = o->L;

    if (o->idx == 0)
        return;
    lua_pushnil(L);
    while (lua_next(L, o->idx) != 0) {
        const char *const *k;
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        for (k = known; key != NULL && *k != NULL; k++)
            if (strcmp(*k, key) == 0)
                break;
        if (key == NULL || *k == NULL)
            luaL_error(L, "%s: unknown option '%s'", o->where,
                       key != NULL ? key : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
}

/* ------------------------------------------------------------- base URL */

static int is_loopback_host(const char *host, size_t len)
{
    size_t i;
    int dots = 0;

    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && memcmp(host, "[::1]", 5) == 0))
        return 1;
    if (len < 9 || memcmp(host, "127.", 4) != 0)
        return 0;
    for (i = 0; i < len; i++) {
        if (host[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)host[i]))
            return 0;
    }
    return dots == 3;
}

/* Checks base_url: http(s), a host, no credentials, query or fragment, and
 * plain http only to loopback. Returns an error message or NULL. */
static const char *check_base_url(const char *url)
{
    const char *host, *end, *port;
    int https;

    if (strncasecmp(url, "https://", 8) == 0)
        https = 1;
    else if (strncasecmp(url, "http://", 7) == 0)
        https = 0;
    else
        return "base_url must start with https:// (or http:// for loopback)";
    host = url + (https ? 8 : 7);
    end = host + strcspn(host, "/?#");
    if (strpbrk(url, "?#") != NULL)
        return "base_url must not have a query or a fragment";
    if (memchr(host, '@', (size_t)(end - host)) != NULL)
        return "base_url must not carry credentials";
    if (*host == '[') {
        port = memchr(host, ']', (size_t)(end - host));
        port = port != NULL ? port + 1 : end;
    } else {
        port = memchr(host, ':', (size_t)(end - host));
        if (port == NULL)
            port = end;
    }
    if (port == host)
        return "base_url has no host";
    if (!https && !is_loopback_host(host, (size_t)(port - host)))
        return "plain http:// is only allowed to loopback (127.0.0.0/8, ::1, "
               "localhost); use https://";
    return NULL;
}

static const char *const client_options[] = {
    "secret_key", "base_url", "timeout", "connect_timeout", "max_retries",
    "ca_file", "proxy", "user_agent", "validate", "deadline",
    "max_response_bytes", "max_connections", "backoff_base", "backoff_max",
    "max_retry_after", NULL
};

static void read_call_defaults(option_reader *o, ax_call_options *d)
{
    d->timeout_ms = (long)(number_option(o, "timeout", 80, 0.001, 86400) * 1000.0);
    d->connect_timeout_ms =
        (long)(number_option(o, "connect_timeout", 30, 0.001, 86400) * 1000.0);
    d->max_retries = (int)integer_option(o, "max_retries", 2, 0, 10);
    d->deadline_s = number_option(o, "deadline", 120, 0.001, 86400);
    d->validate = boolean_option(o, "validate", 1);
}

void ax_read_client_options(lua_State *L, int idx, const char *where, ax_client_config *cfg)
{
    option_reader o = { L, 0, where };
    const char *problem;

    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        o.idx = idx;
    }
    refuse_unknown(&o, client_options);
    cfg->secret_key = string_option(&o, "secret_key", getenv("ALLAWEE_SECRET_KEY"));
    if (cfg->secret_key == NULL || *cfg->secret_key == '\0')
        luaL_error(L, "%s: no secret_key (pass one, or set ALLAWEE_SECRET_KEY)", where);
    cfg->base_url = string_option(&o, "base_url", getenv("ALLAWEE_BASE_URL"));
    if (cfg->base_url == NULL || *cfg->base_url == '\0')
        cfg->base_url = DEFAULT_BASE_URL;
    problem = check_base_url(cfg->base_url);
    if (problem != NULL)
        luaL_error(L, "%s: %s", where, problem);
    cfg->user_agent_suffix = string_option(&o, "user_agent", NULL);
    cfg->ca_file = string_option(&o, "ca_file", NULL);
    cfg->proxy = string_option(&o, "proxy", NULL);
    read_call_defaults(&o, &cfg->defaults);
    cfg->max_response_bytes =
        (size_t)integer_option(&o, "max_response_bytes", 8L << 20, 1024, 1L << 30);
    cfg->max_connections = integer_option(&o, "max_connections", 16, 1, 1024);
    cfg->backoff_base = number_option(&o, "backoff_base", 0.5, 0, 60);
    cfg->backoff_max = number_option(&o, "backoff_max", 5, 0, 600);
    cfg->max_retry_after = number_option(&o, "max_retry_after", 30, 0, 3600);
}

static const char *const call_options[] = {
    "timeout", "connect_timeout", "max_retries", "deadline", "validate",
    "idempotency_key", NULL
};

/* Reads per-call options over the client's defaults; returns the caller's
 * idempotency key or NULL. */
const char *ax_read_call_options(lua_State *L, int idx, const ax_call_options *defaults,
                                 ax_call_options *out, const char *where)
{
    option_reader o = { L, 0, where };
    const char *key;

    *out = *defaults;
    if (lua_isnoneornil(L, idx))
        return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    o.idx = idx;
    refuse_unknown(&o, call_options);
    out->timeout_ms = (long)(number_option(&o, "timeout", out->timeout_ms / 1000.0,
                                           0.001, 86400) * 1000.0);
    out->connect_timeout_ms = (long)(number_option(&o, "connect_timeout",
                                                   out->connect_timeout_ms / 1000.0,
                                                   0.001, 86400) * 1000.0);
    out->max_retries = (int)integer_option(&o, "max_retries", out->max_retries, 0, 10);
    out->deadline_s = number_option(&o, "deadline", out->deadline_s, 0.001, 86400);
    out->validate = boolean_option(&o, "validate", out->validate);
    key = string_option(&o, "idempotency_key", NULL);
    if (key != NULL) {
        size_t i, n = strlen(key);
        if (n == 0 || n > AX_KEY_MAX)
            luaL_error(L, "%s: idempotency_key must be 1 to %d bytes", where, AX_KEY_MAX);
        for (i = 0; i < n; i++)
            if ((unsigned char)key[i] > 0x7e)
                luaL_error(L, "%s: idempotency_key must be printable ASCII", where);
    }
    return key;
}

/* ------------------------------------------------------- for other clients
 * The same rules for a client written in Lua (allawee.openresty), so both
 * accept exactly the same options with the same defaults and messages.
 *
 *   core.options(t [, where])                 -> table of every option, defaulted
 *   core.call_options(defaults, t [, where])  -> table, idempotency_key | nil
 */

static void set_number(lua_State *L, const char *name, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

static void set_string(lua_State *L, const char *name, const char *v)
{
    if (v == NULL)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, name);
}

static void push_call_options(lua_State *L, const ax_call_options *o)
{
    set_number(L, "timeout", (double)o->timeout_ms / 1000.0);
    set_number(L, "connect_timeout", (double)o->connect_timeout_ms / 1000.0);
    lua_pushinteger(L, o->max_retries);
    lua_setfield(L, -2, "max_retries");
    set_number(L, "deadline", o->deadline_s);
    lua_pushboolean(L, o->validate);
    lua_setfield(L, -2, "validate");
}

static int lua_options(lua_State *L)
{
    ax_client_config cfg;
    const char *where = luaL_optstring(L, 2, "allawee.new");
    size_t n;

    ax_read_client_options(L, 1, where, &cfg);
    lua_createtable(L, 0, 16);
    set_string(L, "secret_key", cfg.secret_key);
    n = strlen(cfg.base_url);
    while (n > 0 && cfg.base_url[n - 1] == '/')
        n--;
    lua_pushlstring(L, cfg.base_url, n);
    lua_setfield(L, -2, "base_url");
    set_string(L, "user_agent", cfg.user_agent_suffix);
    set_string(L, "ca_file", cfg.ca_file);
    set_string(L, "proxy", cfg.proxy);
    push_call_options(L, &cfg.defaults);
    lua_pushinteger(L, (lua_Integer)cfg.max_response_bytes);
    lua_setfield(L, -2, "max_response_bytes");
    lua_pushinteger(L, (lua_Integer)cfg.max_connections);
    lua_setfield(L, -2, "max_connections");
    set_number(L, "backoff_base", cfg.backoff_base);
    set_number(L, "backoff_max", cfg.backoff_max);
    set_number(L, "max_retry_after", cfg.max_retry_after);
    return 1;
}

static double field_number(lua_State *L, int t, const char *name)
{
    double v;
    lua_getfield(L, t, name);
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static int lua_call_options(lua_State *L)
{
    ax_call_options defaults, out;
    const char *where = luaL_optstring(L, 3, "customers.create");
    const char *key;

    luaL_checktype(L, 1, LUA_TTABLE);   /* what core.options returned */
    defaults.timeout_ms = (long)(field_number(L, 1, "timeout") * 1000.0);
    defaults.connect_timeout_ms = (long)(field_number(L, 1, "connect_timeout") * 1000.0);
    defaults.max_retries = (int)field_number(L, 1, "max_retries");
    defaults.deadline_s = field_number(L, 1, "deadline");
    lua_getfield(L, 1, "validate");
    defaults.validate = lua_toboolean(L, -1);
    lua_pop(L, 1);
    key = ax_read_call_options(L, 2, &defaults, &out, where);
    lua_createtable(L, 0, 5);
    push_call_options(L, &out);
    if (key == NULL)
        return 1;
    lua_pushstring(L, key);
    return 2;
}

void ax_options_register(lua_State *L)
{
    lua_pushcfunction(L, lua_options);
    lua_setfield(L, -2, "options");
    lua_pushcfunction(L, lua_call_options);
    lua_setfield(L, -2, "call_options");
}
