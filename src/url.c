/*
 * url.c: the URL rules, in one place for both transports.
 *
 *   ax_url_parse       a base URL (base_url, secure_base_url): https, or http
 *                      only to a loopback literal or localhost; a host libcurl
 *                      and nginx can both use; a port 1-65535; a plain path
 *   ax_url_append_pct  RFC 3986 percent-encoding (unreserved bytes kept)
 *   ax_path_param_problem  what makes an id unusable in a path
 *
 * Pure C: no Lua, no allocation but the caller's buffer.
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "internal.h"

/* RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" */
static int is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 3.3 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@" */
static int is_path_char(unsigned char c)
{
    return is_unreserved(c) || strchr("!$&'()*+,;=:@", c) != NULL;
}

void ax_url_append_pct(ax_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, run = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && is_unreserved(c))
            continue;
        ax_buf_append(b, s + run, i - run);
        ax_buf_putc(b, '%');
        ax_buf_putc(b, hex[c >> 4]);
        ax_buf_putc(b, hex[c & 15]);
        run = i + 1;
    }
    ax_buf_append(b, s + run, len - run);
}

const char *ax_path_param_problem(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return "must not be empty";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return "must not contain a control character";
        if (c == '/')
            return "must not contain '/'";
        if (c == '.' && i + 1 < len && s[i + 1] == '.')
            return "must not contain '..'";
    }
    return NULL;
}

/* A literal path for client:request: starts with '/', RFC 3986 path
 * characters (percent-escapes included), no empty, '.' or '..' segment. */
const char *ax_path_problem(const char *s, size_t len)
{
    size_t i, seg = 1;

    if (len == 0 || s[0] != '/')
        return "must start with '/'";
    for (i = 1; i <= len; i++) {
        if (i == len || s[i] == '/') {
            size_t n = i - seg;
            if (n == 0 && i < len)
                return "must not contain an empty segment ('//')";
            if ((n == 1 && s[seg] == '.') || (n == 2 && s[seg] == '.' && s[seg + 1] == '.'))
                return "must not contain a '.' or '..' segment";
            seg = i + 1;
            continue;
        }
        if (s[i] == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2]))
                return "has a '%' that is not a percent-escape";
            i += 2;
        } else if ((unsigned char)s[i] >= 0x80 || !is_path_char((unsigned char)s[i])) {
            return "may only contain RFC 3986 path characters (percent-encode the rest; "
                   "the query goes in args.query)";
        }
    }
    return NULL;
}

/* 0-255 written without leading zeros: "127.0.0.01" would be octal to some
 * resolvers, so it is not a loopback literal here. */
static int decimal_octet(const char *s, size_t len)
{
    size_t i;
    int v = 0;

    if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 255 ? v : -1;
}

static int is_ipv4(const char *h, size_t len, int *first)
{
    size_t i, start = 0;
    int parts = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || h[i] == '.') {
            int v = decimal_octet(h + start, i - start);
            if (v < 0)
                return 0;
            if (parts == 0)
                *first = v;
            parts++;
            start = i + 1;
        }
    }
    return parts == 4;
}

int ax_host_is_loopback(const char *h, size_t len)
{
    int first = -1;

    if (len == 9 && strncasecmp(h, "localhost", 9) == 0)
        return 1;
    if (len == 5 && memcmp(h, "[::1]", 5) == 0)
        return 1;
    return is_ipv4(h, len, &first) && first == 127;
}

/* A DNS name (RFC 1123 labels, '_' tolerated), an IPv4 literal, or an
 * IPv6 literal in brackets. */
static int valid_host(const char *h, size_t len)
{
    size_t i, label = 0;

    if (len == 0 || len > 253 + 2)
        return 0;
    if (h[0] == '[') {
        if (len < 4 || h[len - 1] != ']')
            return 0;
        for (i = 1; i + 1 < len; i++)
            if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
                return 0;
        return memchr(h, ':', len) != NULL;
    }
    for (i = 0; i <= len; i++) {
        if (i == len || h[i] == '.') {
            size_t n = i - label;
            if (n == 0 || n > 63 || h[label] == '-' || h[i - 1] == '-')
                return 0;
            label = i + 1;
        } else if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_') {
            return 0;
        }
    }
    return 1;
}

const char *ax_url_parse(const char *url, size_t len, ax_url *out)
{
    const char *p = url, *end = url + len, *host, *host_end, *port_at, *path;
    size_t n;

    memset(out, 0, sizeof *out);
    if (len == 0)
        return "must not be empty (leave it out for the default)";
    if (strlen(url) != len)
        return "must not contain a NUL byte";
    if (len > 7 && strncasecmp(url, "https://", 8) == 0) {
        out->https = 1;
        p += 8;
    } else if (len > 6 && strncasecmp(url, "http://", 7) == 0) {
        p += 7;
    } else {
        return "must start with https:// (or http:// for loopback)";
    }
    for (n = 0; n < len; n++)
        if ((unsigned char)url[n] <= 0x20 || (unsigned char)url[n] >= 0x7f)
            return "must not contain spaces, control characters or non-ASCII bytes";
    if (memchr(url, '?', len) != NULL || memchr(url, '#', len) != NULL)
        return "must not have a query or a fragment";
    host = p;
    path = host;
    while (path < end && *path != '/')
        path++;
    if (memchr(host, '@', (size_t)(path - host)) != NULL)
        return "must not carry credentials";
    if (host < path && *host == '[') {
        host_end = memchr(host, ']', (size_t)(path - host));
        host_end = host_end != NULL ? host_end + 1 : path;
        port_at = host_end;
    } else {
        port_at = memchr(host, ':', (size_t)(path - host));
        if (port_at == NULL)
            port_at = path;
        host_end = port_at;
    }
    if (host_end == host)
        return "has no host";
    n = (size_t)(host_end - host);
    if (n >= sizeof out->host || !valid_host(host, n))
        return "has a host that is not a DNS name or an IP literal";
    memcpy(out->host, host, n);
    out->host[n] = '\0';
    if (port_at < path) {
        long port = 0;
        const char *d = port_at + 1;
        if (*port_at != ':' || d == path || path - d > 5)
            return "has a port that is not a number from 1 to 65535";
        for (; d < path; d++) {
            if (!isdigit((unsigned char)*d))
                return "has a port that is not a number from 1 to 65535";
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535)
            return "has a port that is not a number from 1 to 65535";
        out->port = port;
        out->has_port = 1;
    } else {
        out->port = out->https ? 443 : 80;
    }
    while (end > path && end[-1] == '/')
        end--;   /* trailing slashes: the endpoint path brings its own */
    if (path < end && ax_path_problem(path, (size_t)(end - path)) != NULL)
        return "has a path with characters that need percent-encoding, or a '.'/'..' segment";
    out->path = path;
    out->path_len = (size_t)(end - path);
    out->base_len = (size_t)(end - url);
    out->loopback = ax_host_is_loopback(out->host, strlen(out->host));
    if (!out->https && !out->loopback)
        return "may use plain http:// only for loopback (127.0.0.0/8, [::1], localhost); "
               "use https://";
    return NULL;
}
