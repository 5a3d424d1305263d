/* buffer.c: the growable byte buffer used for request and response bodies. */
#include <stdlib.h>

#include "internal.h"

void ax_buf_init(ax_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void ax_buf_free(ax_buf *b)
{
    free(b->data);
    ax_buf_init(b);
}

/* Makes room for `extra` more bytes; doubling keeps appends amortised O(1). */
int ax_buf_grow(ax_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return 0;
    if (extra > SIZE_MAX - b->len) {
        b->oom = 1;
        return 0;
    }
    need = b->len + extra;
    if (need <= b->cap)
        return 1;
    /* 1 KiB holds a typical create body and answer (~0.6 and ~0.8 KiB)
     * in one allocation, without the 256 -> 512 -> 1024 reallocs. */
    cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void ax_buf_put_integer(ax_buf *b, long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    ax_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}
