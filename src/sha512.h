/*
 * sha512.h: SHA-512 (FIPS 180-4) and HMAC-SHA-512 (RFC 2104), for the
 * webhook signatures (webhooks.c). Self-contained: no libcrypto, so the
 * module keeps libcurl as its only link dependency.
 */
#ifndef ALLAWEE_SHA512_H
#define ALLAWEE_SHA512_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define AX_SHA512_BLOCK 128
#define AX_SHA512_DIGEST 64

typedef struct ax_sha512_ctx {
    uint64_t h[8];
    uint64_t bytes;                       /* message length so far (< 2^64 bytes) */
    unsigned char block[AX_SHA512_BLOCK]; /* a partial block */
    size_t used;                          /* bytes of `block` in use */
} ax_sha512_ctx;

void ax_sha512_init(ax_sha512_ctx *c);
void ax_sha512_update(ax_sha512_ctx *c, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void ax_sha512_final(ax_sha512_ctx *c, unsigned char out[AX_SHA512_DIGEST]);

void ax_sha512(const void *data, size_t len, unsigned char out[AX_SHA512_DIGEST]);

/* HMAC-SHA-512 of data under key (any length, any bytes; a key longer than
 * a block is hashed first). Every key-derived byte on the stack is wiped
 * before it returns. */
void ax_hmac_sha512(const void *key, size_t key_len, const void *data, size_t len,
                    unsigned char out[AX_SHA512_DIGEST]);

/* Overwrites n bytes at p in a way the compiler may not drop. */
void ax_wipe(void *p, size_t n);

/* 1 when a and b (n bytes each) are equal. Looks at every byte whatever
 * they hold: the time taken does not depend on where they differ. */
int ax_equal_ct(const void *a, const void *b, size_t n);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
