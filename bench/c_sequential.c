/*
 * c_sequential.c: the floor for allawee's blocking create. One libcurl easy
 * handle, set up once and reused (so one kept-alive connection), sending the
 * same header lines and body bytes as allawee, one request after another.
 *
 *   c_sequential URL BODY_FILE REQUESTS WARMUP [CA_FILE]
 *
 * Per request it does only what any client must: a fresh idempotency key,
 * the transfer, a status check, keeping the body. No JSON work at all.
 */
#include "c_common.h"

int main(int argc, char **argv)
{
    bench_buf body, response = { NULL, 0, 0 };
    struct curl_slist *headers;
    CURL *easy;
    long n, warmup, i;
    double wall0 = wall_seconds(), cpu0 = cpu_seconds();

    if (argc < 5)
        die("usage", "c_sequential URL BODY_FILE REQUESTS WARMUP [CA_FILE]");
    body = read_file(argv[2]);
    n = atol(argv[3]);
    warmup = atol(argv[4]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    easy = curl_easy_init();
    headers = request_headers(secret_key_from_env());
    setup_easy(easy, argv[1], &body, headers, &response, argc > 5 ? argv[5] : NULL);

    for (i = 0; i < warmup + n; i++) {
        if (i == warmup) {
            wall0 = wall_seconds();
            cpu0 = cpu_seconds();
        }
        new_idempotency_key(headers);
        response.len = 0;
        check_answer(easy, curl_easy_perform(easy), &response);
    }
    report(n, wall_seconds() - wall0, cpu_seconds() - cpu0, NULL);

    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(body.data);
    free(response.data);
    return 0;
}
