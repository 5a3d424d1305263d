-- What a call and a request keep in Lua's heap, and what they do once
-- their finalizer has run. Their state (about 2.6 KiB for a call of the
-- engine for Lua transports, 3 KiB for a libcurl request: two answers,
-- messages, waits) lives in C memory the userdata points to; in Lua's heap
-- it drove the collector about twice as often per create (bench/RESULTS.md,
-- OpenResty instructions per create). Through real HTTP against the sandbox.
require "allawee"   -- registers the decoder the engine uses
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"

local KEY = "sk.test.canary-heap"
local N = 200

-- KiB of Lua's heap each of n values made by make() keeps while all are alive.
local function kib_each(n, make)
  local keep = {}
  collectgarbage("collect")
  collectgarbage("stop")
  local before = collectgarbage("count")
  for i = 1, n do keep[i] = make(i) end
  local after = collectgarbage("count")
  collectgarbage("restart")
  for i = 1, n do assert(keep[i]) end
  return (after - before) / n
end

describe("what calls keep in Lua's heap", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() sb:stop() end)
  before_each(function() sb:reset() end)

  it("runs on the Lua it was asked for", function()
    local want = os.getenv("ALLAWEE_EXPECT_LUA")
    if want then
      local running = jit and "luajit" or _VERSION:match("Lua (%d%.%d)")
      assert.are.equal(want, running)
    end
  end)

  it("a prepared call of the engine for Lua transports: well under 1 KiB each", function()
    local cfg = core.config({ secret_key = KEY, base_url = sb.url }, "heap_spec", "allawee-lua/test")
    local params = F.minimal()
    -- the encoded body and the key are C memory too; what stays in Lua's
    -- heap is the userdata (and the table that keeps it here)
    local each = kib_each(N, function() return assert(cfg:call("customers.create", params)) end)
    assert.is_true(each < 0.5, ("%.2f KiB per prepared call"):format(each))
    -- and it is a working call: sent over real HTTP, answered, done
    local call = assert(cfg:call("customers.create", F.minimal()))
    local what = call:next(cfg)
    assert.are.equal("send", what)
  end)

  it("a libcurl request in flight: well under 1 KiB each, and every one is answered", function()
    local c = F.new_client(KEY, S.scenario_url(sb, "delay=100"), { max_connections = 32 })
    local answered, failed = 0, nil
    local params = {}
    for i = 1, N do params[i] = F.minimal() end   -- made before: only the requests are counted
    local function done(data, err)
      if data then answered = answered + 1 else failed = failed or err end
    end
    local each = kib_each(N, function(i) return c.customers.create_async(params[i], done) end)
    assert.is_true(each < 1.0, ("%.2f KiB per request in flight"):format(each))
    c:wait()
    assert.is_nil(failed and failed.message)
    assert.are.equal(N, answered)
    c:close()
  end)

  it("calls and requests lock their metatables: Lua code cannot run their __gc by hand", function()
    local cfg = core.config({ secret_key = KEY, base_url = sb.url }, "heap_spec", "allawee-lua/test")
    local call = assert(cfg:call("customers.create", F.minimal()))
    assert.are.equal("locked", getmetatable(call))
    local c = F.new_client(KEY, sb.url)
    local req = c.customers.create_async(F.minimal(), function() end)
    assert.are.equal("locked", getmetatable(req))
    c:wait()
    c:close()
  end)

  -- With the debug library it can still be done; the object then refuses
  -- use instead of touching freed memory (between two methods: inside one,
  -- the debug library can break any userdata, as with io's files).
  it("a call whose __gc was run through the debug library refuses use", function()
    local cfg = core.config({ secret_key = KEY, base_url = sb.url }, "heap_spec", "allawee-lua/test")
    local call = assert(cfg:call("customers.create", F.minimal()))
    local gc = debug.getmetatable(call).__gc
    gc(call)
    gc(call)   -- twice: still nothing to free twice
    local ok, err = pcall(call.next, call, cfg)
    assert.is_false(ok)
    assert.matches("attempt to use a collected call", err, 1, true)
    -- the config is untouched and makes new calls
    local fresh = assert(cfg:call("customers.create", F.minimal()))
    assert.are.equal("send", (fresh:next(cfg)))
  end)

  it("a request whose __gc was run through the debug library refuses use; the client goes on", function()
    local c = F.new_client(KEY, S.scenario_url(sb, "delay=100"))
    local called = 0
    local req = c.customers.create_async(F.minimal(), function() called = called + 1 end)
    local gc = debug.getmetatable(req).__gc
    gc(req)
    gc(req)
    assert.is_false((pcall(req.cancel, req)))
    local ok, err = pcall(tostring, req)
    assert.is_false(ok)
    assert.matches("attempt to use a collected request", err, 1, true)
    -- released as if collected: its callback never runs; the client works
    c:wait()
    assert.are.equal(0, called)
    local data, cerr = c.customers.create(F.minimal())
    assert.is_truthy(data, cerr and cerr.message)
    c:close()
  end)
end)
