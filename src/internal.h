/*
 * internal.h: what the files of src/ share with each other and nobody else.
 *
 * Every symbol declared here is hidden from the shared object's dynamic
 * symbol table, whatever builds it (the Makefile, LuaRocks' builtin backend,
 * a host's own build): the pragma below, not a compiler flag, makes it so.
 * The one exported symbol is luaopen_allawee_core (allawee.h, module.c);
 * `make check` asserts it with nm -D on the Makefile and LuaRocks builds.
 */
#ifndef ALLAWEE_INTERNAL_H
#define ALLAWEE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* Without libcurl's development files the build would stop at a bare
 * "curl/curl.h: No such file"; say what is missing and how to get it. The
 * second #include stops the compiler there (GCC silently skips an include
 * that __has_include has already found missing, and would go on to a
 * cascade of unknown types). */
#if defined(__has_include) && !defined(__CPPCHECK__)   /* cppcheck cannot evaluate it */
#if !__has_include(<curl/curl.h>)
#error "allawee: libcurl's development headers (curl/curl.h) are not installed. Debian/Ubuntu: apt-get install libcurl4-openssl-dev; Fedora: dnf install libcurl-devel; Alpine: apk add curl-dev; macOS: xcode-select --install (or brew install curl); FreeBSD: pkg install curl. Then build again (LuaRocks: CURL_INCDIR=<dir> if they are elsewhere)."
#include <install-libcurl-development-headers/curl.h>
#endif
#endif
#include <curl/curl.h>

#include "compat.h"

/* Hidden from here to the pop at the end of this file. System headers must
 * be included ABOVE this line: declarations read inside the region become
 * hidden, and a hidden libc function cannot be linked from a shared object.
 * (client.h has the same pair around its own declarations.) */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define AX_VERSION "0.1.0"

/* ---------------------------------------------------------------- buffer.c
 * One growable byte buffer (after lua-cjson's strbuf). Appends never fail
 * silently: a failed allocation sets `oom` and later appends are ignored,
 * so callers check once at the end.
 */
typedef struct ax_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom;
} ax_buf;

void ax_buf_init(ax_buf *b);
void ax_buf_free(ax_buf *b);
int ax_buf_grow(ax_buf *b, size_t extra);

/* Appends v in decimal. */
void ax_buf_put_integer(ax_buf *b, long long v);

/* ----------------------------------------------------------------- boxed.c
 * Userdata that point to their state in C memory (calls, requests).
 */
/* Pushes a userdata with metatable mt pointing to `size` zeroed bytes of C
 * memory and returns them; raises "allawee: out of memory" (nothing leaks).
 * (luaL_error never returns; the attribute says so to the compiler and the
 * static analyzer.) */
void *ax_boxed_new(lua_State *L, const char *mt, size_t size)
#if defined(__GNUC__)
    __attribute__((returns_nonnull))
#endif
    ;
/* The same with the memory not zeroed: the caller initializes what its
 * __gc reads before anything can raise. (Zeroing a call's 2.9 KiB, most of
 * it message buffers a successful call never touches, was a cache miss per
 * line on every call.) */
void *ax_boxed_new_raw(lua_State *L, const char *mt, size_t size)
#if defined(__GNUC__)
    __attribute__((returns_nonnull))
#endif
    ;
/* The state of the userdata at idx; raises "attempt to use a collected
 * <what>" once its __gc has run, "... a finished <what>" once
 * ax_boxed_finish took it. */
void *ax_boxed_check(lua_State *L, int idx, const char *mt, const char *what);
/* For __gc: the state, now the caller's to free (NULL if already taken). */
void *ax_boxed_take(lua_State *L, int idx, const char *mt);
/* Before __gc: the state, now the caller's to free (NULL if already
 * taken); the object then refuses use as "finished". */
void *ax_boxed_finish(lua_State *L, int idx, const char *mt);
/* Locks the metatable on top of the stack (__metatable = "locked"). */
void ax_boxed_lock(lua_State *L);

static inline void ax_buf_append(ax_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;   /* p may be NULL (an empty buffer's data): memcpy must not see it */
    if (b->cap - b->len < n && !ax_buf_grow(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void ax_buf_putc(ax_buf *b, char c)
{
    if (b->len == b->cap && !ax_buf_grow(b, 1))
        return;
    b->data[b->len++] = c;
}

#define ax_buf_lit(b, s) ax_buf_append((b), (s), sizeof(s) - 1)

/* ---------------------------------------------------------------- schema.c
 * The shape of a create-customer request, from create-a-customer.md.
 */
typedef enum ax_type {
    AX_T_STRING,    /* any string */
    AX_T_NONEMPTY,  /* a non-empty string */
    AX_T_ENUM,      /* one string of `choices` */
    AX_T_OBJECT,    /* an object with the known `fields` only */
    AX_T_ARRAY,     /* an array whose items are `items` */
    AX_T_FREE,      /* free-form object (metadata): any JSON-able table */
    AX_T_UINT,      /* a whole number >= 0 (minor units): integer, int64 cdata */
    AX_T_ANY        /* any JSON value: the docs show the field, not its type */
} ax_type;

typedef struct ax_field {
    const char *name;
    size_t name_len;
    ax_type type;
    int required;
    const struct ax_field *fields;       /* AX_T_OBJECT: NULL-name terminated */
    const struct ax_field *items;        /* AX_T_ARRAY */
    const char *const *choices;          /* AX_T_ENUM: NULL terminated */
} ax_field;

/* An object validates its fields' presence with a 32-bit mask. */
#define AX_MAX_OBJECT_FIELDS 32

extern const ax_field ax_customer_schema;          /* POST /customers */
extern const ax_field ax_customer_update_schema;   /* PUT /customers/:id */
extern const ax_field ax_account_create_schema;
extern const ax_field ax_program_create_schema;
extern const ax_field ax_program_update_schema;
extern const ax_field ax_card_create_schema;
extern const ax_field ax_card_update_schema;
extern const ax_field ax_card_fund_schema;
extern const ax_field ax_card_activate_schema;
extern const ax_field ax_card_pin_schema;
extern const ax_field ax_authorization_reply_schema;   /* webhooks.c */

/* ------------------------------------------------------------ json_encode.c */
#define AX_MAX_DEPTH 32          /* nesting bound for requests and responses */
#define AX_MAX_STRING_BYTES (1 << 20)  /* one string (value or key) in a request;
                                          responses are bounded by max_response_bytes */
#define AX_ERR_FIELD_MAX 256
#define AX_ERR_MESSAGE_MAX 512

typedef struct ax_encode_error {
    char field[AX_ERR_FIELD_MAX];      /* "claims.individualAddress.city" */
    char message[AX_ERR_MESSAGE_MAX];  /* "<field>: expected string, got number" */
} ax_encode_error;

/* The sentinel that encodes as [] (allawee.empty_array). */
extern const char ax_empty_array_sentinel;

/*
 * Encodes the value at `idx` as JSON into `out`, guided by `schema` (NULL:
 * any JSON-able value). With `validate`, the schema is enforced; without it,
 * the schema only gives the shape of empty tables. Returns 1, or 0 with `err`
 * filled in. Raises only for memory errors (out is owned by a userdata, so
 * it is freed).
 */
int ax_encode(lua_State *L, int idx, const ax_field *schema, int validate, ax_buf *out,
              ax_buf *reference, ax_encode_error *err);
/* `reference`: NULL, or receives the top-level "reference" string exactly as
 * it was written into `out` (what the exactly-once lookup must search for,
 * even if a finalizer changed the table meanwhile). */

/* Encodes a query table (query.c); *page gets its `page` (lists' meta). */
struct ax_query_key;
int ax_encode_query(lua_State *L, int idx, const struct ax_query_key *allowed, int validate,
                    ax_buf *out, double *page, ax_encode_error *err);

/* Registry keys (json_encode.c) of values captured when the module loads:
 * the global tostring, and the strings "__index" and "__pairs" (so reading
 * a metatable allocates nothing, and so runs no finalizer). */
extern const char ax_tostring_key;
extern const char ax_index_name_key;
extern const char ax_pairs_name_key;
/* A table whose metatable has __index or __pairs: the raw walk would see
 * something else than the caller means. */
int ax_is_proxy_table(lua_State *L, int idx);

/* 1 when str is valid UTF-8 (RFC 3629); else 0 and *bad = byte offset. */
int ax_utf8_valid(const char *str, size_t len, size_t *bad);

/* Sets the array metatable registry entry used by allawee.array(). */
extern const char ax_array_mt_key;

/* ---------------------------------------------------------------- errors.c */
typedef struct ax_error {
    const char *kind;        /* validation, authentication, ... */
    const char *message;
    long status;             /* 0: none */
    const char *code;        /* API code or client-side code, may be NULL */
    const char *request_id;  /* may be NULL */
    const char *field;       /* validation path, may be NULL */
    const char *body;        /* raw response body, may be NULL */
    size_t body_len;
    const char *idempotency_key;  /* may be NULL */
    int retryable;
    int attempts;
    int ambiguous;           /* the request may have been processed */
    int secret;              /* the answer may hold card secrets: no body kept */
} ax_error;

#define AX_ERROR_BODY_CAP 4096   /* bytes of the raw body kept on an error */

void ax_error_register(lua_State *L);     /* creates the metatable once */
void ax_push_error(lua_State *L, const ax_error *e);

/* The longest prefix of s[0..len) that is at most `cap` bytes and does not
 * end inside a UTF-8 sequence. */
size_t ax_utf8_prefix(const char *s, size_t len, size_t cap);
/* snprintf into dst, then cut back to a UTF-8 boundary. */
void ax_format(char *dst, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* -------------------------------------------------------------- response.c */
typedef struct ax_response {
    long status;
    ax_buf body;
    char request_id[128];
    char content_type[96];
    double retry_after;      /* seconds, -1 when absent or unreadable */
    int too_large;           /* body passed max_response_bytes */
    int in_head;             /* a status line came, the head has not ended */
    size_t max_bytes;
    CURLcode curl_code;
    char curl_error[CURL_ERROR_SIZE];
    int body_index;          /* >0: the body is this Lua string on the stack */
} ax_response;

void ax_response_reset(ax_response *r);
/* A response with nothing in it, for memory that was not zeroed. */
void ax_response_init(ax_response *r);

/* The private cjson decode function, set by allawee.lua. */
extern const char ax_decoder_key;

/*
 * Maps an HTTP error status (or a 2xx whose envelope says otherwise) to an
 * error: pushes it (ax_push_error with `base` for attempts etc.).
 */
void ax_push_status_error(lua_State *L, ax_response *r, const ax_error *base);
/* A transport failure (no complete answer): pushes the error. */
void ax_push_transport_error(lua_State *L, const ax_response *r, const ax_error *base);
/* A header value kept in dst (NUL-terminated), cut at cap - 1 bytes on a
 * UTF-8 boundary; s NULL: empty. */
void ax_header_keep(char *dst, size_t cap, const char *s, size_t len);
/* Copies header `name` from a Lua table of lower-case header names. */
void ax_header_from_table(lua_State *L, int idx, const char *name, char *dst, size_t cap);
/* 1 when the body is JSON by its Content-Type (or has none). */
int ax_is_json_type(const char *content_type);

/*
 * Decodes JSON text with the private decoder: pushes the value (integral
 * numbers as Lua integers on 5.3+) and returns 1, or pushes a message and
 * returns 0. `string_idx` > 0: the text is that Lua string on the stack
 * (saves a copy); else it is data[0..len).
 */
int ax_decode_json(lua_State *L, const char *data, size_t len, int string_idx);
/* Once per process, before any decode (module.c, under its lock): the
 * random mark of long integers. Never lazily: threads decode at once. */
void ax_json_decode_init(void);

/* ------------------------------------------------------------------ url.c */
typedef struct ax_url {
    int https;
    int loopback;            /* 127.0.0.0/8, [::1] or localhost */
    char host[256];          /* as written (IPv6 with brackets) */
    long port;               /* given, or 443 / 80 */
    int has_port;
    const char *path;        /* into the parsed string; no trailing slash */
    size_t path_len;
    size_t base_len;         /* the URL without trailing slashes */
} ax_url;

/* Checks a base URL; fills out and returns NULL, or returns the problem
 * (a sentence to put after the option's name). */
const char *ax_url_parse(const char *url, size_t len, ax_url *out);
int ax_host_is_loopback(const char *host, size_t len);
void ax_url_append_pct(ax_buf *b, const char *s, size_t len);
const char *ax_path_param_problem(const char *s, size_t len);
const char *ax_path_problem(const char *s, size_t len);

const char *ax_curl_code_name(CURLcode code);

/* --------------------------------------------------------------- random.c */
int ax_random_bytes(void *buf, size_t n);     /* 1 on success */
const char *ax_random_source(void);           /* "getrandom", "arc4random_buf", ... */
typedef struct ax_random_pool {
    unsigned char bytes[256];
    size_t left;
} ax_random_pool;
int ax_uuid4(ax_random_pool *pool, char out[37]); /* idempotency keys; 1 on success */

/* ------------------------------------------------------------- http_head.c */
/* The fields of a response head that the engine and the framing read. */
enum {
    AX_HEAD_TRANSFER_ENCODING, AX_HEAD_CONTENT_LENGTH, AX_HEAD_CONNECTION,
    AX_HEAD_RETRY_AFTER, AX_HEAD_REQUEST_ID, AX_HEAD_CONTENT_TYPE, AX_HEAD_FIELDS
};
typedef struct ax_http_head {
    int status;
    int version;                       /* major * 10 + minor */
    struct {
        const char *p;                 /* NULL when absent; into the parsed bytes */
        size_t len;
    } field[AX_HEAD_FIELDS];
} ax_http_head;
/* Where the head that starts at p ends (the byte after its empty line);
 * 0 when it is not all there. The search starts at `from`, which must be at
 * or before the LF that ends the line before the empty line. */
size_t ax_http_head_end(const char *p, size_t len, size_t from);
/* Checks the complete lines of an unfinished head from `from` (a line's
 * start; 0: the status line first): NULL, or "bad status line" / "bad
 * header line". *next: where the first incomplete line starts; *fields:
 * the header lines checked. */
const char *ax_http_head_check(const char *p, size_t len, size_t from, size_t *next,
                               size_t *fields);
/* Parses p[0..len), a whole head up to its empty line: NULL, or why not
 * ("bad status line", "bad header line", "too large" past max_fields), or
 * "complex" when a wanted field repeats or a line is folded (the caller's
 * general reader takes it). */
const char *ax_http_head_parse(const char *p, size_t len, size_t max_fields,
                               ax_http_head *out);

/* -------------------------------------------------------------- webhooks.c */
void ax_webhooks_register(lua_State *L);  /* core.webhooks: verify, parse, sign, ... */

/* ---------------------------------------------------------------- module.c */
CURLcode ax_curl_global_init_once(void);  /* curl_global_init, once per process */
const char *ax_curl_version(void);        /* cached: curl_version_info is not thread-safe */

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
