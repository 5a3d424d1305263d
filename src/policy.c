/*
 * policy.c: when to send, when to send again, when to stop. Pure C: it
 * takes what an attempt came to and the time, and says what to do next, so
 * the libcurl transport (request.c) and the cosocket one (call_api.c,
 * OpenResty) follow the very same rules.
 *
 * Every send is counted, the ones libcurl or a connection pool would make
 * on their own too (a reused keep-alive connection that died after the
 * server read the request): they must ask ax_policy_may_send first, and a
 * refused resend fails the attempt instead. A banking call is sent once,
 * or the caller is told it may have been (`ambiguous`).
 *
 * Retry classes (engine.h):
 *   IDEMPOTENT  connection errors, timeouts, 429 and 5xx are retried
 *   REFERENCE   the same; and a 409 reference-conflict after an attempt
 *               that may have been processed is looked up (the object our
 *               own earlier attempt created), not reported as a conflict
 *   UNSAFE      only what provably never left (DNS, connect, TLS) and 429
 */
#include <math.h>

#include "engine.h"

/* xorshift64: one step of a jitter state (never 0 once seeded non-zero). */
static uint64_t xorshift_step(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x;
}

/* A call's own jitter state, from one step of the config's (which moves on,
 * so calls of one client do not wait alike), mixed (splitmix64's finalizer)
 * so that it is not the config's next state. The call keeps no pointer to
 * the config: a Lua transport's call may outlive it. Never 0 (xorshift
 * stays at 0). */
static uint64_t seed_from(uint64_t *config_state)
{
    uint64_t x = xorshift_step(config_state);

    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x != 0 ? x : 0x9E3779B97F4A7C15ULL;
}

void ax_policy_init(ax_policy *p, const ax_call_spec *s, const ax_config *cfg, double now)
{
    memset(p, 0, sizeof *p);
    p->retry = s->retry;
    p->effectful = s->effectful;
    p->phase = AX_PHASE_CALL;
    p->max_sends = 1 + s->o.max_retries;
    p->deadline = now + s->o.deadline_s;
    p->backoff_base = cfg->backoff_base;
    p->backoff_max = cfg->backoff_max;
    p->max_retry_after = cfg->max_retry_after;
    p->rng = seed_from((uint64_t *)&cfg->rng);
}

/* xorshift64*: jitter only needs to decorrelate clients; seeded from the OS. */
static double random_unit(uint64_t *state)
{
    uint64_t x = xorshift_step(state);

    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* min(base * 2^(n-1), max) * U[0.5, 1]; Retry-After (429, 503) wins, capped. */
static double backoff(ax_policy *p, const ax_attempt *a)
{
    double wait = p->backoff_base * pow(2.0, p->phase_sends - 1);

    if (wait > p->backoff_max)
        wait = p->backoff_max;
    wait *= 0.5 + 0.5 * random_unit(&p->rng);
    if (a->sent == AX_ANSWERED && a->retry_after >= 0 &&
        (a->status == 429 || a->status == 503))
        wait = a->retry_after < p->max_retry_after ? a->retry_after : p->max_retry_after;
    return wait;
}

/* The lookup only reads: it is retried like any GET. */
static ax_retry_class phase_class(const ax_policy *p)
{
    return p->phase == AX_PHASE_LOOKUP ? AX_RETRY_IDEMPOTENT : p->retry;
}

int ax_policy_may_send(ax_policy *p, double now, int resend)
{
    if (resend) {
        /* The previous send on this attempt got no answer at all: it may
         * have been read. Another send is a retry like any other. */
        if (p->phase == AX_PHASE_CALL)
            p->ambiguous |= p->effectful;
        if (phase_class(p) == AX_RETRY_UNSAFE || p->phase_sends >= p->max_sends ||
            now >= p->deadline)
            return 0;
    }
    p->sends++;
    p->phase_sends++;
    return 1;
}

ax_next ax_policy_after(ax_policy *p, const ax_attempt *a, double now, double *wait)
{
    int may_retry = 0;

    *wait = 0;
    switch (a->sent) {
    case AX_ANSWERED:
        if (a->status >= 200 && a->status < 300)
            return AX_NEXT_DONE;   /* 202 included: accepted, never sent again */
        if (p->phase == AX_PHASE_CALL && a->status == 409 && a->reference_conflict &&
            p->retry == AX_RETRY_REFERENCE && p->ambiguous) {
            /* No time left to look it up: the 409 itself is the outcome
             * (a conflict, ambiguous: the object may be this call's). */
            if (now >= p->deadline)
                return AX_NEXT_DONE;
            p->phase = AX_PHASE_LOOKUP;
            p->phase_sends = 0;
            return AX_NEXT_LOOKUP;
        }
        if (a->status >= 500 && p->phase == AX_PHASE_CALL)
            p->ambiguous |= p->effectful;   /* a 5xx may come after the work was done */
        may_retry = ax_status_retryable(a->status) &&
                    (phase_class(p) != AX_RETRY_UNSAFE || a->status == 429);
        break;
    case AX_NOT_SENT:
        may_retry = 1;
        break;
    case AX_NO_ANSWER:
        if (p->phase == AX_PHASE_CALL)
            p->ambiguous |= p->effectful;
        may_retry = phase_class(p) != AX_RETRY_UNSAFE;
        break;
    case AX_FATAL:
        if (p->phase == AX_PHASE_CALL && a->fatal_after_send)
            p->ambiguous |= p->effectful;
        break;
    }
    if (!may_retry || p->phase_sends >= p->max_sends)
        return AX_NEXT_DONE;
    *wait = backoff(p, a);
    if (now + *wait >= p->deadline)
        return AX_NEXT_DONE;
    if (p->n_waits < AX_MAX_WAITS)
        p->waits[p->n_waits++] = *wait;
    return AX_NEXT_RETRY;
}

/* Skips one JSON value starting at s[i] (well-formed or not: it only has
 * to stop); returns the index just after it. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    int depth = 0;

    do {
        if (i >= len)
            return len;
        if (s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
            i++;
        } else if (s[i] == '}' || s[i] == ']') {
            if (depth == 0)
                return i;
            depth--;
            i++;
        } else if (depth == 0) {   /* a number, true, false, null */
            while (i < len && strchr(",}] \t\r\n", s[i]) == NULL)
                i++;
            return i;
        } else {
            i++;
        }
    } while (depth > 0);
    return i;
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

int ax_is_reference_conflict(const char *s, size_t len)
{
    static const char want[] = "\"reference-conflict\"";
    size_t i = skip_space(s, len, 0);

    if (i >= len || s[i] != '{')
        return 0;
    i++;
    for (;;) {
        size_t key, key_end;
        i = skip_space(s, len, i);
        if (i >= len || s[i] != '"')
            return 0;
        key = i;
        key_end = skip_value(s, len, key);
        i = skip_space(s, len, key_end);
        if (i >= len || s[i] != ':')
            return 0;
        i = skip_space(s, len, i + 1);
        if (key_end - key == 6 && memcmp(s + key, "\"code\"", 6) == 0)
            return len - i >= sizeof want - 1 && memcmp(s + i, want, sizeof want - 1) == 0;
        i = skip_space(s, len, skip_value(s, len, i));
        if (i >= len || s[i] != ',')
            return 0;
        i++;
    }
}
