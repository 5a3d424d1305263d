/*
 * transport.c: one HTTP attempt on a libcurl easy handle.
 *
 * The client (client.c) owns the multi handle that runs the attempts; this
 * file only knows how to set an easy handle up for a POST and how to catch
 * what comes back: the body (bounded by max_response_bytes while it streams)
 * and the three headers the SDK reads (x-request-id, content-type,
 * retry-after).
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

void ax_response_reset(ax_response *r)
{
    r->status = 0;
    r->body.len = 0;
    r->body.oom = 0;
    r->request_id[0] = '\0';
    r->content_type[0] = '\0';
    r->retry_after = -1;
    r->too_large = 0;
    r->curl_code = CURLE_OK;
    r->curl_error[0] = '\0';
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    ax_response *r = userdata;
    size_t n = size * nmemb;

    if (n > r->max_bytes - r->body.len || r->body.len > r->max_bytes) {
        r->too_large = 1;
        return 0;   /* abort the transfer: CURLE_WRITE_ERROR */
    }
    ax_buf_append(&r->body, data, n);
    return r->body.oom ? 0 : n;
}

/* Copies the header value (trimmed) into dst when `line` is `name: value`. */
static int header_value(const char *line, size_t len, const char *name,
                        char *dst, size_t cap)
{
    size_t nlen = strlen(name), i, end;

    if (len <= nlen || line[nlen] != ':')
        return 0;
    for (i = 0; i < nlen; i++)
        if (tolower((unsigned char)line[i]) != name[i])
            return 0;
    i = nlen + 1;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    end = len;
    while (end > i && isspace((unsigned char)line[end - 1]))
        end--;
    if (end - i >= cap)
        end = i + cap - 1;
    memcpy(dst, line + i, end - i);
    dst[end - i] = '\0';
    return 1;
}

/* Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3). */
static double parse_retry_after(const char *v)
{
    char *end;
    double secs = strtod(v, &end);
    time_t when;

    if (end != v && *end == '\0' && secs >= 0)
        return secs;
    when = curl_getdate(v, NULL);
    if (when == (time_t)-1)
        return -1;
    secs = difftime(when, time(NULL));
    return secs > 0 ? secs : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    ax_response *r = userdata;
    size_t n = size * nmemb;
    char value[128];

    /* NOLINTBEGIN(bugprone-branch-clone): the empty "kept" branches are on
     * purpose: a line is one header, so the first match ends the chain. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): forget the previous one's headers. */
        r->request_id[0] = '\0';
        r->content_type[0] = '\0';
        r->retry_after = -1;
    } else if (header_value(data, n, "x-request-id", r->request_id,
                            sizeof r->request_id)) {
        /* kept */
    } else if (header_value(data, n, "content-type", r->content_type,
                            sizeof r->content_type)) {
        /* kept */
    } else if (header_value(data, n, "retry-after", value, sizeof value)) {
        r->retry_after = parse_retry_after(value);
    }
    /* NOLINTEND(bugprone-branch-clone) */
    return n;
}

#define SET(opt, val)                                  \
    do {                                               \
        CURLcode rc_ = curl_easy_setopt(easy, opt, val); \
        if (rc_ != CURLE_OK)                           \
            return rc_;                                \
    } while (0)

/* What is the same for every attempt of every request of one client. An
 * easy handle is set up once, when it is created; afterwards it lives in
 * that client's idle pool, so later attempts only set what varies. */
CURLcode ax_transport_setup(CURL *easy, const ax_transport_config *cfg)
{
    SET(CURLOPT_URL, cfg->url);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_USERAGENT, cfg->user_agent);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_NOSIGNAL, 1L);          /* threads and hosts own the signals */
    SET(CURLOPT_FOLLOWLOCATION, 0L);    /* never carry the key elsewhere */
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    /* https: wait for a connection still in its handshake to tell (ALPN)
     * whether it can multiplex, instead of opening up to max_connections new
     * ones: without this, N attempts started together against an HTTP/2
     * server open N connections before libcurl learns the first speaks h2.
     * Not for http://: libcurl never does h2 there by default, but would still
     * wait for the first response's headers before opening a second one. */
    if (strncasecmp(cfg->url, "https://", 8) == 0)
        SET(CURLOPT_PIPEWAIT, 1L);
    if (cfg->ca_file != NULL)
        SET(CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->proxy != NULL)
        SET(CURLOPT_PROXY, cfg->proxy);
    return CURLE_OK;
}

/* What one attempt brings: its body, headers, response buffer and time. */
CURLcode ax_transport_attempt(CURL *easy, struct curl_slist *headers,
                              const ax_buf *body, ax_response *resp,
                              long timeout_ms, long connect_timeout_ms)
{
    ax_response_reset(resp);
    SET(CURLOPT_POSTFIELDS, body->data);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEDATA, resp);
    SET(CURLOPT_HEADERDATA, resp);
    SET(CURLOPT_ERRORBUFFER, resp->curl_error);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)resp->max_bytes);
    return CURLE_OK;
}

const char *ax_curl_code_name(CURLcode code)
{
    switch (code) {
    case CURLE_OK: return "CURLE_OK";
    case CURLE_UNSUPPORTED_PROTOCOL: return "CURLE_UNSUPPORTED_PROTOCOL";
    case CURLE_URL_MALFORMAT: return "CURLE_URL_MALFORMAT";
    case CURLE_COULDNT_RESOLVE_PROXY: return "CURLE_COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_RESOLVE_HOST: return "CURLE_COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_CONNECT: return "CURLE_COULDNT_CONNECT";
    case CURLE_WEIRD_SERVER_REPLY: return "CURLE_WEIRD_SERVER_REPLY";
    case CURLE_HTTP2: return "CURLE_HTTP2";
    case CURLE_PARTIAL_FILE: return "CURLE_PARTIAL_FILE";
    case CURLE_WRITE_ERROR: return "CURLE_WRITE_ERROR";
    case CURLE_OUT_OF_MEMORY: return "CURLE_OUT_OF_MEMORY";
    case CURLE_OPERATION_TIMEDOUT: return "CURLE_OPERATION_TIMEDOUT";
    case CURLE_SSL_CONNECT_ERROR: return "CURLE_SSL_CONNECT_ERROR";
    case CURLE_GOT_NOTHING: return "CURLE_GOT_NOTHING";
    case CURLE_SEND_ERROR: return "CURLE_SEND_ERROR";
    case CURLE_RECV_ERROR: return "CURLE_RECV_ERROR";
    case CURLE_PEER_FAILED_VERIFICATION: return "CURLE_PEER_FAILED_VERIFICATION";
    case CURLE_SSL_CACERT_BADFILE: return "CURLE_SSL_CACERT_BADFILE";
    case CURLE_SSL_CERTPROBLEM: return "CURLE_SSL_CERTPROBLEM";
    case CURLE_FILESIZE_EXCEEDED: return "CURLE_FILESIZE_EXCEEDED";
    case CURLE_HTTP2_STREAM: return "CURLE_HTTP2_STREAM";
    case CURLE_ABORTED_BY_CALLBACK: return "CURLE_ABORTED_BY_CALLBACK";
    default: return "CURLE_OTHER";
    }
}
