--[[
allawee.sandbox: a local double of the Allawee API, for tests.

    local sandbox = require "allawee.sandbox"
    local srv = sandbox.new{ host = "127.0.0.1", port = 0 }  -- port 0: any free port
    print(srv.url)          --> http://127.0.0.1:43211
    srv:run()               -- serve until POST /_sandbox/shutdown
    -- or, embedded in another loop:  while srv:step(0.05) do ... end

It speaks HTTP/1.1 with keep-alive on plain luasocket. Every connection is a
coroutine, and so is every background job (webhook redeliveries, delayed
GRP completions); one loop waits on socket.select and on timers, so a
delayed or slowly streamed answer, or a webhook waiting for its receiver,
never holds back the other connections.

This file is the server: HTTP, scenarios (faults), control routes, routing.
The resources live in allawee/sandbox/<resource>.lua, their data in
allawee/sandbox/store.lua, the webhooks the sandbox sends in
allawee/sandbox/webhooks.lua. See docs/sandbox.md.

Runs on Lua 5.1 to 5.4 and LuaJIT (signed webhooks need 5.3+): no goto, no
integer division, no yields across pcall on 5.1.
]]

local socket = require "socket"
local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local Store = require "allawee.sandbox.store"
local Router = require "allawee.sandbox.router"
local W = require "allawee.sandbox.webhooks"
local customers = require "allawee.sandbox.customers"
local accounts = require "allawee.sandbox.accounts"
local programs = require "allawee.sandbox.programs"
local cards = require "allawee.sandbox.cards"
local authorizations = require "allawee.sandbox.authorizations"
local requests = require "allawee.sandbox.requests"

local M = { _VERSION = "0.2.0" }

local READ_SIZE = 64 * 1024       -- bytes asked from the socket per read
local CHUNK_SIZE = 64 * 1024      -- bytes written per turn of the loop
local MAX_HEAD = 64 * 1024        -- request line + headers
local DEFAULT_MAX_BODY = 64 * 1024 * 1024
local DEFAULT_IDLE_TIMEOUT = 60   -- seconds a connection may sit idle
local TRUNCATE_MISSING = 64       -- bytes promised but never sent by fault=truncate
local DEFAULT_HUGE_HEADER = 256 * 1024
local CONTROL_PREFIX = "/_sandbox/"
local REDACTED = "[redacted]"

local ordered, as_array, encode, decode = J.ordered, J.array, J.encode, J.decode
local json_reply, code_reply, success_reply = U.json_reply, U.code_reply, U.success_reply

M.encode, M.array, M.ordered = encode, as_array, ordered
M.TEST_CARD = cards.TEST_CARD
M.WEBHOOKS_AVAILABLE, M.WEBHOOKS_UNAVAILABLE = W.AVAILABLE, W.UNAVAILABLE

-- Lua 5.1 cannot yield across pcall; 5.2+ and LuaJIT can. Handlers may
-- wait on the loop (webhooks), so they are only protected where that works.
local YIELDABLE_PCALL = (function()
  local co = coroutine.create(function() return pcall(coroutine.yield, "out") end)
  local ok, v = coroutine.resume(co)
  return ok and v == "out"
end)()

-- The loop's wait, for code inside a connection's or a job's coroutine:
-- yields ("read"|"write"|"sleep", deadline, socket); true when the socket
-- is ready, false when the deadline passed.
local function wait(kind, deadline, sock)
  return coroutine.yield(kind, deadline, sock)
end

local function http_date()
  return os.date("!%a, %d %b %Y %H:%M:%S GMT")
end

local function html_escape(s)
  return (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

---------------------------------------------------------------------------
-- Replies: what to answer, before any byte is written
--
-- A reply is a table: status, content_type, body (a string) or stream (a
-- function returning a chunk iterator) with length, extra headers, and the
-- delivery faults set by a scenario (truncate, slow_body, stale...).
---------------------------------------------------------------------------

local REASONS = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [304] = "Not Modified", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
  [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [413] = "Payload Too Large", [422] = "Unprocessable Entity",
  [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function reason(status) return REASONS[status] or "Status " .. status end

local function html_page(status, message)
  local title = status .. " " .. reason(status)
  return "<!DOCTYPE html>\n<html>\n<head><title>" .. title .. "</title></head>\n<body>\n<center><h1>"
    .. title .. "</h1></center>\n<p>" .. html_escape(message) .. "</p>\n</body>\n</html>\n"
end

local function html_reply(status, message)
  return { status = status, content_type = "text/html; charset=utf-8", body = html_page(status, message), headers = {} }
end

-- Fill strings are built once per character and shared by every stream.
local fill_cache = {}
local function fill_chunk(char)
  local chunk = fill_cache[char]
  if not chunk then
    chunk = string.rep(char, CHUNK_SIZE)
    fill_cache[char] = chunk
  end
  return chunk
end

-- A streamed body made of segments {text=...} or {fill=char, count=n}, so a
-- 64 MiB answer never exists as one string. Returns the stream and its length.
local function segment_stream(segments)
  local length = 0
  for _, seg in ipairs(segments) do length = length + (seg.text and #seg.text or seg.count) end
  local function stream()
    local i, left = 0, 0
    return function()
      while left == 0 do
        i = i + 1
        local seg = segments[i]
        if not seg then return nil end
        if seg.text then
          if seg.text ~= "" then return seg.text end
        else
          left = seg.count
        end
      end
      local n = math.min(left, CHUNK_SIZE)
      left = left - n
      local chunk = fill_chunk(segments[i].fill)
      return n == CHUNK_SIZE and chunk or chunk:sub(1, n)
    end
  end
  return stream, length
end

-- The secret key must be a test key: "Bearer sk.test.<something>".
local function is_test_key(auth)
  return auth ~= nil and auth:match("^[Bb]earer sk%.test%.%S+$") ~= nil
end

---------------------------------------------------------------------------
-- Scenarios: "key=value,key=value" chosen per request
---------------------------------------------------------------------------

local DEFAULT_CODES = {
  [400] = "bad-request", [401] = "unauthorized", [403] = "forbidden", [404] = "not-found",
  [409] = "reference-conflict", [429] = "too-many-requests", [500] = "application-error",
  [503] = "service-unavailable",
}

local DEFAULT_MESSAGES = {
  [400] = "Bad request", [401] = "Invalid or missing secret key", [403] = "Forbidden",
  [404] = "Not found", [409] = "A customer with this reference already exists",
  [429] = "Too many requests", [500] = "An application error occurred",
  [503] = "Service temporarily unavailable",
}

local ACCEPTED_BODY = '{"code":"request-accepted","message":"Request accepted and will be processed'
  .. ' asynchronously","error":{"code":"service-unavailable","message":"Service temporarily unavailable"}}'

-- Faults that decide the whole answer (status and body). status= overrides
-- their status code. Each returns a reply.
local CONTENT_FAULTS = {
  nonjson = function()
    return { status = 200, content_type = "application/json", body = "this is not json", headers = {} }
  end,
  empty = function()
    return { status = 200, content_type = "application/json", body = "", headers = {} }
  end,
  html502 = function()
    return html_reply(502, "The upstream server returned an invalid response.")
  end,
  accepted = function()
    return { status = 202, content_type = "application/json", body = ACCEPTED_BODY, headers = {} }
  end,
  envelope_error = function()
    return code_reply(200, "error", "something")
  end,
  huge = function(sc)
    local prefix, suffix = '{"code":"success","data":{"padding":"', '"}}'
    local size = sc.size or 64 * 1024 * 1024
    local segments
    if size >= #prefix + #suffix then
      segments = { { text = prefix }, { fill = "a", count = size - #prefix - #suffix }, { text = suffix } }
    else
      segments = { { text = (prefix .. suffix):sub(1, size) } }
    end
    local stream, length = segment_stream(segments)
    return { status = 200, content_type = "application/json", stream = stream, length = length, headers = {} }
  end,
  bad_utf8 = function(_, body)
    local customer = customers.build(body)
    customer.name = (type(customer.name) == "string" and customer.name or "Sandbox Customer") .. "\255\254"
    return success_reply(201, customer)
  end,
  deep = function(sc)
    local depth = sc.depth or 10000
    local stream, length = segment_stream({
      { text = '{"code":"success","data":' }, { fill = "[", count = depth },
      { fill = "]", count = depth }, { text = "}" },
    })
    return { status = 201, content_type = "application/json", stream = stream, length = length, headers = {} }
  end,
}

-- Faults that change how an answer is delivered, or whether at all.
local DELIVERY_FAULTS = {
  close = true, truncate = true, close_mid_body = true, slow_headers = true,
  slow_body = true, stale = true, no_request_id = true, huge_header = true,
  chunked = true, bad_chunked = true,
}

local function parse_count(value, key, min, max)
  local n = tonumber(value)
  if not n or n % 1 ~= 0 or n < min or (max and n > max) then
    return nil, ("%s must be an integer %s"):format(key, max and ("from %d to %d"):format(min, max)
      or (">= %d"):format(min))
  end
  return n
end

local NUMBER_KEYS = { -- key = {min, max}
  status = { 200, 599 }, times = { 0 }, delay = { 0 }, interval = { 0 }, size = { 0 }, depth = { 0 },
  commit = { 0, 1 }, pagination = { 0, 1 }, complete_after = { 0 },
}

local function add_faults(sc, value)
  for name in value:gmatch("[^+]+") do
    if not CONTENT_FAULTS[name] and not DELIVERY_FAULTS[name] then
      return ("unknown fault '%s'"):format(name)
    end
    sc.faults[name] = true
    sc.fault_list[#sc.fault_list + 1] = name
  end
end

-- Keys that only make sense together with another one: a typo or a missing
-- key should fail loudly instead of silently doing nothing.
local function dependency_problem(sc)
  local f = sc.faults
  for _, key in ipairs({ "shape", "code", "message" }) do
    if sc[key] and not sc.status then return key .. "= needs status=" end
  end
  if sc.interval and not (f.slow_headers or f.slow_body) then
    return "interval= needs fault=slow_headers or fault=slow_body"
  end
  if sc.size and not (f.huge or f.huge_header) then return "size= needs fault=huge or fault=huge_header" end
  if sc.depth and not f.deep then return "depth= needs fault=deep" end
  if sc.complete_after and not f.accepted then return "complete_after= needs fault=accepted" end
  if sc.commit == 1 and f.accepted then
    return "commit=1 cannot be combined with fault=accepted (GRP runs the request when it completes)"
  end
  if (f.chunked or f.bad_chunked) and (f.truncate or f.close_mid_body) then
    return "fault=chunked and fault=bad_chunked cannot be combined with truncate or close_mid_body"
  end
end

local function parse_entry(sc, key, value)
  if NUMBER_KEYS[key] then
    local range = NUMBER_KEYS[key]
    local n, err = parse_count(value, key, range[1], range[2])
    if not n then return err end
    sc[key] = n
  elseif key == "shape" then
    if value ~= "code" and value ~= "statusCode" and value ~= "html" then
      return "shape must be code, statusCode or html"
    end
    sc.shape = value
  elseif key == "code" or key == "message" then
    sc[key] = value
  elseif key == "retry_after" then
    if value == "" or value:find("[%c]") then return "retry_after must be a header value" end
    sc.retry_after = value
  elseif key == "fault" then
    return add_faults(sc, value)
  else
    return ("unknown key '%s'"):format(key)
  end
end

-- Parses "status=503,retry_after=2,times=1" into a table; nil, message on error.
local function parse_scenario(spec)
  local sc = { faults = {}, fault_list = {} }
  for item in spec:gmatch("[^,]+") do
    local key, value = item:match("^([^=]+)=(.*)$")
    if not key then return nil, ("scenario item '%s' is not key=value"):format(item) end
    local problem = parse_entry(sc, U.url_decode(key), U.url_decode(value))
    if problem then return nil, "scenario: " .. problem end
  end
  local problem = dependency_problem(sc)
  if problem then return nil, "scenario: " .. problem end
  return sc
end

M.parse_scenario = parse_scenario

-- The error body of status=N in the chosen shape.
local function status_reply(sc)
  local status = sc.status
  local message = sc.message or DEFAULT_MESSAGES[status] or reason(status)
  if sc.shape == "html" then return html_reply(status, message) end
  if sc.shape == "statusCode" then return U.status_code_reply(status, message) end
  return code_reply(status, sc.code or DEFAULT_CODES[status] or "application-error", message)
end

-- The answer a scenario imposes, or nil when the request is served normally
-- (only delivery faults, or none). Without commit=1, such imposed answers
-- never create; `committed` is the answer of a request commit=1 already ran.
local function fault_reply(sc, body, committed)
  for _, name in ipairs(sc.fault_list) do
    local build = CONTENT_FAULTS[name]
    if build then
      local reply = build(sc, body)
      reply.status = sc.status or reply.status
      return reply
    end
  end
  if sc.status then return status_reply(sc) end
  if (sc.faults.truncate or sc.faults.close_mid_body) and not committed then
    return success_reply(201, customers.build(body))
  end
end

local function apply_delivery(reply, sc)
  local f = sc.faults
  reply.truncate, reply.close_mid_body, reply.stale = f.truncate, f.close_mid_body, f.stale
  reply.slow_headers, reply.slow_body = f.slow_headers, f.slow_body
  reply.no_request_id = f.no_request_id
  reply.chunked, reply.bad_chunked = f.chunked or f.bad_chunked, f.bad_chunked
  reply.interval = (sc.interval or 1000) / 1000
  if sc.retry_after then
    reply.headers[#reply.headers + 1] = { "Retry-After", sc.retry_after }
  end
  if f.huge_header then
    reply.headers[#reply.headers + 1] = { "X-Sandbox-Padding", string.rep("a", sc.size or DEFAULT_HUGE_HEADER) }
  end
end

---------------------------------------------------------------------------
-- HTTP framing
---------------------------------------------------------------------------

-- Parses the request line and headers. Header names are lowercased; a
-- repeated header is joined with ", " as RFC 9110 allows.
local function parse_head(head)
  local lines = {}
  for line in (head .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  local method, target, version = lines[1]:match("^(%S+) (%S+) HTTP/(%d%.%d)$")
  if not method then return nil, "malformed request line" end
  local headers = {}
  for i = 2, #lines do
    local name, value = lines[i]:match("^([^:%s]+):%s*(.-)%s*$")
    if not name then return nil, "malformed header line" end
    name = name:lower()
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  return { method = method, target = target, version = version, headers = headers }
end

local function wants_keep_alive(req)
  local connection = (req.headers["connection"] or ""):lower()
  if req.version == "1.0" then return connection:find("keep-alive", 1, true) ~= nil end
  return connection:find("close", 1, true) == nil
end

local function body_length(reply)
  return reply.stream and reply.length or #reply.body
end

-- 204 and 304 answers carry neither a body nor Content-Length (RFC 9110).
local function bodiless(status) return status == 204 or status == 304 end

local function build_head(reply, declared_length, keep, request_id)
  local lines = { ("HTTP/1.1 %d %s"):format(reply.status, reason(reply.status)) }
  local function add(name, value) lines[#lines + 1] = name .. ": " .. value end
  add("Content-Type", reply.content_type)
  if reply.chunked then
    add("Transfer-Encoding", "chunked")
  elseif not bodiless(reply.status) then
    add("Content-Length", tostring(declared_length))
  end
  if not reply.no_request_id then add("x-request-id", request_id or U.new_request_id()) end
  add("Date", http_date())
  add("Connection", keep and "keep-alive" or "close")
  if reply.secret then add("Cache-Control", "no-store") end -- card secrets
  for _, h in ipairs(reply.headers) do add(h[1], h[2]) end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

-- Iterates over the body in chunks, whether it is a string or a stream.
local function body_chunks(reply)
  if reply.stream then return reply.stream() end
  local body = reply.body
  return function()
    local chunk = body
    body = nil
    if chunk ~= "" then return chunk end
  end
end

---------------------------------------------------------------------------
-- Connections: one coroutine each. The methods below run inside it and
-- yield ("read"|"write"|"sleep", deadline[, socket]) to the loop, which
-- resumes them with true (socket ready) or false (deadline passed).
---------------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

-- (A plain function: the wait is the coroutine's, not the object's.)
function Conn.wait(_, kind, deadline)
  return wait(kind, deadline)
end

function Conn:sleep(seconds)
  self:wait("sleep", socket.gettime() + seconds)
end

-- Lets the other connections run before we go on (a deadline in the past
-- resumes us on the next turn).
function Conn:pause()
  self:wait("sleep", 0)
end

function Conn:deadline()
  local idle = self.server.idle_timeout
  return idle and socket.gettime() + idle or nil
end

-- Appends whatever the socket has to self.buf; false when the peer closed,
-- failed or stayed idle too long. We only wait after a read came back empty,
-- so luasocket's own buffer is drained whenever select decides for us.
function Conn:fill()
  while true do
    local data, err, partial = self.sock:receive(READ_SIZE)
    data = data or partial
    if data and data ~= "" then
      self.buf = self.buf .. data
      return true
    end
    if err ~= "timeout" then return false end
    if not self:wait("read", self:deadline()) then return false end
  end
end

-- Exactly n bytes, gathered in a table so that a large body is joined once.
function Conn:read_exact(n)
  local parts, have = {}, 0
  while true do
    local buf = self.buf
    if have + #buf >= n then
      local need = n - have
      parts[#parts + 1] = buf:sub(1, need)
      self.buf = buf:sub(need + 1)
      return table.concat(parts)
    end
    parts[#parts + 1] = buf
    have = have + #buf
    self.buf = ""
    if not self:fill() then return nil end
  end
end

function Conn:read_line()
  while true do
    local s, e = self.buf:find("\r?\n")
    if s then
      local line = self.buf:sub(1, s - 1)
      self.buf = self.buf:sub(e + 1)
      return line
    end
    if #self.buf > MAX_HEAD then return nil end
    if not self:fill() then return nil end
  end
end

-- The request line and headers, without the blank line that ends them.
function Conn:read_head()
  while true do
    -- Stray CRLFs between requests are ignored (RFC 9112, section 2.2).
    self.buf = self.buf:gsub("^[\r\n]+", "")
    local s, e = self.buf:find("\r?\n\r?\n")
    if s then
      local head = self.buf:sub(1, s - 1)
      self.buf = self.buf:sub(e + 1)
      return head
    end
    if #self.buf > MAX_HEAD then return nil, 431, "request head too large" end
    if not self:fill() then return nil end
  end
end

function Conn:read_chunked(max_body)
  local parts, total = {}, 0
  while true do
    local line = self:read_line()
    if not line then return nil end
    local size = tonumber(line:match("^%s*(%x+)") or "", 16)
    if not size then return nil, 400, "malformed chunk size" end
    if size == 0 then
      repeat -- trailer fields, ignored
        line = self:read_line()
        if not line then return nil end
      until line == ""
      return table.concat(parts)
    end
    total = total + size
    if total > max_body then return nil, 413, "request body too large" end
    local data = self:read_exact(size)
    if not data then return nil end
    parts[#parts + 1] = data
    if self:read_line() ~= "" then return nil, 400, "malformed chunk" end
  end
end

-- curl and others wait for "100 Continue" before sending a large body.
function Conn:continue_if_expected(req)
  if (req.headers["expect"] or ""):lower() == "100-continue" then
    return self:send_all("HTTP/1.1 100 Continue\r\n\r\n")
  end
  return true
end

function Conn:read_body(req)
  local max_body = self.server.max_body
  local te, cl = req.headers["transfer-encoding"], req.headers["content-length"]
  if te then
    if not te:lower():find("chunked", 1, true) then return nil, 501, "unsupported Transfer-Encoding" end
    if not self:continue_if_expected(req) then return nil end
    return self:read_chunked(max_body)
  end
  if not cl then return "" end
  if not cl:match("^%d+$") then return nil, 400, "invalid Content-Length" end
  local n = tonumber(cl)
  if n > max_body then return nil, 413, "request body too large" end
  if n == 0 then return "" end
  if not self:continue_if_expected(req) then return nil end
  return self:read_exact(n)
end

-- The next request; nil when the connection ended, or nil, status, message
-- when the request is malformed (answered, then the connection is closed).
function Conn:read_request()
  local head, status, message = self:read_head()
  if not head then return nil, status, message end
  local req, problem = parse_head(head)
  if not req then return nil, 400, problem end
  local body
  body, status, message = self:read_body(req)
  if not body then return nil, status, message end
  req.body = body
  req.time = socket.gettime()
  return req
end

function Conn:send_all(data)
  local i = 1
  while i <= #data do
    local last, err, partial = self.sock:send(data, i)
    if last then return true end
    if err ~= "timeout" then return false end
    i = partial + 1
    if not self:wait("write", self:deadline()) then return false end
  end
  return true
end

-- One byte at a time, `interval` seconds apart; `started` says a byte went
-- out just before this data, so the first one waits too.
function Conn:send_slowly(data, interval, started)
  for i = 1, #data do
    if started or i > 1 then self:sleep(interval) end
    if not self:send_all(data:sub(i, i)) then return false end
  end
  return true
end

-- Sends the body, at most `limit` bytes of it; slowly when interval is set.
function Conn:send_body(reply, limit, interval)
  local sent = 0
  for chunk in body_chunks(reply) do
    if limit and sent + #chunk > limit then chunk = chunk:sub(1, limit - sent) end
    local ok
    if interval then
      ok = self:send_slowly(chunk, interval, sent > 0)
    else
      -- One chunk per turn, so a huge body does not starve the others; the
      -- pause comes between chunks only, so the connection is closed as soon
      -- as the last byte is out (a client may look at the stats right then).
      if sent > 0 then self:pause() end
      ok = self:send_all(chunk)
    end
    if not ok then return false end
    sent = sent + #chunk
    if limit and sent >= limit then break end
  end
  return true
end

-- The body with Transfer-Encoding: chunked framing. A string body goes out
-- as two chunks (so a client must join them). bad_chunked: after the first
-- chunk, a chunk-size line that is not hex ("xyz"), the rest unframed, and
-- no terminating chunk; false then (the connection must close).
function Conn:send_chunked(reply, interval)
  local started = false
  local function put(data)
    local ok
    if interval then ok = self:send_slowly(data, interval, started) else ok = self:send_all(data) end
    started = true
    return ok
  end
  for chunk in body_chunks(reply) do
    local pieces = { chunk }
    if not reply.stream and #chunk >= 2 then
      local half = math.floor(#chunk / 2)
      pieces = { chunk:sub(1, half), chunk:sub(half + 1) }
    end
    for _, piece in ipairs(pieces) do
      if reply.bad_chunked and started then
        put("xyz\r\n" .. piece)
        return false
      end
      if started and not interval then self:pause() end
      if not put(("%x\r\n"):format(#piece) .. piece .. "\r\n") then return false end
    end
  end
  if reply.bad_chunked then
    put("xyz\r\n")
    return false
  end
  return put("0\r\n\r\n")
end

-- Writes a reply with its delivery faults; true when the connection stays open.
function Conn:write_reply(reply, keep)
  local length = body_length(reply)
  local declared, limit = length, nil
  if reply.truncate then
    declared, keep = length + TRUNCATE_MISSING, false
  elseif reply.close_mid_body then
    limit, keep = math.floor(length / 2), false
  end
  if reply.bad_chunked then keep = false end
  if bodiless(reply.status) then
    limit = 0
    reply.chunked = nil
  end
  -- The id recorded for this request (Server:record), so tests can match
  -- what a client reports against what was sent; one use only.
  local head = build_head(reply, declared, keep, self.request_id)
  self.request_id = nil
  local ok
  if reply.slow_headers then
    ok = self:send_slowly(head, reply.interval)
  else
    ok = self:send_all(head)
  end
  local interval = reply.slow_body and reply.interval
  if ok then
    if reply.chunked then
      ok = self:send_chunked(reply, interval)
    else
      ok = self:send_body(reply, limit, interval)
    end
  end
  -- stale: the headers promised keep-alive, yet we hang up right away.
  return ok and keep and not reply.stale
end

function Conn:close()
  if self.closed then return end
  self.closed = true
  self.sock:close()
end

function Conn:serve()
  while true do
    local req, status, message = self:read_request()
    if not req then
      if status then
        local code = status < 500 and "bad-request" or "application-error"
        self:write_reply(code_reply(status, code, message), false)
      end
      return
    end
    if not self.server:handle(self, req) then return end
  end
end

---------------------------------------------------------------------------
-- The server
---------------------------------------------------------------------------

local Server = {}
Server.__index = Server

local ROUTER = Router.new({ customers, accounts, programs, cards, authorizations, requests })

local RECORD_KEYS = { "method", "path", "version", "headers", "body", "connection", "time",
  "request_id", "host" }

function Server:reset()
  self.epoch = self.epoch + 1        -- connections accepted before stop counting
  self.counts = { connections = 0, requests = 0 }
  self.records = {}
  self.times_seen = {}               -- scenario match key -> requests seen
  self.posts_by_reference = {}       -- body reference -> POSTs that arrived
  self.store = Store.new()           -- customers, accounts, cards, ...: all empty
  self.hooks = { config = nil, deliveries = {} } -- the webhook receiver and its log
  self.settings = { pagination = false }
  for _, task in ipairs(self.tasks or {}) do self:end_task(task) end -- pending redeliveries
  self.tasks = {}
end

function Server:log(fmt, ...)
  if self.logger then self.logger(fmt:format(...)) end
end

-- A connection whose first request is a control request belongs to the test
-- harness: it is taken out of the counts so they only show the client's.
function Server:classify(conn, is_control)
  conn.nreq = conn.nreq + 1
  if conn.nreq == 1 and is_control then
    conn.control = true
    if conn.epoch == self.epoch then self.counts.connections = self.counts.connections - 1 end
  end
end

-- pan, cvv and pin anywhere in a decoded body, replaced.
local SECRET_FIELDS = { pan = true, cvv = true, pin = true }
local function redact_secrets(v, depth)
  if type(v) ~= "table" or depth > 64 then return end
  for k, child in pairs(v) do
    if SECRET_FIELDS[k] then v[k] = REDACTED else redact_secrets(child, depth + 1) end
  end
end

-- What the record keeps of a request body: on a secure route, or on the
-- secure listener, the body with pan/cvv/pin redacted (re-encoded), or
-- only a marker if it does not parse.
local function recorded_body(req, secure)
  if not secure or req.body == "" then return req.body end
  local doc = decode(req.body)
  if type(doc) ~= "table" then return "[redacted: a body on a secure route that is not JSON]" end
  redact_secrets(doc, 0)
  return encode(doc)
end

function Server:record(conn, req, api_path)
  conn.request_id = U.new_request_id()   -- the x-request-id its answer will carry
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  -- Only a test key is kept: a live key must not be served back by
  -- GET /_sandbox/requests (which has no authentication).
  if headers["authorization"] and not is_test_key(headers["authorization"]) then
    headers["authorization"] = "[redacted: not a test key]"
  end
  local secure = conn.host == "secure" or ROUTER:is_secure_path(api_path)
  self.records[#self.records + 1] = ordered(RECORD_KEYS, {
    method = req.method, path = req.target, version = req.version, headers = headers,
    body = recorded_body(req, secure), connection = conn.id, time = req.time, request_id = conn.request_id,
    host = conn.host,
  })
end

-- The hidden-resend detector: every POST whose JSON body has a string
-- `reference` counts, answered or not.
function Server:count_post(req)
  if req.method ~= "POST" then return end
  local body = req.json_body
  if type(body) == "table" and type(body.reference) == "string" then
    self.posts_by_reference[body.reference] = (self.posts_by_reference[body.reference] or 0) + 1
  end
end

function Server:open_connections()
  local n = 0
  for _, conn in ipairs(self.conns) do
    if not conn.closed and not conn.control then n = n + 1 end
  end
  return n
end

---------------------------------------------------------------------------
-- Background jobs: coroutines on the same loop as the connections
---------------------------------------------------------------------------

-- Runs fn(wait) as a job from the next turn of the loop on.
function Server:spawn(fn)
  self.next_task = (self.next_task or 0) + 1
  local task = { id = self.next_task, wait_kind = "sleep", wait_until = 0 }
  task.co = coroutine.create(function() return fn(wait) end)
  self.tasks[#self.tasks + 1] = task
  return task
end

function Server.end_task(_, task)
  if task.closed then return end
  task.closed = true
  if task.wait_sock then task.wait_sock:close() end -- its outgoing connection, if any
end

---------------------------------------------------------------------------
-- Answering API requests
---------------------------------------------------------------------------

local function call_handler(route, ctx)
  if not YIELDABLE_PCALL then return route.handler(ctx) end
  local ok, reply = pcall(route.handler, ctx)
  if ok then return reply end
  return code_reply(500, "application-error", "sandbox bug: " .. tostring(reply))
end

-- The service's answer to req for `path` (without any scenario prefix), as
-- if it came in on `host` ("api" or "secure"). sc: the scenario, if any.
-- May wait on the loop (simulations wait for the webhook receiver).
function Server:dispatch(req, path, host, sc)
  local route, params = ROUTER:match(req.method, path)
  if not route then return code_reply(404, "not-found", ("Cannot %s %s"):format(req.method, path)) end
  if host == "secure" and not route.secure then
    return code_reply(404, "not-found", ("Cannot %s %s on the secure host"):format(req.method, path))
  end
  if not is_test_key(req.headers["authorization"]) then
    return code_reply(401, "unauthorized",
      "Invalid or missing secret key: expected 'Authorization: Bearer sk.test.<key>'")
  end
  local server, store = self, self.store
  local ctx = {
    store = store, hooks = self.hooks, req = req, params = params, host = host, wait = wait,
    query = U.parse_query(req.target:match("%?([^#]*)")),
    pagination = self.settings.pagination or (sc ~= nil and sc.pagination == 1),
    -- background jobs of a request that outlived a reset are dropped
    spawn = function(fn) if server.store == store then return server:spawn(fn) end end,
  }
  if route.body == "object" or route.body == "optional" then
    if route.body == "optional" and req.body:match("^%s*$") then
      ctx.json = {}
    else
      local body, err = decode(req.body)
      if err then return code_reply(400, "bad-request", "the request body is not valid JSON: " .. err) end
      if not J.is_object(body) then return code_reply(400, "bad-request", "the request body must be a JSON object") end
      ctx.json = body
    end
  end
  return call_handler(route, ctx)
end

-- `times=N` counts requests per (scenario, Idempotency-Key or reference):
-- the first N get the fault, later ones (a client's retries) are served.
function Server:scenario_applies(sc, spec, req, body)
  if not sc.times then return true end
  local key = req.headers["idempotency-key"]
  if not key then
    key = type(body) == "table" and type(body.reference) == "string" and body.reference or ""
  end
  key = spec .. "\0" .. key
  local seen = (self.times_seen[key] or 0) + 1
  self.times_seen[key] = seen
  return seen <= sc.times
end

-- Keeps a request answered 202 by fault=accepted (GRP), and completes it
-- after complete_after= ms if asked.
function Server:keep_accepted(conn, req, path, sc)
  local rec = requests.keep(self.store, conn.request_id or U.new_request_id(), req, path, conn.host)
  if sc.complete_after then
    local server, store = self, self.store
    self:spawn(function(w)
      w("sleep", socket.gettime() + sc.complete_after / 1000)
      if server.store == store and rec.public.status == "pending" then server:complete_request(rec) end
    end)
  end
end

function Server:complete_request(rec)
  local server, store = self, self.store
  return requests.complete(rec, function(req, path, host) return server:dispatch(req, path, host) end,
    self.hooks, function(fn) if server.store == store then return server:spawn(fn) end end)
end

function Server:api_request(conn, req, path, spec)
  local keep = wants_keep_alive(req)
  local host = conn.host
  if not spec or spec == "" then return conn:write_reply(self:dispatch(req, path, host), keep) end
  local sc, err = parse_scenario(spec)
  if not sc then return conn:write_reply(code_reply(400, "sandbox-invalid-scenario", err), keep) end
  local body = req.json_body
  if not self:scenario_applies(sc, spec, req, body) then
    return conn:write_reply(self:dispatch(req, path, host, sc), keep)
  end
  -- commit=1: the request takes effect first, whatever the answer becomes.
  local committed = sc.commit == 1 and self:dispatch(req, path, host, sc) or nil
  if sc.delay then conn:sleep(sc.delay / 1000) end
  if sc.faults.close then return false end
  local reply = fault_reply(sc, body, committed) or committed or self:dispatch(req, path, host, sc)
  if sc.faults.accepted then self:keep_accepted(conn, req, path, sc) end
  apply_delivery(reply, sc)
  return conn:write_reply(reply, keep)
end

---------------------------------------------------------------------------
-- Control routes (/_sandbox/...): the test harness's, never counted
---------------------------------------------------------------------------

local CONTROL = {}

CONTROL["GET /_sandbox/stats"] = function(self)
  return json_reply(200, ordered({ "connections", "requests", "open_connections" }, {
    connections = self.counts.connections, requests = self.counts.requests,
    open_connections = self:open_connections(),
  }))
end

CONTROL["GET /_sandbox/requests"] = function(self)
  return json_reply(200, as_array(self.records))
end

CONTROL["GET /_sandbox/posts_by_reference"] = function(self)
  return json_reply(200, self.posts_by_reference)
end

CONTROL["POST /_sandbox/reset"] = function(self)
  self:reset()
  return code_reply(200, "success", "sandbox reset")
end

local function settings_reply(self)
  return json_reply(200, ordered({ "pagination" }, { pagination = self.settings.pagination }))
end

CONTROL["GET /_sandbox/settings"] = settings_reply

CONTROL["POST /_sandbox/settings"] = function(self, req)
  local body = decode(req.body)
  if not J.is_object(body) then return code_reply(400, "bad-request", "the body must be a JSON object") end
  for k, v in pairs(body) do
    if k ~= "pagination" then return code_reply(400, "bad-request", ("unknown setting '%s'"):format(tostring(k))) end
    if type(v) ~= "boolean" then return code_reply(400, "bad-request", "pagination must be true or false") end
  end
  if body.pagination ~= nil then self.settings.pagination = body.pagination end
  return settings_reply(self)
end

local function webhooks_reply(self)
  return json_reply(200, W.public_config(self.hooks.config))
end

CONTROL["GET /_sandbox/webhooks"] = webhooks_reply

CONTROL["POST /_sandbox/webhooks"] = function(self, req)
  if not W.AVAILABLE then return code_reply(501, "not-implemented", W.UNAVAILABLE) end
  local cfg, problem = W.configure(decode(req.body))
  if not cfg then return code_reply(400, "bad-request", problem) end
  self.hooks.config = cfg
  return webhooks_reply(self)
end

CONTROL["DELETE /_sandbox/webhooks"] = function(self)
  self.hooks.config = nil
  return webhooks_reply(self)
end

CONTROL["GET /_sandbox/webhooks/deliveries"] = function(self)
  return json_reply(200, as_array(self.hooks.deliveries))
end

-- POST /_sandbox/grp/<id>/complete | cancel
local function grp_control(self, req, path)
  local id, action = path:match("^/_sandbox/grp/([^/]+)/(%a+)$")
  if req.method ~= "POST" or (action ~= "complete" and action ~= "cancel") then return nil end
  local rec = self.store:get("request", U.url_decode(id))
  if not rec then return U.not_found("request", U.url_decode(id)) end
  local public, conflict
  if action == "complete" then
    public, conflict = self:complete_request(rec)
  else
    public, conflict = requests.cancel(rec)
  end
  return conflict or json_reply(200, public)
end

function Server:control(conn, req, path)
  local keep = wants_keep_alive(req)
  local action = req.method .. " " .. path
  if action == "POST /_sandbox/shutdown" then
    conn:write_reply(code_reply(200, "success", "shutting down"), false)
    self.stopping = true
    return false
  end
  local handler = CONTROL[action]
  local reply = handler and handler(self, req) or grp_control(self, req, path)
  return conn:write_reply(reply or code_reply(404, "not-found", "Cannot " .. action), keep)
end

-- Answers one request; true when the connection stays open for the next.
function Server:handle(conn, req)
  local path = req.target:match("^[^?#]*")
  local is_control = path:sub(1, #CONTROL_PREFIX) == CONTROL_PREFIX
  self:classify(conn, is_control)
  if is_control then return self:control(conn, req, path) end
  self.counts.requests = self.counts.requests + 1
  local spec, rest = path:match("^/_scenario/([^/]*)(/.*)$")
  if spec then path = rest else spec = req.headers["x-sandbox-scenario"] end
  if req.method ~= "GET" and req.body ~= "" then req.json_body = decode(req.body) end
  self:record(conn, req, path)
  self:count_post(req)
  self:log("#%d %s %s %s", conn.id, conn.host, req.method, req.target)
  return self:api_request(conn, req, path, spec)
end

---------------------------------------------------------------------------
-- The loop
---------------------------------------------------------------------------

-- Runs a connection's or a job's coroutine until it waits again (or ends).
function Server:resume(t, ready)
  t.wait_kind, t.wait_until, t.wait_sock = nil, nil, nil
  local ok, kind, deadline, sock = coroutine.resume(t.co, ready)
  if not ok then
    self:log("%s #%d failed: %s", t.sock and "connection" or "job", t.id, tostring(kind))
    if t.sock then t:close() else self:end_task(t) end
  elseif coroutine.status(t.co) == "dead" then
    if t.sock then t:close() else t.closed = true end
  else
    t.wait_kind, t.wait_until, t.wait_sock = kind, deadline, sock
  end
end

function Server:add_connection(sock, host)
  sock:settimeout(0)
  sock:setoption("tcp-nodelay", true) -- slow_* faults send single bytes
  self.next_id = self.next_id + 1
  local conn = setmetatable({
    id = self.next_id, sock = sock, server = self, buf = "", epoch = self.epoch, nreq = 0, host = host,
  }, Conn)
  conn.co = coroutine.create(function() return conn:serve() end)
  self.counts.connections = self.counts.connections + 1
  self.conns[#self.conns + 1] = conn
  self:resume(conn)
end

function Server:accept_all(listener)
  while true do
    local sock = listener.sock:accept()
    if not sock then return end
    self:add_connection(sock, listener.host)
  end
end

local function live(list)
  local out = {}
  for _, t in ipairs(list) do
    if not t.closed then out[#out + 1] = t end
  end
  return out
end

function Server:sweep()
  self.conns = live(self.conns)
  self.tasks = live(self.tasks)
end

-- One turn of the loop: wait up to timeout_s seconds (nil: until something
-- happens) for sockets or timers, then run whatever is ready.
-- Returns false once the server is closed.
function Server:step(timeout_s)
  if self.closed then return false end
  local now = socket.gettime()
  local wake = timeout_s and now + timeout_s or math.huge
  local recvt, sendt, current = {}, {}, {}
  for _, l in ipairs(self.listeners) do recvt[#recvt + 1] = l.sock end
  local function add(t)
    current[#current + 1] = t
    local sock = t.wait_sock or t.sock
    if t.wait_kind == "read" then
      recvt[#recvt + 1] = sock
    elseif t.wait_kind == "write" then
      sendt[#sendt + 1] = sock
    end
    if t.wait_until and t.wait_until < wake then wake = t.wait_until end
  end
  for _, conn in ipairs(self.conns) do add(conn) end
  for _, task in ipairs(self.tasks) do add(task) end
  local readable, writable = socket.select(recvt, sendt, wake < math.huge and math.max(0, wake - now) or nil)
  now = socket.gettime()
  for _, t in ipairs(current) do
    local kind = t.wait_kind
    if not t.closed and kind then
      local sock = t.wait_sock or t.sock
      if (kind == "read" and readable[sock]) or (kind == "write" and writable[sock]) then
        self:resume(t, true)
      elseif t.wait_until and t.wait_until <= now then
        self:resume(t, false)
      end
    end
  end
  if not self.stopping then
    for _, l in ipairs(self.listeners) do
      if readable[l.sock] then self:accept_all(l) end
    end
  end
  self:sweep()
  if self.stopping then self:close() end
  return not self.closed
end

-- Serves until POST /_sandbox/shutdown (or srv:close()).
function Server:run()
  while self:step(nil) do end
  return true
end

function Server:close()
  if self.closed then return end
  self.closed = true
  for _, conn in ipairs(self.conns) do conn:close() end
  for _, task in ipairs(self.tasks) do self:end_task(task) end
  self.conns, self.tasks = {}, {}
  for _, l in ipairs(self.listeners) do l.sock:close() end
end

local function listen(host, port)
  local sock, err = socket.bind(host, port, 128)
  if not sock then return nil, ("cannot listen on %s:%s: %s"):format(host, tostring(port), err) end
  sock:settimeout(0)
  local ip, bound = sock:getsockname()
  local url = ("http://%s:%s"):format(ip:find(":", 1, true) and "[" .. ip .. "]" or ip, bound)
  return sock, ip, tonumber(bound), url
end

-- opts: host ("127.0.0.1"), port (0 = a free one), secure_port (a second
-- listener for the secure.allawee.com routes; 0 = a free one; none by
-- default), idle_timeout (seconds, false for none), max_body (bytes),
-- log (function(line)) or verbose (stderr).
function M.new(opts)
  opts = opts or {}
  local host = opts.host or "127.0.0.1"
  local sock, ip, port, url = listen(host, opts.port or 0)
  if not sock then return nil, ip end
  local listeners = { { sock = sock, host = "api" } }
  local secure_port, secure_url
  if opts.secure_port then
    local ssock, serr
    ssock, serr, secure_port, secure_url = listen(host, opts.secure_port)
    if not ssock then
      sock:close()
      return nil, serr
    end
    listeners[2] = { sock = ssock, host = "secure" }
  end
  local logger = opts.log
  if not logger and opts.verbose then
    logger = function(line) io.stderr:write("allawee-sandbox: ", line, "\n") end
  end
  local srv = setmetatable({
    host = ip, port = port, url = url, secure_port = secure_port, secure_url = secure_url,
    listener = sock, listeners = listeners, conns = {}, next_id = 0, epoch = 0, logger = logger,
    max_body = opts.max_body or DEFAULT_MAX_BODY,
    idle_timeout = opts.idle_timeout == nil and DEFAULT_IDLE_TIMEOUT or opts.idle_timeout,
  }, Server)
  srv:reset()
  return srv
end

return M
