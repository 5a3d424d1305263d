--[[
Test helper: runs a hostile scenario in a CHILD process of the Lua that runs
the suite, so that a segfault or a hang is a test failure with a precise
message, not a crashed busted run.

    local C = require "support.child"
    local res = C.run(code, { env = { SB_URL = sb.url }, timeout = 20 })
    C.assert_clean(res)        -- exit 0, no signal, no hang; else fails with
                               -- "child crashed with SIGSEGV (status 139)",
                               -- "hung: killed after 20 s", "exited with status 1: <stderr>"
    res.results.outcome        -- what the child printed with emit("outcome", ...)
    res.cases                  -- one table per case(...) line the child printed
    C.posts(sb, ref)           -- POSTs the sandbox recorded whose body holds ref

The child runs `code` after a prelude (C.PRELUDE, below) that points
package.path/cpath at this checkout's lua/, spec/ and build/<this Lua>/, and
defines helpers for hostile code: emit, case, outcome, finalizable, bomb,
params, new_client, is_closed, KEY, URL. The interpreter is the one running
the suite (F.interpreter()); ALLAWEE_CHILD_LUA and ALLAWEE_CHILD_BUILD
override it (make asan points them at build/asan, so children are
sanitized too).
]]

local F = require "support.fixtures"
local net = require "support.net"

local C = {}

C.KEY = "sk.test.canary-reentrancy"

local SIGNALS = { [1] = "SIGHUP", [2] = "SIGINT", [4] = "SIGILL", [5] = "SIGTRAP", [6] = "SIGABRT",
  [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL", [11] = "SIGSEGV", [13] = "SIGPIPE",
  [14] = "SIGALRM", [15] = "SIGTERM" }

-- The helpers every child gets. Plain Lua 5.1 syntax (LuaJIT and 5.1 run
-- it too); %s are filled in by C.run.
C.PRELUDE = [==[
package.path = %q .. package.path
package.cpath = %q .. package.cpath
local allawee = require "allawee"
local F = require "support.fixtures"
local URL = os.getenv("SB_URL")
local KEY = %q
local unpack = table.unpack or unpack

local function one_line(v) return (tostring(v):gsub("[%%c]+", " ")) end

-- RESULT name=value, read back by the parent as res.results[name].
local function emit(name, value)
  io.write("RESULT ", name, "=", one_line(value), "\n")
  io.flush()
end

-- CASE k=v k=v ...: one iteration of a loop inside the child.
local function case(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = k .. "=" .. one_line(v):gsub(" ", "_") end
  table.sort(parts)
  io.write("CASE ", table.concat(parts, " "), "\n")
  io.flush()
end

-- What a pcall'd call gave: "raised", "error:<kind>" (nil, err),
-- "success", or "bad" (anything else); a detail; the attempts it reports.
local function outcome(ok, a, b, c)
  if not ok then return "raised", one_line(a), "" end
  if a ~= nil and b == nil then
    return "success", "", type(c) == "table" and tostring(c.attempts) or ""
  end
  if a == nil and type(b) == "table" and type(b.kind) == "string" and type(b.message) == "string" then
    return "error:" .. b.kind, one_line(b.message), tostring(b.attempts or "")
  end
  return "bad", one_line(tostring(a) .. ", " .. tostring(b)), ""
end

local function is_closed(client)
  return tostring(client):find("(closed)", 1, true) ~= nil
end

-- An object whose __gc is f, on every Lua (5.1 and LuaJIT: newproxy).
local function finalizable(f)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end

-- Collect as often as possible: every allocation that finds debt runs a
-- whole cycle, finalizers included (5.1, LuaJIT, 5.3, 5.4; 5.2 only now and
-- then). lua5.4 starts in generational mode, where the pause and step
-- multiplier mean nothing: switch to incremental first. 5.4 keeps the
-- multiplier in a byte (at most 1023).
local function pressure(on)
  if on then
    if _VERSION == "Lua 5.4" then collectgarbage("incremental") end
    collectgarbage("setpause", 0)
    collectgarbage("setstepmul", _VERSION == "Lua 5.4" and 1000 or 1000000)
  else
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
  end
  collectgarbage("collect")
end

-- A finalizer that runs at every GC point (it renews itself) and calls
-- action() at the kth GC point while armed. Returns a control table:
-- .points, .fired, .stop(). Arm it with armed_call(b, f, ...): a pcall of
-- f(...) with the bomb armed exactly while f runs.
local function bomb(k, action)
  local b = { points = 0, fired = false, live = true, armed = false }
  local fin
  local function plant() finalizable(fin) end
  fin = function()
    if not b.live then return end
    if not b.armed then return plant() end
    b.points = b.points + 1
    if b.points == k then
      b.live, b.fired = false, true
      action()
      return
    end
    plant()
  end
  function b.stop() b.live = false end
  pressure(true)
  plant()
  return b
end

local function disarm(b, ...)
  b.armed = false
  return ...
end

local function armed_call(b, f, ...)
  local args = { n = select("#", ...), ... }
  local function armed()
    b.armed = true
    return disarm(b, f(unpack(args, 1, args.n)))
  end
  return disarm(b, pcall(armed))
end

local function params(ref)
  local p = F.individual()
  p.reference = ref
  for i = 1, 40 do p.metadata["key" .. i] = i end
  return p
end

local function new_client(opts)
  local o = { secret_key = KEY, base_url = URL, timeout = 10, backoff_base = 0.001, backoff_max = 0.01 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return allawee.new(o)
end

-- POSTs the sandbox recorded whose body holds ref. The control request
-- comes on a new connection, after what the client already wrote.
local Sandbox = require "support.sandbox"
local json = require("cjson").new()
local function posts(ref)
  local resp = assert(Sandbox.request(URL, "GET", "/_sandbox/requests"))
  local n = 0
  for _, r in ipairs(json.decode(resp.body)) do
    if r.method == "POST" and type(r.body) == "string" and r.body:find(ref, 1, true) then n = n + 1 end
  end
  return n
end

-- After a hostile call on client for ref: POSTs for ref now, then keep
-- driving (poll, wait, a second create, close, collect), then POSTs again.
-- Returns { before, after, state = "open"|"closed", usable = "yes"|"no"|"n/a", second }.
local function settle(client, ref)
  local r = { before = posts(ref), state = "closed", usable = "n/a", second = "" }
  if not is_closed(client) then
    r.state = "open"
    local ok, err = pcall(client.poll, client, 0)
    if ok then ok, err = pcall(client.wait, client) end
    if not ok then r.drive_error = one_line(err) end
    if not is_closed(client) then
      local kind = outcome(pcall(client.customers.create, params((ref:gsub("@", "-second@")))))
      r.second = kind
      r.usable = kind == "success" and "yes" or "no"
    else
      r.state = "closed"
    end
  end
  pcall(client.close, client)
  collectgarbage()
  collectgarbage()
  r.after = posts(ref)
  return r
end
]==]

-- Under `make asan` the suite runs in build/asan/lua5.4: its children
-- then run there too, on build/asan's module, so that they are sanitized.
local asan_exe
local function asan_interpreter()
  if asan_exe == nil then
    local p = io.popen("readlink /proc/$PPID/exe 2>/dev/null", "r")
    local exe = p and p:read("*l") or ""
    if p then p:close() end
    asan_exe = exe:match("/build/asan/lua5%.4$") and exe or false
  end
  return asan_exe
end

--- The interpreter and build the children use.
function C.interpreter()
  return os.getenv("ALLAWEE_CHILD_LUA") or asan_interpreter() or F.interpreter()
end

function C.build()
  return os.getenv("ALLAWEE_CHILD_BUILD") or (asan_interpreter() and "asan") or F.build()
end

local function prelude()
  local root = net.repo_root()
  return C.PRELUDE:format(
    root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;",
    root .. "/build/" .. C.build() .. "/?.so;", C.KEY)
end

--- Runs code in a child; returns { status, signal, hung, stdout, stderr,
-- results = { name = value }, cases = { {k = v}, ... }, timeout }.
function C.run(code, opts)
  opts = opts or {}
  local timeout = opts.timeout or 20
  local dir = net.temp_dir("child")
  local script, out, err = dir .. "/child.lua", dir .. "/stdout", dir .. "/stderr"
  net.write_file(script, prelude() .. "\n" .. code)
  local assignments = {}
  for k, v in pairs(opts.env or {}) do assignments[#assignments + 1] = k .. "=" .. net.shell_quote(v) end
  table.sort(assignments)
  -- GNU timeout: 124 when it had to kill the command; 128+N when the
  -- command died of signal N.
  local cmd = ("cd %s && env -u ALLAWEE_SECRET_KEY -u ALLAWEE_BASE_URL %s timeout -s KILL %d %s %s >%s 2>%s; echo $?")
    :format(net.shell_quote(net.repo_root()), table.concat(assignments, " "), timeout,
            C.interpreter(), net.shell_quote(script), net.shell_quote(out), net.shell_quote(err))
  local p = assert(io.popen(cmd, "r"))
  local status = tonumber(p:read("*a"):match("(%d+)%s*$"))
  p:close()
  local res = { status = status, timeout = timeout, results = {}, cases = {},
                stdout = net.read_file(out) or "", stderr = net.read_file(err) or "" }
  if not os.getenv("KEEP_CHILD") then net.remove_temp_dir(dir) end
  if status == 124 then
    res.hung = true
  elseif status and status > 128 then
    res.signal = status - 128
  end
  for line in res.stdout:gmatch("[^\n]+") do
    local name, value = line:match("^RESULT ([%w_]+)=(.*)$")
    if name then res.results[name] = value end
    local fields = line:match("^CASE (.*)$")
    if fields then
      local t = {}
      for k, v in fields:gmatch("([%w_]+)=(%S*)") do t[k] = v end
      res.cases[#res.cases + 1] = t
    end
  end
  return res
end

--- "exit 0", or what went wrong, in words.
function C.describe(res)
  local tail = res.stderr:sub(-1500)
  if res.hung then
    return ("hung: killed after %d s\n%s"):format(res.timeout, tail)
  elseif res.signal then
    return ("child crashed with %s (status %d)\n%s"):format(SIGNALS[res.signal] or ("signal " .. res.signal),
      res.status, tail)
  elseif res.status ~= 0 then
    return ("child exited with status %s:\n%s"):format(tostring(res.status), tail)
  end
  return "exit 0"
end

--- Fails the test unless the child exited 0 (no crash, no hang).
function C.assert_clean(res)
  assert(res.status == 0, C.describe(res))
end

--- Checks every CASE line of a sweep inside the child (see settle in the
-- prelude): a valid outcome, never conflict, the client usable or closed
-- afterwards, at most opts.max_posts (1) POSTs for the reference, none
-- after a call that was over (opts.late(case) says when; default: always).
-- The child must also have printed RESULT done=yes (its sweep ended).
function C.assert_cases(res, opts)
  opts = opts or {}
  C.assert_clean(res)
  assert(res.results.done == "yes", "the child did not finish its sweep:\n" .. res.stdout:sub(-800))
  assert(#res.cases > 0, "the child reported no case")
  for _, c in ipairs(res.cases) do
    local label = ("k=%s (%s, %s)"):format(tostring(c.k), tostring(c.where or c.ref), tostring(c.outcome))
    assert(c.outcome and c.outcome ~= "bad",
      label .. ": neither raised, nil+err nor success: " .. tostring(c.detail))
    assert(not tostring(c.outcome):find("conflict", 1, true) and not tostring(c.second):find("conflict", 1, true)
      and c.callback_conflict ~= "true",
      label .. ": told conflict for the customer its own call created")
    assert(c.state == "closed" or c.usable == "yes",
      label .. ": afterwards the client is neither usable nor closed (second create: "
        .. tostring(c.second) .. ", drive: " .. tostring(c.drive_error) .. ")")
    local max = opts.max_posts or 1
    if c.outcome == "success" and tonumber(c.attempts) then max = math.max(max, tonumber(c.attempts)) end
    assert(tonumber(c.after) <= max,
      ("%s: POST for reference %s arrived %s times (at most %d allowed)"):format(label, c.ref, c.after, max))
    if not opts.late or opts.late(c) then
      assert(tonumber(c.after) == tonumber(c.before),
        ("%s: POST for reference %s arrived after its call was over (%s before, %s after)")
          :format(label, c.ref, c.before, c.after))
    end
    if c.callbacks then
      assert(tonumber(c.callbacks) <= 1, ("%s: the callback ran %s times"):format(label, c.callbacks))
    end
  end
end

--- How many POSTs the sandbox recorded whose body holds ref.
function C.posts(sb, ref)
  local n = 0
  for _, r in ipairs(sb:requests()) do
    if r.method == "POST" and type(r.body) == "string" and r.body:find(ref, 1, true) then n = n + 1 end
  end
  return n
end

--- The recorded requests whose body holds ref.
function C.records(sb, ref)
  local out = {}
  for _, r in ipairs(sb:requests()) do
    if type(r.body) == "string" and r.body:find(ref, 1, true) then out[#out + 1] = r end
  end
  return out
end

return C
