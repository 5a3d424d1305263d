--[[
A DNS server for tests, on luasocket (run as its own process, Lua 5.3+ for
string.pack): answers every A query for a name under ZONE with ADDRESS,
anything else with NXDOMAIN, on 127.0.0.1 (UDP).

    lua5.4 spec/support/dns_server.lua ZONE ADDRESS [PORT]
    --> prints "dns-server 127.0.0.1:<port> pid=<pid>", then serves until killed;
        every question is written to stderr as "<qtype> <name>"

Enough for nginx's resolver (one question per query, RD set, A only with
ipv6=off), so a spec can check what nginx resolves and that it asks here.
]]
local socket = require "socket"

local zone, address, port = arg[1], arg[2], tonumber(arg[3] or "0")
assert(zone and address and port, "usage: dns_server.lua ZONE ADDRESS [PORT]")
local a, b, c, d = address:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
local rdata = string.char(tonumber(a), tonumber(b), tonumber(c), tonumber(d))

local udp = assert(socket.udp())
assert(udp:setsockname("127.0.0.1", port))
local _, bound = udp:getsockname()
local stat = io.open("/proc/self/stat", "r")
local pid = stat and stat:read("*l"):match("^(%d+)") or "unknown"
if stat then stat:close() end
io.stdout:write(("dns-server 127.0.0.1:%s pid=%s\n"):format(bound, pid))
io.stdout:flush()

-- The question's name ("a.b.c") and where it ends.
local function read_name(msg, pos)
  local labels = {}
  while true do
    local len = msg:byte(pos)
    if not len then return nil end
    pos = pos + 1
    if len == 0 then break end
    labels[#labels + 1] = msg:sub(pos, pos + len - 1)
    pos = pos + len
  end
  return table.concat(labels, "."):lower(), pos
end

while true do
  local msg, ip, from_port = udp:receivefrom()
  if msg and #msg >= 12 then
    local id, flags = string.unpack(">I2I2", msg)
    local name, pos = read_name(msg, 13)
    if name and #msg >= pos + 3 then
      local qtype = string.unpack(">I2", msg, pos)
      local question = msg:sub(13, pos + 3)
      io.stderr:write(qtype, " ", name, "\n")
      io.stderr:flush()
      local in_zone = name == zone or name:sub(-(#zone + 1)) == "." .. zone
      local rd = flags & 0x0100
      local answer, rcode, count = "", 0, 0
      if not in_zone then
        rcode = 3                                   -- NXDOMAIN
      elseif qtype == 1 then
        answer = string.pack(">I2I2I2I4s2", 0xC00C, 1, 1, 5, rdata)
        count = 1
      end
      local head = string.pack(">I2I2I2I2I2I2", id, 0x8080 | rd | rcode, 1, count, 0, 0)
      udp:sendto(head .. question .. answer, ip, from_port)
    end
  end
end
