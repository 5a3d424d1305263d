/*
 * fuzz_http_head.c: libFuzzer target for http_head.c, the parser behind
 * call:head (answer heads read by transports written in Lua, such as
 * allawee.openresty's cosockets): any bytes, whole or cut anywhere.
 *
 * Checks, beyond ASan/UBSan:
 *   - the end found is inside the input, right after an empty line;
 *   - the transport's resume protocol: for every cut of the input where no
 *     end is found, searching the whole input again from the cut minus 2
 *     (what call:head returns as `scanned`) finds the same end;
 *   - a parsed head has a status and version of 3 and 2 digits, and every
 *     field lies inside the head with no whitespace around it;
 *   - parsing bytes that are not a whole head never reads past them.
 * No Lua state: the parser is plain C.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"

static int is_space(unsigned char b)
{
    return b == ' ' || (b >= '\t' && b <= '\r');
}

static void check_parsed(const char *p, size_t len, const ax_http_head *h)
{
    int i;

    if (h->status < 0 || h->status > 999 || h->version < 0 || h->version > 99)
        abort();
    for (i = 0; i < AX_HEAD_FIELDS; i++) {
        const char *f = h->field[i].p;
        size_t n = h->field[i].len;
        if (f == NULL)
            continue;
        if (f < p || f > p + len || n > (size_t)(p + len - f))
            abort();
        if (n > 0 && (is_space((unsigned char)f[0]) || is_space((unsigned char)f[n - 1])))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly `size` bytes, so ASan sees any read past them */
    char *p = malloc(size > 0 ? size : 1);
    size_t end, cut;
    ax_http_head h;
    const char *why;

    if (p == NULL)
        return 0;
    if (size > 0)
        memcpy(p, data, size);
    end = ax_http_head_end(p, size, 0);
    if (end != 0) {
        if (end > size || end < 2 || p[end - 1] != '\n')
            abort();
        if (p[end - 2] != '\n' && !(end >= 3 && p[end - 2] == '\r' && p[end - 3] == '\n'))
            abort();
    }
    for (cut = 0; cut <= size; cut += 1 + cut / 64) {
        if (ax_http_head_end(p, cut, 0) != 0)
            continue;
        if (ax_http_head_end(p, size, cut > 2 ? cut - 2 : 0) != end)
            abort();
    }
    if (end != 0) {
        why = ax_http_head_parse(p, end, 200, &h);
        if (why == NULL)
            check_parsed(p, end, &h);
    }
    why = ax_http_head_parse(p, size, 8, &h);
    if (why == NULL)
        check_parsed(p, size, &h);
    free(p);
    return 0;
}
