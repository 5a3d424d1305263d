/*
 * sha512.c: SHA-512 (FIPS 180-4, section 6.4) and HMAC-SHA-512 (RFC 2104),
 * for the Allawee-Signature header of webhooks (webhooks.c).
 *
 * Plain C99, no libcrypto: the module links libcurl only, and a webhook
 * body is a few KiB, so a portable implementation is fast enough (make
 * bench compares it with OpenSSL's). Words are assembled byte by byte
 * (no unaligned loads, no dependence on the host's byte order; compilers
 * turn the pattern into one load and a byte swap), and every shift is on
 * a uint64_t by 1..63 bits (nothing reaches a sign bit).
 *
 * Proved against FIPS 180-4's examples and RFC 4231's HMAC test cases in
 * spec/webhooks_spec.lua, and against `openssl mac` for random inputs.
 */
#include <string.h>

#include "sha512.h"

/* FIPS 180-4, 4.2.3: the first 64 bits of the fractional parts of the cube
 * roots of the first eighty primes. */
static const uint64_t K[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL
};

/* FIPS 180-4, 5.3.5: the initial hash value. */
static const uint64_t H0[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))
#define BSIG0(x) (ROTR((x), 28) ^ ROTR((x), 34) ^ ROTR((x), 39))
#define BSIG1(x) (ROTR((x), 14) ^ ROTR((x), 18) ^ ROTR((x), 41))
#define SSIG0(x) (ROTR((x), 1) ^ ROTR((x), 8) ^ ((x) >> 7))
#define SSIG1(x) (ROTR((x), 19) ^ ROTR((x), 61) ^ ((x) >> 6))
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))

static uint64_t load64(const unsigned char *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

static void store64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* One round (FIPS 180-4, 6.4.2 step 3) with the eight working variables
 * named in rotated order, so no variable is ever copied into another.
 * k is the round number; j = k mod 16 is a constant at every use, so the
 * 16-word ring of the message schedule (step 1) has fixed slots. */
#define ROUND(a, b, c, d, e, f, g, h, k, j) do {                          \
        uint64_t t1_ = (h) + BSIG1(e) + CH((e), (f), (g)) + K[(k) + (j)] + w[j]; \
        (d) += t1_;                                                        \
        (h) = t1_ + BSIG0(a) + MAJ((a), (b), (c));                         \
    } while (0)

/* Rounds 16..79: the next schedule word first, in the slot of w[j - 16]. */
#define SROUND(a, b, c, d, e, f, g, h, k, j) do {                              \
        w[j] += SSIG1(w[((j) + 14) & 15]) + w[((j) + 9) & 15] + SSIG0(w[((j) + 1) & 15]); \
        ROUND(a, b, c, d, e, f, g, h, k, j);                                   \
    } while (0)

#define SIXTEEN(R, k) do {                               \
        R(a, b, c, d, e, f, g, h, (k), 0);               \
        R(h, a, b, c, d, e, f, g, (k), 1);               \
        R(g, h, a, b, c, d, e, f, (k), 2);               \
        R(f, g, h, a, b, c, d, e, (k), 3);               \
        R(e, f, g, h, a, b, c, d, (k), 4);               \
        R(d, e, f, g, h, a, b, c, (k), 5);               \
        R(c, d, e, f, g, h, a, b, (k), 6);               \
        R(b, c, d, e, f, g, h, a, (k), 7);               \
        R(a, b, c, d, e, f, g, h, (k), 8);               \
        R(h, a, b, c, d, e, f, g, (k), 9);               \
        R(g, h, a, b, c, d, e, f, (k), 10);              \
        R(f, g, h, a, b, c, d, e, (k), 11);              \
        R(e, f, g, h, a, b, c, d, (k), 12);              \
        R(d, e, f, g, h, a, b, c, (k), 13);              \
        R(c, d, e, f, g, h, a, b, (k), 14);              \
        R(b, c, d, e, f, g, h, a, (k), 15);              \
    } while (0)

static void compress(uint64_t state[8], const unsigned char *p, size_t nblocks)
{
    uint64_t w[16];
    size_t i;

    while (nblocks-- > 0) {
        uint64_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint64_t e = state[4], f = state[5], g = state[6], h = state[7];

        for (i = 0; i < 16; i++)
            w[i] = load64(p + 8 * i);
        SIXTEEN(ROUND, 0);
        for (i = 16; i < 80; i += 16)
            SIXTEEN(SROUND, i);
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
        p += AX_SHA512_BLOCK;
    }
    /* The schedule of an HMAC pad block is the key: leave none of it. */
    ax_wipe(w, sizeof w);
}

void ax_sha512_init(ax_sha512_ctx *c)
{
    memcpy(c->h, H0, sizeof c->h);
    c->bytes = 0;
    c->used = 0;
}

void ax_sha512_update(ax_sha512_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;

    c->bytes += (uint64_t)len;
    if (c->used > 0) {
        size_t take = AX_SHA512_BLOCK - c->used;
        if (take > len)
            take = len;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used < AX_SHA512_BLOCK)
            return;
        compress(c->h, c->block, 1);
        c->used = 0;
    }
    if (len >= AX_SHA512_BLOCK) {
        size_t n = len / AX_SHA512_BLOCK;
        compress(c->h, p, n);
        p += n * AX_SHA512_BLOCK;
        len -= n * AX_SHA512_BLOCK;
    }
    if (len > 0) {
        memcpy(c->block, p, len);
        c->used = len;
    }
}

void ax_sha512_final(ax_sha512_ctx *c, unsigned char out[AX_SHA512_DIGEST])
{
    size_t i;

    /* 5.1.2: a 1 bit, zeros, then the length in bits as 128 bits. */
    c->block[c->used++] = 0x80;
    if (c->used > AX_SHA512_BLOCK - 16) {
        memset(c->block + c->used, 0, AX_SHA512_BLOCK - c->used);
        compress(c->h, c->block, 1);
        c->used = 0;
    }
    memset(c->block + c->used, 0, AX_SHA512_BLOCK - 16 - c->used);
    store64(c->block + AX_SHA512_BLOCK - 16, c->bytes >> 61);
    store64(c->block + AX_SHA512_BLOCK - 8, c->bytes << 3);
    compress(c->h, c->block, 1);
    for (i = 0; i < 8; i++)
        store64(out + 8 * i, c->h[i]);
    ax_wipe(c, sizeof *c);
}

void ax_sha512(const void *data, size_t len, unsigned char out[AX_SHA512_DIGEST])
{
    ax_sha512_ctx c;

    ax_sha512_init(&c);
    ax_sha512_update(&c, data, len);
    ax_sha512_final(&c, out);
}

/* RFC 2104: H(K0 ^ opad, H(K0 ^ ipad, text)). */
void ax_hmac_sha512(const void *key, size_t key_len, const void *data, size_t len,
                    unsigned char out[AX_SHA512_DIGEST])
{
    unsigned char k0[AX_SHA512_BLOCK], pad[AX_SHA512_BLOCK], inner[AX_SHA512_DIGEST];
    ax_sha512_ctx c;
    size_t i;

    memset(k0, 0, sizeof k0);
    if (key_len > AX_SHA512_BLOCK)
        ax_sha512(key, key_len, k0);
    else if (key_len > 0)
        memcpy(k0, key, key_len);

    for (i = 0; i < AX_SHA512_BLOCK; i++)
        pad[i] = (unsigned char)(k0[i] ^ 0x36);
    ax_sha512_init(&c);
    ax_sha512_update(&c, pad, sizeof pad);
    ax_sha512_update(&c, data, len);
    ax_sha512_final(&c, inner);

    for (i = 0; i < AX_SHA512_BLOCK; i++)
        pad[i] = (unsigned char)(k0[i] ^ 0x5c);
    ax_sha512_init(&c);
    ax_sha512_update(&c, pad, sizeof pad);
    ax_sha512_update(&c, inner, sizeof inner);
    ax_sha512_final(&c, out);      /* wipes c */

    ax_wipe(k0, sizeof k0);
    ax_wipe(pad, sizeof pad);
    ax_wipe(inner, sizeof inner);
}

void ax_wipe(void *p, size_t n)
{
#if defined(__GLIBC__) && defined(__USE_MISC) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
    explicit_bzero(p, n);
#else
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
#endif
}

int ax_equal_ct(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned diff = 0;
    size_t i;

    for (i = 0; i < n; i++)
        diff |= (unsigned)(x[i] ^ y[i]);
    /* diff is 0..255: 1 when it is 0, without a branch on it. */
    return (int)(1u & ((diff - 1u) >> 8));
}
