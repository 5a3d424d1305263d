/*
 * engine.h: one request engine for every route and both transports.
 *
 *   endpoints.c  the declarative endpoint table (one row per route)
 *   prepare.c    a Lua call's arguments -> an ax_call_spec (method, target,
 *                body, idempotency key, lookup target): everything that can
 *                raise or run Lua happens here, before anything is committed
 *   policy.c     the retry policy, pure C ("sans-IO"): may this be sent,
 *                what to do after an attempt (done, retry after a wait,
 *                look the created object up)
 *   outcome.c    a finished call -> data, nil, meta | nil, err (Lua values)
 *   config.c     the options of allawee.new, copied into C memory
 *   request.c    the libcurl transport: requests on the client's multi handle
 *   client.c     the Lua face of the libcurl client
 *   call_api.c   the same engine for transports written in Lua (OpenResty
 *                cosockets): a call object that says what to send next
 */
#ifndef ALLAWEE_ENGINE_H
#define ALLAWEE_ENGINE_H

#include "internal.h"

/* Hidden, as in internal.h: nothing here leaves the shared object. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define AX_MAX_WAITS 16          /* backoff waits remembered per call */
#define AX_KEY_MAX 255           /* idempotency key length bound */

/* ------------------------------------------------------------ endpoints */

typedef enum ax_host { AX_HOST_API, AX_HOST_SECURE } ax_host;

/* Which failures may be sent again (README "Retries"). */
typedef enum ax_retry_class {
    AX_RETRY_IDEMPOTENT,   /* GET, PUT, DELETE, or idempotent = true */
    AX_RETRY_REFERENCE,    /* a POST the service deduplicates by `reference` */
    AX_RETRY_UNSAFE        /* any other POST: only what provably never left, and 429 */
} ax_retry_class;

/* How a 2xx answer is read. */
typedef enum ax_answer {
    AX_ANSWER_OBJECT,      /* envelope data must be an object (or tolerated bare object) */
    AX_ANSWER_LIST,        /* envelope data must be an array; metadata -> meta */
    AX_ANSWER_ANY          /* any JSON; a non-JSON body comes back as a string */
} ax_answer;

typedef enum ax_query_type {
    AX_Q_STRING,           /* a string (numbers are written as numbers) */
    AX_Q_INTEGER,          /* a whole number >= 0 */
    AX_Q_FILTER,           /* "key||OP||value" or { key, op, value } */
    AX_Q_LIST              /* a string or an array of strings */
} ax_query_type;

typedef struct ax_query_key {
    const char *name;
    ax_query_type type;
} ax_query_key;

typedef struct ax_endpoint {
    const char *name;            /* "customers.get": resource, dot, method */
    const char *method;          /* "GET", "POST", "PUT", "DELETE" */
    const char *path;            /* "/customers/:id": each ":name" is a parameter */
    const ax_field *body;        /* body schema; NULL: the route takes no body */
    const ax_query_key *query;   /* allowed query keys; NULL: no query */
    ax_host host;
    ax_retry_class retry;
    ax_answer answer;
    int body_optional;           /* the body table may be left out ({} is sent) */
} ax_endpoint;

extern const ax_endpoint ax_endpoints[];
extern const size_t ax_endpoint_count;
int ax_path_param_count(const char *path);

/* ---------------------------------------------------------- call options */

typedef struct ax_call_options {
    long timeout_ms;
    long connect_timeout_ms;
    int max_retries;
    double deadline_s;           /* whole call, retries and waits included */
    int validate;
} ax_call_options;

/* ------------------------------------------------------------- call spec */

/* What one call sends, built by prepare.c before anything is committed. */
typedef struct ax_call_spec {
    const char *method;          /* static string */
    ax_host host;
    ax_retry_class retry;
    ax_answer answer;
    int effectful;               /* not a GET: a send may have changed something */
    ax_buf target;               /* path and query, percent-encoded */
    ax_buf body;
    int has_body;
    ax_buf lookup;               /* REFERENCE class: GET target finding the object
                                    by its reference; len 0: no reference */
    char key[AX_KEY_MAX + 1];    /* Idempotency-Key ("" for GET) */
    double page;                 /* the `page` asked for (lists), or -1 */
    ax_call_options o;
} ax_call_spec;

void ax_call_spec_init(ax_call_spec *s);
void ax_call_spec_free(ax_call_spec *s);

/* Where the arguments of one Lua call are. 0: absent. */
typedef struct ax_call_args {
    const ax_endpoint *ep;       /* NULL: client:request (method and path given) */
    int first_param;             /* path parameters: first_param .. + count - 1 */
    int payload;                 /* body table (or string for request) or query */
    int query;                   /* client:request's args.query */
    int options;
    const char *method;          /* client:request */
    int path;                    /* client:request: stack index of the path string */
    int secure, idempotent;      /* client:request's args */
    const char *where;           /* the Lua name, for messages */
    int first;                   /* stack index of the call's argument #1 */
    int level;                   /* whose line an argument error points at */
    char name[48];               /* the function's name in argument errors */
} ax_call_args;

/* Where the arguments of resource.method[_async](...) are, the first at
 * stack index `first`; raises `bad argument #n to 'method'` (pointing at
 * call level `level`) for programmer errors. Returns the callback's index
 * (async) or 0. */
int ax_endpoint_args(lua_State *L, const ax_endpoint *ep, int first, int level, int async,
                     ax_call_args *a);
/* The same for request[_async](method, path [, args] [, callback] [, options]). */
int ax_request_args(lua_State *L, int first, int level, int async, ax_call_args *a);
const ax_endpoint *ax_endpoint_find(const char *name);

typedef struct ax_config ax_config;

/*
 * Builds the spec: per-call options over the config's defaults (raises for
 * a bad option or argument: a programmer error), path, query, body, key.
 * Returns 1; 0 with a validation error in `err` (nothing is to be sent);
 * -1 when the OS random source failed (no idempotency key).
 */
int ax_prepare(lua_State *L, const ax_config *cfg, const ax_call_args *a, ax_call_spec *s,
               ax_encode_error *err);

/* ----------------------------------------------------------------- policy */

/* What one attempt came to, as the policy needs to know it. */
typedef enum ax_sent {
    AX_NOT_SENT,       /* provably never left: DNS, connect, TLS handshake */
    AX_NO_ANSWER,      /* sent (maybe partly), no complete answer */
    AX_FATAL,          /* another attempt cannot help (certificate, too large, ...) */
    AX_ANSWERED        /* an HTTP status came back */
} ax_sent;

typedef struct ax_attempt {
    ax_sent sent;
    int fatal_after_send;        /* AX_FATAL: the request had gone out */
    long status;
    double retry_after;          /* seconds, -1: none */
    int reference_conflict;      /* 409 whose code is reference-conflict */
} ax_attempt;

typedef enum ax_next { AX_NEXT_DONE, AX_NEXT_RETRY, AX_NEXT_LOOKUP } ax_next;

typedef enum ax_phase { AX_PHASE_CALL, AX_PHASE_LOOKUP } ax_phase;

typedef struct ax_policy {
    ax_retry_class retry;
    int effectful;
    ax_phase phase;
    int max_sends;               /* per phase: 1 + max_retries */
    int sends;                   /* every send of the call: meta.attempts */
    int phase_sends;
    int ambiguous;               /* a send may have been processed, answer unknown */
    double deadline;             /* absolute, monotonic */
    double backoff_base, backoff_max, max_retry_after;
    uint64_t rng;                /* jitter state, the call's own (seeded from the
                                    config's: a call may outlive its config) */
    double waits[AX_MAX_WAITS];
    int n_waits;
} ax_policy;

void ax_policy_init(ax_policy *p, const ax_call_spec *s, const ax_config *cfg, double now);
/* May a send start now? `resend`: libcurl (or a cosocket pool) wants to send
 * the same attempt again on a fresh connection. Counts the send if yes. */
int ax_policy_may_send(ax_policy *p, double now, int resend);
ax_next ax_policy_after(ax_policy *p, const ax_attempt *a, double now, double *wait);
int ax_status_retryable(long status);
/* 409 body whose top-level "code" is "reference-conflict" (a small scan,
 * no Lua: the policy decides without running any). */
int ax_is_reference_conflict(const char *body, size_t len);

/* ---------------------------------------------------------------- config */

struct ax_config {
    char *base_url;              /* no trailing slash; shown by __tostring */
    char *secure_base_url;
    int base_loopback, secure_loopback;
    char *user_agent;
    char *ca_file;
    char *proxy;
    char *auth;                  /* "Authorization: Bearer <key>": secret, wiped */
    ax_call_options defaults;
    size_t max_response_bytes;
    long max_connections;
    double backoff_base;
    double backoff_max;
    double max_retry_after;
    ax_random_pool random;       /* idempotency keys */
    uint64_t rng;                /* jitter */
};

/* Reads allawee.new's options table at idx into cfg (strings copied into
 * malloc'd memory cfg owns: free with ax_config_free, also after a raise,
 * so cfg must live in a userdata with __gc). Raises for any bad option. */
void ax_config_read(lua_State *L, int idx, const char *where, const char *agent_prefix,
                   ax_config *cfg);
/* Wipes the secrets (the Authorization line, the key pool) in place;
 * ax_config_free wipes, then frees. */
void ax_config_wipe(ax_config *cfg);
void ax_config_free(ax_config *cfg);
const char *ax_config_base(const ax_config *cfg, ax_host host);
/* A fresh idempotency key into out; 0 when the OS random source failed. */
int ax_config_new_key(ax_config *cfg, char out[37]);

/* Reads per-call options at idx over `defaults`; copies the caller's
 * idempotency key into key (else key[0] = '\0'). Raises for a bad option. */
void ax_read_call_options(lua_State *L, int idx, const ax_call_options *defaults,
                          ax_call_options *out, char key[AX_KEY_MAX + 1], const char *where);

double ax_now(void);
void ax_wipe(void *p, size_t n);   /* sha512.c: stores the compiler keeps */

/* --------------------------------------------------------------- outcome */

/* How a call ended, in C terms: enough to build its Lua values again if
 * building them raised (out of memory) the first time. */
typedef enum ax_end {
    AX_END_ANSWER,     /* resp holds the final HTTP answer */
    AX_END_TRANSPORT,  /* resp.curl_code / curl_error: no complete answer */
    AX_END_CLIENT      /* a client-side failure: kind/code/message below */
} ax_end;

typedef struct ax_final {
    ax_end end;
    const char *kind;            /* AX_END_CLIENT */
    const char *code;
    char message[AX_ERR_MESSAGE_MAX];
    char field[AX_ERR_FIELD_MAX];   /* validation: the path of the bad value */
    ax_response conflict;        /* AX_PHASE_LOOKUP: the 409 that started it */
} ax_final;

/* No end yet, for memory that was not zeroed. */
void ax_final_init(ax_final *f);
/* A call ax_prepare refused (prepared <= 0): nothing was sent. */
void ax_final_refused(ax_final *f, int prepared, const ax_encode_error *err);

/* Pushes data, nil, meta (returns 3) or nil, err (returns 2). */
int ax_push_outcome(lua_State *L, const ax_call_spec *s, const ax_policy *p,
                    ax_final *f, ax_response *resp);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
