--- bench/openresty_client.lua: the OpenResty rows, run inside the client
-- nginx's one worker (bench/openresty.conf.in; LuaJIT, lua-nginx-module).
--
--   GET /run?client=allawee|hand|hand_cjson&n=N&warmup=W&inflight=K
--       [&jitp=MODE&jitp_out=FILE]
--
-- runs W unmeasured creates, then N measured ones, K at a time (K light
-- threads, each one create after another on its own kept-alive connection;
-- K = 1 is one loop), against the benchmark's double (BENCH_TARGET, the
-- base URL), and answers one "RESULT requests=.. seconds=.. cpu_seconds=..
-- peak_rss_kib=.." line: wall time, and the worker's CPU time (os.clock:
-- this process, user + system) over the measured creates only.
--
--   allawee     require("allawee.openresty").new{...}.customers.create(params)
--               with validation on and max_retries = 0, like the libcurl rows
--   hand        a hand-written cosocket client, as a competent OpenResty
--               programmer writes one: the very bytes allawee sends (the
--               body allawee encodes, read once; the same header lines, in
--               the same order, User-Agent included), a fresh UUID v4
--               Idempotency-Key per request from RAND_bytes (OpenSSL, through
--               the FFI, as resty.random does), sock:send of a table (no
--               concatenation), the status line and headers read with
--               receive("*l"), the body with receive(Content-Length),
--               setkeepalive, cjson.decode of the answer and the envelope
--               checked
--   hand_cjson  the same, encoding the request with cjson.encode(params) per
--               call (what such a client does with the caller's table)
--
-- jitp: LuaJIT's sampling profiler (jit.p, e.g. MODE "Fl" for functions and
-- lines, "vF" for VM states) over the measured creates, written to FILE
-- (writable by the worker; jit/p.lua on lua_package_path).
--
-- The secret key comes from ALLAWEE_SECRET_KEY (nginx.conf: env), the body
-- allawee encodes from BENCH_BODY_FILE. Neither is ever in an answer.
-- luacheck: globals ngx
local ffi = require "ffi"
local bit = require "bit"
local cjson = require "cjson"
local sample = require "bench.sample"

local M = {}

local json = cjson.new()   -- private: the global cjson settings stay as they are
local tcp = ngx.socket.tcp
local band, bor, rshift = bit.band, bit.bor, bit.rshift
local tonumber, concat = tonumber, table.concat

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function now()
  ngx.update_time()
  return ngx.now()
end

-- This process's system (kernel) CPU time in seconds, from /proc (clock
-- ticks: 10 ms), to split the CPU time os.clock gives.
local function system_seconds()
  local f = io.open("/proc/self/stat", "r")
  if not f then return 0 end
  local text = f:read("*a")
  f:close()
  local stime = text:match("^%d+ %b() %S+" .. (" %S+"):rep(11) .. " (%d+)")
  return (tonumber(stime) or 0) / 100
end

local function peak_rss_kib()
  local f = io.open("/proc/self/status", "r")
  if not f then return 0 end
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)")) or 0
end

-- ------------------------------------------------------------ the clients

local target = assert(os.getenv("BENCH_TARGET"), "BENCH_TARGET is not set")
local key = assert(os.getenv("ALLAWEE_SECRET_KEY"), "ALLAWEE_SECRET_KEY is not set")
local params = sample.params()

local allawee_client
local function allawee_create()
  local data, err = allawee_client.customers.create(params)
  if not data then error("allawee create: " .. tostring(err)) end
  return data
end

-- UUID v4 from 16 bytes of OpenSSL's RAND_bytes, formatted in an FFI buffer.
ffi.cdef [[ int RAND_bytes(unsigned char *buf, int num); ]]
local C = ffi.C
local rnd = ffi.new("unsigned char[16]")
local uuid_buf = ffi.new("char[36]")
local hex = ffi.new("const char[17]", "0123456789abcdef")
local function uuid4()
  if C.RAND_bytes(rnd, 16) ~= 1 then error("RAND_bytes failed") end
  rnd[6] = bor(band(rnd[6], 0x0F), 0x40)
  rnd[8] = bor(band(rnd[8], 0x3F), 0x80)
  local o = 0
  for i = 0, 15 do
    if i == 4 or i == 6 or i == 8 or i == 10 then
      uuid_buf[o] = 45   -- '-'
      o = o + 1
    end
    uuid_buf[o] = hex[rshift(rnd[i], 4)]
    uuid_buf[o + 1] = hex[band(rnd[i], 15)]
    o = o + 2
  end
  return ffi.string(uuid_buf, 36)
end

local host, port = target:match("^http://([^/:]+):(%d+)$")
port = tonumber(port)
local allawee_body = read_file(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"))
local head, tail_fmt -- the header lines before and after the key

-- The same head as allawee's (src/call_api.c build_head), in the same order.
local function set_head(agent)
  head = "POST /customers HTTP/1.1\r\nHost: " .. host .. ":" .. port ..
         "\r\nAuthorization: Bearer " .. key ..
         "\r\nContent-Type: application/json\r\nAccept: application/json\r\nUser-Agent: " ..
         agent .. "\r\nIdempotency-Key: "
  tail_fmt = "\r\nContent-Length: "
end

local request = { false, false, false, false, "\r\n\r\n", false }
local pool_size = 1

local function hand_create(body)
  local sock = tcp()
  sock:settimeout(30000)
  local ok, err = sock:connect(host, port)
  if not ok then error("connect: " .. tostring(err)) end
  request[1], request[2], request[3], request[4], request[6] =
    head, uuid4(), tail_fmt, #body, body
  ok, err = sock:send(request)
  if not ok then error("send: " .. tostring(err)) end
  local line
  line, err = sock:receive("*l")
  if not line then error("receive: " .. tostring(err)) end
  local status = tonumber(line:sub(10, 12))
  local length, request_id, keep = nil, nil, true
  while true do
    line, err = sock:receive("*l")
    if not line then error("receive: " .. tostring(err)) end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    name = name:lower()
    if name == "content-length" then length = tonumber(value)
    elseif name == "x-request-id" then request_id = value
    elseif name == "connection" and value:lower() == "close" then keep = false end
  end
  local text
  text, err = sock:receive(length)
  if not text then error("receive: " .. tostring(err)) end
  if keep then sock:setkeepalive(60000, pool_size) else sock:close() end
  local doc = json.decode(text)
  if status ~= 201 or doc.code ~= "success" or not request_id then
    error("unexpected answer " .. tostring(status))
  end
  return doc.data
end

local creates = {
  allawee = allawee_create,
  hand = function() return hand_create(allawee_body) end,
  hand_cjson = function() return hand_create(json.encode(params)) end,
}

-- ------------------------------------------------------------ the run

local function loop(create, count)
  for _ = 1, count do create() end
end

-- count creates, inflight at a time.
local function run(create, count, inflight)
  if inflight <= 1 then return loop(create, count) end
  local threads = {}
  for i = 1, inflight do
    local share = math.floor(count / inflight) + (i <= count % inflight and 1 or 0)
    threads[i] = ngx.thread.spawn(loop, create, share)
  end
  for i = 1, inflight do
    local ok, err = ngx.thread.wait(threads[i])
    if not ok then error(err, 0) end
  end
end

function M.run()
  local args = ngx.req.get_uri_args()
  local which = args.client
  local n, warmup = tonumber(args.n), tonumber(args.warmup) or 0
  local inflight = tonumber(args.inflight) or 1
  local create = creates[which]
  if not create or not n then
    ngx.status = 400
    return ngx.say("usage: /run?client=allawee|hand|hand_cjson&n=N&warmup=W&inflight=K")
  end
  pool_size = inflight
  if not allawee_client then
    allawee_client = require("allawee.openresty").new {
      base_url = target, validate = true, max_retries = 0, max_connections = 32,
    }
    -- What allawee would send (its engine's own head and body, never
    -- sent): the hand-written client sends the same User-Agent, and the
    -- body file must be allawee's very bytes.
    local cfg = allawee_client.cfg
    local what, parts, b = cfg:call("customers.create", params):next(cfg)
    assert(what == "send" and b == allawee_body and parts[#parts] == b,
           "the body file is not what allawee sends")
    local h = concat(parts, "", 1, #parts - 1)
    set_head(assert(h:match("\r\nUser%-Agent: ([^\r]*)")))
    local idem = assert(h:match("\r\nIdempotency%-Key: ([%x%-]+)\r\n"))
    assert(head .. idem .. tail_fmt .. #b .. "\r\n\r\n" == h,
           "the hand-written head is not the head allawee sends")
  end
  local ok, err = pcall(run, create, warmup, inflight)
  if ok then
    collectgarbage("collect")
    local profiler = args.jitp and require("jit.p")
    if profiler then profiler.start(args.jitp, args.jitp_out) end
    local wall0, cpu0, sys0 = now(), os.clock(), system_seconds()
    ok, err = pcall(run, create, n, inflight)
    local seconds, cpu, sys = now() - wall0, os.clock() - cpu0, system_seconds() - sys0
    if profiler then profiler.stop() end
    if ok then
      return ngx.say(concat({ "RESULT requests=", n, " seconds=", ("%.6f"):format(seconds),
                              " cpu_seconds=", ("%.6f"):format(cpu),
                              " system_seconds=", ("%.2f"):format(sys),
                              " peak_rss_kib=", peak_rss_kib() }))
    end
  end
  ngx.status = 500
  -- the key never appears in an error these clients raise; be sure anyway
  ngx.say("bench: ", (tostring(err):gsub(key, "<key>")))
end

return M
