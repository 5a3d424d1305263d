/*
 * config.c: what allawee.new and the per-call options accept, and nothing
 * else; the same rules for the libcurl client and the OpenResty one.
 *
 * Every problem here is a programmer error, so it raises: an unknown option
 * (almost always a typo), a wrong type, a value out of range, a string with
 * a control character (it could inject a header), a base URL that is not
 * usable or would send the key in clear text off the machine. Messages name
 * the option, never its value: the value may be the secret key.
 *
 * Options are read with lua_getfield, so a configuration proxy whose
 * __index computes values works; each value is copied into C memory the
 * moment it is read (the config lives in a userdata whose __gc frees it, so
 * a raise halfway leaks nothing) and every check runs on the copy: no
 * pointer into a Lua string outlives its read, and what was checked is what
 * is used.
 */
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "engine.h"

#define DEFAULT_BASE_URL "https://api.allawee.com"
#define DEFAULT_SECURE_BASE_URL "https://secure.allawee.com"

double ax_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int has_control_chars(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return 1;
    return 0;
}

/* -------------------------------------------------------------- reading */

typedef struct option_reader {
    lua_State *L;
    int idx;               /* 0: no table, every option takes its default */
    const char *where;     /* "allawee.new", "create", ... */
} option_reader;

/* Pushes options[name] (its __index may run); returns 0 and pushes nothing
 * when it is nil. */
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
    lua_pop(o->L, 1);
    if (!(v >= min && v <= max))   /* also refuses NaN */
        luaL_error(o->L, "%s: option '%s' must be between %f and %f", o->where,
                   name, min, max);
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

/* Copies a string option (or the default, e.g. from the environment) into
 * *dst (malloc'd; *dst must be NULL or owned). Returns 1 when it is set.
 * Control characters are refused: they would let a value inject headers.
 * The value is never quoted in errors. */
static int string_option(option_reader *o, const char *name, const char *def, char **dst)
{
    const char *s = def;
    size_t len = def != NULL ? strlen(def) : 0;
    int pushed = get_option(o, name);

    if (pushed) {
        if (lua_type(o->L, -1) != LUA_TSTRING)
            luaL_error(o->L, "%s: option '%s' must be a string, got %s", o->where,
                       name, luaL_typename(o->L, -1));
        s = lua_tolstring(o->L, -1, &len);
    }
    if (s != NULL && (has_control_chars(s, len) || strlen(s) != len))
        luaL_error(o->L, "%s: option '%s' contains a control character (CR, LF, NUL, ...)",
                   o->where, name);
    if (s != NULL) {
        char *copy = malloc(len + 1);
        if (copy == NULL)
            return luaL_error(o->L, "%s: out of memory", o->where);
        memcpy(copy, s, len + 1);
        free(*dst);
        *dst = copy;
    }
    if (pushed)
        lua_pop(o->L, 1);   /* only now: s pointed into it */
    return s != NULL;
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

static option_reader reader(lua_State *L, int idx, const char *where)
{
    option_reader o;
    o.L = L;
    o.idx = 0;
    o.where = where;
    if (!lua_isnoneornil(L, idx)) {
        if (lua_type(L, idx) != LUA_TTABLE)
            luaL_error(L, "%s: options must be a table, got %s", where, luaL_typename(L, idx));
        o.idx = ax_absindex(L, idx);
    }
    return o;
}

/* ----------------------------------------------------------- client options */

const char *const ax_client_option_names[] = {
    "secret_key", "base_url", "secure_base_url", "timeout", "connect_timeout",
    "max_retries", "ca_file", "proxy", "user_agent", "validate", "deadline",
    "max_response_bytes", "max_connections", "backoff_base", "backoff_max",
    "max_retry_after", NULL
};

const char *const ax_call_option_names[] = {
    "timeout", "connect_timeout", "max_retries", "deadline", "validate",
    "idempotency_key", NULL
};

/* Checks and normalises a base URL held in *url (malloc'd): trailing
 * slashes go. Raises with the option's name. */
static int base_url_check(option_reader *o, const char *name, char **url)
{
    ax_url parsed;
    const char *problem = ax_url_parse(*url, strlen(*url), &parsed);

    if (problem != NULL)
        luaL_error(o->L, "%s: option '%s' %s", o->where, name, problem);
    (*url)[parsed.base_len] = '\0';
    return parsed.loopback;
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 1);
    if (p != NULL) {
        memcpy(p, a, na);
        memcpy(p + na, b, nb);
        p[na + nb] = '\0';
    }
    return p;
}

static void read_call_defaults(option_reader *o, ax_call_options *d)
{
    d->timeout_ms = (long)(number_option(o, "timeout", 80, 0.001, 86400) * 1000.0);
    d->connect_timeout_ms =
        (long)(number_option(o, "connect_timeout", 30, 0.001, 86400) * 1000.0);
    d->max_retries = (int)integer_option(o, "max_retries", 2, 0, 10);
    d->deadline_s = number_option(o, "deadline", 120, 0.001, 86400);
    d->validate = boolean_option(o, "validate", 1);
}

void ax_config_read(lua_State *L, int idx, const char *where, const char *agent_prefix,
                    ax_config *cfg)
{
    option_reader o = reader(L, idx, where);
    char *suffix = NULL, *key = NULL;
    char agent[320];

    refuse_unknown(&o, ax_client_option_names);
    string_option(&o, "secret_key", getenv("ALLAWEE_SECRET_KEY"), &key);
    if (key == NULL || key[0] == '\0') {
        free(key);
        luaL_error(L, "%s: no secret_key (pass one, or set ALLAWEE_SECRET_KEY)", where);
        return;   /* not reached: luaL_error does not return */
    }
    cfg->auth = join("Authorization: Bearer ", key);
    ax_wipe(key, strlen(key));
    free(key);
    if (cfg->auth == NULL)
        luaL_error(L, "%s: out of memory", where);

    if (!string_option(&o, "base_url", getenv("ALLAWEE_BASE_URL"), &cfg->base_url) &&
        !string_option(&o, "base_url", DEFAULT_BASE_URL, &cfg->base_url))
        luaL_error(L, "%s: out of memory", where);
    cfg->base_loopback = base_url_check(&o, "base_url", &cfg->base_url);
    /* A local double serves both hosts on one port: loopback base URLs
     * bring their own secure host unless one is given. */
    if (!string_option(&o, "secure_base_url", getenv("ALLAWEE_SECURE_BASE_URL"),
                       &cfg->secure_base_url))
        string_option(&o, "secure_base_url",
                      cfg->base_loopback ? cfg->base_url : DEFAULT_SECURE_BASE_URL,
                      &cfg->secure_base_url);
    cfg->secure_loopback = base_url_check(&o, "secure_base_url", &cfg->secure_base_url);

    string_option(&o, "user_agent", NULL, &suffix);
    ax_format(agent, sizeof agent, "%s%s%s", agent_prefix, suffix ? " " : "",
              suffix ? suffix : "");   /* cut, if at all, between characters */
    free(suffix);
    cfg->user_agent = join(agent, "");
    if (cfg->user_agent == NULL)
        luaL_error(L, "%s: out of memory", where);
    string_option(&o, "ca_file", NULL, &cfg->ca_file);
    string_option(&o, "proxy", NULL, &cfg->proxy);
    read_call_defaults(&o, &cfg->defaults);
    cfg->max_response_bytes =
        (size_t)integer_option(&o, "max_response_bytes", 8L << 20, 1024, 1L << 30);
    cfg->max_connections = integer_option(&o, "max_connections", 16, 1, 1024);
    cfg->backoff_base = number_option(&o, "backoff_base", 0.5, 0, 60);
    cfg->backoff_max = number_option(&o, "backoff_max", 5, 0, 600);
    cfg->max_retry_after = number_option(&o, "max_retry_after", 30, 0, 3600);
    if (!ax_random_bytes(&cfg->rng, sizeof cfg->rng) || cfg->rng == 0)
        cfg->rng = (uint64_t)(uintptr_t)cfg ^ 0x9E3779B97F4A7C15ULL;
}

void ax_config_wipe(ax_config *cfg)
{
    if (cfg->auth != NULL)
        ax_wipe(cfg->auth, strlen(cfg->auth));
    ax_wipe(&cfg->random, sizeof cfg->random);
}

void ax_config_free(ax_config *cfg)
{
    ax_config_wipe(cfg);
    free(cfg->auth);
    free(cfg->base_url);
    free(cfg->secure_base_url);
    free(cfg->user_agent);
    free(cfg->ca_file);
    free(cfg->proxy);
    cfg->auth = cfg->base_url = cfg->secure_base_url = NULL;
    cfg->user_agent = cfg->ca_file = cfg->proxy = NULL;
}

const char *ax_config_base(const ax_config *cfg, ax_host host)
{
    return host == AX_HOST_SECURE ? cfg->secure_base_url : cfg->base_url;
}

int ax_config_new_key(ax_config *cfg, char out[37])
{
    return ax_uuid4(&cfg->random, out);
}

/* ------------------------------------------------------------ call options */

static void check_key(lua_State *L, const char *key, size_t n, const char *where)
{
    size_t i, blank = 1;

    if (n == 0 || n > AX_KEY_MAX)
        luaL_error(L, "%s: idempotency_key must be 1 to %d bytes", where, AX_KEY_MAX);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c > 0x7e)
            luaL_error(L, "%s: idempotency_key must be printable ASCII", where);
        if (c != ' ')
            blank = 0;
    }
    /* A header value loses its outer spaces on the way: the key reported
     * must be the key the service saw. */
    if (blank || key[0] == ' ' || key[n - 1] == ' ')
        luaL_error(L, "%s: idempotency_key must not be blank or start or end with a space",
                   where);
}

void ax_read_call_options(lua_State *L, int idx, const ax_call_options *defaults,
                          ax_call_options *out, char key[AX_KEY_MAX + 1], const char *where)
{
    option_reader o = reader(L, idx, where);

    *out = *defaults;
    key[0] = '\0';
    if (o.idx == 0)
        return;
    refuse_unknown(&o, ax_call_option_names);
    out->timeout_ms = (long)(number_option(&o, "timeout", out->timeout_ms / 1000.0,
                                           0.001, 86400) * 1000.0);
    out->connect_timeout_ms = (long)(number_option(&o, "connect_timeout",
                                                   out->connect_timeout_ms / 1000.0,
                                                   0.001, 86400) * 1000.0);
    out->max_retries = (int)integer_option(&o, "max_retries", out->max_retries, 0, 10);
    out->deadline_s = number_option(&o, "deadline", out->deadline_s, 0.001, 86400);
    out->validate = boolean_option(&o, "validate", out->validate);
    if (get_option(&o, "idempotency_key")) {
        size_t n;
        const char *s;
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option 'idempotency_key' must be a string, got %s", where,
                       luaL_typename(L, -1));
        s = lua_tolstring(L, -1, &n);
        check_key(L, s, n, where);
        memcpy(key, s, n + 1);
        lua_pop(L, 1);
    }
}
