/*
 * random.c: bytes from the operating system's random source, for
 * idempotency keys (UUID v4) and retry jitter.
 *
 * The source is chosen at compile time, best first:
 *
 *   getrandom(2)       Linux with glibc >= 2.25: a system call, no file
 *                      descriptor, never blocks once the kernel is seeded
 *   arc4random_buf(3)  macOS, FreeBSD, OpenBSD, NetBSD, DragonFly: the
 *                      kernel-seeded generator of libc; cannot fail
 *   /dev/urandom       any other POSIX system (musl, older glibc, ...):
 *                      opened per refill with O_CLOEXEC, reads retried on
 *                      EINTR, a short read or EOF is a failure
 *
 * getentropy(3) (glibc >= 2.25, macOS >= 10.12, OpenBSD, FreeBSD >= 12) is
 * a fourth, chosen only on request. -DAX_RANDOM_SOURCE=AX_RANDOM_<NAME>
 * forces any of them; `make random-check` builds and tests each one on this
 * machine (glibc 2.36 has all four). core.random_source names the one
 * compiled in.
 */
#include <errno.h>
#include <stdlib.h>     /* also brings <features.h>, for __GLIBC__ */

#define AX_RANDOM_GETRANDOM  1
#define AX_RANDOM_ARC4RANDOM 2
#define AX_RANDOM_GETENTROPY 3
#define AX_RANDOM_URANDOM    4

#ifndef AX_RANDOM_SOURCE
#if defined(__linux__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
#define AX_RANDOM_SOURCE AX_RANDOM_GETRANDOM
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#define AX_RANDOM_SOURCE AX_RANDOM_ARC4RANDOM
#else
#define AX_RANDOM_SOURCE AX_RANDOM_URANDOM
#endif
#endif

#if AX_RANDOM_SOURCE == AX_RANDOM_GETRANDOM
#include <sys/random.h>
#elif AX_RANDOM_SOURCE == AX_RANDOM_GETENTROPY
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/random.h>  /* macOS declares getentropy here */
#endif
#elif AX_RANDOM_SOURCE == AX_RANDOM_URANDOM
#include <fcntl.h>
#include <unistd.h>
#ifndef O_CLOEXEC
#define O_CLOEXEC 0      /* pre-POSIX-2008 systems: no close-on-exec flag */
#endif
#elif AX_RANDOM_SOURCE != AX_RANDOM_ARC4RANDOM
#error "AX_RANDOM_SOURCE must be one of AX_RANDOM_GETRANDOM, AX_RANDOM_ARC4RANDOM, AX_RANDOM_GETENTROPY, AX_RANDOM_URANDOM"
#endif

#include "internal.h"

#if AX_RANDOM_SOURCE == AX_RANDOM_GETRANDOM

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

const char *ax_random_source(void) { return "getrandom"; }

#elif AX_RANDOM_SOURCE == AX_RANDOM_ARC4RANDOM

int ax_random_bytes(void *buf, size_t n)
{
    arc4random_buf(buf, n);
    return 1;
}

const char *ax_random_source(void) { return "arc4random_buf"; }

#elif AX_RANDOM_SOURCE == AX_RANDOM_GETENTROPY

int ax_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        size_t chunk = n > 256 ? 256 : n;   /* getentropy's limit per call */
        if (getentropy(p, chunk) != 0)
            return 0;
        p += chunk;
        n -= chunk;
    }
    return 1;
}

const char *ax_random_source(void) { return "getentropy"; }

#else /* AX_RANDOM_URANDOM */

/* Opened per call (a refill serves 16 keys), so no descriptor is kept: a
 * fork or a host that closes every descriptor cannot leave a stale one. */
int ax_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    int fd, ok = 1;

    do
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return 0;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {          /* an error, or EOF: not a random device */
            ok = 0;
            break;
        }
        p += got;
        n -= (size_t)got;
    }
    close(fd);
    return ok;
}

const char *ax_random_source(void) { return "/dev/urandom"; }

#endif

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
