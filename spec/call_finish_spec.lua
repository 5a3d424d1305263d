-- A call of the engine for Lua transports gives its C memory back the
-- moment call:next hands out its outcome ("done"), not at the next
-- collection: then the memory is still in the cache, and the next call
-- takes it from there (the OpenResty client at 32 creates in flight got
-- about 8% faster). After that the call refuses any use (unless one of
-- its methods raised: it then keeps its memory until it is collected,
-- and call:next repeats the outcome). A finalizer
-- can end the call while another of its methods runs: the memory then
-- goes back when the outermost method returns, never under it. Under
-- `make asan` (the whole suite with ASan) a use after free here fails.
require "allawee"   -- registers the decoder the engine uses
local core = require "allawee.core"
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local with_finalizer_inside = require("support.finalizers").inside

local KEY = "sk.test.canary-call-finish"
local MAX_HEAD, MAX_FIELDS = 65536, 200

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

  -- A fresh call's first call:next with `act(call)` run by a finalizer
  -- inside it: the call and the outer call:next's pcall results, or nil
  -- (the spec is then pending).
  local function inside_first_next(act)
    local probe = assert(cfg:call("customers.create", F.minimal()))
    local call, results = with_finalizer_inside(probe.next, function()
      return assert(cfg:call("customers.create", F.minimal()))
    end, act, function(c)
      return c:next(cfg)
    end)
    if not call then pending("no finalizer ran inside call:next on this Lua in 200000 tries") end
    return call, results
  end

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
    local inner
    local call, results = inside_first_next(function(c)
      -- the same call driven to its end from inside: a send, a failure, the outcome
      local what = c:next(cfg)
      if what == "send" then c:failed("connect", "connection refused", false) end
      inner = { c:next(cfg) }
    end)
    if not call then return end
    assert.are.equal("done", inner[1])
    assert.are.equal("connection", inner[3].kind)
    assert.are.equal(1, inner[3].attempts)
    -- the outer call:next handed out no second send: it raised
    assert.is_false(results[1])
    assert.matches("attempt to use a finished call", results[2], 1, true)
    assert.are.equal(0, sb:stats().requests)
  end)

  it("a finalizer that takes the send inside call:next: the outer call:next hands out none",
     function()
    local inner
    local call, results = inside_first_next(function(c)
      inner = { c:next(cfg) }   -- the send, from inside the outer one
    end)
    if not call then return end
    assert.are.equal("send", inner[1])
    assert.is_false(results[1])
    assert.matches("the call moved on under this call:next", results[2], 1, true)
    -- one send counted, one handed out: the call goes on from it
    call:failed("connect", "connection refused", false)
    local done, data, err = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(data)
    assert.are.equal(1, err.attempts)
  end)

  it("a finalizer inside call:next's wait that sends: the wait is refused, nothing sent twice",
     function()
    local waiting = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 1,
                                  backoff_base = 5, backoff_max = 5 }, "call_finish_spec",
                                "allawee-lua/test")
    local probe = assert(waiting:call("customers.create", F.minimal()))
    local inner
    local call, results = with_finalizer_inside(probe.next, function()
      local c = assert(waiting:call("customers.create", F.minimal()))
      assert.are.equal("send", (c:next(waiting)))
      c:answer(503, {}, '{"code":"error","message":"busy"}')   -- a retry, seconds away
      return c
    end, function(c)
      inner = { (c:next(waiting)), (c:next(waiting)) }   -- "wait", then the second send
    end, function(c)
      return c:next(waiting)
    end)
    if not call then
      waiting:close()
      pending("no finalizer ran inside call:next on this Lua in 200000 tries")
      return
    end
    assert.are.same({ "wait", "send" }, inner)
    assert.is_false(results[1])
    assert.matches("the call moved on under this call:next", results[2], 1, true)
    -- the second send is the last: its failure ends the call after 2 sends
    call:failed("connect", "connection refused", false)
    local done, _, err = call:next(waiting)
    waiting:close()
    assert.are.equal("done", done)
    assert.are.equal(2, err.attempts)
  end)

  it("a headers table whose __index ends the call: the outer call:answer is refused", function()
    local call = sent_call()
    local inner
    local headers = setmetatable({}, { __index = function()
      if not inner then
        call:failed("connect", "connection refused", false)
        inner = { call:next(cfg) }   -- the outcome, handed out from inside call:answer
      end
      return nil
    end })
    local ok, msg = pcall(call.answer, call, 201, headers, '{"code":"success","data":{"id":"x"}}')
    assert.is_false(ok)
    assert.matches("the call moved on while its answer was read", msg, 1, true)
    assert.are.equal("done", inner[1])
    assert.are.equal("connection", inner[3].kind)
    -- one outcome only: call:answer raised, so the call keeps its memory
    -- until it is collected, and call:next repeats the outcome it handed out
    local again = { call:next(cfg) }
    assert.are.equal("done", again[1])
    assert.is_nil(again[2])
    assert.are.equal("connection", again[3].kind)
    assert.are.equal(1, again[3].attempts)
  end)

  it("a call reached before cfg:call returns it refuses call:next", function()
    -- a finalizer inside cfg:call finds the call in its C frame (debug.getlocal)
    local function find_call(level)
      for i = 1, 80 do
        local ok, name, v = pcall(debug.getlocal, level, i)
        if not ok or not name then return nil end
        if type(v) == "userdata" and getmetatable(v) == "locked" then
          local index = debug.getmetatable(v).__index
          if type(index) == "table" and index.answer then return v end
        end
      end
    end
    local inner
    local call_fn = cfg.call
    local found, results = with_finalizer_inside(call_fn, function()
      return { name = 5 }   -- refused by validation: the outcome is pushed in cfg:call
    end, function()
      for level = 3, 6 do
        local c = find_call(level)
        if c then
          inner = { pcall(c.next, c, cfg) }
          return
        end
      end
    end, function(params)
      return cfg:call("customers.create", params)
    end)
    if not found or not inner then
      pending("no finalizer reached the call inside cfg:call on this Lua")
      return
    end
    assert.is_false(inner[1])
    assert.matches("the call is not prepared yet", inner[2], 1, true)
    assert.is_true(results[1])
    assert.is_nil(results[2])
    assert.are.equal("validation", results[3].kind)
  end)

  it("a call outlives its config: a retry's jitter is the call's own", function()
    local short = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 1,
                                backoff_base = 0.2, backoff_max = 0.2 }, "call_finish_spec",
                              "allawee-lua/test")
    local call = assert(short:call("customers.create", F.minimal()))
    assert.are.equal("send", (call:next(short)))
    short:close()
    short = nil   -- luacheck: ignore 311
    collectgarbage("collect")
    collectgarbage("collect")
    for i = 1, 1000 do local _ = { i } end   -- the config's memory taken by others
    -- the policy's backoff draws its jitter (under `make asan`, a read of the
    -- freed config would fail here)
    call:answer(503, {}, '{"code":"error","message":"busy"}')
    local other = core.config({ secret_key = KEY, base_url = sb.url }, "call_finish_spec",
                              "allawee-lua/test")
    local what, seconds = call:next(other)
    other:close()
    assert.are.equal("wait", what)
    assert.is_true(seconds > 0.09 and seconds <= 0.2, tostring(seconds))
  end)

  it("a reference conflict that comes after the deadline is the 409 itself, ambiguous", function()
    local brief = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 2,
                                deadline = 1, backoff_base = 0.001, backoff_max = 0.001 },
                              "call_finish_spec", "allawee-lua/test")
    local call = assert(brief:call("customers.create", F.minimal()))
    assert.are.equal("send", (call:next(brief)))
    call:failed("receive", "closed", true)   -- may have been processed: ambiguous
    local what, seconds = call:next(brief)
    if what == "wait" then
      socket.sleep(seconds)
      what = call:next(brief)
    end
    assert.are.equal("send", what)
    socket.sleep(1.05)   -- the deadline passes while the answer is on its way
    call:answer(409, {}, '{"code":"reference-conflict","message":"reference exists"}')
    local done, data, err = call:next(brief)
    brief:close()
    assert.are.equal("done", done)
    assert.is_nil(data)
    assert.are.equal(409, err.status)
    assert.are.equal("conflict", err.kind)
    assert.is_true(err.ambiguous)
    assert.are.equal(2, err.attempts)
  end)
end)

describe("a config closed while one of its methods runs", function()
  local BASE = "http://127.0.0.1:9/" .. ("p"):rep(200)

  local function fresh()
    return core.config({ secret_key = KEY, base_url = BASE, secure_base_url = BASE .. "s" },
                       "call_finish_spec", "allawee-lua/test")
  end

  -- close frees nothing a running method reads (5.1 and LuaJIT collect
  -- before they copy a string: the copy used to read freed memory)
  it("cfg:options copies intact strings when a finalizer closes the config", function()
    local cfg, results = with_finalizer_inside(fresh().options, fresh, function(c)
      c:close()
    end, function(c)
      return c:options()
    end)
    if not cfg then
      pending("no finalizer ran inside cfg:options on this Lua in 200000 tries")
      return
    end
    assert.is_true(results[1])
    assert.are.equal(BASE, results[2].base_url)
    assert.are.equal(BASE .. "s", results[2].secure_base_url)
    local ok, msg = pcall(cfg.call, cfg, "customers.create", F.minimal())
    assert.is_false(ok)
    assert.matches("attempt to use a closed client", msg, 1, true)
  end)

  it("cfg:target survives a finalizer that closes the config while it converts its argument",
     function()
    local n = 0
    local cfg, results = with_finalizer_inside(fresh().target, fresh, function(c)
      c:close()
    end, function(c)
      n = n + 1
      return c:target(n)   -- a number: converted to a string inside (an allocation)
    end)
    if not cfg then
      pending("no finalizer ran inside cfg:target on this Lua in 200000 tries")
      return
    end
    assert.is_true(results[1])
    assert.are.equal("127.0.0.1", results[2].host)
    assert.are.equal(9, results[2].port)
  end)
end)
