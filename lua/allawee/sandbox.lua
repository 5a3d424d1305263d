--[[
allawee.sandbox: a local double of the Allawee API, for tests.

    local sandbox = require "allawee.sandbox"
    local srv = sandbox.new{ host = "127.0.0.1", port = 0 }  -- port 0: any free port
    print(srv.url)          --> http://127.0.0.1:43211
    srv:run()               -- serve until POST /_sandbox/shutdown
    -- or, embedded in another loop:  while srv:step(0.05) do ... end

It speaks HTTP/1.1 with keep-alive on plain luasocket. Every connection is a
coroutine; one loop waits on socket.select and on timers, so a delayed or
slowly streamed answer never holds back the other connections.
See docs/sandbox.md for the service, the scenarios and the control endpoints.
Runs on Lua 5.1 to 5.4 and LuaJIT: no goto, no integer division, no yields
across pcall (5.1 cannot yield across a C call boundary).
]]

local socket = require "socket"
local cjson = require "cjson"

local M = { _VERSION = "0.1.0" }

-- A private cjson instance, so that our settings never change the shared
-- `cjson` module that the SDK or the tests also use.
local json = cjson.new()
if json.decode_invalid_numbers then
  json.decode_invalid_numbers(false) -- NaN, Infinity and hex are not JSON
end

local READ_SIZE = 64 * 1024       -- bytes asked from the socket per read
local CHUNK_SIZE = 64 * 1024      -- bytes written per turn of the loop
local MAX_HEAD = 64 * 1024        -- request line + headers
local DEFAULT_MAX_BODY = 64 * 1024 * 1024
local DEFAULT_IDLE_TIMEOUT = 60   -- seconds a connection may sit idle
local TRUNCATE_MISSING = 64       -- bytes promised but never sent by fault=truncate
local CONTROL_PREFIX = "/_sandbox/"

---------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

local function random_string(n)
  local out = {}
  for i = 1, n do
    local k = math.random(1, #ALNUM)
    out[i] = ALNUM:sub(k, k)
  end
  return table.concat(out)
end

-- Lua 5.1-5.3 start math.random with a fixed seed: two sandboxes would then
-- hand out the same ids. Seed from the kernel (31 bits fit every version).
local function seed_random()
  local seed
  local f = io.open("/dev/urandom", "rb")
  if f then
    local b = f:read(4)
    f:close()
    if b and #b == 4 then
      seed = ((b:byte(1) % 128) * 16777216) + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4)
    end
  end
  math.randomseed(seed or math.floor((socket.gettime() * 1000) % 2147483647))
end
seed_random()

local function new_request_id() return "req_" .. random_string(24) end
local function new_customer_id() return "cus." .. random_string(17) end

-- ISO-8601 UTC with milliseconds, as the service writes createdAt/updatedAt.
local function iso_timestamp(t)
  local secs = math.floor(t)
  local ms = math.floor((t - secs) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%03dZ", ms)
end

local function http_date()
  return os.date("!%a, %d %b %Y %H:%M:%S GMT")
end

local function url_decode(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function html_escape(s)
  return (s:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- True when t holds exactly the keys 1..n (n > 0): a JSON array.
local function is_sequence(t)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return false end
    n = n + 1
  end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return n > 0
end

-- cjson decodes {} and [] alike to an empty table, so "empty" passes both checks.
local function is_object(v) return type(v) == "table" and (next(v) == nil or not is_sequence(v)) end
local function is_array(v) return type(v) == "table" and (next(v) == nil or is_sequence(v)) end
local function is_nonempty_string(v) return type(v) == "string" and v ~= "" end

---------------------------------------------------------------------------
-- JSON encoding
--
-- Our own encoder rather than cjson's: cjson 2.1.0 decodes every number as
-- a float and would echo metadata {"userId":2345} as 2345.0 on Lua 5.3+, and
-- it writes every empty table as {} even where the API has an array.
---------------------------------------------------------------------------

local ARRAY_MT = {}          -- marks a table to be written as a JSON array

local function as_array(t) return setmetatable(t, ARRAY_MT) end

-- A table whose keys are written in the given order (the documented order
-- of the envelope reads better than a sorted one).
local function ordered(keys, values)
  return setmetatable(values, { __jsonorder = keys })
end

-- Keys the API defines as arrays: an empty table under them is written [].
local ARRAY_KEYS = { verifications = true, businessDirectors = true }

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function escape_char(c)
  return ESCAPES[c] or string.format("\\u%04x", c:byte())
end

-- Bytes >= 0x80 pass through untouched: recorded bodies must survive exactly,
-- and fault=bad_utf8 needs raw invalid UTF-8 on the wire.
local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

local TWO_POW_53 = 2 ^ 53

local function encode_number(n)
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if math.type and math.type(n) == "integer" then return string.format("%d", n) end
  if n == math.floor(n) and math.abs(n) < TWO_POW_53 then
    return string.format("%.0f", n)   -- an integral float: 2345, not 2345.0
  end
  local s = string.format("%.14g", n)
  if tonumber(s) ~= n then s = string.format("%.17g", n) end
  return s
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local encode_into -- forward declaration: values and tables recurse

local function encode_table(t, out, array_hint)
  local mt = getmetatable(t)
  local order = mt and mt.__jsonorder
  if not order and (mt == ARRAY_MT or is_sequence(t) or (array_hint and next(t) == nil)) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_into(t[i], out)
    end
    out[#out + 1] = "]"
    return
  end
  out[#out + 1] = "{"
  local first = true
  for _, k in ipairs(order or sorted_keys(t)) do
    local v = t[k]
    if v ~= nil then
      if not first then out[#out + 1] = "," end
      first = false
      out[#out + 1] = encode_string(tostring(k))
      out[#out + 1] = ":"
      encode_into(v, out, ARRAY_KEYS[k])
    end
  end
  out[#out + 1] = "}"
end

function encode_into(v, out, array_hint)
  local kind = type(v)
  if v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "number" then
    out[#out + 1] = encode_number(v)
  elseif kind == "string" then
    out[#out + 1] = encode_string(v)
  elseif kind == "table" then
    encode_table(v, out, array_hint)
  else
    error("cannot encode a " .. kind .. " as JSON")
  end
end

local function encode(v)
  local out = {}
  encode_into(v, out)
  return table.concat(out)
end

M.encode, M.array, M.ordered = encode, as_array, ordered

local function decode(text)
  local ok, value = pcall(json.decode, text)
  if ok then return value end
  return nil, tostring(value)
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

local function json_reply(status, value)
  return { status = status, content_type = "application/json", body = encode(value), headers = {} }
end

local function code_reply(status, code, message)
  return json_reply(status, ordered({ "code", "message" }, { code = code, message = message }))
end

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

---------------------------------------------------------------------------
-- The service: POST /customers
---------------------------------------------------------------------------

local CUSTOMER_KEYS = {
  "name", "type", "status", "claims", "verifications", "metadata",
  "createdAt", "updatedAt", "id", "object", "reference",
}
local TIERS = { ["tier-1"] = true, ["tier-2"] = true, ["tier-3"] = true }
local TYPES = { individual = true, business = true }

-- The secret key must be a test key: "Bearer sk.test.<something>".
local function has_test_key(headers)
  local auth = headers["authorization"]
  return auth ~= nil and auth:match("^[Bb]earer sk%.test%.%S+$") ~= nil
end

local function verifications_problem(list)
  if not is_array(list) then
    return "verifications must be an array of 'tier-1', 'tier-2' or 'tier-3'"
  end
  for i, v in ipairs(list) do
    if not TIERS[v] then
      return ("verifications[%d] must be 'tier-1', 'tier-2' or 'tier-3'"):format(i)
    end
  end
end

-- What is wrong with a decoded create body, by create-a-customer.md (every
-- documented field is required); nil when it is valid. Unknown fields pass,
-- as newer API versions add some.
local function customer_problem(body)
  if not is_object(body) then return "the request body must be a JSON object" end
  if not is_nonempty_string(body.name) then return "name is required and must be a non-empty string" end
  if not is_nonempty_string(body.reference) then
    return "reference is required and must be a non-empty string"
  end
  if not TYPES[body.type] then return "type must be 'individual' or 'business'" end
  if not is_object(body.claims) then return "claims is required and must be an object" end
  local problem = verifications_problem(body.verifications)
  if problem then return problem end
  if not is_object(body.metadata) then return "metadata is required and must be an object" end
end

-- The customer the service would return for a request body. Tolerant of a
-- body that is not a valid create, so faults can show a plausible customer.
local function build_customer(body)
  if type(body) ~= "table" then body = {} end
  local now = iso_timestamp(socket.gettime())
  local verifications = as_array({})
  if type(body.verifications) == "table" then
    for i, tier in ipairs(body.verifications) do
      verifications[i] = ordered({ "type", "status" }, { type = tier, status = "verified" })
    end
  end
  return ordered(CUSTOMER_KEYS, {
    name = body.name, type = body.type, status = "active",
    claims = type(body.claims) == "table" and body.claims or {},
    verifications = verifications,
    metadata = type(body.metadata) == "table" and body.metadata or {},
    createdAt = now, updatedAt = now,
    id = new_customer_id(), object = "customer", reference = body.reference,
  })
end

local function success_reply(status, data)
  return json_reply(status, ordered({ "code", "data" }, { code = "success", data = data }))
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
    local customer = build_customer(body)
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
  slow_body = true, stale = true, no_request_id = true,
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
  for _, key in ipairs({ "shape", "code", "message" }) do
    if sc[key] and not sc.status then return key .. "= needs status=" end
  end
  if sc.interval and not (sc.faults.slow_headers or sc.faults.slow_body) then
    return "interval= needs fault=slow_headers or fault=slow_body"
  end
  if sc.size and not sc.faults.huge then return "size= needs fault=huge" end
  if sc.depth and not sc.faults.deep then return "depth= needs fault=deep" end
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
    local problem = parse_entry(sc, url_decode(key), url_decode(value))
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
  if sc.shape == "statusCode" then
    return json_reply(status, ordered({ "statusCode", "message" }, { statusCode = status, message = message }))
  end
  return code_reply(status, sc.code or DEFAULT_CODES[status] or "application-error", message)
end

-- The answer a scenario imposes, or nil when the request is served normally
-- (only delivery faults, or none). Such faulted answers never create.
local function fault_reply(sc, body)
  for _, name in ipairs(sc.fault_list) do
    local build = CONTENT_FAULTS[name]
    if build then
      local reply = build(sc, body)
      reply.status = sc.status or reply.status
      return reply
    end
  end
  if sc.status then return status_reply(sc) end
  if sc.faults.truncate or sc.faults.close_mid_body then
    return success_reply(201, build_customer(body))
  end
end

local function apply_delivery(reply, sc)
  local f = sc.faults
  reply.truncate, reply.close_mid_body, reply.stale = f.truncate, f.close_mid_body, f.stale
  reply.slow_headers, reply.slow_body = f.slow_headers, f.slow_body
  reply.no_request_id = f.no_request_id
  reply.interval = (sc.interval or 1000) / 1000
  if sc.retry_after then
    reply.headers[#reply.headers + 1] = { "Retry-After", sc.retry_after }
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
  if not bodiless(reply.status) then add("Content-Length", tostring(declared_length)) end
  if not reply.no_request_id then add("x-request-id", request_id or new_request_id()) end
  add("Date", http_date())
  add("Connection", keep and "keep-alive" or "close")
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
-- yield ("read"|"write"|"sleep", deadline) to the loop, which resumes them
-- with true (socket ready) or false (deadline passed).
---------------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

-- (A plain function: the wait is the coroutine's, not the object's.)
function Conn.wait(_, kind, deadline)
  return coroutine.yield(kind, deadline)
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

-- Writes a reply with its delivery faults; true when the connection stays open.
function Conn:write_reply(reply, keep)
  local length = body_length(reply)
  local declared, limit = length, nil
  if reply.truncate then
    declared, keep = length + TRUNCATE_MISSING, false
  elseif reply.close_mid_body then
    limit, keep = math.floor(length / 2), false
  end
  if bodiless(reply.status) then limit = 0 end
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
  if ok then ok = self:send_body(reply, limit, reply.slow_body and reply.interval) end
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

local RECORD_KEYS = { "method", "path", "version", "headers", "body", "connection", "time",
  "request_id" }

function Server:reset()
  self.epoch = self.epoch + 1        -- connections accepted before stop counting
  self.counts = { connections = 0, requests = 0 }
  self.records = {}
  self.references = {}               -- reference -> true, for 409
  self.times_seen = {}               -- scenario match key -> requests seen
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

function Server:record(conn, req)
  conn.request_id = new_request_id()   -- the x-request-id its answer will carry
  self.records[#self.records + 1] = ordered(RECORD_KEYS, {
    method = req.method, path = req.target, version = req.version, headers = req.headers,
    body = req.body, connection = conn.id, time = req.time, request_id = conn.request_id,
  })
end

function Server:open_connections()
  local n = 0
  for _, conn in ipairs(self.conns) do
    if not conn.closed and not conn.control then n = n + 1 end
  end
  return n
end

function Server:create_customer(req)
  if not has_test_key(req.headers) then
    return code_reply(401, "unauthorized",
      "Invalid or missing secret key: expected 'Authorization: Bearer sk.test.<key>'")
  end
  local body, err = decode(req.body)
  if err then return code_reply(400, "bad-request", "the request body is not valid JSON: " .. err) end
  local problem = customer_problem(body)
  if problem then return code_reply(400, "bad-request", problem) end
  if self.references[body.reference] then
    return code_reply(409, "reference-conflict",
      ("a customer with reference '%s' already exists"):format(body.reference))
  end
  self.references[body.reference] = true
  return success_reply(201, build_customer(body))
end

function Server:route(req, path)
  if path == "/customers" and req.method == "POST" then return self:create_customer(req) end
  return code_reply(404, "not-found", ("Cannot %s %s"):format(req.method, path))
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

function Server:api_request(conn, req, path)
  local keep = wants_keep_alive(req)
  local spec, rest = path:match("^/_scenario/([^/]*)(/.*)$")
  if spec then path = rest else spec = req.headers["x-sandbox-scenario"] end
  if not spec or spec == "" then return conn:write_reply(self:route(req, path), keep) end
  local sc, err = parse_scenario(spec)
  if not sc then return conn:write_reply(code_reply(400, "sandbox-invalid-scenario", err), keep) end
  local body = decode(req.body)
  if not self:scenario_applies(sc, spec, req, body) then return conn:write_reply(self:route(req, path), keep) end
  if sc.delay then conn:sleep(sc.delay / 1000) end
  if sc.faults.close then return false end
  local reply = fault_reply(sc, body) or self:route(req, path)
  apply_delivery(reply, sc)
  return conn:write_reply(reply, keep)
end

function Server:control(conn, req, path)
  local keep = wants_keep_alive(req)
  local action = req.method .. " " .. path
  if action == "GET /_sandbox/stats" then
    return conn:write_reply(json_reply(200, ordered({ "connections", "requests", "open_connections" }, {
      connections = self.counts.connections, requests = self.counts.requests,
      open_connections = self:open_connections(),
    })), keep)
  elseif action == "GET /_sandbox/requests" then
    return conn:write_reply(json_reply(200, as_array(self.records)), keep)
  elseif action == "POST /_sandbox/reset" then
    self:reset()
    return conn:write_reply(code_reply(200, "success", "sandbox reset"), keep)
  elseif action == "POST /_sandbox/shutdown" then
    conn:write_reply(code_reply(200, "success", "shutting down"), false)
    self.stopping = true
    return false
  end
  return conn:write_reply(code_reply(404, "not-found", "Cannot " .. action), keep)
end

-- Answers one request; true when the connection stays open for the next.
function Server:handle(conn, req)
  local path = req.target:match("^[^?#]*")
  local is_control = path:sub(1, #CONTROL_PREFIX) == CONTROL_PREFIX
  self:classify(conn, is_control)
  if is_control then return self:control(conn, req, path) end
  self.counts.requests = self.counts.requests + 1
  self:record(conn, req)
  self:log("#%d %s %s", conn.id, req.method, req.target)
  return self:api_request(conn, req, path)
end

-- Runs the connection's coroutine until it waits again (or ends).
function Server:resume(conn, ready)
  conn.wait_kind, conn.wait_until = nil, nil
  local ok, kind, deadline = coroutine.resume(conn.co, ready)
  if not ok then
    self:log("connection #%d failed: %s", conn.id, tostring(kind))
    conn:close()
  elseif coroutine.status(conn.co) == "dead" then
    conn:close()
  else
    conn.wait_kind, conn.wait_until = kind, deadline
  end
end

function Server:add_connection(sock)
  sock:settimeout(0)
  sock:setoption("tcp-nodelay", true) -- slow_* faults send single bytes
  self.next_id = self.next_id + 1
  local conn = setmetatable({
    id = self.next_id, sock = sock, server = self, buf = "", epoch = self.epoch, nreq = 0,
  }, Conn)
  conn.co = coroutine.create(function() return conn:serve() end)
  self.counts.connections = self.counts.connections + 1
  self.conns[#self.conns + 1] = conn
  self:resume(conn)
end

function Server:accept_all()
  while true do
    local sock = self.listener:accept()
    if not sock then return end
    self:add_connection(sock)
  end
end

function Server:sweep()
  local live = {}
  for _, conn in ipairs(self.conns) do
    if not conn.closed then live[#live + 1] = conn end
  end
  self.conns = live
end

-- One turn of the loop: wait up to timeout_s seconds (nil: until something
-- happens) for sockets or timers, then run whatever is ready.
-- Returns false once the server is closed.
function Server:step(timeout_s)
  if self.closed then return false end
  local now = socket.gettime()
  local wake = timeout_s and now + timeout_s or math.huge
  local recvt, sendt, current = { self.listener }, {}, {}
  for i, conn in ipairs(self.conns) do
    current[i] = conn
    if conn.wait_kind == "read" then
      recvt[#recvt + 1] = conn.sock
    elseif conn.wait_kind == "write" then
      sendt[#sendt + 1] = conn.sock
    end
    if conn.wait_until and conn.wait_until < wake then wake = conn.wait_until end
  end
  local readable, writable = socket.select(recvt, sendt, wake < math.huge and math.max(0, wake - now) or nil)
  now = socket.gettime()
  for _, conn in ipairs(current) do
    local kind = conn.wait_kind
    if not conn.closed and kind then
      if (kind == "read" and readable[conn.sock]) or (kind == "write" and writable[conn.sock]) then
        self:resume(conn, true)
      elseif conn.wait_until and conn.wait_until <= now then
        self:resume(conn, false)
      end
    end
  end
  if readable[self.listener] and not self.stopping then self:accept_all() end
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
  self.conns = {}
  self.listener:close()
end

-- opts: host ("127.0.0.1"), port (0 = a free one), idle_timeout (seconds,
-- false for none), max_body (bytes), log (function(line)) or verbose (stderr).
function M.new(opts)
  opts = opts or {}
  local host = opts.host or "127.0.0.1"
  local listener, err = socket.bind(host, opts.port or 0, 128)
  if not listener then return nil, ("cannot listen on %s:%s: %s"):format(host, tostring(opts.port or 0), err) end
  listener:settimeout(0)
  local ip, port = listener:getsockname()
  local logger = opts.log
  if not logger and opts.verbose then
    logger = function(line) io.stderr:write("allawee-sandbox: ", line, "\n") end
  end
  local srv = setmetatable({
    host = ip, port = tonumber(port),
    url = ("http://%s:%s"):format(ip:find(":", 1, true) and "[" .. ip .. "]" or ip, port),
    listener = listener, conns = {}, next_id = 0, epoch = 0, logger = logger,
    max_body = opts.max_body or DEFAULT_MAX_BODY,
    idle_timeout = opts.idle_timeout == nil and DEFAULT_IDLE_TIMEOUT or opts.idle_timeout,
  }, Server)
  srv:reset()
  return srv
end

return M
