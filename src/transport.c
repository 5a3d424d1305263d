/*
 * transport.c: one HTTP attempt on a libcurl easy handle.
 *
 * The client owns the multi handle that runs the attempts (request.c); this
 * file sets an easy handle up for one attempt of any route (method, URL,
 * headers, body, proxy rule, timeouts), counts every send libcurl makes
 * (CURLOPT_PREREQFUNCTION: libcurl silently sends again on a fresh
 * connection when a reused one dies after the server read the request; each
 * of those is an attempt the policy must allow), and catches what comes
 * back: the body (bounded by max_response_bytes while it streams) and the
 * three headers the SDK reads (x-request-id, content-type, retry-after).
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "client.h"

void ax_response_reset(ax_response *r)
{
    if (r->body.data != NULL && r->body.len > 0)
        ax_wipe(r->body.data, r->body.len);   /* the previous attempt's answer */
    r->status = 0;
    r->body.len = 0;
    r->body.oom = 0;
    r->request_id[0] = '\0';
    r->content_type[0] = '\0';
    r->retry_after = -1;
    r->too_large = 0;
    r->in_head = 0;
    r->curl_code = CURLE_OK;
    r->curl_error[0] = '\0';
}

void ax_response_init(ax_response *r)
{
    ax_buf_init(&r->body);
    r->max_bytes = 0;
    r->body_index = 0;
    ax_response_reset(r);
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

    if (n <= 2 && (data[0] == '\r' || data[0] == '\n'))
        r->in_head = 0;   /* the blank line: the head is complete */
    /* NOLINTBEGIN(bugprone-branch-clone): the empty "kept" branches are on
     * purpose: a line is one header, so the first match ends the chain. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): forget the previous one's headers. */
        r->in_head = 1;
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

/* Called by libcurl right before it sends the request on a connection: once
 * per send, including the ones it makes on its own. */
static int on_prereq(void *userdata, char *remote_ip, char *local_ip, int remote_port,
                     int local_port)
{
    ax_request *r = userdata;

    (void)remote_ip; (void)local_ip; (void)remote_port; (void)local_port;
    if (r->sent && !ax_policy_may_send(&r->policy, ax_now(), 1)) {
        r->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    r->sent = 1;
    return CURL_PREREQFUNC_OK;
}

/* What is the same for every attempt of every request: set once, when the
 * handle is created; afterwards it lives in its client's idle pool. */
CURLcode ax_transport_setup(CURL *easy, const ax_config *cfg)
{
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
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
    if (cfg->ca_file != NULL)
        SET(CURLOPT_CAINFO, cfg->ca_file);
    return CURLE_OK;
}

/* What one attempt brings: method, URL, body, headers, response buffer,
 * time, and the rules that depend on the host. */
CURLcode ax_transport_attempt(ax_client *c, ax_request *r, long timeout_ms)
{
    CURL *easy = r->easy;
    const ax_config *cfg = &c->cfg;
    int secure = r->spec.host == AX_HOST_SECURE;
    int https = strncasecmp(ax_config_base(cfg, r->spec.host), "https:", 6) == 0;
    int loopback = secure ? cfg->secure_loopback : cfg->base_loopback;
    int get = strcmp(r->method, "GET") == 0;
    int body = !get && r->spec.has_body;

    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_USERAGENT, cfg->user_agent);
    if (get) {
        SET(CURLOPT_HTTPGET, 1L);       /* resets POST and UPLOAD */
    } else {
        /* Every other method goes out as libcurl's POST with its own name,
         * so that it carries a Content-Length, `0` when there is no body
         * (RFC 9110 8.6: a POST without one may get 411 from a proxy; the
         * OpenResty client's head, call_api.c, says the same). */
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? r->spec.body.len : 0));
        SET(CURLOPT_POSTFIELDS, body && r->spec.body.len ? r->spec.body.data : "");
    }
    SET(CURLOPT_CUSTOMREQUEST, get || strcmp(r->method, "POST") == 0 ? NULL : r->method);
    SET(CURLOPT_HTTPHEADER, get || !r->spec.key[0] ? c->fixed_headers : &r->key_header);
    SET(CURLOPT_WRITEDATA, &r->resp);
    SET(CURLOPT_HEADERDATA, &r->resp);
    SET(CURLOPT_ERRORBUFFER, r->resp.curl_error);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, r->spec.o.connect_timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->resp.max_bytes);
    SET(CURLOPT_PREREQDATA, r);
    SET(CURLOPT_PRIVATE, (void *)r);
    /* Loopback is reached directly, never through a proxy (the key would
     * cross one in clear text over plain http): "" disables libcurl's
     * proxy, the http_proxy/HTTPS_PROXY/ALL_PROXY environment included. */
    SET(CURLOPT_PROXY, loopback ? "" : cfg->proxy);
    /* https: wait for a connection still in its handshake to tell (ALPN)
     * whether it can multiplex, instead of opening up to max_connections new
     * ones. Not for http://: libcurl never does h2 there by default, but would
     * still wait for the first response's headers before opening a second. */
    SET(CURLOPT_PIPEWAIT, https ? 1L : 0L);
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
