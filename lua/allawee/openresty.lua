--- allawee.openresty: the Allawee client for OpenResty / nginx with lua-nginx-module.
--
-- A blocking libcurl call inside an nginx worker would stall every other
-- request that worker serves, so here the bytes travel over nginx's
-- non-blocking cosockets (ngx.socket.tcp) while the C module does what must
-- be exact and identical to the libcurl client: validation and encoding
-- (core.encode) and turning an answer into a value or an error
-- (core.interpret). Retries, backoff, Retry-After, the deadline, the
-- idempotency key and the headers follow src/request.c, so both clients
-- return the same values and the same error kinds. See docs/openresty.md.
--
--   local allawee = require "allawee.openresty"
--   local client = allawee.new{ secret_key = ..., base_url = ... }
--   local data, err, meta = client.customers.create(params [, options])
-- luacheck: read globals ngx jit
local ngx = ngx
if type(ngx) ~= "table" or type(ngx.socket) ~= "table" or not ngx.socket.tcp then
  error("allawee.openresty needs nginx with lua-nginx-module (OpenResty); " ..
        "outside nginx use require 'allawee'", 2)
end

local core = require "allawee.core"
local allawee = require "allawee"   -- registers the private cjson decoder in core
local ffi = require "ffi"
local bit = require "bit"

local type, tostring, tonumber = type, tostring, tonumber
local error, setmetatable, unpack = error, setmetatable, unpack
local floor, min, max = math.floor, math.min, math.max
local concat = table.concat
local tcp, sleep = ngx.socket.tcp, ngx.sleep
local update_time, ngx_now = ngx.update_time, ngx.now

local M = {
  _VERSION = core.version,
  version = core.version,
  null = allawee.null,
  empty_array = allawee.empty_array,
  array_mt = allawee.array_mt,
  array = allawee.array,
  webhooks = allawee.webhooks,   -- verify, parse, sign, authorization_reply (docs/webhooks.md)
}

-- ngx.now() is the time cached at the start of the event-loop turn; the
-- deadlines below need the real time after every yield.
local function now()
  update_time()
  return ngx_now()
end

---------------------------------------------------------------------------
-- Randomness: the kernel's CSPRNG through getrandom(2), as src/random.c does
-- (a syscall that never blocks after boot and needs no file descriptor).
---------------------------------------------------------------------------

pcall(ffi.cdef, "long getrandom(void *buf, size_t buflen, unsigned int flags);")
local has_getrandom = pcall(function() return ffi.C.getrandom end)
local EINTR = 4

local function random_bytes(n)
  if has_getrandom then
    local buf, got = ffi.new("uint8_t[?]", n), 0
    while got < n do
      local r = tonumber(ffi.C.getrandom(buf + got, n - got, 0))
      if r > 0 then
        got = got + r
      elseif ffi.errno() ~= EINTR then
        return nil
      end
    end
    return ffi.string(buf, n)
  end
  local f = io.open("/dev/urandom", "rb")   -- old kernels/libcs only
  if not f then return nil end
  local s = f:read(n)
  f:close()
  return s and #s == n and s or nil
end

-- UUID v4 (RFC 4122). Refusing to send beats sending a predictable key.
local function uuid4()
  local s = random_bytes(16)
  if not s then return nil end
  local b = { s:byte(1, 16) }
  b[7] = bit.bor(bit.band(b[7], 0x0F), 0x40)   -- version 4
  b[9] = bit.bor(bit.band(b[9], 0x3F), 0x80)   -- RFC 4122 variant
  return ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x")
    :format(unpack(b))
end

-- U[0, 1) for backoff jitter; falls back to math.random if the OS fails.
local function random_unit()
  local s = random_bytes(4)
  if not s then return math.random() end
  local a, b, c, d = s:byte(1, 4)
  return (((a * 256 + b) * 256 + c) * 256 + d) / 4294967296
end

---------------------------------------------------------------------------
-- Options: allawee.new's own rules (src/options.c, through core.options and
-- core.call_options), so both clients accept the same options with the same
-- defaults, bounds and messages.
---------------------------------------------------------------------------

---------------------------------------------------------------------------
-- base_url: https, or http to loopback only (as check_base_url in client.c)
---------------------------------------------------------------------------

local function is_loopback(host)
  local h = host:lower()
  if h == "localhost" or h == "[::1]" then return true end
  local a, b, c, d = h:match("^(127)%.(%d+)%.(%d+)%.(%d+)$")
  return a ~= nil and tonumber(b) < 256 and tonumber(c) < 256 and tonumber(d) < 256
end

-- Returns { https, host, port, connect_host, host_header, path } or nil, why.
local function parse_base_url(url)
  local scheme, rest = url:match("^([%a]+)://(.*)$")
  scheme = scheme and scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    return nil, "base_url must start with https:// (or http:// for loopback)"
  end
  if url:find("[?#]") then return nil, "base_url must not have a query or a fragment" end
  local authority, path = rest:match("^([^/]*)(.*)$")
  if authority:find("@", 1, true) then return nil, "base_url must not carry credentials" end
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  else
    host, port = authority:match("^([^:]*)(.*)$")
  end
  if host == nil or host == "" then return nil, "base_url has no host" end
  if port ~= "" then
    port = port:match("^:(%d+)$")
    port = tonumber(port)
    if not port or port < 1 or port > 65535 then return nil, "base_url has a bad port" end
  else
    port = nil
  end
  local https = scheme == "https"
  if not https and not is_loopback(host) then
    return nil, "plain http:// is only allowed to loopback (127.0.0.0/8, ::1, " ..
                "localhost); use https://"
  end
  path = path:gsub("/+$", "")
  -- "localhost" is not sent to a resolver (nginx would need a `resolver`
  -- directive for it), as libcurl also answers it locally.
  local connect_host = host:lower() == "localhost" and "127.0.0.1" or host
  return {
    https = https,
    host = host,
    port = port or (https and 443 or 80),
    connect_host = connect_host,
    sni = host:sub(1, 1) ~= "[" and host or nil,
    host_header = port and (host .. ":" .. port) or host,
    path = path .. "/customers",
  }
end

---------------------------------------------------------------------------
-- Errors: the same kinds, codes and retryable flags as response.c gives for
-- libcurl's transport failures, so callers can switch on err.code alike.
---------------------------------------------------------------------------

local function transport_error(f, attempts)
  return core.error{
    kind = f.kind or "connection",
    code = f.code,
    message = f.message,
    retryable = f.retryable ~= false,
    attempts = attempts,
    status = f.status,
    request_id = f.request_id and f.request_id:sub(1, 127),   -- as response.c keeps it
  }
end

local function timeout_failure(what, status, request_id)
  return { kind = "timeout", code = "CURLE_OPERATION_TIMEDOUT",
           message = "the request timed out: " .. what,
           status = status, request_id = request_id }
end

---------------------------------------------------------------------------
-- HTTP/1.1 over one cosocket: one POST, its answer (Content-Length,
-- chunked, or until close), keep-alive. No redirects, no pipelining.
---------------------------------------------------------------------------

local CHUNK = 65536
local MAX_HEAD = 64 * 1024
local MAX_HEADERS = 200

-- Milliseconds left before `deadline`, or nil when none is (a cosocket
-- timeout of 0 would mean "use the nginx default", never "now").
local function ms_left(deadline)
  local ms = floor((deadline - now()) * 1000)
  return ms >= 1 and ms or nil
end

-- A buffered reader over the cosocket. Every read is bounded by the
-- attempt's deadline, so a server that trickles bytes cannot stretch it.
local Reader = {}
Reader.__index = Reader

local function new_reader(sock, deadline)
  return setmetatable({ sock = sock, buf = "", deadline = deadline, received = 0 }, Reader)
end

function Reader:fill(limit)
  local ms = ms_left(self.deadline)
  if not ms then return nil, "timeout" end
  self.sock:settimeout(ms)
  local data, err = self.sock:receiveany(limit or CHUNK)
  if not data then return nil, err end
  self.received = self.received + #data
  self.buf = self.buf .. data
  return true
end

-- One line without its CRLF (a bare LF is tolerated).
function Reader:line(head_left)
  while true do
    local i = self.buf:find("\n", 1, true)
    if i then
      local line = self.buf:sub(1, i - 1):gsub("\r$", "")
      self.buf = self.buf:sub(i + 1)
      return line, i
    end
    if #self.buf > head_left then return nil, "too large" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

-- Exactly n bytes, appended to `parts`. Never reads past them, so a kept
-- connection holds no stray bytes.
function Reader:exact(n, parts)
  local take = min(n, #self.buf)
  if take > 0 then
    parts[#parts + 1] = self.buf:sub(1, take)
    self.buf = self.buf:sub(take + 1)
    n = n - take
  end
  while n > 0 do
    local ok, err = self:fill(min(n, CHUNK))
    if not ok then return nil, err end
    parts[#parts + 1] = self.buf
    n = n - #self.buf
    self.buf = ""
  end
  return true
end

-- The status line and headers. Returns status, headers (lower-case names,
-- repeats joined with ", "), version; or nil, failure.
local function read_head(rd)
  local left = MAX_HEAD
  local line, used = rd:line(left)
  if not line then return nil, used end
  left = left - used
  local major, minor, status = line:match("^HTTP/(%d)%.(%d) (%d%d%d)")
  if not status then return nil, "bad status line" end
  local headers, count, last = {}, 0, nil
  while true do
    line, used = rd:line(left)
    if not line then return nil, used end
    left = left - used
    if line == "" then break end
    count = count + 1
    if count > MAX_HEADERS then return nil, "too large" end
    if line:find("^[ \t]") and last then            -- obsolete line folding
      headers[last] = headers[last] .. " " .. line:match("^%s*(.-)%s*$")
    else
      local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
      if not name then return nil, "bad header line" end
      name = name:lower()
      headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
      last = name
    end
  end
  return tonumber(status), headers, tonumber(major) * 10 + tonumber(minor)
end

local function has_token(value, token)
  if not value then return false end
  for t in value:gmatch("[^,%s]+") do
    if t:lower() == token then return true end
  end
  return false
end

-- The body by its framing (RFC 9112 6.3), at most `cap` bytes.
-- Returns body, reusable; or nil, failure-reason.
local function read_body(rd, status, headers, cap)
  if status == 204 or status == 304 or (status >= 100 and status < 200) then
    return "", true
  end
  local parts = {}
  local te = headers["transfer-encoding"]
  if te then
    if not te:lower():find("chunked%s*$") then   -- not chunked last: until close
      return nil, "unsupported transfer-encoding"
    end
    local total = 0
    while true do
      local line, err = rd:line(4096)
      if not line then return nil, err end
      local size = tonumber(line:match("^%s*(%x+)"), 16)
      if not size then return nil, "bad chunk" end
      if size == 0 then break end
      total = total + size
      if total > cap then return nil, "too large body" end
      local ok, rerr = rd:exact(size, parts)
      if not ok then return nil, rerr end
      line, err = rd:line(2)
      if line ~= "" then return nil, line and "bad chunk" or err end
    end
    while true do                                   -- trailers, then the end
      local line, err = rd:line(MAX_HEAD)
      if not line then return nil, err end
      if line == "" then break end
    end
    return concat(parts), true
  end
  local cl = headers["content-length"]
  if cl then
    local n = cl:match("^(%d+)$") or cl:match("^(%d+)%s*,%s*%1$")   -- "5, 5" is allowed
    n = tonumber(n)
    if not n then return nil, "bad content-length" end
    if n > cap then return nil, "too large body" end
    local ok, err = rd:exact(n, parts)
    if not ok then return nil, err end
    return concat(parts), true
  end
  -- Neither: the body runs until the server closes the connection.
  parts[1], rd.buf = rd.buf, ""
  local total = #parts[1]
  while true do
    if total > cap then return nil, "too large body" end
    local ok, err = rd:fill()
    if not ok then
      if err == "closed" then return concat(parts), false end
      return nil, err
    end
    total = total + #rd.buf
    parts[#parts + 1], rd.buf = rd.buf, ""
  end
end

---------------------------------------------------------------------------
-- The client
---------------------------------------------------------------------------

-- client -> its "Authorization: Bearer <key>\r\n" line (weak keys: goes with
-- the client).
local auth_lines = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

-- Phases where cosockets and ngx.sleep work (lua-nginx-module README).
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

local function check_phase(what)
  local phase = ngx.get_phase()
  if not COSOCKET_PHASES[phase] then
    error(("allawee.openresty: %s cannot run in the %s phase: nginx disables " ..
           "cosockets there. Use it from rewrite/access/content_by_lua* or an " ..
           "ngx.timer (e.g. ngx.timer.at(0, fn) from init_worker_by_lua*); in " ..
           "init_by_lua*, where blocking is allowed, use require('allawee')")
          :format(what, tostring(phase)), 3)
  end
end

-- Opens (or takes from the keep-alive pool) a connection, TLS included.
-- Returns sock, reused; or nil, failure.
function Client:connect(attempt_deadline, connect_timeout)
  local t = self.target
  local sock = tcp()
  local ms = ms_left(min(attempt_deadline, now() + connect_timeout))
  if not ms then return nil, timeout_failure("no time left to connect") end
  sock:settimeout(ms)
  local ok, err = sock:connect(t.connect_host, t.port,
                               { pool = self.pool, pool_size = self.max_connections })
  if not ok then
    if err == "timeout" then
      return nil, timeout_failure(("connecting to %s:%d"):format(t.host, t.port))
    end
    if err:find("resolve", 1, true) then
      return nil, { code = "CURLE_COULDNT_RESOLVE_HOST",
                    message = ("could not resolve %s: %s (nginx needs a `resolver` " ..
                               "directive for host names)"):format(t.host, err) }
    end
    return nil, { code = "CURLE_COULDNT_CONNECT",
                  message = ("failed to connect to %s port %d: %s"):format(t.host, t.port, err) }
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  if t.https and not reused then   -- a pooled TLS connection keeps its session
    ms = ms_left(min(attempt_deadline, now() + connect_timeout))
    if not ms then
      sock:close()
      return nil, timeout_failure("no time left for the TLS handshake")
    end
    sock:settimeout(ms)
    ok, err = sock:sslhandshake(false, t.sni, true)
    if not ok then
      sock:close()
      if err == "timeout" then return nil, timeout_failure("in the TLS handshake") end
      if err:find("^%d+: ") or err:find("host mismatch", 1, true) then
        return nil, { code = "CURLE_PEER_FAILED_VERIFICATION", retryable = false,
                      message = "the server certificate could not be verified: " .. err ..
                        " (nginx trusts the CAs in lua_ssl_trusted_certificate)" }
      end
      return nil, { code = "CURLE_SSL_CONNECT_ERROR", message = "TLS handshake failed: " .. err }
    end
  end
  return sock, reused
end

-- The failure for a read that stopped early, in libcurl's terms.
local function read_failure(err, rd, status, headers)
  local request_id = headers and headers["x-request-id"]
  if err == "timeout" then
    return timeout_failure("no complete answer in time", status, request_id)
  end
  if err == "too large body" then
    return nil   -- handled by the caller (needs the cap)
  end
  if err == "closed" and rd.received == 0 then
    return { code = "CURLE_GOT_NOTHING", message = "the server closed the connection " ..
             "without answering (empty reply from server)" }
  end
  if err == "closed" then
    return { code = status and "CURLE_PARTIAL_FILE" or "CURLE_RECV_ERROR",
             status = status, request_id = request_id,
             message = "the response was truncated: the server closed the connection" }
  end
  if err == "too large" or err:find("^bad ") or err:find("transfer%-encoding") then
    return { code = "CURLE_WEIRD_SERVER_REPLY", status = status, request_id = request_id,
             message = "the server sent a malformed HTTP answer (" .. err .. ")" }
  end
  return { code = "CURLE_RECV_ERROR", status = status, request_id = request_id,
           message = "failure receiving data from the server: " .. err }
end

-- One attempt: send the request, read the answer. Returns
-- { status, headers, body } or nil, failure, retry_on_fresh_connection.
function Client:exchange(request, attempt_deadline, connect_timeout)
  local sock, reused = self:connect(attempt_deadline, connect_timeout)
  if not sock then return nil, reused end
  local ms = ms_left(attempt_deadline)
  if not ms then
    sock:close()
    return nil, timeout_failure("no time left to send")
  end
  sock:settimeout(ms)
  local sent, err = sock:send(request)
  if not sent then
    sock:close()
    if err == "timeout" then return nil, timeout_failure("sending the request") end
    return nil, { code = "CURLE_SEND_ERROR", message = "failure sending the request: " .. err },
           reused
  end
  local rd = new_reader(sock, attempt_deadline)
  local status, headers, version
  repeat   -- skip interim 1xx answers (100 Continue, 103 Early Hints)
    status, headers, version = read_head(rd)
    if not status then
      sock:close()
      -- A pooled connection the server had already closed: nothing came back.
      local stale = reused and rd.received == 0 and headers ~= "timeout"
      return nil, read_failure(headers, rd), stale
    end
  until status < 100 or status >= 200 or status == 101
  local body, reusable = read_body(rd, status, headers, self.max_response_bytes)
  if not body then
    sock:close()
    if reusable == "too large body" then
      return nil, { kind = "decode", code = "response_too_large", retryable = false,
                    status = status, request_id = headers["x-request-id"],
                    message = ("the response body is larger than max_response_bytes " ..
                               "(%d bytes)"):format(self.max_response_bytes) }
    end
    return nil, read_failure(reusable, rd, status, headers)
  end
  local conn = headers["connection"]
  if reusable and rd.buf == "" and not has_token(conn, "close") and
     (version >= 11 or has_token(conn, "keep-alive")) then
    sock:setkeepalive(self.keepalive_timeout_ms, self.max_connections)
  else
    sock:close()
  end
  return { status = status, headers = headers, body = body }
end

-- min(base * 2^(n-1), max) * U[0.5, 1]; Retry-After (429, 503) wins, capped.
function Client:backoff(attempts, status, headers)
  local wait = min(self.backoff_base * 2 ^ (attempts - 1), self.backoff_max)
  wait = wait * (0.5 + 0.5 * random_unit())
  local ra = headers and headers["retry-after"]
  if ra and (status == 429 or status == 503) then
    local secs = tonumber(ra)
    if not (secs and secs >= 0 and ra:match("^%s*[%d.]+%s*$")) then
      local when = ngx.parse_http_time(ra)   -- an HTTP-date
      secs = when and max(when - ngx.time(), 0) or nil
    end
    if secs then wait = min(secs, self.max_retry_after) end
  end
  return wait
end

local function read_call_options(self, options)
  local where = "customers.create"
  if options == nil then return self.defaults, nil end
  if type(options) ~= "table" then
    error(("bad argument #2 to '%s' (table expected, got %s)"):format(where, type(options)), 3)
  end
  return core.call_options(self.defaults, options, where)
end

local function failed(err, key)
  err.idempotency_key = key
  return nil, err
end

-- customers.create: the life of one create, as request.c runs it.
function Client:create(params, options)
  if self.closed then error("attempt to use a closed client", 2) end
  check_phase("customers.create")
  if type(params) ~= "table" then
    error(("bad argument #1 to 'customers.create' (table expected, got %s)")
          :format(type(params)), 2)
  end
  local o, key = read_call_options(self, options)
  local deadline = now() + o.deadline
  key = key or uuid4()
  if not key then
    return nil, core.error{ kind = "api", code = "random_unavailable", retryable = false,
                            attempts = 0,
                            message = "the operating system's random source failed" }
  end
  local body, err = core.encode(params, o.validate)
  if not body then
    err.attempts = 0
    return failed(err, key)
  end
  local request = {
    "POST ", self.target.path, " HTTP/1.1\r\nHost: ", self.target.host_header, "\r\n",
    auth_lines[self],
    "Content-Type: application/json\r\nAccept: application/json\r\nUser-Agent: ",
    self.user_agent, "\r\nIdempotency-Key: ", key, "\r\nContent-Length: ", #body,
    "\r\n\r\n", body,
  }
  local attempts, waits, last_status, last_request_id = 0, {}, nil, nil
  while true do
    local remaining = deadline - now()
    if remaining <= 0.001 then
      return failed(transport_error({ kind = "timeout", code = "deadline_exceeded",
        message = "the deadline passed before the request could be sent",
        status = last_status, request_id = last_request_id }, attempts), key)
    end
    attempts = attempts + 1
    local attempt_deadline = now() + min(o.timeout, remaining)
    local resp, failure, stale
    -- A pooled connection found dead before any byte came back is replaced
    -- by a fresh one within the same attempt, as libcurl does.
    for _ = 1, self.max_connections + 1 do
      resp, failure, stale = self:exchange(request, attempt_deadline, o.connect_timeout)
      if resp or not stale then break end
    end
    local data
    if resp then
      last_status = resp.status
      last_request_id = resp.headers["x-request-id"]
      data, err = core.interpret(resp.status, resp.body, resp.headers, attempts)
      if data ~= nil then
        local rid = last_request_id and last_request_id:sub(1, 127) or nil
        return data, nil, { status = resp.status, request_id = rid, attempts = attempts,
                            idempotency_key = key, waits = waits }
      end
    else
      last_status, last_request_id = failure.status, failure.request_id
      err = transport_error(failure, attempts)
    end
    if not (err.retryable and attempts <= o.max_retries) then return failed(err, key) end
    local wait = self:backoff(attempts, resp and resp.status, resp and resp.headers)
    if now() + wait >= deadline then return failed(err, key) end
    waits[#waits + 1] = wait
    sleep(wait)
  end
end

function Client:close()
  self.closed = true
  auth_lines[self] = nil   -- a Lua string cannot be wiped; drop the reference
  return true
end

Client.__tostring = function(self)
  if self.closed then return "allawee.openresty.client (closed)" end
  return ("allawee.openresty.client (%s)"):format(self.base_url)
end

local function user_agent(suffix)
  local v = ngx.config and ngx.config.ngx_lua_version or 0
  local nv = ngx.config and ngx.config.nginx_version or 0
  local ua = ("allawee-lua/%s ngx_lua/%d.%d.%d nginx/%d.%d.%d %s"):format(core.version,
    floor(v / 1000000), floor(v / 1000) % 1000, v % 1000,
    floor(nv / 1000000), floor(nv / 1000) % 1000, nv % 1000,
    jit and jit.version or _VERSION)
  return suffix and (ua .. " " .. suffix) or ua
end

--- Builds a client: the options of allawee.new (README), with two that
-- nginx configures instead: ca_file (lua_ssl_trusted_certificate) and
-- proxy (not supported on cosockets yet). Raises on bad options.
function M.new(options)
  local where = "allawee.openresty.new"
  if options ~= nil and type(options) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(where, type(options)), 2)
  end
  local t = options or {}
  if t.ca_file ~= nil then
    error(where .. ": option 'ca_file' is not available on cosockets: set " ..
          "lua_ssl_trusted_certificate (and lua_ssl_verify_depth) in nginx.conf", 2)
  end
  if t.proxy ~= nil then
    error(where .. ": option 'proxy' is not supported by the OpenResty client", 2)
  end
  -- nginx clears the environment; `env ALLAWEE_SECRET_KEY;` in nginx.conf keeps
  -- it (core.options falls back to ALLAWEE_SECRET_KEY and ALLAWEE_BASE_URL).
  local ok, o = pcall(core.options, t, where)
  if not ok then
    if o:find("no secret_key", 1, true) then
      o = o .. " and declare `env ALLAWEE_SECRET_KEY;` in nginx.conf"
    end
    error(o, 2)
  end
  local target, problem = parse_base_url(o.base_url)
  if not target then error(where .. ": " .. problem, 2) end
  local self = setmetatable({
    base_url = o.base_url,
    target = target,
    user_agent = user_agent(o.user_agent),
    defaults = o,
    max_response_bytes = o.max_response_bytes,
    max_connections = o.max_connections,
    backoff_base = o.backoff_base,
    backoff_max = o.backoff_max,
    max_retry_after = o.max_retry_after,
    keepalive_timeout_ms = 60000,
    closed = false,
  }, Client)
  -- The key is kept once, off the client table, so pairs(client), a dump of
  -- it or a debugger walking it never shows the key.
  auth_lines[self] = "Authorization: Bearer " .. o.secret_key .. "\r\n"
  o.secret_key = nil
  -- One pool per scheme and target: a plain connection is never handed to
  -- an https client, nor one verified for another name.
  self.pool = ("allawee:%s:%s:%d"):format(target.https and "https" or "http",
                                           target.host, target.port)
  self.customers = {
    create = function(params, opts) return self:create(params, opts) end,
  }
  return self
end

return M
