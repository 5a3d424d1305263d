--[[
Test helper: the plumbing under the servers the specs run (the sandbox, the
raw servers, nginx): loopback ports, child processes, waiting, files and
shell commands. It needs luasocket only, so every support module and any
Lua can load it.

    local net = require "support.net"
    net.free_port()                  --> a port of 127.0.0.1 that was free a moment ago
    net.listening(port)              --> true when something accepts on 127.0.0.1:port
    net.wait_until(pred, seconds, pause)
                                     --> pred()'s value once it is truthy, or its last
                                         (falsy) one after `seconds` (default 5); between
                                         tries, pause() (default: sleep 20 ms)
    local pid, proc = net.spawn(cmd) -- cmd exec'd as a child; proc reads its stdout
    net.process_gone(pid)            --> true once it is gone (a zombie counts as gone)
    net.wait_gone(pid, seconds)      --> net.process_gone(pid), waiting up to `seconds`
    net.repo_root()                  --> the checkout's absolute path
    net.shell_quote(s)               --> s as one sh word
    net.run(cmd)                     -- runs cmd quietly; raises when it fails
    net.capture(cmd)                 --> its stdout and stderr, and its exit code
    net.read_file(path)              --> the text, or nil, err
    net.write_file(path, text)
    net.temp_dir(kind)               --> a new /tmp/allawee-<kind>.XXXXXX
    net.remove_temp_dir(dir)         -- rm -rf, only for a dir net.temp_dir made
]]

local socket = require "socket"

local net = {}

---------------------------------------------------------------------------
-- Ports
---------------------------------------------------------------------------

function net.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

function net.listening(port)
  local s = socket.tcp()
  s:settimeout(0.2)
  local ok = s:connect("127.0.0.1", port)
  s:close()
  return ok ~= nil
end

---------------------------------------------------------------------------
-- Waiting and child processes
---------------------------------------------------------------------------

function net.wait_until(pred, seconds, pause)
  local deadline = socket.gettime() + (seconds or 5)
  while true do
    local v = pred()
    if v or socket.gettime() >= deadline then return v end
    if pause then pause() else socket.sleep(0.02) end
  end
end

function net.spawn(cmd)
  -- popen's shell prints its pid, then execs: that pid is cmd's.
  local proc = assert(io.popen("echo $$; exec " .. cmd, "r"))
  return tonumber(proc:read("*l")), proc
end

function net.process_gone(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return true end
  local stat = f:read("*l") or ""
  f:close()
  return stat:match("%) (%a)") == "Z"
end

function net.wait_gone(pid, seconds)
  return net.wait_until(function() return net.process_gone(pid) end, seconds)
end

-- From this file's path (<root>/spec/support/net.lua), made absolute, so
-- that tests work from any current directory and child processes that
-- change directory still find the checkout.
local root
function net.repo_root()
  if root then return root end
  local source = debug.getinfo(1, "S").source
  local dir = source:sub(1, 1) == "@" and source:sub(2):match("^(.*)/spec/support/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then
    local p = assert(io.popen("pwd", "r"))
    local cwd = p:read("*l")
    p:close()
    dir = dir == "." and cwd or (cwd .. "/" .. dir)
  end
  root = dir
  return root
end

---------------------------------------------------------------------------
-- Shell commands
---------------------------------------------------------------------------

function net.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function net.run(cmd)
  local ok, how, code = os.execute(cmd .. " >/dev/null 2>&1")
  -- Lua 5.1/LuaJIT return a number, 5.2+ true/nil, "exit", code.
  if ok == true or ok == 0 then return true end
  error(("command failed (%s %s): %s"):format(tostring(how), tostring(code), cmd), 2)
end

function net.capture(cmd)
  local proc = assert(io.popen(cmd .. ' 2>&1; echo "exit=$?"', "r"))
  local out = proc:read("*a")
  proc:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return (out:gsub("exit=%d+%s*$", "")), code
end

---------------------------------------------------------------------------
-- Files
---------------------------------------------------------------------------

function net.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a") -- nil when a /proc entry vanished meanwhile
  f:close()
  if text == nil then return nil, path .. ": gone while read" end
  return text
end

function net.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

function net.temp_dir(kind)
  local p = assert(io.popen("mktemp -d /tmp/allawee-" .. kind .. ".XXXXXX", "r"))
  local dir = p:read("*l")
  p:close()
  assert(dir and dir:find("^/tmp/allawee%-" .. kind:gsub("%p", "%%%0") .. "%."), "mktemp failed")
  return dir
end

function net.remove_temp_dir(dir)
  if type(dir) == "string" and dir:match("^/tmp/allawee%-[%w-]+%.%w+$") then
    net.run("rm -rf " .. net.shell_quote(dir))
  end
end

return net
