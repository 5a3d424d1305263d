/*
 * c_common.h: what the two plain-C libcurl baselines share, so they send
 * exactly what allawee sends and are measured exactly as the Lua rows are.
 *
 *   the request: the body bytes allawee encodes (a file), the same header
 *     lines (Authorization, Content-Type, Accept, Expect:, and on a POST
 *     Idempotency-Key with a fresh UUID v4 per request) and User-Agent; a
 *     GET has no body and no idempotency key, as allawee's
 *   the measure: wall time (CLOCK_MONOTONIC), client CPU (getrusage,
 *     user+sys), peak RSS (VmHWM), reported as one "RESULT k=v ..." line
 *
 * The secret key comes from ALLAWEE_SECRET_KEY and is never printed.
 */
#ifndef BENCH_C_COMMON_H
#define BENCH_C_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <curl/curl.h>

#define UUID_LEN 36
#define IDEMPOTENCY_PREFIX "Idempotency-Key: "

typedef struct bench_buf {
    char *data;
    size_t len;
    size_t cap;
} bench_buf;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kib(void)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static void buf_append(bench_buf *b, const char *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (b->data == NULL)
            die("out of memory", NULL);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* The response body is kept (a real client reads it), then dropped. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    buf_append(userdata, data, size * nmemb);
    return size * nmemb;
}

static bench_buf read_file(const char *path)
{
    bench_buf b = { NULL, 0, 0 };
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        die("cannot open", path);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return b;
}

/* Writes a fresh UUID v4 (36 characters, no NUL) at out, as allawee does. */
static void uuid4_into(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int i, o = 0;

    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        die("getrandom", "failed");
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
}

/* The header lines allawee sends; with `idempotency`, the last one is the
 * Idempotency-Key, whose UUID is rewritten in place before each request
 * (same length). */
static struct curl_slist *request_headers(const char *secret_key, int idempotency)
{
    char line[512];
    struct curl_slist *list = NULL;

    snprintf(line, sizeof line, "Authorization: Bearer %s", secret_key);
    list = curl_slist_append(list, line);
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Accept: application/json");
    list = curl_slist_append(list, "Expect:");
    memset(line, 0, sizeof line);
    if (idempotency) {
        memcpy(line, IDEMPOTENCY_PREFIX, sizeof IDEMPOTENCY_PREFIX - 1);
        memset(line + sizeof IDEMPOTENCY_PREFIX - 1, '0', UUID_LEN);
        list = curl_slist_append(list, line);
    }
    if (list == NULL)
        die("out of memory", "headers");
    memset(line, 0, sizeof line);   /* the key does not linger on the stack */
    return list;
}

static void new_idempotency_key(struct curl_slist *headers)
{
    while (headers->next != NULL)
        headers = headers->next;
    uuid4_into(headers->data + sizeof IDEMPOTENCY_PREFIX - 1);
}

static const char *secret_key_from_env(void)
{
    const char *key = getenv("ALLAWEE_SECRET_KEY");
    if (key == NULL || *key == '\0')
        die("ALLAWEE_SECRET_KEY", "not set");
    return key;
}

/* Options common to every transfer, matching allawee's transport.c; a
 * NULL body is a GET. */
static void setup_easy(CURL *easy, const char *url, const bench_buf *body,
                       struct curl_slist *headers, bench_buf *response,
                       const char *ca_file)
{
    char ua[128];

    snprintf(ua, sizeof ua, "allawee-lua/0.1.0 libcurl/%s Lua 5.4",
             curl_version_info(CURLVERSION_NOW)->version);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    if (body != NULL) {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, ua);   /* libcurl copies it */
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 80000L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (ca_file != NULL)
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
}

static void check_answer(CURL *easy, CURLcode rc, const bench_buf *response, long expected)
{
    long status = 0;

    if (rc != CURLE_OK)
        die("transfer failed", curl_easy_strerror(rc));
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != expected || response->len == 0)
        die("unexpected answer", "another status than expected, or an empty body");
}

static void report(long requests, double seconds, double cpu, const char *extra)
{
    printf("RESULT requests=%ld seconds=%.6f cpu_seconds=%.6f peak_rss_kib=%ld%s%s\n",
           requests, seconds, cpu, peak_rss_kib(), extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

#endif
