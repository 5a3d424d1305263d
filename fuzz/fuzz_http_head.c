/*
 * fuzz_http_head.c: libFuzzer target for http_head.c, the parser behind
 * call:head (answer heads read by transports written in Lua, such as
 * allawee.openresty's cosockets): any bytes, whole or cut anywhere.
 *
 * Checks, beyond ASan/UBSan:
 *   - the end found is inside the input, right after the first empty line;
 *   - the transport's resume protocol: for cuts of the input (every byte
 *     up to 64, then sparser) where no end is found and the complete lines
 *     check out, searching the whole input from where the check stopped
 *     minus 1 (what call:head does with the `scanned` it returned) finds
 *     the same end;
 *   - a bad line found early is the reason the whole head is refused for
 *     (or the head goes to the line reader, which meets the same line);
 *   - a parsed head has a status of 3 digits, and every field lies inside
 *     the head with no whitespace around it;
 *   - checking or parsing bytes that are not a whole head never reads past
 *     them.
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

    if (h->status < 0 || h->status > 999)
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
    if (end != 0 && ax_http_head_end(p, end - 1, 0) != 0)
        abort();                               /* not the first empty line */
    for (cut = 0; cut <= size; cut += 1 + cut / 64) {
        size_t next, fields;
        if (ax_http_head_end(p, cut, 0) != 0)
            continue;
        why = ax_http_head_check(p, cut, 0, &next, &fields);
        if (next > cut)
            abort();
        if (why != NULL) {
            /* the whole head is refused for it, or handed to the line
             * reader ("complex"), which meets the same bad line */
            const char *whole = end != 0 ? ax_http_head_parse(p, end, (size_t)-1, &h) : NULL;
            if (end != 0 && (whole == NULL ||
                             (strcmp(whole, why) != 0 && strcmp(whole, "complex") != 0)))
                abort();
            continue;
        }
        if (ax_http_head_end(p, size, next > 0 ? next - 1 : 0) != end)
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
