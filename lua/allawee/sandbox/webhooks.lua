--[[
allawee.sandbox.webhooks: the webhooks the sandbox sends, signed as the
service signs them.

    POST <receiver url>
    Content-Type: application/json
    Allawee-Signature: <lowercase hex HMAC-SHA512 of the exact body bytes>

    {"event":"<type>","data":{...},"metadata":{"sentAt":"<ISO-8601>","event":"evt.<id>"}}

The outgoing HTTP runs on the sandbox's own loop: every wait yields
("read" | "write" | "sleep", deadline, socket) to it, so a webhook that
waits for its receiver never holds back the other connections.

Signing needs allawee.sandbox.sha512, hence Lua 5.3+; on Lua 5.1, 5.2 and
LuaJIT, W.AVAILABLE is false and W.UNAVAILABLE says why.
]]

local socket = require "socket"
local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"

local W = {}

local sha
if math.type and math.maxinteger == 9223372036854775807 then
  local ok, mod = pcall(require, "allawee.sandbox.sha512")
  if ok then sha = mod end
end
W.AVAILABLE = sha ~= nil
W.UNAVAILABLE = ("webhooks need Lua 5.3 or later (HMAC-SHA512 on 64-bit integers); this sandbox runs on %s: "
  .. "start it with lua5.3 or lua5.4"):format(jit and jit.version or _VERSION)

W.DEFAULT_TIMEOUT_MS = 4000       -- the service's wait for a pending decision
W.DEFAULT_RETRY_INTERVAL_MS = 500 -- between deliveries of a closed/reversed event
W.DEFAULT_MAX_ATTEMPTS = 5
W.MAX_REPLY = 1024 * 1024         -- a receiver's answer beyond this is an error
W.MAX_LOG = 1000                  -- deliveries kept (oldest dropped)
W.LOGGED_REPLY = 4096             -- bytes of each answer kept in the log

function W.sign(key, body) return sha.hmac_sha512_hex(key, body) end

---------------------------------------------------------------------------
-- Configuration (POST /_sandbox/webhooks)
---------------------------------------------------------------------------

-- "http://127.0.0.1:8080/hook" -> { host, port, path, ipv6, authority }.
-- The host must be an IP address (or localhost): a name would need a DNS
-- look-up, which blocks the loop.
local function parse_url(url)
  if type(url) ~= "string" then return nil, "url must be a string" end
  local host, port, path = url:match("^http://%[([%x:.]+)%]:?(%d*)(.*)$")
  local ipv6 = host ~= nil
  if not host then host, port, path = url:match("^http://([^/:?#%[%]]+):?(%d*)(.*)$") end
  if not host then return nil, "url must look like http://127.0.0.1:8080/path (https is not supported)" end
  if host == "localhost" then host = "127.0.0.1" end
  if not ipv6 and not host:match("^%d+%.%d+%.%d+%.%d+$") then
    return nil, "url must name an IP address or localhost (no DNS look-ups)"
  end
  port = port == "" and 80 or tonumber(port)
  if not port or port < 1 or port > 65535 then return nil, "url has a bad port" end
  path = path:gsub("#.*$", "")
  if path == "" then path = "/" elseif path:sub(1, 1) == "?" then path = "/" .. path end
  if path:sub(1, 1) ~= "/" or path:find("[%s%c]") then return nil, "url has a bad path" end
  local authority = (ipv6 and "[" .. host .. "]" or host) .. ":" .. port
  return { host = host, port = port, path = path, ipv6 = ipv6, authority = authority, url = url }
end

local function count_option(body, key, default, min, max)
  local v = body[key]
  if not U.present(v) then return default end
  local n = U.whole(v, min)
  if not n or n > max then return nil, ("%s must be a whole number from %d to %d"):format(key, min, max) end
  return n
end

-- A webhook receiver from {url, signing_key, timeout_ms, retry_interval_ms,
-- max_attempts}; nil and a problem when invalid.
function W.configure(body)
  if not U.is_object(body) then return nil, "the body must be a JSON object" end
  local target, err = parse_url(body.url)
  if not target then return nil, err end
  local key = body.signing_key
  if key == nil then key = body.signingKey end
  if not U.is_nonempty_string(key) then return nil, "signing_key is required: a non-empty string" end
  local cfg = { target = target, key = key }
  local problem
  cfg.timeout_ms, problem = count_option(body, "timeout_ms", W.DEFAULT_TIMEOUT_MS, 1, 600000)
  if problem then return nil, problem end
  cfg.retry_interval_ms, problem = count_option(body, "retry_interval_ms", W.DEFAULT_RETRY_INTERVAL_MS, 0, 600000)
  if problem then return nil, problem end
  cfg.max_attempts, problem = count_option(body, "max_attempts", W.DEFAULT_MAX_ATTEMPTS, 1, 100)
  if problem then return nil, problem end
  return cfg
end

-- What GET /_sandbox/webhooks shows: never the key.
function W.public_config(cfg)
  if not cfg then return J.null end
  return J.ordered({ "url", "timeout_ms", "retry_interval_ms", "max_attempts", "signing_key" }, {
    url = cfg.target.url, timeout_ms = cfg.timeout_ms, retry_interval_ms = cfg.retry_interval_ms,
    max_attempts = cfg.max_attempts, signing_key = "[set, not shown]",
  })
end

---------------------------------------------------------------------------
-- Events
---------------------------------------------------------------------------

-- The event's exact body bytes and its evt. id. The data is encoded now,
-- so a later change to the object does not change an event already made.
function W.event(event_type, data)
  local id = U.new_id("evt.")
  local body = J.encode(J.ordered({ "event", "data", "metadata" }, {
    event = event_type, data = data,
    metadata = J.ordered({ "sentAt", "event" }, { sentAt = U.iso_timestamp(), event = id }),
  }))
  return { type = event_type, id = id, body = body }
end

---------------------------------------------------------------------------
-- An HTTP/1.1 POST on the loop
---------------------------------------------------------------------------

-- {status, headers, body} from what arrived so far, or nil when incomplete.
local function parse_response(buf, eof)
  local s, e = buf:find("\r\n\r\n", 1, true)
  if not s then return nil end
  local head = buf:sub(1, s - 1)
  local status = tonumber(head:match("^HTTP/%d%.%d (%d%d%d)"))
  if not status then return false, "the answer is not HTTP" end
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do headers[name:lower()] = value end
  local rest = buf:sub(e + 1)
  if (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    local parts, pos = {}, 1
    while true do
      local ls, le, size = rest:find("^(%x+)[^\r\n]*\r\n", pos)
      if not ls then
        if rest:find("\r\n", pos, true) then return false, "bad chunked encoding" end
        return nil
      end
      size = tonumber(size, 16)
      if size == 0 then
        return { status = status, headers = headers, body = table.concat(parts) }
      end
      if #rest < le + size + 2 then return nil end
      parts[#parts + 1] = rest:sub(le + 1, le + size)
      pos = le + size + 3
    end
  end
  local length = tonumber(headers["content-length"] or "")
  if length then
    if #rest < length then return nil end
    return { status = status, headers = headers, body = rest:sub(1, length) }
  end
  if status == 204 or status == 304 or (status >= 100 and status < 200) then
    return { status = status, headers = headers, body = "" }
  end
  if eof then return { status = status, headers = headers, body = rest } end
  return nil
end

-- POSTs body to target before `deadline`; wait(kind, deadline, sock) is the
-- loop's wait. Returns the response, or nil and an error ("timeout", ...).
function W.post(target, body, extra_headers, deadline, wait)
  local sock = target.ipv6 and socket.tcp6() or socket.tcp()
  if not sock then return nil, "cannot create a socket" end
  sock:settimeout(0)
  local function fail(err)
    sock:close()
    return nil, err
  end
  local ok, err = sock:connect(target.host, target.port)
  if not ok then
    if err ~= "timeout" and err ~= "Operation already in progress" then return fail("connect: " .. tostring(err)) end
    if not wait("write", deadline, sock) then return fail("timeout") end
    ok, err = sock:connect(target.host, target.port)
    if not ok and err ~= "already connected" then return fail("connect: " .. tostring(err)) end
  end
  local lines = {
    "POST " .. target.path .. " HTTP/1.1", "Host: " .. target.authority,
    "User-Agent: allawee-sandbox", "Content-Type: application/json",
    "Content-Length: " .. #body, "Connection: close",
  }
  for _, h in ipairs(extra_headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  local data = table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
  local i = 1
  while i <= #data do
    local last, serr, partial = sock:send(data, i)
    if last then break end
    if serr ~= "timeout" then return fail("send: " .. tostring(serr)) end
    i = partial + 1
    if not wait("write", deadline, sock) then return fail("timeout") end
  end
  local buf = ""
  while true do
    local got, rerr, partial = sock:receive(65536)
    local chunk = got or partial
    if chunk and chunk ~= "" then buf = buf .. chunk end
    if #buf > W.MAX_REPLY then return fail("the answer is larger than " .. W.MAX_REPLY .. " bytes") end
    local resp, perr = parse_response(buf, rerr == "closed")
    if resp then
      sock:close()
      return resp
    end
    if resp == false then return fail(perr) end
    if not got then
      if rerr == "closed" then return fail("closed before a complete answer") end
      if rerr ~= "timeout" then return fail(tostring(rerr)) end
      if not wait("read", deadline, sock) then return fail("timeout") end
    end
  end
end

---------------------------------------------------------------------------
-- Deliveries
---------------------------------------------------------------------------

local LOG_KEYS = { "event", "id", "attempt", "url", "status", "error", "reply", "signature", "body", "sentAt" }

local function log(state, entry)
  local list = state.deliveries
  list[#list + 1] = entry
  if #list > W.MAX_LOG then table.remove(list, 1) end
end

-- One attempt to deliver ev to cfg's receiver within timeout_ms; logged.
-- Returns the response, or nil and an error.
function W.deliver(state, cfg, ev, attempt, timeout_ms, wait)
  local signature = W.sign(cfg.key, ev.body)
  local sent_at = U.iso_timestamp()
  local resp, err = W.post(cfg.target, ev.body, { { "Allawee-Signature", signature } },
    U.now() + timeout_ms / 1000, wait)
  log(state, J.ordered(LOG_KEYS, {
    event = ev.type, id = ev.id, attempt = attempt, url = cfg.target.url,
    status = resp and resp.status or J.null, error = err or J.null,
    reply = resp and resp.body:sub(1, W.LOGGED_REPLY) or J.null,
    signature = signature, body = ev.body, sentAt = sent_at,
  }))
  return resp, err
end

-- Delivers each event in turn until its receiver answers 200, at most
-- cfg.max_attempts times each, cfg.retry_interval_ms apart.
function W.deliver_until_ok(state, cfg, events, wait)
  for _, ev in ipairs(events) do
    for attempt = 1, cfg.max_attempts do
      local resp = W.deliver(state, cfg, ev, attempt, cfg.timeout_ms, wait)
      if resp and resp.status == 200 then break end
      if attempt < cfg.max_attempts then wait("sleep", U.now() + cfg.retry_interval_ms / 1000) end
    end
  end
end

return W
