--[[
alloc_sweep.lua: the scenarios and the judge of the failing-allocator sweep
(fuzz/alloc_sweep.c, `make alloc-sweep`). Lua 5.4 only (Debian's liblua5.4).

For every scenario (a short snippet calling one entry point of the SDK) and
every way of going wrong, the sweep runs the snippet with N = 1, 2, 3, ...
until it completes with nothing injected. Each N is a fresh child process
with a fresh lua_State. The ways of going wrong (ALLOC_SWEEP_MODES):

  alloc/fail    The Nth allocation fails (ltests.c's alloccount, one at a
                time). Domains (ALLOC_SWEEP_DOMAINS, default "lua,module"):
                the state's lua_Alloc, the module's malloc, libcurl's.
                ALLOC_SWEEP_FAIL=all: every allocation from the Nth on fails.
  gc/<action>   A hostile finalizer runs at the Nth GC point. How every
                allocation becomes a GC point: with setpause 0 and a huge
                setstepmul, each luaC_checkGC that finds debt (that is, after
                any allocation) runs a whole cycle, finalizers included
                (lgc.c incstep loops until GCSpause); a self-renewing
                finalizable object is garbage at every cycle, so its __gc
                runs at every GC point. It counts its runs; at the Nth it does
                the hostile thing (close the client, mutate the params, start
                another request, cancel) and stops renewing.
  hook/<action> A hostile call hook (debug.sethook(f, "c")) at the Nth
                function call made while the snippet runs: the engine's
                calls into Lua (metamethods, the decoder, callbacks, tostring)
                and the snippet's own. Actions: close, raise, mutate,
                collect (a full collectgarbage()).

After the snippet (nothing armed any more) the child keeps driving the
client (poll, wait, a second create, close, collectgarbage) and asks the
sandbox how many POSTs arrived for each reference before and after that.
Verdicts (any one fails the N):

  crash      the child died (ASan, UBSan, a signal): report's top frames
  leak       LeakSanitizer at the child's exit, after lua_close
  hang       killed by alarm after ALLOC_SWEEP_TIMEOUT seconds
  outcome    the snippet did not raise, return nil+err, or succeed
  duplicate  more POSTs for a reference than its call's attempts allow
  late       a POST for a reference arrived after its call raised or
             returned (or after close)
  conflict   a call was told "conflict" for the customer it created itself
  callback   a callback ran twice, or never although its request was
             submitted and the client was not closed
  client     afterwards the client was neither usable nor closed

Knobs: ALLOC_SWEEP_SCENARIOS (comma list, default all), ALLOC_SWEEP_MODES
(alloc,gc,hook), ALLOC_SWEEP_GC_ACTIONS, ALLOC_SWEEP_HOOK_ACTIONS,
ALLOC_SWEEP_MAX_N (5000), ALLOC_SWEEP_STRIDE (1: every N),
ALLOC_SWEEP_MAX_FAILURES (3 per scenario and action, then the next),
ALLOC_SWEEP_TIMEOUT (10 s per child), ALLOC_SWEEP_ALLOW_MISSING=1 (an
entry point not in the module yet is not a failure), ALLOC_SWEEP_DIR,
ALLOC_SWEEP_SHARD=i/n (run every nth scenario/action only, from the ith:
mk/alloc.mk runs ALLOC_SWEEP_JOBS shards side by side, each with its own
sandbox), ALLOC_SWEEP_REPLAY=0 (do not replay first failures).

Speed: ASan's fast unwinder cannot walk through Debian's liblua (no frame
pointers), so where a block was freed inside the collector is lost; the
slow unwinder costs about 4x per run. So the sweep runs fast, and replays
the first failure of each failed row once, in a new process with
fast_unwind_on_malloc=0 (ALLOC_SWEEP_ONLY=scenario/mode/action/N), to print
the full "freed by" stack.
]]

local sweep = rawget(_G, "sweep") -- set by alloc_sweep.c before require
local socket -- luasocket, in the parent only (for its clock)

local M = {}

-- A key the sandbox accepts; "canary" so tools/test-summary would see it
-- if any output carried it.
local KEY = "sk.test.SECRET-canary-sweep"

local function split(s)
  local out = {}
  for item in (s or ""):gmatch("[^,%s]+") do out[#out + 1] = item end
  return out
end

local function one_line(s)
  return (tostring(s):gsub("[%c]+", " "):sub(1, 300))
end

local function encode_result(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local lines = {}
  for _, k in ipairs(keys) do lines[#lines + 1] = k .. "=" .. one_line(t[k]) end
  return table.concat(lines, "\n") .. "\n"
end

local function decode_result(text)
  local t = {}
  for k, v in (text or ""):gmatch("([%w_]+)=([^\n]*)") do t[k] = v end
  return t
end

---------------------------------------------------------------------------
-- Scenarios (run in the child)
---------------------------------------------------------------------------

local function is_closed(client)
  return client ~= nil and client ~= false and tostring(client):find("(closed)", 1, true) ~= nil
end

local function new_client(env, base_suffix, extra)
  local o = {
    secret_key = KEY, base_url = env.url .. (base_suffix or ""), timeout = 5,
    backoff_base = 0.001, backoff_max = 0.01,
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  return env.allawee.new(o)
end

-- The documented individual customer with 40 more metadata keys: more than
-- the encoder's 32 on-stack keys, so the free-form walk allocates.
local function new_params(env, ref)
  local p = env.F.individual()
  p.reference = ref
  for i = 1, 40 do p.metadata["key" .. i] = i end
  return p
end

-- A table whose every read is computed afresh (a config proxy): the strings
-- it hands out are referenced by nobody once the reader pops them.
local function proxy(parts)
  return setmetatable({}, { __index = function(_, k)
    local p = parts[k]
    if type(p) == "table" then return p[1] .. p[2] end
    return p
  end })
end

local function sync_result(_, data, err, meta)
  return data, err, meta
end

local function async_result(env)
  return env.got_data, env.got_err, env.got_meta
end

-- One callback per reference: env.cbs[i] counts its own runs.
local function async_setup(env, suffix)
  env.client = new_client(env, suffix)
  env.params = new_params(env, env.refs[1])
  for i = 1, #env.refs do
    env.calls_by[i] = 0
    env.cbs[i] = function(data, err, meta)
      env.calls = env.calls + 1
      env.calls_by[i] = env.calls_by[i] + 1
      env.got_data, env.got_err, env.got_meta = data, err, meta
    end
  end
  env.cb = env.cbs[1]
end

local function has_request(env)
  return type(env.client.request) == "function"
end

local SCENARIOS = {}
local ORDER = {}

local function scenario(name, def)
  SCENARIOS[name] = def
  ORDER[#ORDER + 1] = name
  def.name = name
  def.posts = def.posts or 1
  def.nrefs = def.nrefs or 1
  def.result = def.result or sync_result
end

-- allawee.new(env.options): the client is the result.
local function new_from_options(env)
  env.client = env.allawee.new(env.options)
  return env.client
end

scenario("new", {
  posts = 0,
  setup = function(env) env.options = { secret_key = KEY, base_url = env.url } end,
  run = new_from_options,
  result = function(_, client) return client, nil, nil end,
})

scenario("new_proxy", {
  posts = 0,
  setup = function(env)
    local cut = #env.url - 3
    env.options = proxy({
      secret_key = { "sk.test.SECRET-", "canary-sweep" },
      base_url = { env.url:sub(1, cut), env.url:sub(cut + 1) },
      user_agent = { "sweep-", "proxy" },
      timeout = 5,
    })
  end,
  run = new_from_options,
  result = function(_, client) return client, nil, nil end,
})

scenario("create", {
  setup = function(env)
    env.client = new_client(env)
    env.params = new_params(env, env.refs[1])
  end,
  run = function(env) return env.client.customers.create(env.params) end,
})

scenario("create_proxy", {
  setup = function(env)
    env.client = new_client(env)
    env.params = new_params(env, env.refs[1])
    env.options = proxy({
      timeout = 5, max_retries = 1,
      idempotency_key = { "sweep-key-", tostring(env.n) .. "-" .. tostring(env.pid) },
    })
  end,
  run = function(env) return env.client.customers.create(env.params, env.options) end,
})

scenario("create_retry", {
  posts = 2,
  setup = function(env)
    env.client = new_client(env, "/_scenario/status=503,times=1")
    env.params = new_params(env, env.refs[1])
  end,
  run = function(env) return env.client.customers.create(env.params) end,
})

scenario("async_poll", {
  async = true,
  setup = function(env) async_setup(env) end,
  run = function(env)
    env.req = env.client.customers.create_async(env.params, env.cb)
    env.submitted[1] = true
    env.phase = "drive"
    for _ = 1, 500 do
      if env.calls > 0 then break end
      env.client:poll(20)
    end
  end,
  result = async_result,
})

scenario("async_wait", {
  async = true,
  setup = function(env) async_setup(env) end,
  run = function(env)
    env.req = env.client.customers.create_async(env.params, env.cb)
    env.submitted[1] = true
    env.phase = "drive"
    env.client:wait()
  end,
  result = async_result,
})

scenario("cancel", {
  async = true,
  setup = function(env) async_setup(env, "/_scenario/delay=100") end,
  run = function(env)
    env.req = env.client.customers.create_async(env.params, env.cb)
    env.submitted[1] = true
    env.phase = "drive"
    env.client:poll(0)
    env.req:cancel()
    env.client:poll(0)
  end,
  result = async_result,
})

scenario("close_in_flight", {
  async = true, nrefs = 3, closes = true,
  setup = function(env)
    async_setup(env, "/_scenario/delay=100")
    env.plist = {}
    for i = 1, 3 do env.plist[i] = new_params(env, env.refs[i]) end
  end,
  run = function(env)
    for i = 1, 3 do
      env.reqs[i] = env.client.customers.create_async(env.plist[i], env.cbs[i])
      env.submitted[i] = true
    end
    env.phase = "drive"
    env.client:poll(0)
    env.client:close()
    env.phase = "closed"
  end,
  result = function(env)
    if env.calls > 0 then return nil, { kind = "sweep", message = "a callback ran although close came first" } end
    return true, nil, nil
  end,
})

scenario("request_get", {
  posts = 0, requires = has_request,
  setup = function(env) env.client = new_client(env) end,
  run = function(env) return env.client:request("GET", "/customers") end,
})

scenario("request_post", {
  requires = has_request,
  setup = function(env)
    env.client = new_client(env)
    env.params = new_params(env, env.refs[1])
    env.args = { body = env.params }
  end,
  run = function(env) return env.client:request("POST", "/customers", env.args) end,
})

scenario("request_async", {
  async = true, requires = has_request,
  setup = function(env)
    async_setup(env)
    env.args = { body = env.params }
  end,
  run = function(env)
    env.req = env.client:request_async("POST", "/customers", env.args, env.cb)
    env.submitted[1] = true
    env.phase = "drive"
    env.client:wait()
  end,
  result = async_result,
})

-- One exchange of the call API over luasocket: what allawee.openresty does
-- on nginx's cosockets (connect, send what call:next says, read, report).
-- `parse_head`: the head goes through call:head (allawee.openresty's way)
-- instead of a headers table.
local function socket_exchange(env, call, request, parse_head)
  local luasocket = require "socket"
  local host, port = env.url:match("^http://([^:/]+):(%d+)")
  local conn = luasocket.tcp()
  conn:settimeout(5)
  local ok, err = conn:connect(host, tonumber(port))
  if not ok then
    conn:close()
    return call:failed("connect", err, false)
  end
  ok, err = conn:send(table.concat(request))
  if not ok then
    conn:close()
    return call:failed("send", err, false)
  end
  if parse_head then
    local raw = {}
    repeat
      local h = conn:receive("*l")
      if not h then
        conn:close()
        return call:failed("receive", "closed", #raw > 0)
      end
      raw[#raw + 1] = h .. "\r\n"
    until h == ""
    local what, status, _, _, _, cl = call:head(table.concat(raw), 1, 0, 65536, 200)
    if what ~= "head" then
      conn:close()
      return call:failed("receive", "malformed", true)
    end
    local body = conn:receive(tonumber(cl or "0"))
    conn:close()
    if not body then return call:failed("receive", "closed", true, status) end
    return call:answer(status, nil, body)
  end
  local line = conn:receive("*l")
  local status = line and tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then
    conn:close()
    return call:failed("receive", "closed", line ~= nil)
  end
  local headers = {}
  while true do
    local h = conn:receive("*l")
    if not h then
      conn:close()
      return call:failed("receive", "closed", true)
    end
    if h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local body = conn:receive(tonumber(headers["content-length"] or "0"))
  conn:close()
  if not body then return call:failed("receive", "closed", true, status, headers) end
  return call:answer(status, headers, body)
end

-- The engine for Lua transports (core.config, cfg:call, call:next,
-- call:answer / call:failed): the OpenResty client's path, here on
-- luasocket. The hostile close closes the config (env.cfg) too.
-- `in_run`: core.config itself runs in the swept part, with a key long
-- enough that the fixed head lines outgrow a first buffer (the Authorization
-- line is copied into them: a raise there must leak and leave nothing).
local function call_api_scenario(suffix, posts, in_run, parse_head)
  local function make_config(env)
    local key = in_run and KEY .. ("k"):rep(1500) or KEY
    return env.core.config({ secret_key = key, base_url = env.url .. suffix, timeout = 5,
                             backoff_base = 0.001, backoff_max = 0.01 }, "sweep", "sweep-agent")
  end
  return {
    clean = "success", posts = posts,
    requires = function(env) return type(env.core.config) == "function" end,
    setup = function(env)
      env.core = require "allawee.core"
      env.client = new_client(env)   -- for the judge's "keep driving" phase
      env.params = new_params(env, env.refs[1])
      if not in_run then env.cfg = make_config(env) end
    end,
    run = function(env)
      if in_run then env.cfg = make_config(env) end
      local call, err = env.cfg:call("customers.create", env.params)
      if not call then return nil, err end
      while true do
        local what, a, b, c = call:next(env.cfg)
        if what == "send" then
          socket_exchange(env, call, a, parse_head)
        elseif what == "wait" then
          require("socket").sleep(a)
        else
          return a, b, c   -- data, err, meta
        end
      end
    end,
  }
end

scenario("call_api", call_api_scenario("", 1))
-- a 503, a wait, the same create again (call:next's "wait", a second send)
scenario("call_api_retry", call_api_scenario("/_scenario/status=503,times=1", 2))
-- core.config swept too: its options and the fixed head lines of each host
scenario("call_api_config", call_api_scenario("", 1, true))
-- the answer's head parsed by call:head, the fields kept for call:answer
scenario("call_api_head", call_api_scenario("", 1, false, true))

M.SCENARIOS, M.ORDER = SCENARIOS, ORDER

---------------------------------------------------------------------------
-- Hostile actions (gc and hook modes)
---------------------------------------------------------------------------

local ACTIONS = {
  close = function(env)
    if env.client then env.client:close() end
    if env.cfg then env.cfg:close() end
  end,
  raise = function()
    error("alloc_sweep: hostile raise", 0)
  end,
  mutate = function(env)
    for _, p in pairs({ env.params, env.plist and env.plist[1] }) do
      if type(p) == "table" then
        for i = 1, 40 do p.metadata["added" .. i] = i end
        p.name = "mutated while encoding"
        p.zz_added_top_level = true
      end
    end
  end,
  reenter = function(env)
    if env.client then
      env.client.customers.create_async(new_params(env, env.refs[1]:gsub("@", "-re@")), function() end)
    end
  end,
  cancel = function(env)
    local req = env.req or (env.reqs and env.reqs[1])
    if req then req:cancel() end
  end,
  collect = function()
    collectgarbage("collect")
  end,
}

M.GC_ACTIONS = { "close", "mutate", "reenter", "cancel" }
M.HOOK_ACTIONS = { "close", "raise", "mutate", "collect" }

local function install_gc(env, n, action)
  local h = { points = 0, fired = false, active = false, stopped = false }
  local fin
  local function bomb() setmetatable({}, { __gc = fin }) end
  fin = function()
    if h.stopped then return end
    if h.active then
      h.points = h.points + 1
      if h.points == n then
        h.fired, h.active, h.stopped = true, false, true
        ACTIONS[action](env)
        return
      end
    end
    bomb()
  end
  collectgarbage("setpause", 0)
  collectgarbage("setstepmul", 1000)
  bomb()
  -- The new pause takes effect when a cycle ends: end one now (the bomb
  -- renews itself in it).
  collectgarbage("collect")
  function h.start() h.active = true end
  function h.finish(...)
    h.active = false
    return ...
  end
  function h.stop()
    h.active, h.stopped = false, true
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 100)
  end
  return h
end

local function install_hook(env, n, action)
  local h = { points = 0, fired = false, active = false }
  debug.sethook(function()
    if not h.active then return end
    h.points = h.points + 1
    if h.points == n then
      h.active, h.fired = false, true
      ACTIONS[action](env)
    end
  end, "c")
  function h.start() h.active = true end
  function h.finish(...)
    h.active = false
    return ...
  end
  function h.stop()
    h.active = false
    debug.sethook()
  end
  return h
end

local function install_none()
  return { points = 0, fired = false, start = function() end, stop = function() end }
end

---------------------------------------------------------------------------
-- The child: one scenario, one N
---------------------------------------------------------------------------

local function phase(name)
  io.stderr:write("sweep-phase: ", name, "\n")
  io.stderr:flush()
end

-- POSTs the sandbox recorded per reference. A control request on a new
-- connection: the sandbox reads what is already waiting on the client's
-- connections first, so a request the client had fully sent is counted.
local function count_posts(env)
  local resp, err = env.S.request(env.url, "GET", "/_sandbox/requests")
  if not resp then error("sandbox /_sandbox/requests: " .. tostring(err)) end
  local records = env.json.decode(resp.body)
  local counts = {}
  for i, ref in ipairs(env.refs) do
    counts[i] = 0
    for _, r in ipairs(records) do
      if r.method == "POST" and type(r.body) == "string" and r.body:find(ref, 1, true) then
        counts[i] = counts[i] + 1
      end
    end
  end
  return counts
end

local function pack(...) return { n = select("#", ...), ... } end

function M.child(config_text)
  local cfg = decode_result(config_text)
  local n = tonumber(cfg.n)
  local sc = assert(SCENARIOS[cfg.scenario], "unknown scenario " .. tostring(cfg.scenario))
  local env = {
    allawee = require "allawee", F = require "support.fixtures", S = require "support.sandbox",
    json = require("cjson").new(), url = cfg.url, n = n, pid = cfg.pid,
    refs = {}, submitted = {}, reqs = {}, calls = 0, calls_by = {}, cbs = {}, phase = "submit",
    client = false, params = false, options = false, req = false, cb = false, args = false,
    got_data = false, got_err = false, got_meta = false, plist = false,
    core = false, cfg = false,
  }
  for i = 1, sc.nrefs do env.refs[i] = cfg.ref:gsub("@", "-" .. i .. "@") end
  env.got_data, env.got_err, env.got_meta = nil, nil, nil
  local result = { scenario = sc.name, mode = cfg.mode, action = cfg.action, n = n }

  phase("setup")
  sc.setup(env)
  if sc.requires and not sc.requires(env) then
    result.outcome = "na"
    return encode_result(result)
  end

  local hostile
  if cfg.mode == "gc" then
    hostile = install_gc(env, n, cfg.action)
  elseif cfg.mode == "hook" then
    hostile = install_hook(env, n, cfg.action)
  else
    hostile = install_none()
  end

  phase("run")
  -- The hostile thing is live only inside the armed call (and sees its
  -- return as one more point).
  local run = sc.run
  if cfg.mode ~= "alloc" then
    run = function(e)
      hostile.start()
      return hostile.finish(sc.run(e))
    end
  end
  local r = pack(sweep.call_armed(cfg.mode, n, run, env))
  hostile.stop()
  phase("judge")
  local status, counted, fired, domain = r[1], r[2], r[3], r[4]
  if cfg.mode ~= "alloc" then
    counted, fired, domain = hostile.points, hostile.fired and 1 or 0, cfg.action
  end
  result.points, result.fired, result.domain = counted, fired, domain

  local violations = {}
  local function violation(kind, text) violations[#violations + 1] = kind .. ": " .. text end

  -- What the call gave.
  local data, err, meta
  if status ~= "ok" then
    result.outcome = "raised"
    result.message = r[5]
  else
    data, err, meta = sc.result(env, table.unpack(r, 5, r.n))
    if data ~= nil and data ~= false and err == nil then
      result.outcome = "success"
      result.attempts = type(meta) == "table" and meta.attempts or ""
    elseif data == nil and type(err) == "table" and type(err.kind) == "string"
      and type(err.message) == "string" then
      result.outcome = "error"
      result.err_kind, result.message, result.attempts = err.kind, err.message, err.attempts or ""
      if err.kind == "conflict" then
        violation("conflict", "told conflict for its own create: " .. err.message)
      end
    elseif sc.async and env.calls == 0 and is_closed(env.client) then
      result.outcome = "closed" -- closed before the outcome: no callback, by design
    elseif sc.async and env.calls == 0 then
      result.outcome = "none"
      violation("callback", "the snippet ran to its end but the callback never ran")
    else
      result.outcome = "bad"
      violation("outcome", ("neither raised, nil+err nor success: %s, %s"):format(tostring(data), tostring(err)))
    end
  end
  result.phase = env.phase
  sweep.emit(encode_result(result)) -- known to the parent even if what follows crashes

  -- Keep driving the client, then count what reached the sandbox.
  phase("count-before")
  local before = count_posts(env)
  local client = env.client
  local calls_before_drive = env.calls
  if client and not is_closed(client) then
    phase("after: poll")
    local ok, e = pcall(client.poll, client, 0)
    if ok then ok, e = pcall(client.poll, client, 10) end
    phase("after: wait")
    if ok then ok, e = pcall(client.wait, client) end
    if not ok and not is_closed(client) then
      violation("client", "neither usable nor closed: poll/wait raised: " .. one_line(e))
    end
    if not is_closed(client) then
      phase("after: second create")
      local ref2 = cfg.ref:gsub("@", "-second@")
      local ok2, d2, e2 = pcall(client.customers.create, new_params(env, ref2))
      if not ok2 then
        violation("client", "neither usable nor closed: a second create raised: " .. one_line(d2))
      elseif d2 == nil then
        violation("client", "neither usable nor closed: a second create failed: " .. tostring(e2))
        if type(e2) == "table" and e2.kind == "conflict" then
          violation("conflict", "a fresh reference was told conflict")
        end
      end
      result.client = "usable"
    else
      result.client = "closed"
    end
    phase("after: close")
    pcall(client.close, client)
  elseif client then
    result.client = "closed"
  end
  phase("after: collect")
  env.client, env.req, env.reqs = nil, nil, nil
  client = nil -- luacheck: ignore 311 (dropped on purpose, for the collector)
  collectgarbage()
  collectgarbage()
  phase("count-after")
  local after = count_posts(env)

  -- Callbacks.
  for i, ref in ipairs(env.refs) do
    if (env.calls_by[i] or 0) > 1 then
      violation("callback", ("the callback of reference %s ran %d times"):format(ref, env.calls_by[i]))
    end
  end
  -- (Not after poll or wait raised: an error at the call of the callback,
  -- out of memory or a hook's, is the callback's own.)
  if sc.async and sc.name ~= "close_in_flight" and env.submitted[1] and env.calls == 0
    and result.outcome ~= "raised" and result.outcome ~= "closed" and result.client ~= "closed" then
    violation("callback", "its request was submitted, the client stayed open, yet the callback never ran")
  end
  if type(env.got_err) == "table" and env.got_err.kind == "conflict" then
    violation("conflict", "the callback was told conflict for its own create")
  end
  result.calls = env.calls
  result.calls_before_drive = calls_before_drive

  -- POSTs per reference.
  local counts = {}
  for i, ref in ipairs(env.refs) do
    counts[#counts + 1] = ("%d->%d"):format(before[i], after[i])
    local allowed = sc.posts
    if result.outcome == "success" and i == 1 and tonumber(result.attempts) then
      allowed = tonumber(result.attempts)
    end
    if after[i] > allowed then
      violation("duplicate", ("POST for reference %s arrived %d times (at most %d allowed%s)")
        :format(ref, after[i], allowed, result.outcome == "success" and ", meta.attempts" or ""))
    end
    -- Is this reference's call over? Blocking calls: once they returned or
    -- raised. Async: when create_async itself raised, or after close.
    local over = not sc.async or not env.submitted[i] or env.phase == "closed"
    if over and after[i] > before[i] then
      violation("late", ("POST for reference %s arrived after its call %s (%d before, %d after)")
        :format(ref, result.outcome == "raised" and "raised" or "returned", before[i], after[i]))
    end
    if result.outcome == "success" and not sc.async and sc.posts > 0 and after[i] == 0 and i == 1 then
      violation("outcome", "success, yet the sandbox never saw the POST")
    end
  end
  result.posts = table.concat(counts, ",")
  result.violations = #violations > 0 and table.concat(violations, " | ") or ""
  phase("done")
  return encode_result(result)
end

---------------------------------------------------------------------------
-- The parent: the sweep
---------------------------------------------------------------------------

local SIGNALS = { [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [9] = "SIGKILL",
  [11] = "SIGSEGV", [14] = "SIGALRM", [15] = "SIGTERM" }

local read_file = require("support.net").read_file   -- the text, or nil

-- The headline and the first frames of a sanitizer report (our frames:
-- not the sanitizer runtime, not Lua's, not this harness's), and for a
-- use after free the first frames of where it was freed.
local SKIP = { malloc = true, realloc = true, calloc = true, free = true, sweep_lua_alloc = true,
  should_fail = true, __wrap_malloc = true, __wrap_realloc = true, __wrap_calloc = true }
local STOP = { child_body = true, l_call_armed = true, main = true }

local function stack_frames(lines, first, limit)
  local frames, i = {}, first
  while lines[i] and lines[i]:match("^%s+#%d+ ") do
    local fn, where = lines[i]:match("^%s+#%d+ 0x%x+ in (.-) (%S.*)$")
    if fn then fn = fn:gsub("%(.*$", "") end
    if fn and STOP[fn] then break end
    if fn and not SKIP[fn] and not fn:match("^luaL?_") and not fn:match("interceptor")
      and not where:match("asan_") and not where:match("sanitizer_common") and not where:match("ubsan")
      and #frames < limit then
      frames[#frames + 1] = fn .. " " .. (where:match("([^/%s]+:%d+:?%d*)") or where:match("/([^/]+)%+0x")
        or where)
    end
    i = i + 1
  end
  return frames
end

local function report_summary(text)
  local lines = {}
  for line in text:gmatch("[^\n]*") do lines[#lines + 1] = line end
  local headline = text:match("ERROR: (%w+Sanitizer: [%w%-]+[^\n]*)") or text:match("(runtime error: [^\n]+)")
    or text:match("SUMMARY: ([^\n]+)") or "(report)"
  headline = headline:gsub(" %(pc 0x.*$", ""):gsub(" at pc 0x.*$", ""):gsub(" on address 0x%x+", "")
  local access = text:match("\n(%u+ of size %d+ at 0x%x+)") or text:match("\n(Direct leak of [^\n]+)")
    or text:match("\n(Indirect leak of [^\n]+)")
  if access then headline = headline .. " (" .. access:gsub(" at 0x%x+", "") .. ")" end
  local frames, freed = {}, nil
  for i, line in ipairs(lines) do
    if #frames == 0 and line:match("^%s+#0 ") then
      frames = stack_frames(lines, i, 10)
    elseif line:match("^freed by thread") then
      freed = stack_frames(lines, i + 1, 4)
    end
  end
  if freed and #freed > 0 then
    frames[#frames + 1] = "-- freed by: " .. table.concat(freed, " < ")
  end
  return headline, frames
end

local function last_phase(logfile)
  local text = read_file(logfile) or ""
  local phase_name
  for p in text:gmatch("sweep%-phase: ([^\n]+)") do phase_name = p end
  return phase_name or "start", text
end

-- One N's verdict: nil when it passed, else a one-line description, and
-- the sanitizer frames if any.
local function judge(pid, result, how, code, opts)
  local report = read_file(opts.reports .. "/report." .. pid)
  local phase_name, log = last_phase(opts.logfile)
  if report then
    local headline, frames = report_summary(report)
    local kind = headline:find("LeakSanitizer", 1, true) and "leak" or "crash"
    return ("%s (during %s): %s"):format(kind, phase_name, headline), frames
  end
  if how == "signal" then
    if code == 14 then
      return ("hang: killed after %d s (during %s)"):format(opts.timeout, phase_name)
    end
    return ("crash: child killed by %s (signal %d) during %s"):format(SIGNALS[code] or "a signal", code,
      phase_name)
  end
  local r = decode_result(result)
  if code ~= 0 then
    if code == 3 then
      return ("harness: the driver raised (during %s): %s"):format(phase_name,
        (result or ""):gsub("^harness_error=", ""):sub(1, 400))
    end
    return ("crash: child exited with status %d during %s%s"):format(code, phase_name,
      log ~= "" and (": " .. one_line(log:sub(-300))) or "")
  end
  if r.violations and r.violations ~= "" then return r.violations end
  return nil
end

local function env_number(name, default)
  return tonumber(os.getenv(name) or "") or default
end

-- "i/n" -> i, n (0-based i); nil -> 0, 1.
local function shard()
  local i, n = (os.getenv("ALLOC_SWEEP_SHARD") or ""):match("^(%d+)/(%d+)$")
  if not i then return 0, 1 end
  return tonumber(i), tonumber(n)
end

function M.main()
  local S = require "support.sandbox"
  socket = require "socket"
  local root = sweep.root
  local dir = os.getenv("ALLOC_SWEEP_DIR") or (root .. "/build/alloc")
  local opts = {
    reports = os.getenv("ALLOC_SWEEP_REPORTS") or (dir .. "/reports"),
    logfile = dir .. "/child.log",
    timeout = env_number("ALLOC_SWEEP_TIMEOUT", 10),
  }
  local max_n = env_number("ALLOC_SWEEP_MAX_N", 5000)
  local stride = math.max(1, env_number("ALLOC_SWEEP_STRIDE", 1))
  local max_failures = env_number("ALLOC_SWEEP_MAX_FAILURES", 3)
  local allow_missing = os.getenv("ALLOC_SWEEP_ALLOW_MISSING") == "1"
  local modes = split(os.getenv("ALLOC_SWEEP_MODES") or "alloc,gc,hook")
  local scenarios = split(os.getenv("ALLOC_SWEEP_SCENARIOS") or table.concat(ORDER, ","))
  local gc_actions = split(os.getenv("ALLOC_SWEEP_GC_ACTIONS") or table.concat(M.GC_ACTIONS, ","))
  local hook_actions = split(os.getenv("ALLOC_SWEEP_HOOK_ACTIONS") or table.concat(M.HOOK_ACTIONS, ","))
  os.execute("mkdir -p '" .. opts.reports .. "'")

  local only = os.getenv("ALLOC_SWEEP_ONLY")
  if only then
    local name, mode, action, n = only:match("^([%w_]+)/(%w+)/(%w+)/(%d+)$")
    assert(name, "ALLOC_SWEEP_ONLY must be scenario/mode/action/N")
    scenarios, modes, max_n = { name }, { mode }, tonumber(n)
    gc_actions, hook_actions = { action }, { action }
    opts.start_n, opts.only = tonumber(n), true
  end
  local sb = S.start()
  -- The sandbox must stop whatever happens: lua_close would otherwise wait
  -- for it forever in pclose.
  local ok, passed = xpcall(M.sweep_all, debug.traceback, sb, opts, {
    max_n = max_n, stride = stride, max_failures = max_failures, allow_missing = allow_missing,
    modes = modes, scenarios = scenarios, gc_actions = gc_actions, hook_actions = hook_actions,
  })
  sb:stop()
  if not ok then error(passed, 0) end
  return passed
end

function M.sweep_all(sb, opts, knobs)
  local max_n, stride, max_failures = knobs.max_n, knobs.stride, knobs.max_failures
  local allow_missing, modes, scenarios = knobs.allow_missing, knobs.modes, knobs.scenarios
  local gc_actions, hook_actions = knobs.gc_actions, knobs.hook_actions
  local clock0 = os.time()
  local shard_i, shard_n = shard()
  if not opts.only then
    print(("alloc-sweep%s: sandbox %s; modes %s; domains %s; fail %s; stride %d; timeout %d s")
      :format(shard_n > 1 and (" [shard " .. shard_i .. "/" .. shard_n .. "]") or "", sb.url,
              table.concat(modes, ","), sweep.domains, sweep.fail_all and "all" or "once", stride, opts.timeout))
  end
  local rows, failed, missing, row_index = {}, 0, 0, 0

  for _, name in ipairs(scenarios) do
    local sc = SCENARIOS[name]
    if not sc then error("unknown scenario " .. name) end
    for _, mode in ipairs(modes) do
      local actions = mode == "alloc" and { "fail" } or mode == "gc" and gc_actions or hook_actions
      for _, action in ipairs(actions) do
        local mine = false
        if not (action == "cancel" and not sc.async) then
          row_index = row_index + 1
          mine = (row_index - 1) % shard_n == shard_i
        end
        if mine then
          local row = { label = ("%s/%s/%s"):format(name, mode, action), runs = 0, failures = {},
                        name = name, mode = mode, action = action }
          local t0 = socket.gettime()
          local n = opts.start_n or 1
          while n <= max_n do
            sb:reset()
            local ref = ("sweep-%s-%s-%s-%d-%d@example.com"):format(name, mode, action, n, os.time())
            local config = encode_result({ scenario = name, mode = mode, action = action, n = n,
              ref = ref, url = sb.url, pid = tostring(n) })
            local pid, result, how, code = sweep.run_child(config, opts.logfile, opts.timeout)
            row.runs = row.runs + 1
            local r = decode_result(result)
            if r.outcome == "na" and how == "exit" and code == 0 then
              row.na = true
              break
            end
            local verdict, frames = judge(pid, result, how, code, opts)
            if verdict then
              row.failures[#row.failures + 1] = { n = n, verdict = verdict, frames = frames,
                outcome = r.outcome, fired = r.fired, domain = r.domain }
              if max_failures > 0 and #row.failures >= max_failures then break end
            elseif r.fired == "0" then
              -- Nothing injected: the run is the plain call, and its
              -- outcome must be the scenario's (a transport that never
              -- worked would pass every N as an error otherwise).
              local want = SCENARIOS[name].clean
              if want and r.outcome ~= want then
                row.failures[#row.failures + 1] = { n = n, verdict = "clean",
                  frames = { "the run with nothing injected gave " .. tostring(r.outcome) ..
                           " (" .. tostring(r.message) .. "), not " .. want },
                  outcome = r.outcome, fired = r.fired, domain = r.domain }
                break
              end
              row.completed = n
              row.points = r.points
              row.clean = r.outcome
              break
            end
            n = n + stride
          end
          row.seconds = socket.gettime() - t0
          rows[#rows + 1] = row
          if opts.only then
            local f = row.failures[1]
            if f then
              print("        replayed with full stacks: " .. f.verdict)
              for _, frame in ipairs(f.frames or {}) do print("          " .. frame) end
            else
              print("        replayed: passed this time (" .. tostring(row.completed) .. ")")
            end
            return #row.failures == 0
          end
          if row.na then
            missing = missing + 1
            print(("  %-34s NOT YET AVAILABLE (the client has no such entry point)%s")
              :format(row.label, allow_missing and "" or ": counts as a failure"))
          elseif #row.failures == 0 and row.completed then
            print(("  %-34s ok: N=1..%d (%d runs, %s points at completion, %s, %.1f s)")
              :format(row.label, row.completed, row.runs, tostring(row.points),
                      tostring(row.clean), row.seconds))
          else
            failed = failed + 1
            local first = row.failures[1]
            if first then
              local what = first.outcome and ("%s fired, outcome %s"):format(tostring(first.domain),
                first.outcome) or "before any outcome"
              print(("  %-34s FAILED %d time(s) in %d runs (%.1f s); first at N=%d (%s): %s")
                :format(row.label, #row.failures, row.runs, row.seconds, first.n, what, first.verdict))
              for _, f in ipairs(first.frames or {}) do print("        " .. f) end
              for i = 2, #row.failures do
                print(("      then N=%d: %s"):format(row.failures[i].n, row.failures[i].verdict))
              end
              if os.getenv("ALLOC_SWEEP_REPLAY") ~= "0"
                and (first.verdict:match("^crash") or first.verdict:match("^leak")) then
                io.stdout:flush()
                os.execute(("ALLOC_SWEEP_SHARD=0/1 ALLOC_SWEEP_ONLY=%s/%s/%s/%d ASAN_OPTIONS=%s %s")
                  :format(row.name, row.mode, row.action, first.n,
                          "'" .. (os.getenv("ASAN_OPTIONS") or "") .. ":fast_unwind_on_malloc=0'", sweep.exe))
              end
            else
              print(("  %-34s FAILED: did not complete within N=%d"):format(row.label, max_n))
            end
          end
          io.stdout:flush()
        end
      end
    end
  end
  local total = #rows
  print(("alloc-sweep: %d sweeps, %d failed, %d not yet available, %d s")
    :format(total, failed, missing, os.time() - clock0))
  return failed == 0 and (missing == 0 or allow_missing)
end

return M
