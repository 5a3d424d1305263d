/*
 * http_head.c: an HTTP/1.x response head, for transports written in Lua
 * (allawee.openresty reads the bytes; call:head hands them here).
 *
 * Splitting the head into lines and fields in Lua made about a dozen
 * strings and a table per answer; here it is one pass over bytes the
 * transport already holds, and only the fields the engine and the framing
 * need come back. The rules are those of allawee.openresty's line reader,
 * which still parses the heads this one hands back ("complex"): lines end
 * at LF with one CR before it dropped, a status line starts
 * "HTTP/<d>.<d> <ddd>", a field is "name: value" with no whitespace in the
 * name and the whitespace around the value dropped, names compare without
 * case.
 */
#include <string.h>

#include "internal.h"

static const struct {
    const char *name;
    size_t len;
} wanted[AX_HEAD_FIELDS] = {
    [AX_HEAD_TRANSFER_ENCODING] = { "transfer-encoding", 17 },
    [AX_HEAD_CONTENT_LENGTH] = { "content-length", 14 },
    [AX_HEAD_CONNECTION] = { "connection", 10 },
    [AX_HEAD_RETRY_AFTER] = { "retry-after", 11 },
    [AX_HEAD_REQUEST_ID] = { "x-request-id", 12 },
    [AX_HEAD_CONTENT_TYPE] = { "content-type", 12 },
};

static int is_space(unsigned char b)   /* what Lua's %s matches */
{
    return b == ' ' || (b >= '\t' && b <= '\r');
}

static int is_digit(unsigned char b)
{
    return b >= '0' && b <= '9';
}

static int lower(unsigned char b)
{
    return b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b;
}

static int same_name(const char *p, size_t len, const char *name)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (lower((unsigned char)p[i]) != (unsigned char)name[i])
            return 0;
    return 1;
}

size_t ax_http_head_end(const char *p, size_t len, size_t from)
{
    const char *nl;

    while (from < len && (nl = memchr(p + from, '\n', len - from)) != NULL) {
        size_t at = (size_t)(nl - p) + 1;          /* the byte after this LF */
        if (at < len && p[at] == '\n')
            return at + 1;
        if (at + 1 < len && p[at] == '\r' && p[at + 1] == '\n')
            return at + 2;
        from = at;
    }
    return 0;
}

/* One line of p[0..len) from *at: its start and length without the line
 * end; *at moves past it. 0 when no LF is left. */
static int next_line(const char *p, size_t len, size_t *at, const char **line, size_t *n)
{
    const char *nl = *at < len ? memchr(p + *at, '\n', len - *at) : NULL;
    size_t end;

    if (nl == NULL)
        return 0;
    end = (size_t)(nl - p);
    *line = p + *at;
    *n = end - *at;
    if (*n > 0 && (*line)[*n - 1] == '\r')
        (*n)--;
    *at = end + 1;
    return 1;
}

static int status_line(const char *s, size_t n, ax_http_head *out)
{
    const unsigned char *u = (const unsigned char *)s;

    if (n < 12 || memcmp(s, "HTTP/", 5) != 0 || !is_digit(u[5]) || u[6] != '.' ||
        !is_digit(u[7]) || u[8] != ' ' || !is_digit(u[9]) || !is_digit(u[10]) ||
        !is_digit(u[11]))
        return 0;
    out->version = (u[5] - '0') * 10 + (u[7] - '0');
    out->status = (u[9] - '0') * 100 + (u[10] - '0') * 10 + (u[11] - '0');
    return 1;
}

/* "name: value": the name (no whitespace in it, not empty) and the value
 * without the whitespace around it; 0 when the line is not a field. */
static int field_line(const char *line, size_t n, size_t *name_len, const char **value,
                      size_t *value_len)
{
    const char *colon = memchr(line, ':', n);
    size_t i;

    if (colon == NULL || colon == line)
        return 0;
    *name_len = (size_t)(colon - line);
    for (i = 0; i < *name_len; i++)
        if (is_space((unsigned char)line[i]))
            return 0;
    *value = colon + 1;
    *value_len = n - *name_len - 1;
    while (*value_len > 0 && is_space((unsigned char)(*value)[0])) {
        (*value)++;
        (*value_len)--;
    }
    while (*value_len > 0 && is_space((unsigned char)(*value)[*value_len - 1]))
        (*value_len)--;
    return 1;
}

static int folded(const char *line, size_t n)
{
    return n > 0 && (line[0] == ' ' || line[0] == '\t');
}

const char *ax_http_head_check(const char *p, size_t len, size_t from, size_t *next,
                               size_t *fields)
{
    size_t at = from, n, name_len, value_len, status_end = 0;
    const char *line, *value, *nl;

    *next = from;
    *fields = 0;
    if (from > 0) {          /* the status line was checked: where it ends */
        nl = memchr(p, '\n', from);
        status_end = nl != NULL ? (size_t)(nl - p) + 1 : from;
    }
    while (next_line(p, len, &at, &line, &n)) {
        if (*next == 0) {
            ax_http_head h;
            if (!status_line(line, n, &h))
                return "bad status line";
            status_end = at;
        } else {
            /* a folded line continues the field before it, if there is one */
            if (!(folded(line, n) && *next > status_end) &&
                !field_line(line, n, &name_len, &value, &value_len))
                return "bad header line";
            (*fields)++;
        }
        *next = at;
    }
    return NULL;
}

const char *ax_http_head_parse(const char *p, size_t len, size_t max_fields,
                               ax_http_head *out)
{
    size_t at = 0, count = 0, n, i, name_len, value_len;
    const char *line, *value;
    int have_last = 0;

    memset(out, 0, sizeof *out);
    if (!next_line(p, len, &at, &line, &n) || !status_line(line, n, out))
        return "bad status line";
    while (next_line(p, len, &at, &line, &n)) {
        if (n == 0)
            return at == len ? NULL : "bad header line";   /* the head's end */
        if (++count > max_fields)
            return "too large";
        if (folded(line, n) && have_last)
            return "complex";                  /* obsolete line folding */
        if (!field_line(line, n, &name_len, &value, &value_len))
            return "bad header line";
        have_last = 1;
        for (i = 0; i < AX_HEAD_FIELDS; i++) {
            if (wanted[i].len == name_len && same_name(line, name_len, wanted[i].name)) {
                if (out->field[i].p != NULL)
                    return "complex";          /* repeated: joined by the reader */
                out->field[i].p = value;
                out->field[i].len = value_len;
                break;
            }
        }
    }
    return "bad header line";                  /* no empty line: not a whole head */
}
