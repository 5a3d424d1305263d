/*
 * c_sequential.c: the floor for allawee's blocking calls. One libcurl easy
 * handle, set up once and reused (so one kept-alive connection), sending the
 * same header lines and body bytes as allawee, one request after another.
 *
 *   c_sequential [-g] [-s STATUS] URL[|URL...] BODY_FILE REQUESTS WARMUP [CA_FILE]
 *
 *   (default)  POST BODY_FILE to URL, a fresh idempotency key per request,
 *              expect 201: what customers.create and cards.create send
 *   -g         GET, no body, no idempotency key (allawee sends none on a
 *              GET); BODY_FILE is not read ("-"); expect 200
 *   -s STATUS  the status every answer must have
 *   URL|URL    several URLs separated by '|': one iteration requests each
 *              in turn (a 3-page customers.each is three GETs)
 *
 * REQUESTS and WARMUP count iterations; the RESULT line counts requests
 * (iterations times URLs). Per request it does only what any client must:
 * the idempotency key (POST), the transfer, a status check, keeping the
 * body. No JSON work at all.
 */
#include "c_common.h"

#define MAX_URLS 8

int main(int argc, char **argv)
{
    bench_buf body = { NULL, 0, 0 }, response = { NULL, 0, 0 };
    struct curl_slist *headers;
    CURL *easy;
    char *urls[MAX_URLS], *list, *p;
    long n, warmup, i, status = 0;
    int get = 0, a = 1, n_urls = 0, u;
    double wall0 = wall_seconds(), cpu0 = cpu_seconds();

    while (a < argc && argv[a][0] == '-' && argv[a][1] != '\0') {
        if (strcmp(argv[a], "-g") == 0) {
            get = 1;
            a++;
        } else if (strcmp(argv[a], "-s") == 0 && a + 1 < argc) {
            status = atol(argv[a + 1]);
            a += 2;
        } else {
            break;
        }
    }
    if (argc - a < 4)
        die("usage", "c_sequential [-g] [-s STATUS] URL[|URL...] BODY_FILE REQUESTS WARMUP [CA_FILE]");
    if (status == 0)
        status = get ? 200 : 201;
    list = argv[a];
    for (p = strtok(list, "|"); p != NULL && n_urls < MAX_URLS; p = strtok(NULL, "|"))
        urls[n_urls++] = p;
    if (n_urls == 0)
        die("usage", "no URL");
    if (!get)
        body = read_file(argv[a + 1]);
    n = atol(argv[a + 2]);
    warmup = atol(argv[a + 3]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    easy = curl_easy_init();
    headers = request_headers(secret_key_from_env(), !get);
    setup_easy(easy, urls[0], get ? NULL : &body, headers, &response,
               argc - a > 4 ? argv[a + 4] : NULL);

    for (i = 0; i < warmup + n; i++) {
        if (i == warmup) {
            wall0 = wall_seconds();
            cpu0 = cpu_seconds();
        }
        for (u = 0; u < n_urls; u++) {
            if (n_urls > 1)
                curl_easy_setopt(easy, CURLOPT_URL, urls[u]);
            if (!get)
                new_idempotency_key(headers);
            response.len = 0;
            check_answer(easy, curl_easy_perform(easy), &response, status);
        }
    }
    report(n * n_urls, wall_seconds() - wall0, cpu_seconds() - cpu0, NULL);

    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(body.data);
    free(response.data);
    return 0;
}
