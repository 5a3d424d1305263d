/*
 * c_hmac.c: the baseline for allawee.webhooks.verify in make bench: the
 * same check written in C on OpenSSL's libcrypto (HMAC(), CRYPTO_memcmp).
 *
 *   c_hmac BODY_FILE ITERATIONS
 *
 * The signing key comes from BENCH_WEBHOOK_KEY. Like verify, each
 * iteration decodes the 128 hex digits of the header, computes
 * HMAC-SHA512 of the body under the key and compares in constant time,
 * two ways:
 *   hmac_ns  the one-shot HMAC() (what most code calls; in OpenSSL 3 it
 *            looks the algorithm up on every call)
 *   evp_ns   EVP_MAC: "HMAC" fetched once, one EVP_MAC_CTX re-keyed with
 *            EVP_MAC_init for each check (the fastest way the library
 *            offers to compute a MAC under a key given per message)
 * Prints "RESULT name=openssl_verify iterations=N hmac_ns=.. evp_ns=..":
 * CPU time of this process (CLOCK_PROCESS_CPUTIME_ID), the loop only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

static void die(const char *what)
{
    fprintf(stderr, "c_hmac: %s\n", what);
    exit(1);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long size;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        die("cannot read the body file");
    data = malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size)
        die("cannot read the body file");
    fclose(f);
    *len = (size_t)size;
    return data;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static EVP_MAC_CTX *evp_ctx;   /* NULL: the one-shot HMAC() */

/* 1 when header (128 hex digits) is the HMAC-SHA512 of body under key. */
static int verify(const unsigned char *body, size_t len, const char *header,
                  const char *key, size_t key_len)
{
    unsigned char given[64], mac[EVP_MAX_MD_SIZE];
    size_t i;

    if (strlen(header) != 128)
        return 0;
    for (i = 0; i < 64; i++) {
        int hi = hex_value((unsigned char)header[2 * i]);
        int lo = hex_value((unsigned char)header[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    if (evp_ctx == NULL) {
        unsigned int mac_len = 0;
        if (HMAC(EVP_sha512(), key, (int)key_len, body, len, mac, &mac_len) == NULL ||
            mac_len != 64)
            die("HMAC failed");
    } else {
        size_t mac_len = 0;
        if (!EVP_MAC_init(evp_ctx, (const unsigned char *)key, key_len, NULL) ||
            !EVP_MAC_update(evp_ctx, body, len) ||
            !EVP_MAC_final(evp_ctx, mac, &mac_len, sizeof mac) || mac_len != 64)
            die("EVP_MAC failed");
    }
    return CRYPTO_memcmp(mac, given, 64) == 0;
}

/* CPU ns per check over n checks, after a warm-up. */
static double time_checks(long n, const unsigned char *body, size_t len, const char *header,
                          const char *key, size_t key_len)
{
    long k, ok = 0;
    double t0;

    for (k = 0; k < n / 10 + 1; k++)
        ok += verify(body, len, header, key, key_len);
    t0 = cpu_seconds();
    for (k = 0; k < n; k++)
        ok += verify(body, len, header, key, key_len);
    t0 = cpu_seconds() - t0;
    if (ok != n + n / 10 + 1)
        die("a check failed");
    return t0 / (double)n * 1e9;
}

int main(int argc, char **argv)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char header[129];
    const char *key = getenv("BENCH_WEBHOOK_KEY");
    unsigned char *body;
    size_t len, key_len, i;
    long n;
    double hmac_ns, evp_ns;
    EVP_MAC *hmac;
    OSSL_PARAM params[2];

    if (argc != 3 || key == NULL || key[0] == '\0')
        die("usage: BENCH_WEBHOOK_KEY=... c_hmac BODY_FILE ITERATIONS");
    body = read_file(argv[1], &len);
    n = strtol(argv[2], NULL, 10);
    key_len = strlen(key);

    /* The header Allawee would send. */
    if (HMAC(EVP_sha512(), key, (int)key_len, body, len, mac, &mac_len) == NULL || mac_len != 64)
        die("HMAC failed");
    for (i = 0; i < 64; i++) {
        header[2 * i] = hex[mac[i] >> 4];
        header[2 * i + 1] = hex[mac[i] & 15];
    }
    header[128] = '\0';

    evp_ctx = NULL;
    hmac_ns = time_checks(n, body, len, header, key, key_len);

    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    evp_ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA512", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (evp_ctx == NULL || !EVP_MAC_CTX_set_params(evp_ctx, params))
        die("EVP_MAC HMAC/SHA512 is not available");
    evp_ns = time_checks(n, body, len, header, key, key_len);
    EVP_MAC_CTX_free(evp_ctx);
    EVP_MAC_free(hmac);

    printf("RESULT name=openssl_verify iterations=%ld hmac_ns=%.1f evp_ns=%.1f body_bytes=%zu\n",
           n, hmac_ns, evp_ns, len);
    free(body);
    return 0;
}
