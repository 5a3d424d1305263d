--[[
Test helper: an HTTP/1.1 server in a child process (lua5.4 + luasocket) that
answers every request with the next of a list of canned answers (the last
one repeats), keeps connections alive, and logs what it received. For what
the sandbox does not do on purpose: answers byte for byte as a test wants
them (a CSV body, an un-enveloped object, 64-bit integers the sandbox's own
cjson would round).

    local C = require "support.canned"
    local srv = C.start{
      { status = 200, headers = { ["Content-Type"] = "text/csv" }, body = "a,b\n1,2\n" },
      { status = 201, body = '{"code":"success","data":{"n":9007199254740993}}' },
    }
    C.start{ { raw = "HTTP/1.1 200 OK\r\n..." } }   -- these bytes, exactly
    C.start{ { pieces = { "HTTP/1.1 2", "00 OK\r\n..." } } }   -- in writes 20 ms apart
    srv.url                      --> "http://127.0.0.1:<port>"
    srv:requests()               --> { { method, target, headers, body }, ... }
    srv:stop()
]]

local net = require "support.net"
local json = require("cjson").new()

local C = {}

local SERVER = [==[
local socket = require "socket"
local cjson = require("cjson").new()
local answers = dofile(arg[1])
local log = assert(io.open(arg[2], "ab"))
log:setvbuf("no")
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
srv:settimeout(0.05)
local n, conns = 0, {}

local function answer(conn)
  local line = conn:receive("*l")
  if not line then return false end
  local method, target = line:match("^(%S+) (%S+)")
  local headers, length = {}, 0
  while true do
    local h = conn:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then
      headers[k:lower()] = v
      if k:lower() == "content-length" then length = tonumber(v) end
    end
  end
  local body = length > 0 and conn:receive(length) or ""
  log:write(cjson.encode({ method = method, target = target, headers = headers, body = body }), "\n")
  n = n + 1
  local a = answers[math.min(n, #answers)]
  if a.raw then
    conn:send(a.raw)
    return true
  end
  if a.pieces then   -- raw bytes in several writes, 20 ms apart
    for i, piece in ipairs(a.pieces) do
      if i > 1 then socket.sleep(0.02) end
      conn:send(piece)
    end
    return true
  end
  local out = { ("HTTP/1.1 %d Canned\r\n"):format(a.status or 200) }
  local has_type = false
  for k, v in pairs(a.headers or {}) do
    out[#out + 1] = k .. ": " .. v .. "\r\n"
    if k:lower() == "content-type" then has_type = true end
  end
  if not has_type then out[#out + 1] = "Content-Type: application/json\r\n" end
  out[#out + 1] = ("Content-Length: %d\r\n\r\n"):format(#(a.body or ""))
  out[#out + 1] = a.body or ""
  conn:send(table.concat(out))
  return true
end

local deadline = socket.gettime() + 60   -- an orphan ends on its own
-- One select over the listening socket and the connections: an answer
-- goes out as soon as its request is in (no polling interval per request).
while socket.gettime() < deadline do
  local watch = { srv }
  for i = 1, #conns do watch[i + 1] = conns[i] end
  local readable = socket.select(watch, nil, 0.5)
  for _, conn in ipairs(readable) do
    if conn == srv then
      local c = srv:accept()
      if c then c:settimeout(0.05) conns[#conns + 1] = c end
    elseif type(conn) ~= "number" then
      conn:settimeout(2)
      if not answer(conn) then
        conn:close()
        for i, x in ipairs(conns) do if x == conn then table.remove(conns, i) break end end
      end
    end
  end
end
]==]

local function serialize(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[#out + 1] = ("[%s]=%s"):format(serialize(k), serialize(x)) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

function C.start(answers)
  local dir = net.temp_dir("canned")
  net.write_file(dir .. "/server.lua", SERVER)
  net.write_file(dir .. "/answers.lua", "return " .. serialize(answers))
  net.write_file(dir .. "/log", "")
  local pid, proc = net.spawn(("lua5.4 %s %s %s"):format(dir .. "/server.lua",
    dir .. "/answers.lua", dir .. "/log"))
  local port = tonumber((proc:read("*l") or ""):match("^port (%d+)$"))
  assert(port, "canned server did not start")
  local srv = { url = "http://127.0.0.1:" .. port, pid = pid }
  function srv.requests()
    local out = {}
    for line in (net.read_file(dir .. "/log") or ""):gmatch("[^\n]+") do
      out[#out + 1] = json.decode(line)
    end
    return out
  end
  function srv.stop()
    os.execute("kill " .. pid .. " 2>/dev/null")
    proc:close()
    net.remove_temp_dir(dir)
  end
  return srv
end

return C
