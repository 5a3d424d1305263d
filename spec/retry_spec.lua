-- Retries, idempotency keys, backoff waits, Retry-After, the deadline and
-- stale keep-alive connections, proven against the sandbox over real HTTP.
--
-- Every number asserted here comes from one of two witnesses: what the
-- client reports (meta / err) and what the sandbox recorded (stats,
-- requests with their arrival times).
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

-- A distinctive test key: the suite's output is grepped for "canary-".
local KEY = "sk.test.canary-retry-5b1e"
local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local sb

-- A client for the scenario `spec` (nil: the plain service). Backoff is
-- small unless the test is about backoff, so the file stays fast.
local function client(spec, opts)
  return F.new_client(KEY, spec and S.scenario_url(sb, spec) or sb.url,
                      { backoff_base = 0.01, backoff_max = 0.05 }, opts)
end

local function idempotency_keys()
  local keys = {}
  for i, r in ipairs(sb:requests()) do keys[i] = r.headers["idempotency-key"] end
  return keys
end

local function elapsed(f)
  local t0 = socket.gettime()
  local a, b, c = f()
  return socket.gettime() - t0, a, b, c
end

setup(function()
  math.randomseed(os.time())
  sb = S.start()
end)
teardown(function() sb:stop() end)
before_each(function() sb:reset() end)

describe("idempotency keys", function()
  it("are one UUID v4 per call, the same on every attempt of that call", function()
    local c = client("status=503,times=2")
    local data, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.is_table(data)
    assert.equals(3, meta.attempts)
    assert.equals(3, sb:stats().requests)
    local keys = idempotency_keys()
    assert.equals(3, #keys)
    assert.matches(UUID4, keys[1])
    assert.equals(keys[1], keys[2])
    assert.equals(keys[1], keys[3])
    assert.equals(keys[1], meta.idempotency_key)

    local _, err2, meta2 = c.customers.create(F.minimal())
    assert.is_nil(err2)
    assert.matches(UUID4, meta2.idempotency_key)
    assert.are_not.equal(keys[1], meta2.idempotency_key)
    local after = idempotency_keys()
    assert.equals(meta2.idempotency_key, after[#after])
  end)

  it("is the caller's options.idempotency_key, as given, on every attempt", function()
    local given = ("order 42/retry:%d"):format(math.random(1, 1e6))
    local c = client("status=503,times=2")
    local _, err, meta = c.customers.create(F.minimal(), { idempotency_key = given })
    assert.is_nil(err)
    assert.equals(3, meta.attempts)
    assert.equals(given, meta.idempotency_key)
    assert.same({ given, given, given }, idempotency_keys())
  end)

  it("is on the error too when the call fails", function()
    local given = "failing-call-key"
    local _, err = client("status=500", { max_retries = 1 })
      .customers.create(F.minimal(), { idempotency_key = given })
    assert.equals(given, err.idempotency_key)
    assert.same({ given, given }, idempotency_keys())
  end)

  local invalid = {
    { "a CR", "abc\rdef" },
    { "an LF", "abc\ndef" },
    { "a CRLF header injection", "k\r\nX-Injected: 1" },
    { "a NUL", "abc\0def" },
    { "more than 255 bytes", string.rep("k", 256) },
    { "nothing (empty)", "" },
    { "a control byte", "abc\1def" },
    { "a DEL", "abc\127def" },
    { "a byte above ASCII", "cl\195\169" },
  }
  for _, case in ipairs(invalid) do
    it("with " .. case[1] .. " raises before anything is sent", function()
      local c = client(nil)
      local ok, msg = pcall(c.customers.create, F.minimal(), { idempotency_key = case[2] })
      assert.is_false(ok)
      assert.matches("idempotency_key", tostring(msg), 1, true)
      local stats = sb:stats()
      assert.equals(0, stats.requests)
      assert.equals(0, stats.connections)
    end)
  end

  it("of exactly 255 printable bytes is accepted and sent as given", function()
    local given = string.rep("~", 255)
    local _, err, meta = client(nil).customers.create(F.minimal(), { idempotency_key = given })
    assert.is_nil(err)
    assert.equals(given, meta.idempotency_key)
    assert.same({ given }, idempotency_keys())
  end)
end)

describe("the retry budget", function()
  it("max_retries = 0 makes exactly one attempt", function()
    local _, err = client("status=503", { max_retries = 0 }).customers.create(F.minimal())
    assert.equals("api", err.kind)
    assert.equals(503, err.status)
    assert.equals(1, err.attempts)
    assert.is_true(err.retryable)
    assert.equals(1, sb:stats().requests)
  end)

  it("is max_retries + 1 attempts by default (2 retries)", function()
    local _, err = client("status=503").customers.create(F.minimal())
    assert.equals(3, err.attempts)
    assert.equals(3, sb:stats().requests)
  end)

  it("per-call max_retries overrides the client's, both ways", function()
    local c = client("status=503", { max_retries = 0 })
    local _, err = c.customers.create(F.minimal(), { max_retries = 3 })
    assert.equals(4, err.attempts)
    assert.equals(4, sb:stats().requests)

    sb:reset()
    local c5 = client("status=503", { max_retries = 5 })
    local _, err1 = c5.customers.create(F.minimal(), { max_retries = 1 })
    assert.equals(2, err1.attempts)
    assert.equals(2, sb:stats().requests)
  end)
end)

describe("what is retried", function()
  for _, status in ipairs({ 429, 500, 502, 503, 504 }) do
    it("HTTP " .. status .. " is retried, and the retry succeeds", function()
      local data, err, meta = client("status=" .. status .. ",times=1").customers.create(F.minimal())
      assert.is_nil(err)
      assert.equals("active", data.status)
      assert.equals(2, meta.attempts)
      assert.equals(1, #meta.waits)
      assert.equals(2, sb:stats().requests)
    end)
  end

  local not_retried = {
    { 400, "invalid_request", "bad-request" },
    { 401, "authentication", "unauthorized" },
    { 403, "permission", "forbidden" },
    { 404, "not_found", "not-found" },
    { 409, "conflict", "reference-conflict" },
  }
  for _, case in ipairs(not_retried) do
    it("HTTP " .. case[1] .. " is not retried", function()
      local _, err = client("status=" .. case[1]).customers.create(F.minimal())
      assert.equals(case[2], err.kind)
      assert.equals(case[1], err.status)
      assert.equals(case[3], err.code)
      assert.is_false(err.retryable)
      assert.equals(1, err.attempts)
      assert.equals(1, sb:stats().requests)
    end)
  end

  it("202 request-accepted is not retried (the service will process it)", function()
    local _, err = client("fault=accepted").customers.create(F.minimal())
    assert.equals("accepted", err.kind)
    assert.equals(202, err.status)
    assert.equals("request-accepted", err.code)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
    assert.equals(1, sb:stats().requests)
  end)

  it("a refused connection is retried up to the budget", function()
    local c = F.new_client(KEY, "http://127.0.0.1:" .. net.free_port(),
                           { max_retries = 3, backoff_base = 0.01 })
    local data, err = c.customers.create(F.minimal())
    assert.is_nil(data)
    assert.equals("connection", err.kind)
    assert.equals("CURLE_COULDNT_CONNECT", err.code)
    assert.is_true(err.retryable)
    assert.equals(4, err.attempts)
    assert.is_nil(err.status)
  end)

  it("the error returned is the last attempt's", function()
    -- A 503 (retryable), then on the retry the service's 400: the caller
    -- must see the 400, not the 503.
    local p = F.minimal()
    p.name = nil   -- the sandbox refuses it; validate = false sends it
    local c = client("status=503,times=1")
    local _, err = c.customers.create(p, { validate = false })
    assert.equals("invalid_request", err.kind)
    assert.equals(400, err.status)
    assert.equals("bad-request", err.code)
    assert.equals(2, err.attempts)
    assert.is_false(err.retryable)
    assert.equals(2, sb:stats().requests)
  end)
end)

describe("backoff waits", function()
  it("are min(base * 2^(n-1), max) * U[0.5, 1], and really slept", function()
    local base, max = 0.05, 1
    local c = client("status=503,times=4", { backoff_base = base, backoff_max = max, max_retries = 4 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals(5, meta.attempts)
    assert.equals(4, #meta.waits)
    local records = sb:requests()
    assert.equals(5, #records)
    for n, wait in ipairs(meta.waits) do
      local nominal = math.min(base * 2 ^ (n - 1), max)
      assert.is_true(wait >= 0.5 * nominal - 1e-9 and wait <= nominal + 1e-9,
        ("wait %d = %.4f outside [%.4f, %.4f]"):format(n, wait, 0.5 * nominal, nominal))
      -- The server saw attempt n+1 at least `wait` after attempt n (1 ms
      -- of slack for the two clocks' granularity).
      local gap = records[n + 1].time - records[n].time
      assert.is_true(gap >= wait - 0.001,
        ("gap %d = %.4f shorter than the wait %.4f"):format(n, gap, wait))
    end
  end)

  it("are capped at backoff_max", function()
    local c = client("status=503,times=3",
      { backoff_base = 0.02, backoff_max = 0.03, max_retries = 3 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals(3, #meta.waits)
    for n, wait in ipairs(meta.waits) do
      local nominal = math.min(0.02 * 2 ^ (n - 1), 0.03)
      assert.is_true(wait >= 0.5 * nominal - 1e-9 and wait <= nominal + 1e-9)
    end
  end)

  it("are empty when the first attempt succeeds", function()
    local _, err, meta = client(nil).customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals(1, meta.attempts)
    assert.same({}, meta.waits)
  end)
end)

describe("Retry-After", function()
  it("on a 429 is the wait (1 s)", function()
    local c = client("status=429,retry_after=1,times=1", { backoff_base = 5, backoff_max = 5 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals(2, meta.attempts)
    assert.equals(1, #meta.waits)
    assert.near(1, meta.waits[1], 1e-9)
    local records = sb:requests()
    assert.is_true(records[2].time - records[1].time >= 0.99)
  end)

  it("on a 503 wins over the backoff too", function()
    local c = client("status=503,retry_after=0,times=2", { backoff_base = 5, backoff_max = 5 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.same({ 0, 0 }, meta.waits)
  end)

  it("is capped at max_retry_after", function()
    local c = client("status=429,retry_after=100,times=1", { max_retry_after = 0.2 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals(2, meta.attempts)
    assert.near(0.2, meta.waits[1], 1e-9)
    local records = sb:requests()
    assert.is_true(records[2].time - records[1].time >= 0.199)
  end)

  it("as an HTTP-date in the past means no wait", function()
    local date = "Wed%2C%2021%20Oct%202015%2007:28:00%20GMT" -- URL-encoded for the scenario
    local c = client("status=503,retry_after=" .. date .. ",times=1", { backoff_base = 5, backoff_max = 5 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.same({ 0 }, meta.waits)
  end)

  it("that cannot be parsed is ignored (backoff applies)", function()
    local c = client("status=429,retry_after=soon,times=1", { backoff_base = 0.02, backoff_max = 1 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.is_true(meta.waits[1] >= 0.01 - 1e-9 and meta.waits[1] <= 0.02 + 1e-9)
  end)

  it("on other statuses is ignored (backoff applies)", function()
    local c = client("status=500,retry_after=100,times=1", { backoff_base = 0.02, backoff_max = 1 })
    local _, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.is_true(meta.waits[1] >= 0.01 - 1e-9 and meta.waits[1] <= 0.02 + 1e-9)
  end)
end)

describe("the deadline", function()
  it("bounds the whole call: retries stop, and no wait runs past it", function()
    local c = client("status=503", { backoff_base = 0.3, backoff_max = 5, max_retries = 10 })
    local took, data, err = elapsed(function()
      return c.customers.create(F.minimal(), { deadline = 1 })
    end)
    assert.is_nil(data)
    -- a wait that ignored the deadline would take tens of seconds (10
    -- retries, backoff up to 5 s); the bound leaves room for a busy machine
    assert.is_true(took < 5, ("took %.2f s"):format(took))
    -- the last attempt's error, after more than one attempt
    assert.equals("api", err.kind)
    assert.equals(503, err.status)
    assert.equals("service-unavailable", err.code)
    assert.is_true(err.attempts >= 2)
    assert.equals(err.attempts, #sb:requests())
    -- every attempt began within the deadline: waits are at least 0.15,
    -- 0.3 and 0.6 s (half of 0.3 x 2^k), so a fourth would begin after 1 s
    assert.is_true(err.attempts <= 3, tostring(err.attempts))
  end)

  it("does not sleep a Retry-After that ends past it", function()
    local c = client("status=503,retry_after=5")
    local took, _, err = elapsed(function()
      return c.customers.create(F.minimal(), { deadline = 1 })
    end)
    assert.is_true(took < 4, ("took %.2f s"):format(took))   -- not the 5 s
    assert.equals(503, err.status)
    assert.equals(1, err.attempts)
    assert.equals(1, sb:stats().requests)
  end)
end)

describe("a stale keep-alive connection", function()
  it("is replaced transparently on the next create", function()
    local c = client("fault=stale")
    local first, err1, meta1 = c.customers.create(F.minimal())
    assert.is_nil(err1)
    assert.is_table(first)
    assert.equals(1, meta1.attempts)
    local second, err2, meta2 = c.customers.create(F.minimal())
    assert.is_nil(err2)
    assert.is_table(second)
    -- libcurl may have sent on the dead connection before it noticed, then
    -- sent again on a new one: every send is counted, the server saw one.
    assert.is_true(meta2.attempts == 1 or meta2.attempts == 2, tostring(meta2.attempts))
    local stats = sb:stats()
    assert.equals(2, stats.requests)
    assert.equals(2, stats.connections)
  end)

  it("after an idle pause too", function()
    local c = client("fault=stale")
    assert.is_nil(select(2, c.customers.create(F.minimal())))
    sb:settle() -- the server's hang-up has arrived (a sleep only made it likely)
    local data, err, meta = c.customers.create(F.minimal())
    assert.is_nil(err)
    assert.is_table(data)
    assert.equals(1, meta.attempts)
    assert.equals(2, sb:stats().connections)
  end)
end)
