--[[
Test helper: runs bin/allawee-sandbox as a child process.

    local S = require "support.sandbox"
    local sb = S.start()                 -- or S.start{ lua = "lua5.1" }
    -- sb.url, sb.pid
    sb:stats()      --> { connections = N, requests = N, open_connections = N }
    sb:requests()   --> array of recorded requests (method, path, headers, body, connection, time)
    sb:reset()
    sb:stop()       -- POST /_sandbox/shutdown, then make sure the process is gone
    sb:requests_during(f, ...)  --> how many requests arrived while f(...) ran, then f's results
    S.scenario_url(sb, "status=503,times=1")  --> sb.url .. "/_scenario/status=503,times=1"

It also offers a tiny raw HTTP/1.1 client (S.request, S.send_request,
S.read_response) on plain luasocket, for tests that need byte-level control.
]]

local socket = require "socket"
local json = require("cjson").new() -- private: never touch the shared cjson settings
local net = require "support.net"

local S = {}

local Sandbox = {}
Sandbox.__index = Sandbox

local function split_url(url)
  local host, port = url:match("^http://([^/:]+):(%d+)")
  return host, tonumber(port)
end

---------------------------------------------------------------------------
-- A minimal HTTP/1.1 client
---------------------------------------------------------------------------

-- Writes one request on a connected socket. headers: { name = value };
-- Content-Length is added for a body unless given.
function S.send_request(sock, method, path, headers, body)
  local lines = { ("%s %s HTTP/1.1"):format(method, path) }
  local has_length = false
  for name, value in pairs(headers or {}) do
    lines[#lines + 1] = name .. ": " .. value
    if name:lower() == "content-length" then has_length = true end
  end
  if body and not has_length then lines[#lines + 1] = "Content-Length: " .. #body end
  return sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
end

-- Reads one response. Returns { status, headers (lowercased names), body,
-- raw_head }, or nil, error, partial (what arrived before the error).
function S.read_response(sock)
  local status_line, err = sock:receive("*l")
  if not status_line then return nil, err, "" end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
  if not status then return nil, "bad status line: " .. status_line, status_line end
  local headers, head = {}, { status_line }
  while true do
    local line
    line, err = sock:receive("*l")
    if not line then return nil, err, table.concat(head, "\n") end
    if line == "" then break end
    head[#head + 1] = line
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  local body, partial
  local length = tonumber(headers["content-length"] or "")
  if length == 0 then
    body = "" -- luasocket's receive(0) would still wait for a byte
  elseif length then
    body, err, partial = sock:receive(length)
  else
    body, err, partial = sock:receive("*a")
  end
  if not body then return nil, err, partial end
  return { status = status, headers = headers, body = body, raw_head = table.concat(head, "\r\n") }
end

function S.connect(url, timeout)
  local host, port = split_url(url)
  local sock = socket.tcp()
  sock:settimeout(timeout or 10)
  local ok, err = sock:connect(host, port)
  if not ok then return nil, err end
  return sock
end

-- One request on a fresh connection (Connection: close; timeout in seconds,
-- default 10), e.g.
-- S.request(sb.url, "POST", "/customers", { Authorization = "Bearer sk.test.x" }, body)
function S.request(url, method, path, headers, body, timeout)
  local sock, err = S.connect(url, timeout)
  if not sock then return nil, err end
  local h = { ["Connection"] = "close", ["Host"] = url:match("^http://([^/]+)") }
  for k, v in pairs(headers or {}) do h[k] = v end
  S.send_request(sock, method, path, h, body)
  local resp, rerr, partial = S.read_response(sock)
  sock:close()
  return resp, rerr, partial
end

---------------------------------------------------------------------------
-- The sandbox process
---------------------------------------------------------------------------

function Sandbox:control(method, path)
  local resp, err = S.request(self.url, method, path, nil, method == "POST" and "" or nil)
  if not resp then error("sandbox control " .. method .. " " .. path .. " failed: " .. tostring(err), 2) end
  if resp.status ~= 200 then error("sandbox control " .. path .. " answered " .. resp.status, 2) end
  return json.decode(resp.body)
end

function Sandbox:stats() return self:control("GET", "/_sandbox/stats") end
function Sandbox:requests() return self:control("GET", "/_sandbox/requests") end
function Sandbox:reset() self:control("POST", "/_sandbox/reset") end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

function Sandbox:requests_during(f, ...)
  local before = self:stats().requests
  local results = pack(f(...))
  return self:stats().requests - before, unpack(results, 1, results.n)
end

function Sandbox:stop()
  if self.stopped then return end
  self.stopped = true
  pcall(S.request, self.url, "POST", "/_sandbox/shutdown", nil, "", 2)
  if not net.wait_gone(self.pid, 3) then
    os.execute("kill -9 " .. self.pid .. " 2>/dev/null") -- last resort, by pid only
    net.wait_gone(self.pid, 2)
  end
  self.proc:close() -- reaps the child (io.popen's close waits for it)
end

-- opts: lua (interpreter, default "lua5.4"), host, port.
function S.start(opts)
  opts = opts or {}
  local cmd = ("exec %s %s --host %s --port %d"):format(
    opts.lua or "lua5.4", net.shell_quote(net.repo_root() .. "/bin/allawee-sandbox"),
    net.shell_quote(opts.host or "127.0.0.1"), opts.port or 0)
  local proc = assert(io.popen(cmd, "r"))
  local line = proc:read("*l")
  local url, pid = (line or ""):match("^allawee%-sandbox (%S+) pid=(%d+)$")
  if not url then
    proc:close()
    error("allawee-sandbox did not start (first line: " .. tostring(line) .. ")", 2)
  end
  return setmetatable({ url = url, pid = tonumber(pid), proc = proc }, Sandbox)
end

function S.scenario_url(sb, spec)
  return sb.url .. "/_scenario/" .. spec
end

return S
