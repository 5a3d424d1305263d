/*
 * client.h: the client and request objects, shared by client.c (the Lua
 * face: options, methods, __gc/__close) and request.c (the life of one
 * create: attempts on the multi handle, retries, results).
 */
#ifndef ALLAWEE_CLIENT_H
#define ALLAWEE_CLIENT_H

#include "internal.h"

/* Hidden, as in internal.h: nothing here leaves the shared object. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define CLIENT_MT "allawee.client"
#define REQUEST_MT "allawee.request"
#define AX_IDLE_HANDLES 64       /* easy handles kept for reuse */
#define AX_MAX_WAITS 16          /* backoff waits remembered per request */
#define AX_KEY_MAX 255           /* idempotency key length bound */

typedef struct ax_client ax_client;
typedef struct ax_request ax_request;

typedef struct ax_call_options {
    long timeout_ms;
    long connect_timeout_ms;
    int max_retries;
    double deadline_s;           /* whole call, retries and waits included */
    int validate;
} ax_call_options;

struct ax_client {
    CURLM *multi;
    int closed;
    int delivering;              /* inside a callback: no nested poll/wait */
    char *base_url;              /* shown by __tostring; never the key */
    char *url;                   /* base_url .. "/customers" */
    char *user_agent;
    char *ca_file;
    char *proxy;
    /* Authorization (secret: wiped on close), Content-Type, Accept, Expect:.
     * Every request's Idempotency-Key node points here as its tail. */
    struct curl_slist *fixed_headers;
    ax_random_pool random;       /* idempotency keys */
    ax_call_options defaults;
    size_t max_response_bytes;
    double backoff_base;
    double backoff_max;
    double max_retry_after;
    long max_connections;
    ax_request *requests;        /* every request not yet handed back */
    CURL *idle[AX_IDLE_HANDLES];
    int n_idle;
    uint64_t rng;
    unsigned long finish_seq;
};

typedef enum ax_request_state {
    REQ_WAITING,     /* before an attempt: start_at is when it may start */
    REQ_RUNNING,     /* an attempt is on the multi handle */
    REQ_FINISHED,    /* outcome stored, not handed back yet */
    REQ_DONE         /* handed back (or cancelled by close): inert */
} ax_request_state;

struct ax_request {
    ax_client *client;           /* NULL once detached */
    ax_request *prev, *next;
    CURL *easy;
    struct curl_slist key_header;          /* head of this request's header list */
    char key_line[AX_KEY_MAX + 24];        /* "Idempotency-Key: <key>" */
    ax_buf body;
    ax_response resp;
    char idempotency_key[AX_KEY_MAX + 1];
    ax_request_state state;
    int has_callback;
    int cancelled;
    int attempts;
    int max_retries;
    long timeout_ms;
    long connect_timeout_ms;
    double deadline;             /* absolute, monotonic seconds */
    double start_at;
    double waits[AX_MAX_WAITS];
    int n_waits;
    unsigned long finish_seq;
};

/* options.c: what allawee.new accepts. The strings point into the options
 * table (or the environment): valid while client_new runs. */
typedef struct ax_client_config {
    const char *secret_key;
    const char *base_url;
    const char *user_agent_suffix;
    const char *ca_file;
    const char *proxy;
    ax_call_options defaults;
    size_t max_response_bytes;
    long max_connections;
    double backoff_base;
    double backoff_max;
    double max_retry_after;
} ax_client_config;

void ax_read_client_options(lua_State *L, int idx, const char *where, ax_client_config *cfg);
void ax_options_register(lua_State *L);   /* core.options, core.call_options */
const char *ax_read_call_options(lua_State *L, int idx, const ax_call_options *defaults,
                                 ax_call_options *out, const char *where);

double ax_now(void);

/* client.c */
void ax_client_register(lua_State *L);
void ax_push_client_new(lua_State *L);

/* codec_api.c: adds encode, interpret, error to the table on top. */
void ax_codec_register(lua_State *L);

/* request.c */
ax_request *ax_request_new(lua_State *L, int client_idx);
int ax_request_submit(lua_State *L, ax_client *c, ax_request *r, int req_idx,
                      int params_idx, const ax_call_options *o,
                      const char *idempotency_key);
int ax_request_cancel(lua_State *L, ax_request *r, int req_idx);
void ax_request_release(ax_request *r);
int ax_drive(lua_State *L, ax_client *c, int client_idx, double wait_s);
int ax_push_outcome(lua_State *L, int client_idx, ax_request *r);
double ax_next_wakeup(ax_client *c);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
