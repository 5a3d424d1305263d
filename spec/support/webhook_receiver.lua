--[[
Test helper: a webhook receiver in a child process (lua5.4, luasocket),
for the specs of the webhooks the sandbox sends.

    local R = require "support.webhook_receiver"
    local rcv = R.start()           -- rcv.url = "http://127.0.0.1:PORT", rcv.pid, rcv.dir
    sb:webhooks{ url = rcv.url .. "/approve?balance=123", signing_key = KEY }
    rcv:received()                  --> { {n, path, event, status, event_id, signature, replied, body}, ... }
    rcv:wait_for(pred, seconds)     --> the list once pred(list) is true (or the last list)
    rcv:stop()

The path of the URL says how to answer (query options in brackets):
    /approve[?balance=N]   request/update events with status pending:
                           200 {"action":"approve","cardBalance":N,"cardHolderName":"Receiver Holder"}
    /decline[?code=C]      200 {"action":"decline","code":C} (default insufficient-funds)
    /silent                pending events get no answer (the connection is held, then closed)
    /badjson               pending events get 200 "this is not json"
    /nobalance             200 {"action":"approve"} (no cardBalance)
    /flood                 pending events get 200 with a 3 MiB body (a lying, flooding peer)
    /fail[?n=N]            every other event (closed, update reversed, request.completed)
                           gets 500 for its first N deliveries (per evt id), then 200;
                           pending events are approved
Any event that is not pending gets 200 {"code":"success"} (unless /fail).
Each request is saved as <dir>/<n>.body (the raw bytes) and a line in
<dir>/index: n, path, signature, answered status.
]]

local socket = require "socket"
local json = require("cjson").new()
local net = require "support.net"

local R = {}

if arg and arg[0] and arg[0]:match("webhook_receiver%.lua$") and arg[1] == "--serve" then
  -------------------------------------------------------------------------
  -- The receiver process
  -------------------------------------------------------------------------
  local dir = assert(arg[2], "usage: webhook_receiver.lua --serve DIR")
  local listener = assert(socket.bind("127.0.0.1", 0))
  listener:settimeout(0)
  local _, port = listener:getsockname()
  local f = io.open("/proc/self/stat", "r")
  local pid = f and f:read("*l"):match("^(%d+)") or "0"
  if f then f:close() end
  io.stdout:write(("receiver http://127.0.0.1:%s pid=%s\n"):format(port, pid))
  io.stdout:flush()

  local conns, held, seq, failures, running = {}, {}, 0, {}, true

  local function query_of(target)
    local q = {}
    for k, v in (target:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do q[k] = v end
    return q
  end

  local function save(path, headers, body, status)
    seq = seq + 1
    local out = assert(io.open(dir .. "/" .. seq .. ".body", "wb"))
    out:write(body)
    out:close()
    local index = assert(io.open(dir .. "/index", "ab"))
    index:write(("%d\t%s\t%s\t%s\n"):format(seq, path, headers["allawee-signature"] or "-", status))
    index:close()
  end

  local function answer(sock, status, body)
    sock:settimeout(5) -- a big answer goes out whole (or until the sandbox hangs up)
    sock:send(("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s")
      :format(status, #body, body))
    sock:close()
  end

  -- The answer for one delivery: status, body; or nil to hold the connection.
  local function decide(target, doc)
    local path = target:match("^[^?]*")
    local q = query_of(target)
    local data = type(doc) == "table" and type(doc.data) == "table" and doc.data or {}
    local pending = data.status == "pending"
    if not pending then
      if path == "/fail" then
        local id = type(doc.metadata) == "table" and doc.metadata.event or "?"
        failures[id] = (failures[id] or 0) + 1
        if failures[id] <= tonumber(q.n or "2") then return 500, '{"error":"try again"}' end
      end
      return 200, '{"code":"success"}'
    end
    if path == "/decline" then
      return 200, json.encode({ action = "decline", code = q.code or "insufficient-funds" })
    elseif path == "/silent" then
      return nil
    elseif path == "/badjson" then
      return 200, "this is not json"
    elseif path == "/nobalance" then
      return 200, '{"action":"approve"}'
    elseif path == "/flood" then
      return 200, '{"action":"approve","cardBalance":1,"padding":"' .. string.rep("x", 3 * 1024 * 1024) .. '"}'
    end
    return 200, ('{"action":"approve","cardBalance":%d,"cardHolderName":"Receiver Holder"}')
      :format(tonumber(q.balance or "500000"))
  end

  local function handle(c)
    local head_end = c.buf:find("\r\n\r\n", 1, true)
    if not head_end then return false end
    local head = c.buf:sub(1, head_end - 1)
    local target = head:match("^POST (%S+) HTTP/1%.1") or head:match("^%S+ (%S+)")
    local headers = {}
    for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
    local length = tonumber(headers["content-length"] or "0") or 0
    if #c.buf < head_end + 3 + length then return false end
    local body = c.buf:sub(head_end + 4, head_end + 3 + length)
    if target == "/_quit" then
      answer(c.sock, 200, "{}")
      running = false
      return true
    end
    local ok, doc = pcall(json.decode, body)
    local status, reply = decide(target or "/", ok and doc or nil)
    save(target or "?", headers, body, status or "held")
    if status then
      answer(c.sock, status, reply)
    else
      held[#held + 1] = { sock = c.sock, until_t = socket.gettime() + 10 }
    end
    return true
  end

  while running do
    local recvt = { listener }
    for _, c in ipairs(conns) do recvt[#recvt + 1] = c.sock end
    local readable = socket.select(recvt, nil, 0.05)
    if readable[listener] then
      local s = listener:accept()
      while s do
        s:settimeout(0)
        conns[#conns + 1] = { sock = s, buf = "" }
        s = listener:accept()
      end
    end
    local keep = {}
    for _, c in ipairs(conns) do
      local done = false
      if readable[c.sock] then
        local data, err, partial = c.sock:receive(65536)
        c.buf = c.buf .. (data or partial or "")
        done = handle(c)
        if not done and err == "closed" then
          c.sock:close()
          done = true
        end
      end
      if not done then keep[#keep + 1] = c end
    end
    conns = keep
    local still = {}
    for _, h in ipairs(held) do
      if socket.gettime() >= h.until_t then h.sock:close() else still[#still + 1] = h end
    end
    held = still
  end
  os.exit(0)
end

---------------------------------------------------------------------------
-- The helper (in the spec's process)
---------------------------------------------------------------------------

local Receiver = {}
Receiver.__index = Receiver

function R.start()
  local dir = net.temp_dir("receiver")
  local script = net.repo_root() .. "/spec/support/webhook_receiver.lua"
  local cmd = ("cd %s && exec lua5.4 -e %s %s --serve %s"):format(net.shell_quote(net.repo_root()),
    net.shell_quote('package.path = "./spec/?.lua;" .. package.path'), net.shell_quote(script), net.shell_quote(dir))
  local proc = assert(io.popen(cmd, "r"))
  local line = proc:read("*l")
  local url, pid = (line or ""):match("^receiver (%S+) pid=(%d+)$")
  if not url then
    proc:close()
    error("the webhook receiver did not start (first line: " .. tostring(line) .. ")", 2)
  end
  return setmetatable({ url = url, pid = tonumber(pid), proc = proc, dir = dir }, Receiver)
end

-- Everything received so far, oldest first.
function Receiver:received()
  local text = net.read_file(self.dir .. "/index") or ""
  local out = {}
  for n, path, signature, status in text:gmatch("(%d+)\t([^\t]*)\t([^\t]*)\t([^\n]*)\n") do
    local body = assert(net.read_file(self.dir .. "/" .. n .. ".body"))
    local ok, doc = pcall(json.decode, body)
    doc = ok and doc or {}
    out[#out + 1] = {
      n = tonumber(n), path = path, signature = signature, replied = status, body = body,
      file = self.dir .. "/" .. n .. ".body", event = doc.event,
      status = type(doc.data) == "table" and doc.data.status or nil,
      event_id = type(doc.metadata) == "table" and doc.metadata.event or nil, doc = doc,
    }
  end
  return out
end

function Receiver:wait_for(pred, seconds)
  local list
  net.wait_until(function()
    list = self:received()
    return pred(list)
  end, seconds or 10)
  return list
end

function Receiver:stop()
  if self.stopped then return end
  self.stopped = true
  local s = socket.tcp()
  s:settimeout(2)
  if s:connect("127.0.0.1", tonumber(self.url:match(":(%d+)$"))) then
    s:send("POST /_quit HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    s:receive("*a")
  end
  s:close()
  if not net.wait_gone(self.pid, 3) then
    os.execute("kill -9 " .. self.pid .. " 2>/dev/null")
    net.wait_gone(self.pid, 2)
  end
  self.proc:close()
  net.remove_temp_dir(self.dir)
end

return R
