/*
 * client.h: the libcurl client and its requests, shared by client.c (the
 * Lua face), request.c (requests on the multi handle) and transport.c (one
 * attempt on an easy handle).
 *
 * The rule that keeps Lua code running inside the engine harmless (a
 * finalizer at any allocation, an __index, a debug hook, a raise):
 *   1. everything that reads Lua values or can raise happens before a
 *      request is committed to the client (prepare.c);
 *   2. committing and driving (request.c) are plain C: they never call
 *      Lua and never raise;
 *   3. what runs Lua after that (building a result, running a callback)
 *      runs inside lua_pcall with the client marked busy: close() while
 *      busy only marks the client closed, and the resources go when the
 *      outermost engine frame leaves. So no frame ever finds its multi
 *      handle, easy handle or buffers freed under it.
 */
#ifndef ALLAWEE_CLIENT_H
#define ALLAWEE_CLIENT_H

#include "engine.h"

/* Hidden, as in internal.h: nothing here leaves the shared object. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define CLIENT_MT "allawee.client"
#define REQUEST_MT "allawee.request"
#define AX_IDLE_HANDLES 64       /* easy handles kept for reuse */

typedef struct ax_client ax_client;
typedef struct ax_request ax_request;

struct ax_client {
    ax_config cfg;
    CURLM *multi;
    int closed;                  /* closed: no new use */
    int torn_down;               /* its resources are gone */
    int busy;                    /* engine frames using it right now */
    int delivering;              /* inside a callback: no nested poll/wait */
    /* Authorization (secret: wiped), Content-Type, Accept, Expect:. Every
     * request's Idempotency-Key node points here as its tail. */
    struct curl_slist *fixed_headers;
    ax_request *requests;        /* every committed request not yet retired */
    ax_request *answered_head;   /* async requests with an outcome, in */
    ax_request *answered_tail;   /* the order they finished */
    int n_async;                 /* async requests committed, not retired */
    CURL *idle[AX_IDLE_HANDLES];
    int n_idle;
};

typedef enum ax_request_state {
    REQ_IDLE,        /* being prepared: not known to the client, inert */
    REQ_WAITING,     /* committed: start_at is when the next attempt may start */
    REQ_RUNNING,     /* an attempt is on the multi handle */
    REQ_ANSWERED,    /* finished (final + resp hold how), not handed back yet */
    REQ_DONE         /* handed back, or released by close: inert */
} ax_request_state;

struct ax_request {
    ax_client *client;           /* set while committed */
    ax_request *prev, *next;     /* client->requests */
    ax_request *answered_next;   /* client's answered queue */
    int queued;
    int is_async;
    int building;                /* its Lua result is being built */
    ax_request_state state;
    CURL *easy;
    int sent;                    /* this attempt reached CURLOPT_PREREQFUNCTION */
    int resend_refused;          /* ... and libcurl's own resend was refused */
    double start_at;
    const char *method;          /* the spec's, or GET for the lookup */
    char *url;                   /* base URL + target of the current phase */
    ax_call_spec spec;
    ax_policy policy;
    ax_final final;
    ax_response resp;
    struct curl_slist key_header;            /* head of this request's header list */
    char key_line[AX_KEY_MAX + 24];          /* "Idempotency-Key: <key>" */
};

/* request.c: all plain C, never raise, never call Lua */
ax_request *ax_request_new(lua_State *L);         /* pushes an inert request */
void ax_request_commit(ax_client *c, ax_request *r, int is_async);
/* An async request refused before sending (r->final says why): answered at once. */
void ax_request_commit_refused(ax_client *c, ax_request *r);
void ax_request_cancel(ax_request *r, const char *kind, const char *code, const char *why);
void ax_request_retire(ax_request *r);
void ax_request_release(ax_request *r);
int ax_drive(ax_client *c, double wait_s);
void ax_client_teardown(ax_client *c);
int ax_request_push_outcome(lua_State *L, ax_request *r);

/* transport.c */
CURLcode ax_transport_setup(CURL *easy, const ax_config *cfg);
CURLcode ax_transport_attempt(ax_client *c, ax_request *r, long timeout_ms);

/* client.c */
extern const char ax_each_factory_key;   /* allawee.lua's pager: each = f(list) */
extern const char ax_traceback_key;      /* debug.traceback, for 5.1 and LuaJIT */
void ax_client_register(lua_State *L);
void ax_push_client_new(lua_State *L);
/* codec_api.c: encode, interpret, error (no transport) */
void ax_codec_register(lua_State *L);
/* call_api.c */
void ax_call_api_register(lua_State *L);
/* config.c */
extern const char *const ax_client_option_names[];
extern const char *const ax_call_option_names[];

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
