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

int ax_uuid4(char out[37])
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    int i, o = 0;

    /* Refusing to send is better than sending a predictable key. */
    if (!ax_random_bytes(b, sizeof b))
        return 0;
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
