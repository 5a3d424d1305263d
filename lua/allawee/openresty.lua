--- allawee.openresty: the Allawee client for OpenResty / nginx with lua-nginx-module.
--
-- A blocking libcurl call inside an nginx worker would stall every other
-- request that worker serves, so here the bytes travel over nginx's
-- non-blocking cosockets (ngx.socket.tcp). Everything else is the C engine
-- the libcurl client runs, through core.config / cfg:call (src/call_api.c):
-- options and URLs, validation and encoding, the idempotency key, the
-- request head, retries, backoff, Retry-After, the deadline, exactly-once
-- lookups and what an answer means. This file keeps no copy of any rule: it
-- connects, sends what the call says, reads the answer, and tells the call.
--
--   local allawee = require "allawee.openresty"
--   local client = allawee.new{ secret_key = ..., base_url = ... }
--   local data, err, meta = client.customers.create(params [, options])
--   local c, err, meta = client.customers.get(id)        -- every endpoint
--   local data, err, meta = client:request("GET", "/accounts/ac.1/balance")
-- luacheck: read globals ngx jit
local ngx = ngx
if type(ngx) ~= "table" or type(ngx.socket) ~= "table" or not ngx.socket.tcp then
  error("allawee.openresty needs nginx with lua-nginx-module (OpenResty); " ..
        "outside nginx use require 'allawee'", 2)
end

local core = require "allawee.core"
local allawee = require "allawee"   -- registers the private cjson decoder in core

local type, tostring, tonumber, pairs = type, tostring, tonumber, pairs
local error, setmetatable = error, setmetatable
local floor, min, max = math.floor, math.min, math.max
local concat = table.concat
local find, sub, byte, lower = string.find, string.sub, string.byte, string.lower
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
-- HTTP/1.1 over one cosocket: one request, its answer (Content-Length,
-- chunked, or until close), keep-alive. No redirects, no pipelining.
---------------------------------------------------------------------------

local CHUNK = 65536
local MAX_HEAD = 64 * 1024
local MAX_HEADERS = 200

-- Milliseconds left before `deadline`, or nil when none is (a cosocket
-- timeout of 0 would mean "use the nginx default", never "now"). `limit`:
-- seconds from now that bound it further.
local function ms_left(deadline, limit)
  local t = now()
  if limit and t + limit < deadline then deadline = t + limit end
  local ms = floor((deadline - t) * 1000)
  return ms >= 1 and ms or nil
end

-- A buffered reader over the cosocket. Every read is bounded by the
-- attempt's deadline, so a server that trickles bytes cannot stretch it.
-- The bytes not yet consumed are buf from pos on: taking a line or a part
-- of the body moves pos, it does not copy what is left.
local Reader = {}
Reader.__index = Reader

local function new_reader(sock, deadline)
  return setmetatable({ sock = sock, buf = "", pos = 1, deadline = deadline, received = 0 },
                      Reader)
end

-- How many bytes are buffered and not consumed.
function Reader:left()
  return #self.buf - self.pos + 1
end

-- Everything buffered and not consumed; the buffer is then empty.
function Reader:rest()
  local s = self.pos == 1 and self.buf or sub(self.buf, self.pos)
  self.buf, self.pos = "", 1
  return s
end

function Reader:fill(limit)
  local ms = ms_left(self.deadline)
  if not ms then return nil, "timeout" end
  self.sock:settimeout(ms)
  local data, err = self.sock:receiveany(limit or CHUNK)
  if not data then return nil, err end
  self.received = self.received + #data
  if self.pos > #self.buf then
    self.buf = data
  else
    self.buf = sub(self.buf, self.pos) .. data
  end
  self.pos = 1
  return true
end

-- One line without its CRLF (a bare LF is tolerated), and the bytes it
-- took.
function Reader:line(head_left)
  while true do
    local buf, pos = self.buf, self.pos
    local i = find(buf, "\n", pos, true)
    if i then
      local e = i - 1
      if e >= pos and byte(buf, e) == 13 then e = e - 1 end   -- "\r"
      self.pos = i + 1
      return sub(buf, pos, e), i - pos + 1
    end
    if #buf - pos + 1 > head_left then return nil, "too large" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

-- Exactly n bytes, appended to `parts`. Never reads past them, so a kept
-- connection holds no stray bytes.
function Reader:exact(n, parts)
  local take = min(n, self:left())
  if take > 0 then
    parts[#parts + 1] = sub(self.buf, self.pos, self.pos + take - 1)
    self.pos = self.pos + take
    n = n - take
  end
  while n > 0 do
    local ok, err = self:fill(min(n, CHUNK))
    if not ok then return nil, err end
    parts[#parts + 1] = self:rest()
    n = n - #parts[#parts]
  end
  return true
end

local function space(b)   -- what %s matches: space, \t \n \v \f \r
  return b == 32 or (b >= 9 and b <= 13)
end

-- "Name: value" -> the name in lower case and the value without the
-- whitespace around it (what "^([^:%s]+):%s*(.-)%s*$" gives, with find and
-- byte, which LuaJIT compiles, where string.match runs interpreted); nil
-- when the line is not a header.
local function header_line(line)
  local colon = find(line, ":", 1, true)
  if not colon or colon == 1 then return nil end
  for i = 1, colon - 1 do
    if space(byte(line, i)) then return nil end
  end
  local from, to = colon + 1, #line
  while from <= to and space(byte(line, from)) do from = from + 1 end
  while to >= from and space(byte(line, to)) do to = to - 1 end
  return lower(sub(line, 1, colon - 1)), sub(line, from, to)
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
    local first = byte(line, 1)
    if (first == 32 or first == 9) and last then    -- obsolete line folding
      headers[last] = headers[last] .. " " .. line:match("^%s*(.-)%s*$")
    else
      local name, value = header_line(line)
      if not name then return nil, "bad header line" end
      headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
      last = name
    end
  end
  return tonumber(status), headers, tonumber(major) * 10 + tonumber(minor)
end

-- The answer's head: status, version, then the Transfer-Encoding,
-- Content-Length, Connection and Retry-After values (nil when absent), and
-- a headers table only when read_head parsed it; or nil, failure. The head
-- is parsed in C (call:head keeps the request id and content type for
-- call:answer); a head whose wanted fields repeat or whose lines fold goes
-- through read_head, line by line.
local function answer_head(rd, call)
  local scanned = 0
  while true do
    local what, a, b, c, te, cl, conn, ra = call:head(rd.buf, rd.pos, scanned, MAX_HEAD,
                                                        MAX_HEADERS)
    if what == "head" then
      rd.pos = c
      return a, b, te, cl, conn, ra
    elseif what == "more" then
      scanned = a        -- relative to the head's start, which fill keeps
      local ok, err = rd:fill()
      if not ok then return nil, err end
    elseif what == "lines" then
      local status, headers, version = read_head(rd)
      if not status then return nil, headers end
      return status, version, headers["transfer-encoding"], headers["content-length"],
             headers["connection"], headers["retry-after"], headers
    else
      return nil, a      -- "bad status line", "bad header line", "too large"
    end
  end
end

local function has_token(value, token)
  if not value then return false end
  value = lower(value)
  -- most answers say "keep-alive" and are asked about "close": a plain
  -- find (compiled by LuaJIT, where gmatch is not) settles them
  if not find(value, token, 1, true) then return false end
  for t in value:gmatch("[^,%s]+") do   -- value is lower-cased above
    if t == token then return true end
  end
  return false
end

-- The body by its framing (RFC 9112 6.3), at most `cap` bytes; te and cl:
-- the Transfer-Encoding and Content-Length values, or nil.
-- Returns body, reusable; or nil, failure-reason.
local function read_body(rd, status, te, cl, cap)
  if status == 204 or status == 304 or (status >= 100 and status < 200) then
    return "", true
  end
  local parts = {}
  if te then
    if not te:lower():find("chunked%s*$") then   -- not chunked last: until close
      return nil, "unsupported transfer-encoding"
    end
    local total = 0
    while true do
      local line, err = rd:line(4096)
      if not line then return nil, err end
      local digits = line:match("^%s*(%x+)")
      local size = digits and tonumber(digits, 16)   -- tonumber(nil, 16) raises
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
  if cl then
    local n = cl:match("^(%d+)$") or cl:match("^(%d+)%s*,%s*%1$")   -- "5, 5" is allowed
    n = tonumber(n)
    if not n then return nil, "bad content-length" end
    if n > cap then return nil, "too large body" end
    if rd:left() >= n then   -- all of it came with the head: no copy into parts
      local pos = rd.pos
      rd.pos = pos + n
      return sub(rd.buf, pos, pos + n - 1), true
    end
    local ok, err = rd:exact(n, parts)
    if not ok then return nil, err end
    return concat(parts), true
  end
  -- Neither: the body runs until the server closes the connection.
  parts[1] = rd:rest()
  local total = #parts[1]
  while true do
    if total > cap then return nil, "too large body" end
    local ok, err = rd:fill()
    if not ok then
      if err == "closed" then return concat(parts), false end
      return nil, err
    end
    parts[#parts + 1] = rd:rest()
    total = total + #parts[#parts]
  end
end

---------------------------------------------------------------------------
-- The client
---------------------------------------------------------------------------

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

-- Opens (or takes from the keep-alive pool) a connection to target `t`,
-- TLS included. Returns sock, reused; or nil, phase, reason.
local function connect(t, deadline, connect_timeout)
  local ms = ms_left(deadline, connect_timeout)
  if not ms then return nil, "connect", "timeout" end
  local sock = tcp()
  sock:settimeout(ms)
  local ok, err = sock:connect(t.connect_host, t.port, t.pool_options)
  if not ok then return nil, "connect", err end
  local reused = (sock:getreusedtimes() or 0) > 0
  if t.https and not reused then   -- a pooled TLS connection keeps its session
    ms = ms_left(deadline, connect_timeout)
    if not ms then
      sock:close()
      return nil, "tls", "timeout"
    end
    sock:settimeout(ms)
    ok, err = sock:sslhandshake(false, t.sni, true)
    if not ok then
      sock:close()
      return nil, "tls", err
    end
  end
  return sock, reused
end

-- Seconds a Retry-After asks for (delta-seconds or an HTTP-date), or nil.
local function retry_after(value)
  if not value then return nil end
  local secs = value:match("^%s*(%d+%.?%d*)%s*$")
  if secs then return tonumber(secs) end
  local when = ngx.parse_http_time(value)
  return when and max(when - ngx.time(), 0) or nil
end

-- One attempt: send what the call says, read the answer, tell the call.
-- A pooled connection found dead before any byte came back is replaced by a
-- fresh one only when the call allows another send (call:resend()).
local function exchange(self, call, host, request, timeout, connect_timeout)
  local t = self.targets[host]
  local deadline = now() + timeout
  while true do
    local sock, phase, reason = connect(t, deadline, connect_timeout)
    if not sock then return call:failed(phase, reason, false) end
    local reused = phase
    local ms = ms_left(deadline)
    if not ms then
      sock:close()
      return call:failed("send", "timeout", false)
    end
    sock:settimeout(ms)
    local sent, err = sock:send(request)
    if not sent then
      sock:close()
      if not (reused and err ~= "timeout" and call:resend()) then
        return call:failed("send", err, false)
      end
    else
      local rd = new_reader(sock, deadline)
      local status, version, te, cl, conn, ra, headers
      repeat   -- skip interim 1xx answers (100 Continue, 103 Early Hints)
        status, version, te, cl, conn, ra, headers = answer_head(rd, call)
      until not status or status < 100 or status >= 200 or status == 101
      if not status then
        sock:close()
        local why = version
        -- A pooled connection the server had already closed: nothing came
        -- back. Sending again is another send: the call decides.
        if not (reused and rd.received == 0 and why ~= "timeout" and call:resend()) then
          if why == "too large" then why = "header too large"
          elseif why ~= "timeout" and why ~= "closed" then why = "malformed" end
          return call:failed("receive", why, rd.received > 0)
        end
      else
        local data, reusable = read_body(rd, status, te, cl, self.max_response_bytes)
        if not data then
          sock:close()
          local why = reusable
          if why ~= "timeout" and why ~= "closed" and why ~= "too large body" then
            why = "malformed"
          end
          return call:failed("receive", why, true, status, headers)
        end
        if reusable and rd:left() == 0 and not has_token(conn, "close") and
           (version >= 11 or has_token(conn, "keep-alive")) then
          sock:setkeepalive(self.keepalive_timeout_ms, self.max_connections)
        else
          sock:close()
        end
        return call:answer(status, headers, data, retry_after(ra))
      end
    end
  end
end

-- Runs a prepared call to its end: the engine says what to do next.
local function run(self, call, err)
  if not call then return nil, err end
  local cfg = self.cfg
  while true do
    local what, a, b, c, d, e = call:next(cfg)
    if what == "send" then   -- a: the strings to send (head pieces, body), as they are
      exchange(self, call, e, a, c, d)
    elseif what == "wait" then
      sleep(a)
    else
      return a, b, c
    end
  end
end

--- client:request(method, path [, args] [, options]): any route.
function Client:request(method, path, args, options)
  if self.closed then error("attempt to use a closed client", 2) end
  check_phase("request")
  return run(self, self.cfg:request(method, path, args, options))
end

function Client:close()
  if not self.closed then
    self.closed = true
    self.cfg:close()   -- wipes the key's only copy (C memory)
  end
  return true
end

Client.__tostring = function(self)
  if self.closed then return "allawee.openresty.client (closed)" end
  return ("allawee.openresty.client (%s)"):format(self.base_url)
end

local function agent()
  local v = ngx.config and ngx.config.ngx_lua_version or 0
  local nv = ngx.config and ngx.config.nginx_version or 0
  return ("allawee-lua/%s ngx_lua/%d.%d.%d nginx/%d.%d.%d %s"):format(core.version,
    floor(v / 1000000), floor(v / 1000) % 1000, v % 1000,
    floor(nv / 1000000), floor(nv / 1000) % 1000, nv % 1000,
    jit and jit.version or _VERSION)
end

-- The resource tables (client.customers ...), from the C endpoint table.
local function bind_resources(self)
  local cfg = self.cfg
  for name in pairs(core.endpoints()) do
    local resource, method = name:match("^([%w_]+)%.([%w_]+)$")
    local r = self[resource] or {}
    self[resource] = r
    r[method] = function(...)
      if self.closed then error("attempt to use a closed client", 2) end
      check_phase(name)
      return run(self, cfg:call(name, ...))
    end
  end
  for _, r in pairs(self) do
    if type(r) == "table" and r.list then r.each = allawee.paginate(r.list) end
  end
end

--- Builds a client: the options of allawee.new (README), with two that
-- nginx configures instead: ca_file (lua_ssl_trusted_certificate) and
-- proxy (not supported on cosockets). Raises on bad options.
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
  -- it (the engine falls back to ALLAWEE_SECRET_KEY and ALLAWEE_BASE_URL).
  local ok, cfg = pcall(core.config, t, where, agent())
  if not ok then
    if cfg:find("no secret_key", 1, true) then
      cfg = cfg .. " and declare `env ALLAWEE_SECRET_KEY;` in nginx.conf"
    end
    error(cfg, 2)
  end
  local o = cfg:options()
  local self = setmetatable({
    cfg = cfg,   -- the key lives in its C memory only, wiped by close
    base_url = o.base_url,
    max_response_bytes = o.max_response_bytes,
    max_connections = o.max_connections,
    keepalive_timeout_ms = 60000,
    closed = false,
    targets = {},
  }, Client)
  -- One pool per scheme and target: a plain connection is never handed to
  -- an https client, nor one verified for another name.
  for _, host in ipairs({ "api", "secure" }) do
    local target = cfg:target(host)
    target.pool = ("allawee:%s:%s:%d"):format(target.https and "https" or "http",
                                             target.host, target.port)
    -- sock:connect only reads it: one table for every connect
    target.pool_options = { pool = target.pool, pool_size = o.max_connections }
    self.targets[host] = target
  end
  bind_resources(self)
  return self
end

return M
