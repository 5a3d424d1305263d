/*
 * request.c: the libcurl transport. Requests on the client's multi handle,
 * from commit to their final answer.
 *
 *   commit   a prepared request joins the client (plain C, cannot fail
 *            halfway: anything that can fail was done by prepare.c)
 *   drive    libcurl moves the bytes; each finished attempt is put to the
 *            policy (policy.c): done, retry after a wait (a timer, never a
 *            sleep), or look the created object up (exactly-once creates)
 *   answer   the final state stays in C (final + resp) until a caller
 *            builds its Lua values (ax_request_push_outcome), which may be
 *            tried again if building them raised
 *
 * Nothing in this file calls Lua or raises, so a finalizer or a hook can
 * never observe (or break) a half-made transition. The one entry that
 * touches Lua, ax_request_push_outcome, only reads the request's C state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"

/* -------------------------------------------------------------- objects */

/* A request lives in C memory, its userdata a pointer (boxed.c); its __gc
 * releases and frees it. */
ax_request *ax_request_new(lua_State *L)
{
    ax_request *r = ax_boxed_new(L, REQUEST_MT, sizeof *r);

    ax_call_spec_init(&r->spec);
    ax_buf_init(&r->resp.body);
    ax_buf_init(&r->final.conflict.body);
    r->state = REQ_IDLE;     /* inert until committed */
    return r;
}

static void link_request(ax_client *c, ax_request *r)
{
    r->client = c;
    r->prev = NULL;
    r->next = c->requests;
    if (c->requests != NULL)
        c->requests->prev = r;
    c->requests = r;
}

static void unlink_request(ax_request *r)
{
    ax_client *c = r->client;

    if (c == NULL)
        return;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->requests = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void enqueue_answered(ax_client *c, ax_request *r)
{
    if (!r->is_async || r->queued)
        return;
    r->queued = 1;
    r->answered_next = NULL;
    if (c->answered_tail != NULL)
        c->answered_tail->answered_next = r;
    else
        c->answered_head = r;
    c->answered_tail = r;
}

/* Delivery always takes the head; close takes them all. */
static void dequeue_answered(ax_client *c, ax_request *r)
{
    ax_request **p;

    if (!r->queued)
        return;
    for (p = &c->answered_head; *p != NULL; p = &(*p)->answered_next) {
        if (*p == r) {
            *p = r->answered_next;
            if (c->answered_tail == r) {
                ax_request *t = c->answered_head;
                while (t != NULL && t->answered_next != NULL)
                    t = t->answered_next;
                c->answered_tail = t;
            }
            break;
        }
    }
    r->queued = 0;
    r->answered_next = NULL;
}

/* The easy handle goes back to the client's idle pool (set up for this
 * client, so the next attempt only points it at its own data). */
static void release_transfer(ax_request *r)
{
    ax_client *c = r->client;

    if (r->easy == NULL)
        return;
    if (c != NULL && c->multi != NULL && r->state == REQ_RUNNING &&
        curl_multi_remove_handle(c->multi, r->easy) != CURLM_OK) {
        /* Cannot happen with a valid pair; never pool a handle whose state
         * is unknown. */
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
        return;
    }
    if (c != NULL && !c->torn_down && c->n_idle < AX_IDLE_HANDLES) {
        c->idle[c->n_idle++] = r->easy;
    } else {
        curl_easy_cleanup(r->easy);
    }
    r->easy = NULL;
}

static void free_buffers(ax_request *r)
{
    ax_call_spec_free(&r->spec);
    if (r->resp.body.data != NULL)   /* an answer can hold a card's PAN and CVV */
        ax_wipe(r->resp.body.data, r->resp.body.cap);
    ax_buf_free(&r->resp.body);
    ax_buf_free(&r->final.conflict.body);
    free(r->url);
    r->url = NULL;
}

void ax_request_release(ax_request *r)
{
    ax_client *c = r->client;

    release_transfer(r);
    if (c != NULL) {
        dequeue_answered(c, r);
        if (r->is_async && r->state != REQ_DONE)
            c->n_async--;
    }
    unlink_request(r);
    free_buffers(r);
    r->client = NULL;
    r->state = REQ_DONE;
}

void ax_request_retire(ax_request *r)
{
    ax_request_release(r);
}

/* ---------------------------------------------------------------- finish */

static void finish(ax_client *c, ax_request *r, ax_end end)
{
    release_transfer(r);
    r->final.end = end;
    r->state = REQ_ANSWERED;
    enqueue_answered(c, r);
}

static void finish_client(ax_client *c, ax_request *r, const char *kind, const char *code,
                          const char *message)
{
    r->final.kind = kind;
    r->final.code = code;
    ax_format(r->final.message, sizeof r->final.message, "%s", message);
    finish(c, r, AX_END_CLIENT);
}

void ax_request_cancel(ax_request *r, const char *kind, const char *code, const char *why)
{
    ax_client *c = r->client;

    if (c == NULL || (r->state != REQ_WAITING && r->state != REQ_RUNNING))
        return;
    release_transfer(r);   /* off the multi handle before anything else */
    if (r->sent)
        r->policy.ambiguous |= r->policy.effectful;   /* it may be on the server already */
    finish_client(c, r, kind, code, why);
}

/* base URL + target into r->url; 0 when out of memory. */
static int set_url(ax_client *c, ax_request *r, const ax_buf *target)
{
    const char *base = ax_config_base(&c->cfg, r->spec.host);
    size_t n = strlen(base);
    char *url = malloc(n + target->len + 1);

    if (url == NULL)
        return 0;
    memcpy(url, base, n);
    memcpy(url + n, target->data, target->len);
    url[n + target->len] = '\0';
    free(r->url);
    r->url = url;
    return 1;
}

void ax_request_commit(ax_client *c, ax_request *r, int is_async)
{
    link_request(c, r);
    r->is_async = is_async;
    if (is_async)
        c->n_async++;
    r->method = r->spec.method;
    ax_policy_init(&r->policy, &r->spec, &c->cfg, ax_now());
    r->state = REQ_WAITING;
    r->start_at = 0;
    if (r->spec.key[0]) {
        snprintf(r->key_line, sizeof r->key_line, "Idempotency-Key: %s", r->spec.key);
        r->key_header.data = r->key_line;
        r->key_header.next = c->fixed_headers;
    }
    if (!set_url(c, r, &r->spec.target))
        finish_client(c, r, "connection", "out_of_memory", "out of memory building the URL");
}

void ax_request_commit_refused(ax_client *c, ax_request *r)
{
    link_request(c, r);
    r->is_async = 1;
    c->n_async++;
    r->method = r->spec.method;
    r->state = REQ_ANSWERED;
    enqueue_answered(c, r);
}

/* -------------------------------------------------------------- attempts */

static void start_attempt(ax_client *c, ax_request *r)
{
    double now = ax_now(), remaining = r->policy.deadline - now;
    long timeout_ms = r->spec.o.timeout_ms;
    CURLcode rc = CURLE_OK;
    CURLMcode mrc;

    if (remaining <= 0.001) {
        finish_client(c, r, "timeout", "deadline_exceeded",
                      "the deadline passed before the request could be sent");
        return;
    }
    if (remaining * 1000.0 < (double)timeout_ms)
        timeout_ms = (long)ceil(remaining * 1000.0);
    if (r->easy == NULL && c->n_idle > 0) {
        r->easy = c->idle[--c->n_idle];
    } else if (r->easy == NULL) {
        r->easy = curl_easy_init();
        if (r->easy == NULL) {
            finish_client(c, r, "connection", "CURLE_FAILED_INIT",
                          "libcurl could not create a transfer");
            return;
        }
        rc = ax_transport_setup(r->easy, &c->cfg);
    }
    r->sent = 0;
    r->resend_refused = 0;
    ax_response_reset(&r->resp);
    r->resp.max_bytes = c->cfg.max_response_bytes;
    if (rc == CURLE_OK)
        rc = ax_transport_attempt(c, r, timeout_ms);
    if (rc != CURLE_OK) {
        finish_client(c, r, "connection", ax_curl_code_name(rc), curl_easy_strerror(rc));
        return;
    }
    mrc = curl_multi_add_handle(c->multi, r->easy);
    if (mrc != CURLM_OK) {
        finish_client(c, r, "connection", "CURLM_ERROR", curl_multi_strerror(mrc));
        return;
    }
    ax_policy_may_send(&r->policy, now, 0);   /* counts this attempt's send */
    r->state = REQ_RUNNING;
}

/* What libcurl's result says about whether the request left. */
static void classify(ax_request *r, CURLcode result, ax_attempt *a)
{
    memset(a, 0, sizeof *a);
    a->retry_after = -1;
    if (result == CURLE_OK) {
        a->sent = AX_ANSWERED;
        a->status = r->resp.status;
        a->retry_after = r->resp.retry_after;
        a->reference_conflict = r->resp.status == 409 &&
            ax_is_reference_conflict(r->resp.body.data, r->resp.body.len);
        return;
    }
    switch (result) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        a->sent = AX_FATAL;
        return;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_OUT_OF_MEMORY:
        a->sent = AX_FATAL;
        a->fatal_after_send = r->sent;
        return;
    default:
        /* Before CURLOPT_PREREQFUNCTION nothing was sent: DNS, connect, TLS. */
        a->sent = r->sent ? AX_NO_ANSWER : AX_NOT_SENT;
    }
}

static void attempt_done(ax_client *c, ax_request *r, CURLcode result)
{
    ax_attempt a;
    double wait, now = ax_now();
    long status = 0;

    if (curl_multi_remove_handle(c->multi, r->easy) != CURLM_OK) {
        curl_easy_cleanup(r->easy);   /* see release_transfer */
        r->easy = NULL;
    }
    r->state = REQ_WAITING;
    if (r->easy != NULL)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    r->resp.status = status;
    r->resp.curl_code = result;
    if (r->resend_refused) {
        /* libcurl found the connection dead after sending and wanted to send
         * again on its own; the policy said no (see ax_policy_may_send). */
        r->resp.curl_code = CURLE_GOT_NOTHING;
        ax_format(r->resp.curl_error, sizeof r->resp.curl_error,
                  "the connection closed after the request was sent, without an answer; "
                  "not sent again (max_retries, the deadline, or a POST that is not safe "
                  "to repeat)");
        result = CURLE_GOT_NOTHING;
    }
    classify(r, result, &a);
    switch (ax_policy_after(&r->policy, &a, now, &wait)) {
    case AX_NEXT_RETRY:
        r->start_at = now + wait;
        break;
    case AX_NEXT_LOOKUP: {
        /* Keep the 409 for the error, should the lookup not settle it. */
        ax_response *keep = &r->final.conflict;
        ax_buf body = keep->body;
        *keep = r->resp;
        keep->body_index = 0;
        r->resp.body = body;
        r->resp.body.len = 0;
        r->method = "GET";
        r->start_at = now;
        if (!set_url(c, r, &r->spec.lookup))
            finish_client(c, r, "connection", "out_of_memory", "out of memory building the URL");
        break;
    }
    case AX_NEXT_DONE:
        finish(c, r, result == CURLE_OK ? AX_END_ANSWER : AX_END_TRANSPORT);
        break;
    }
}

/* ----------------------------------------------------------------- drive */

static void start_due(ax_client *c, double now)
{
    ax_request *r, *next;

    for (r = c->requests; r != NULL; r = next) {
        next = r->next;
        if (r->state == REQ_WAITING && r->start_at <= now)
            start_attempt(c, r);
    }
}

static double next_wakeup(const ax_client *c)
{
    double at = -1;
    const ax_request *r;

    for (r = c->requests; r != NULL; r = r->next)
        if (r->state == REQ_WAITING && (at < 0 || r->start_at < at))
            at = r->start_at;
    return at;
}

static int read_messages(ax_client *c)
{
    CURLMsg *msg;
    int left, answered = 0;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        ax_request *r = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL || r->state != REQ_RUNNING || r->easy != msg->easy_handle)
            continue;
        attempt_done(c, r, msg->data.result);
        if (r->state == REQ_ANSWERED)
            answered++;
    }
    return answered;
}

/* The multi handle itself failed (out of memory inside libcurl): every
 * transfer on it ends, with the reason, rather than hanging. */
static void multi_failed(ax_client *c, CURLMcode mrc)
{
    ax_request *r, *next;
    char message[160];

    ax_format(message, sizeof message, "libcurl's multi interface failed: %s",
              curl_multi_strerror(mrc));
    for (r = c->requests; r != NULL; r = next) {
        next = r->next;
        if (r->state == REQ_RUNNING)
            ax_request_cancel(r, "connection", "CURLM_ERROR", message);
    }
}

static int perform(ax_client *c)
{
    int running = 0;
    CURLMcode mrc = curl_multi_perform(c->multi, &running);

    if (mrc != CURLM_OK)
        multi_failed(c, mrc);
    return read_messages(c);
}

/*
 * One turn: start what is due, let libcurl work, collect finished attempts;
 * if nothing finished and wait_s > 0, sleep in curl_multi_poll until there
 * is I/O, a libcurl timer, or a retry is due (never past wait_s), and turn
 * once more. Returns how many requests got their final answer.
 */
int ax_drive(ax_client *c, double wait_s)
{
    int answered;
    double now = ax_now(), wake;
    CURLMcode mrc;

    if (c->torn_down)
        return 0;
    /* poll(math.huge), poll(NaN) or a wait past INT_MAX ms must not reach
     * the int cast for curl_multi_poll (undefined); an hour is plenty, the
     * callers loop until their own deadline. */
    if (!(wait_s <= 3600.0))
        wait_s = 3600.0;
    start_due(c, now);
    answered = perform(c);
    if (answered > 0 || wait_s <= 0)
        return answered;
    wake = next_wakeup(c);
    if (wake >= 0 && wake - now < wait_s)
        wait_s = wake - now > 0 ? wake - now : 0;
    mrc = curl_multi_poll(c->multi, NULL, 0, (int)ceil(wait_s * 1000.0), NULL);
    if (mrc != CURLM_OK)
        multi_failed(c, mrc);
    start_due(c, ax_now());
    return answered + perform(c);
}

/* Frees everything the client holds. Only when no engine frame is using
 * it (busy == 0): the frames check `closed` and leave first. */
void ax_client_teardown(ax_client *c)
{
    struct curl_slist *h;

    if (c->torn_down)
        return;
    c->closed = 1;
    c->torn_down = 1;
    while (c->requests != NULL)
        ax_request_release(c->requests);
    c->answered_head = c->answered_tail = NULL;
    c->n_async = 0;
    while (c->n_idle > 0)
        curl_easy_cleanup(c->idle[--c->n_idle]);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    c->multi = NULL;
    for (h = c->fixed_headers; h != NULL; h = h->next)
        ax_wipe(h->data, strlen(h->data));   /* the Authorization line holds the key */
    curl_slist_free_all(c->fixed_headers);
    c->fixed_headers = NULL;
    ax_config_free(&c->cfg);
}

/* ----------------------------------------------------------------- result */

int ax_request_push_outcome(lua_State *L, ax_request *r)
{
    int n;

    r->building = 1;   /* a nested poll (a hook, a finalizer) must leave it alone */
    n = ax_push_outcome(L, &r->spec, &r->policy, &r->final, &r->resp);
    r->building = 0;
    return n;
}
