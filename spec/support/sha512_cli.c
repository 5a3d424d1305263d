/*
 * spec/support/sha512_cli.c: src/sha512.c on its own, for
 * spec/webhooks_spec.lua (the module exposes HMAC only, through
 * allawee.webhooks.sign; SHA-512's own vectors need the hash itself).
 *
 *   sha512_cli sha512 CHUNK [FILE...]     hex SHA-512 of each file (or stdin)
 *   sha512_cli hmac KEYHEX < data         hex HMAC-SHA-512 of stdin
 *   sha512_cli equal HEX1 HEX2            "1" or "0" (ax_equal_ct)
 *
 * CHUNK: the sizes of the ax_sha512_update calls (the input is read whole,
 * then fed in pieces of CHUNK bytes), to exercise partial blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha512.h"

static unsigned char *read_all(FILE *in, size_t *len)
{
    size_t cap = 1 << 16, n;
    unsigned char *buf = malloc(cap);

    *len = 0;
    while (buf != NULL && (n = fread(buf + *len, 1, cap - *len, in)) > 0) {
        *len += n;
        if (*len == cap) {
            unsigned char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    return buf;
}

static size_t from_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned v;

    while (hex[0] != '\0' && hex[1] != '\0' && n < cap && sscanf(hex, "%2x", &v) == 1) {
        out[n++] = (unsigned char)v;
        hex += 2;
    }
    return n;
}

static void print_hex(const unsigned char *d, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        printf("%02x", d[i]);
    printf("\n");
}

/* SHA-512 of data, fed in pieces of `chunk` bytes. */
static void sha512_chunked(const unsigned char *data, size_t len, size_t chunk,
                           unsigned char digest[AX_SHA512_DIGEST])
{
    ax_sha512_ctx c;
    size_t off = 0;

    ax_sha512_init(&c);
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        ax_sha512_update(&c, data + off, n);
        off += n;
    } while (off < len);
    ax_sha512_final(&c, digest);
}

int main(int argc, char **argv)
{
    unsigned char digest[AX_SHA512_DIGEST];
    unsigned char *data;
    size_t len;
    int i;

    if (argc == 4 && strcmp(argv[1], "equal") == 0) {
        unsigned char a[256], b[256];
        size_t na = from_hex(argv[2], a, sizeof a), nb = from_hex(argv[3], b, sizeof b);
        printf("%d\n", na == nb && ax_equal_ct(a, b, na));
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "sha512") == 0) {
        size_t chunk = (size_t)strtoul(argv[2], NULL, 10);
        for (i = 3; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (f == NULL)
                return 1;
            data = read_all(f, &len);
            fclose(f);
            if (data == NULL)
                return 1;
            sha512_chunked(data, len, chunk > 0 ? chunk : 1, digest);
            print_hex(digest, sizeof digest);
            free(data);
        }
        return 0;
    }
    if (argc != 3)
        return 2;
    data = read_all(stdin, &len);
    if (data == NULL)
        return 1;
    if (strcmp(argv[1], "sha512") == 0) {
        size_t chunk = (size_t)strtoul(argv[2], NULL, 10);
        sha512_chunked(data, len, chunk > 0 ? chunk : 1, digest);
    } else if (strcmp(argv[1], "hmac") == 0) {
        size_t klen = strlen(argv[2]) / 2;
        unsigned char *key = malloc(klen + 1);
        if (key == NULL)
            return 1;
        klen = from_hex(argv[2], key, klen);
        ax_hmac_sha512(key, klen, data, len, digest);
        free(key);
    } else {
        return 2;
    }
    print_hex(digest, sizeof digest);
    free(data);
    return 0;
}
