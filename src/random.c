/*
 * random.c: bytes from the operating system's random source, for
 * idempotency keys (UUID v4) and retry jitter.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

#include "internal.h"

int ax_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        p += got;
        n -= (size_t)got;
    }
    return 1;
}

/* Keys come from a per-client pool refilled 256 bytes at a time: one
 * getrandom(2) call serves 16 keys. Per client, so threads share nothing. */
int ax_uuid4(ax_random_pool *pool, char out[37])
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    int i, o = 0;

    if (pool->left < sizeof b) {
        /* Refusing to send is better than sending a predictable key. */
        if (!ax_random_bytes(pool->bytes, sizeof pool->bytes))
            return 0;
        pool->left = sizeof pool->bytes;
    }
    pool->left -= sizeof b;
    memcpy(b, pool->bytes + pool->left, sizeof b);
    memset(pool->bytes + pool->left, 0, sizeof b);   /* each byte used once */
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);   /* RFC 4122 variant */
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 1;
}
