-- A call of the engine for Lua transports gives its C memory back the
-- moment call:next hands out its outcome ("done"), not at the next
-- collection: then the memory is still in the cache, and the next call
-- takes it from there (the OpenResty client at 32 creates in flight got
-- about 8% faster). After that the call refuses any use. A finalizer
-- can end the call while another of its methods runs: the memory then
-- goes back when the outermost method returns, never under it. Under
-- `make asan` (the whole suite with ASan) a use after free here fails.
require "allawee"   -- registers the decoder the engine uses
local core = require "allawee.core"
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"

local KEY = "sk.test.canary-call-finish"
local MAX_HEAD, MAX_FIELDS = 65536, 200

-- Makes the collector eager and tries, up to 200000 times, a fresh
-- `setup()` then `fn(state)`, with a finalizer that runs `act(state)` once
-- when the C function `inside` is the one allocating. Returns the state
-- it acted on and fn's pcall results, or nil when it never fired (the
-- collector decides when finalizers run).
local function with_finalizer_inside(inside, setup, act, fn)
  local acted, current = false, nil
  local mt = { __gc = function()
    local info = debug.getinfo(2, "f")
    if info and info.func == inside and current and not acted then
      acted = true
      act(current)
    end
  end }
  if not pcall(collectgarbage, "incremental", 0, 100) then   -- 5.1, 5.2, LuaJIT
    collectgarbage("setpause", 0)
    collectgarbage("setstepmul", 100)
  end
  local results
  for _ = 1, 200000 do
    current = setup()
    if newproxy then   -- 5.1 and LuaJIT: only userdata have finalizers
      getmetatable(newproxy(true)).__gc = mt.__gc
    else
      setmetatable({}, mt)
    end
    results = { pcall(fn, current) }
    if acted then break end
    current = nil
  end
  collectgarbage("restart")
  if not pcall(collectgarbage, "incremental", 200, 100) then
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
  end
  if not acted then return nil end
  return current, results
end

describe("a finished call", function()
  local sb, cfg

  setup(function()
    sb = S.start()
    cfg = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 0 }, "call_finish_spec",
                      "allawee-lua/test")
  end)
  teardown(function()
    cfg:close()
    sb:stop()
  end)
  before_each(function() sb:reset() end)

  local function sent_call(config)
    config = config or cfg
    local call = assert(config:call("customers.create", F.minimal()))
    local what, request = call:next(config)
    assert.are.equal("send", what)
    return call, request
  end

  -- Sends what the call says over real HTTP and hands the answer back.
  local function exchange(call, request)
    local conn = assert(socket.connect("127.0.0.1", tonumber(sb.url:match(":(%d+)$"))))
    conn:settimeout(5)
    assert(conn:send(table.concat(request)))
    local head = {}
    repeat
      local line = assert(conn:receive("*l"))
      head[#head + 1] = line .. "\r\n"
    until line == ""
    head = table.concat(head)
    local what, status, _, _, _, cl = call:head(head, 1, 0, MAX_HEAD, MAX_FIELDS)
    assert.are.equal("head", what)
    local body = assert(conn:receive(tonumber(cl)))
    conn:close()
    call:answer(status, nil, body)
  end

  it("hands out its outcome once, then refuses every method, saying it is finished", function()
    local call, request = sent_call()
    exchange(call, request)
    local done, data, err, meta = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(err)
    assert.truthy(data.id)
    assert.are.equal(1, meta.attempts)
    assert.are.equal(1, sb:stats().requests)
    for _, try in ipairs({
      function() return call:next(cfg) end,
      function() return call:resend() end,
      function() return call:head("HTTP/1.1 200 OK\r\n\r\n", 1, 0, MAX_HEAD, MAX_FIELDS) end,
      function() return call:answer(201, nil, "{}") end,
      function() return call:failed("receive", "closed", true) end,
    }) do
      local ok, msg = pcall(try)
      assert.is_false(ok)
      assert.matches("attempt to use a finished call", msg, 1, true)
    end
    -- its finalizer finds nothing to free twice; the config goes on
    call = nil   -- luacheck: ignore 311
    collectgarbage("collect")
    collectgarbage("collect")
    local fresh, fresh_request = sent_call()
    exchange(fresh, fresh_request)
    assert.are.equal("done", (fresh:next(cfg)))
    assert.are.equal(2, sb:stats().requests)
  end)

  it("a failure ends it the same way", function()
    local call = sent_call()
    call:failed("connect", "connection refused", false)
    local done, data, err = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(data)
    assert.are.equal("connection", err.kind)
    assert.are.equal(1, err.attempts)
    local ok, msg = pcall(call.next, call, cfg)
    assert.is_false(ok)
    assert.matches("attempt to use a finished call", msg, 1, true)
  end)

  it("a refused call is nil, err and leaves nothing behind", function()
    local call, err = cfg:call("customers.create", { first_name = 42 })
    assert.is_nil(call)
    assert.are.equal("validation", err.kind)
    collectgarbage("collect")
    assert.are.equal(0, sb:stats().requests)
  end)

  it("a finalizer that ends the call inside call:head: the memory goes back after it returns",
     function()
    local head = "HTTP/1.1 201 Created\r\nX-Request-Id: req_outer\r\nTransfer-Encoding: chunked-" ..
                 ("x"):rep(50) .. "\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
    local probe = sent_call()
    local inner
    local call, results = with_finalizer_inside(probe.head, function()
      return (sent_call())
    end, function(c)
      c:failed("receive", "closed", true)
      inner = { c:next(cfg) }   -- "done": the outcome handed out, inside call:head
    end, function(c)
      return c:head(head, 1, 0, MAX_HEAD, MAX_FIELDS)
    end)
    if not call then
      pending("no finalizer ran inside call:head on this Lua in 200000 tries")
      return
    end
    -- the outer call:head ran to its end on live memory ...
    assert.is_true(results[1])
    assert.are.equal("head", results[2])
    -- ... the finalizer got the outcome, the failure it reported ...
    assert.are.equal("done", inner[1])
    assert.is_nil(inner[2])
    assert.are.equal("connection", inner[3].kind)
    assert.is_nil(inner[3].request_id)   -- nothing of the head the outer call was reading
    -- ... and then the call is finished
    local ok, msg = pcall(call.next, call, cfg)
    assert.is_false(ok)
    assert.matches("attempt to use a finished call", msg, 1, true)
  end)

  it("a finalizer that ends the call inside call:next's send: that send is refused", function()
    local probe = assert(cfg:call("customers.create", F.minimal()))
    local inner
    local call, results = with_finalizer_inside(probe.next, function()
      return assert(cfg:call("customers.create", F.minimal()))
    end, function(c)
      -- the same call driven to its end from inside: a send, a failure, the outcome
      local what = c:next(cfg)
      if what == "send" then c:failed("connect", "connection refused", false) end
      inner = { c:next(cfg) }
    end, function(c)
      return c:next(cfg)
    end)
    if not call then
      pending("no finalizer ran inside call:next on this Lua in 200000 tries")
      return
    end
    assert.are.equal("done", inner[1])
    assert.are.equal("connection", inner[3].kind)
    assert.are.equal(1, inner[3].attempts)
    -- the outer call:next handed out no second send: it raised
    assert.is_false(results[1])
    assert.matches("attempt to use a finished call", results[2], 1, true)
    assert.are.equal(0, sb:stats().requests)
  end)
end)
