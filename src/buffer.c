/* buffer.c: the growable byte buffer used for request and response bodies. */
#include <stdlib.h>
#include <string.h>

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

void *ax_alloc_or_raise(lua_State *L, size_t size)
{
    void *p = calloc(1, size);

    if (p == NULL) {
        luaL_error(L, "allawee: out of memory");
        abort();   /* not reached: luaL_error does not return */
    }
    return p;
}
