--[[
examples/webhook_receiver.lua: an Allawee webhook receiver in plain Lua on
luasocket. It checks every call's Allawee-Signature with allawee.webhooks
before it reads anything, answers card authorization requests (approve
while the card's balance covers the amount, else decline), acknowledges
every other event with 200, and writes one JSON line per call.

    ALLAWEE_WEBHOOK_SIGNING_KEY=whsec-... lua5.4 examples/webhook_receiver.lua \
        [--port 0] [--balance 500000] [--out events.jsonl] [--lifetime 300]

Run it from the repository root (it loads lua/ and build/<lua>/ from there)
or with allawee installed. The first line on stdout is
"webhook receiver http://127.0.0.1:<port> pid=<pid>"; then, on stdout or in
the --out file, one line per call:

    {"event":"card.authorization.request","id":"evt.…","verified":true,
     "signature":"3f1c…","answer":"{\"action\":\"approve\",\"cardBalance\":500000}","data":{…}}
    {"refused":"signature_mismatch","why":"Allawee-Signature does not match the body …"}

It serves one call at a time and speaks plain HTTP: enough for the sandbox
and for `make demo`. A production receiver sits behind TLS and answers
while other calls wait: examples/openresty/webhooks.conf (docs/webhooks.md).
]]

-- The checkout this file is in (examples/..), for lua/ and build/<lua>/.
local root = ((arg and arg[0] or ""):match("^(.*)/examples/[^/]*$")) or "."
local build = jit and "luajit" or _VERSION:match("%d+%.%d+")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/" .. build .. "/?.so;" .. package.cpath

local socket = require "socket"
local webhooks = require("allawee").webhooks
local json = require("cjson").new()   -- private: the global cjson settings stay as they are

local MAX_BODY = 1024 * 1024

local function usage(problem)
  io.stderr:write("webhook_receiver: ", problem, "\nusage: ALLAWEE_WEBHOOK_SIGNING_KEY=... ",
    "lua examples/webhook_receiver.lua [--port N] [--balance MINOR_UNITS] [--out FILE] [--lifetime SECONDS]\n")
  os.exit(2)
end

local opts = { port = 0, balance = 500000, lifetime = 300 }
do
  local i = 1
  while arg and arg[i] do
    local name, value = arg[i], arg[i + 1]
    if name == "--out" and value then opts.out = value
    elseif (name == "--port" or name == "--balance" or name == "--lifetime") and tonumber(value) then
      opts[name:sub(3)] = tonumber(value)
    else usage("bad option " .. tostring(name)) end
    i = i + 2
  end
end

-- The signing key comes from the environment, never from the command line
-- (which every user of the machine can read).
local KEY = os.getenv("ALLAWEE_WEBHOOK_SIGNING_KEY")
if KEY == nil or KEY == "" then usage("ALLAWEE_WEBHOOK_SIGNING_KEY is not set") end

local out = io.stdout
if opts.out then out = assert(io.open(opts.out, "a")) end
out:setvbuf("line")

local function emit(t)
  out:write(json.encode(t), "\n")
  out:flush()
end

-- Reads one request: method, target, headers (lower-case names), body.
local function read_request(conn)
  local line = conn:receive("*l")
  if not line then return nil end
  local method, target = line:match("^(%u+) (%S+) HTTP/1%.%d$")
  if not method then return nil, 400 end
  local headers, count = {}, 0
  while true do
    local h = conn:receive("*l")
    if not h then return nil end
    if h == "" then break end
    count = count + 1
    if count > 100 or #h > 8192 then return nil, 431 end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    if name then
      name = name:lower()
      -- a repeated header becomes a table, which verify refuses (as in OpenResty)
      if headers[name] then headers[name] = { headers[name], value } else headers[name] = value end
    end
  end
  local length = tonumber(type(headers["content-length"]) == "string" and headers["content-length"] or "")
  if not length then return nil, 411 end
  if length > MAX_BODY then return nil, 413 end
  local body = length > 0 and conn:receive(length) or ""
  if not body then return nil end
  return { method = method, target = target, headers = headers, body = body }
end

local function reply(conn, status, body)
  conn:send(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" ..
             "Connection: close\r\n\r\n%s"):format(status, status == 200 and "OK" or "Refused", #body, body))
end

-- Decisions already given, by delivery id (metadata.event): a repeat gets
-- the same answer and is acted on once.
local answered = {}

-- The answer to one verified event: status, body.
local function decide(event)
  local data = type(event.data) == "table" and event.data or {}
  local pending = event.event == "card.authorization.request" or
                  (event.event == "card.authorization.update" and data.status == "pending")
  if not pending then return 200, '{"code":"success"}' end
  local cost = (tonumber(data.amount) or 0) + (tonumber(data.fees) or 0)
  local decision
  if cost <= opts.balance then
    decision = { action = "approve", cardBalance = opts.balance }
  else
    decision = { action = "decline", code = "insufficient-funds", cardBalance = opts.balance }
  end
  local body, err = webhooks.authorization_reply(decision, event)
  if not body then return 500, json.encode({ error = tostring(err) }) end
  return 200, body
end

local function handle(conn)
  conn:settimeout(5)
  local req, status = read_request(conn)
  if not req then
    if status then reply(conn, status, '{"error":"bad request"}') end
    return
  end
  if req.method ~= "POST" then return reply(conn, 405, '{"error":"POST only"}') end
  local signature = req.headers["allawee-signature"]
  -- Verify the raw bytes first; parse decodes only a body whose signature holds.
  local event, err = webhooks.parse(req.body, signature, KEY)
  if not event then
    emit({ refused = err.code, why = err.message })
    return reply(conn, 400, err.kind == "signature" and '{"error":"Invalid Signature"}'
                                                       or '{"error":"Invalid event"}')
  end
  local id = type(event.metadata) == "table" and event.metadata.event or nil
  local code, body
  if id and answered[id] then
    code, body = answered[id][1], answered[id][2]
  else
    code, body = decide(event)
    if id then answered[id] = { code, body } end
  end
  reply(conn, code, body)
  emit({ event = event.event, id = id, verified = true, signature = signature:sub(1, 16) .. "…",
         answer = body, data = event.data })
end

local server = assert(socket.bind("127.0.0.1", opts.port))
server:settimeout(0.5)
local _, port = server:getsockname()
local pid = "?"
do
  local f = io.open("/proc/self/stat", "r")
  if f then pid = (f:read("*l") or ""):match("^(%d+)") or pid; f:close() end
end
io.stdout:write(("webhook receiver http://127.0.0.1:%s pid=%s\n"):format(port, pid))
io.stdout:flush()

local stop_at = socket.gettime() + opts.lifetime
while socket.gettime() < stop_at do
  local conn = server:accept()
  if conn then
    local ok, problem = pcall(handle, conn)
    if not ok then emit({ error = tostring(problem) }) end
    conn:close()
  end
end
server:close()
