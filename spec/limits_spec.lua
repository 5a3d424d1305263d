-- Bounds the client keeps whatever a server does: body size, time (per
-- attempt and per call), nesting depth, encoding, redirects.
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = "sk.test.canary-limits-9d04"

local sb

local function client(base_url, opts)
  return F.new_client(KEY, base_url, { backoff_base = 0.01, backoff_max = 0.05 }, opts)
end

local function scenario(spec, opts)
  return client(S.scenario_url(sb, spec), opts)
end

local function timed_create(c, p, o)
  local t0 = socket.gettime()
  local data, err, meta = c.customers.create(p or F.minimal(), o)
  return socket.gettime() - t0, data, err, meta
end

---------------------------------------------------------------------------
-- A raw HTTP server in a child process, for what the sandbox cannot do: a
-- peer that accepts and never answers, and a redirect with a Location. It
-- must be another process because create blocks this one.
---------------------------------------------------------------------------

local RAW_SERVER = [==[
local socket = require "socket"
local mode, location = arg[1], arg[2]
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
srv:settimeout(20)      -- the test stops it long before; this bounds an orphan
local held = {}
while true do
  local conn = srv:accept()
  if not conn then break end
  if mode == "silent" then
    held[#held + 1] = conn   -- keep it open, read nothing, answer nothing
  else
    conn:settimeout(5)
    local first = conn:receive("*l")
    local length = 0
    while true do
      local line = conn:receive("*l")
      if not line or line == "" then break end
      local n = line:lower():match("^content%-length:%s*(%d+)")
      if n then length = tonumber(n) end
    end
    if length > 0 then conn:receive(length) end
    conn:send("HTTP/1.1 302 Found\r\nLocation: " .. location ..
      "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    io.stdout:write("request ", tostring(first), "\n")
    io.stdout:flush()
    conn:close()
  end
end
]==]

local function start_raw_server(mode, location)
  local script = os.tmpname()
  net.write_file(script, RAW_SERVER)
  local pid, proc = net.spawn(("lua5.4 %s %s %s"):format(script, mode, location or "-"))
  local port = tonumber((proc:read("*l") or ""):match("^port (%d+)$"))
  assert(pid and port, "raw server did not start")
  return {
    url = "http://127.0.0.1:" .. port,
    next_line = function() return proc:read("*l") end,
    stop = function()
      os.execute("kill " .. pid .. " 2>/dev/null")
      proc:close()
      os.remove(script)
    end,
  }
end

setup(function() sb = S.start() end)
teardown(function() sb:stop() end)
before_each(function() sb:reset() end)

describe("max_response_bytes", function()
  it("stops a 64 MiB body at 8 MiB by default, off the Lua heap", function()
    local c = scenario("fault=huge")
    local p = F.minimal()
    collectgarbage("collect")
    collectgarbage("stop") -- so the count shows every byte the call put on the heap
    local before = collectgarbage("count")
    local t0 = socket.gettime()
    local data, err = c.customers.create(p, { deadline = 30 })
    local took = socket.gettime() - t0
    local grown_kib = collectgarbage("count") - before
    collectgarbage("restart")
    assert.is_true(took < 5, ("took %.2f s"):format(took)) -- aborted, not read to the end
    assert.is_nil(data)
    assert.equals("decode", err.kind)
    assert.equals("response_too_large", err.code)
    assert.equals(200, err.status)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
    assert.matches("max_response_bytes", err.message, 1, true)
    assert.is_true(#(err.body or "") <= 4096)
    assert.is_true(grown_kib < 2048, ("the Lua heap grew by %.0f KiB"):format(grown_kib))
    assert.equals(1, sb:stats().requests)
  end)

  it("applies to a 2xx body just over a small cap", function()
    local c = scenario("fault=huge,size=10000", { max_response_bytes = 4096 })
    local _, err = c.customers.create(F.minimal())
    assert.equals("decode", err.kind)
    assert.equals("response_too_large", err.code)
    assert.equals(1, err.attempts)
  end)

  it("lets a body under the cap through", function()
    local c = scenario("fault=huge,size=4000", { max_response_bytes = 4096 })
    local data, err = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals(4000 - #'{"code":"success","data":{"padding":""}}', #data.padding)
  end)

  it("applies to error statuses too", function()
    local c = scenario("fault=huge,size=10000,status=500", { max_response_bytes = 4096 })
    local _, err = c.customers.create(F.minimal())
    assert.equals("decode", err.kind)
    assert.equals("response_too_large", err.code)
    assert.equals(1, err.attempts) -- too large is not retried
  end)
end)

describe("time bounds", function()
  it("timeout bounds one attempt: slow headers time out", function()
    local c = scenario("fault=slow_headers,interval=1000", { timeout = 0.5, max_retries = 0 })
    local took, data, err = timed_create(c)
    assert.is_nil(data)
    assert.equals("timeout", err.kind)
    assert.equals("CURLE_OPERATION_TIMEDOUT", err.code)
    assert.is_true(err.retryable)
    assert.equals(1, err.attempts)
    assert.is_true(took < 2, ("took %.2f s"):format(took))
  end)

  it("the deadline bounds a body that trickles in", function()
    local c = scenario("fault=slow_body")
    local took, data, err = timed_create(c, nil, { deadline = 1 })
    assert.is_nil(data)
    assert.equals("timeout", err.kind)
    assert.is_true(took < 3, ("took %.2f s"):format(took))
  end)

  it("the deadline bounds a server that accepts and never answers", function()
    local raw = start_raw_server("silent")
    local ok, problem = pcall(function()
      local took, data, err = timed_create(client(raw.url), nil, { deadline = 1 })
      assert.is_nil(data)
      assert.equals("timeout", err.kind)
      assert.equals(1, err.attempts) -- the deadline left no room for a retry
      assert.is_true(took >= 0.9 and took < 3, ("took %.2f s"):format(took))
    end)
    raw.stop()
    assert(ok, problem)
  end)

  it("connect_timeout and timeout are per call options too", function()
    local c = scenario("fault=slow_headers,interval=1000")
    local took, _, err = timed_create(c, nil, { timeout = 0.3, max_retries = 0 })
    assert.equals("timeout", err.kind)
    assert.is_true(took < 2, ("took %.2f s"):format(took))
  end)
end)

describe("malformed answers", function()
  it("a truncated body is a connection error", function()
    local _, err = scenario("fault=truncate", { max_retries = 0 }).customers.create(F.minimal())
    assert.equals("connection", err.kind)
    assert.equals("CURLE_PARTIAL_FILE", err.code)
    assert.is_true(err.retryable)
  end)

  it("a deeply nested body is a decode error (depth bound), not a crash", function()
    local _, err = scenario("fault=deep").customers.create(F.minimal())
    assert.equals("decode", err.kind)
    assert.equals(201, err.status)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
  end)

  it("a very deep body (100000) under the size cap is refused the same way", function()
    local _, err = scenario("fault=deep,depth=100000").customers.create(F.minimal())
    assert.equals("decode", err.kind)
  end)

  it("nesting within the bound is fine", function()
    -- client:request reads any JSON; customers.create wants an object
    local data, err = scenario("fault=deep,depth=3"):request("POST", "/customers",
      { body = F.minimal() })
    assert.is_nil(err)
    assert.same({ { {} } }, data) -- data is [[[]]]
    local _, err2 = scenario("fault=deep,depth=3").customers.create(F.minimal())
    assert.equals("decode", err2.kind)
    assert.equals("unexpected_body", err2.code)
  end)

  it("invalid UTF-8 is a decode error", function()
    local _, err = scenario("fault=bad_utf8").customers.create(F.minimal())
    assert.equals("decode", err.kind)
    assert.equals(201, err.status)
    assert.matches("UTF%-8", err.message)
    assert.equals(1, err.attempts)
  end)
end)

describe("redirects", function()
  it("are not followed: a 302 is an api error after one request", function()
    local _, err = scenario("status=302").customers.create(F.minimal())
    assert.equals("api", err.kind)
    assert.equals(302, err.status)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
    assert.equals(1, sb:stats().requests)
  end)

  it("never carry the key to the Location's host", function()
    local target = S.start() -- a second sandbox, the redirect's target
    local raw = start_raw_server("redirect", target.url .. "/customers")
    local ok, problem = pcall(function()
      local _, err = client(raw.url).customers.create(F.minimal())
      assert.equals("api", err.kind)
      assert.equals(302, err.status)
      assert.equals(1, err.attempts)
      assert.matches("not followed", err.message, 1, true)
      assert.equals("request POST /customers HTTP/1.1", raw.next_line())
      local stats = target:stats()
      assert.equals(0, stats.requests)
      assert.equals(0, stats.connections)
    end)
    raw.stop()
    target:stop()
    assert(ok, problem)
  end)
end)
