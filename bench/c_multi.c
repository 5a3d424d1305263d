/*
 * c_multi.c: the floor for allawee's create_async. One libcurl multi handle
 * keeps INFLIGHT transfers running (INFLIGHT easy handles, each reused, so
 * INFLIGHT kept-alive connections); when one finishes the next starts on
 * its handle, until REQUESTS have finished. Same header lines and body bytes
 * as allawee; the loop is the one request.c runs: perform, read messages,
 * poll.
 *
 *   c_multi URL BODY_FILE REQUESTS INFLIGHT [CA_FILE]
 *
 * The first round (INFLIGHT requests, which open the connections) is a
 * warm-up and is not measured.
 */
#include "c_common.h"

typedef struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    bench_buf response;
} transfer;

static void start(CURLM *multi, transfer *t)
{
    new_idempotency_key(t->headers);
    t->response.len = 0;
    if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
        die("curl_multi_add_handle", "failed");
}

/* Runs until `target` transfers have finished in total; returns the count
 * started so far. */
static long run(CURLM *multi, long started, long limit, long *done,
                long target)
{
    int running = 0, left;
    CURLMsg *msg;

    while (*done < target) {
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            transfer *t = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            check_answer(t->easy, msg->data.result, &t->response, 201);
            curl_multi_remove_handle(multi, t->easy);
            (*done)++;
            if (started < limit) {
                start(multi, t);
                started++;
            }
        }
        if (*done < target)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    return started;
}

int main(int argc, char **argv)
{
    bench_buf body;
    const char *key;
    CURLM *multi;
    transfer *ts;
    long n, inflight, i, started = 0, done = 0;
    double wall0, cpu0;

    if (argc < 5)
        die("usage", "c_multi URL BODY_FILE REQUESTS INFLIGHT [CA_FILE]");
    body = read_file(argv[2]);
    n = atol(argv[3]);
    inflight = atol(argv[4]);
    if (inflight < 1 || n < 1)
        die("usage", "REQUESTS and INFLIGHT must be positive");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    key = secret_key_from_env();
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, inflight);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, inflight);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, inflight);
    ts = calloc((size_t)inflight, sizeof *ts);
    if (ts == NULL)
        die("out of memory", NULL);
    for (i = 0; i < inflight; i++) {
        ts[i].easy = curl_easy_init();
        ts[i].headers = request_headers(key, 1);
        setup_easy(ts[i].easy, argv[1], &body, ts[i].headers, &ts[i].response,
                   argc > 5 ? argv[5] : NULL);
        curl_easy_setopt(ts[i].easy, CURLOPT_PRIVATE, (void *)&ts[i]);
    }

    /* Warm-up round: open the connections, not measured. */
    for (i = 0; i < inflight; i++)
        start(multi, &ts[i]);
    started = run(multi, inflight, inflight, &done, inflight);

    /* Measured: n requests, inflight at a time. */
    done = 0;
    started = 0;
    wall0 = wall_seconds();
    cpu0 = cpu_seconds();
    for (i = 0; i < inflight && started < n; i++, started++)
        start(multi, &ts[i]);
    run(multi, started, n, &done, n);
    report(n, wall_seconds() - wall0, cpu_seconds() - cpu0, NULL);

    for (i = 0; i < inflight; i++) {
        curl_easy_cleanup(ts[i].easy);
        curl_slist_free_all(ts[i].headers);
        free(ts[i].response.data);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    free(ts);
    free(body.data);
    return 0;
}
