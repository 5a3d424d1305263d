-- The non-blocking API against the sandbox, through real HTTP on loopback:
-- create_async, poll, wait, cancel, close/__close/__gc with transfers in
-- flight, callback rules, allawee.async/await, and examples/game_loop.lua.
--
-- The only timing assertions are the loose bounds the task allows: 32
-- delayed creates in < 3 s, one poll(0) in < 50 ms, a game-loop frame in
-- < 250 ms. Everything else asserts values and orders.
local allawee = require "allawee"
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = "sk.test.canary-async"

local function now() return socket.gettime() end

-- The repository root, so child processes find examples/ and build/.
local ROOT = net.repo_root()

-- Polls pred (driving client, if given) until it is true or seconds pass.
local function eventually(pred, seconds, client)
  return net.wait_until(pred, seconds, function()
    if client then client:poll(10) end
    socket.sleep(0.005)
  end)
end

-- Runs one create_async to its callback; returns the callback's arguments
-- and how many times the callback ran.
local function async_once(client, params, options)
  local calls, got = 0, nil
  client.customers.create_async(params, function(data, err, meta)
    calls = calls + 1
    got = { data = data, err = err, meta = meta }
  end, options)
  client:wait()
  return got.data, got.err, got.meta, calls
end

-- The parts of an error that must not depend on the path it took.
local function error_shape(err)
  return {
    kind = err.kind, code = err.code, status = err.status, field = err.field,
    retryable = err.retryable, attempts = err.attempts, message = err.message,
  }
end

describe("non-blocking creates", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() sb:stop() end)
  before_each(function() sb:reset() end)

  local function client(opts)
    local o = F.merge(opts)
    if o.scenario then
      o.base_url = S.scenario_url(sb, o.scenario)
      o.scenario = nil
    end
    return F.new_client(KEY, sb.url, o)
  end

  describe("concurrency", function()
    it("runs 32 creates against delay=300 together, far below 32 x 300 ms", function()
      local c = client{ scenario = "delay=300", max_connections = 32 }
      local results = {}
      local t0 = now()
      for i = 1, 32 do
        local params = F.minimal()
        c.customers.create_async(params, function(data, err, meta)
          results[#results + 1] = { i = i, reference = params.reference, data = data, err = err, meta = meta }
        end)
      end
      c:wait()
      local elapsed = now() - t0
      print(("\n  32 creates with delay=300, max_connections=32: %.0f ms (sequential would be >= 9600 ms)")
        :format(elapsed * 1000))
      assert.equals(32, #results)
      for _, r in ipairs(results) do
        assert.is_nil(r.err)
        assert.equals("customer", r.data.object)
        assert.equals(r.reference, r.data.reference)
        assert.equals(201, r.meta.status)
        assert.equals(1, r.meta.attempts)
      end
      assert.is_true(elapsed < 3, ("took %.3f s"):format(elapsed))
      local stats = sb:stats()
      assert.equals(32, stats.requests)
      assert.equals(32, stats.connections)
      c:close()
    end)

    it("poll(0) returns at once with the in-flight count while they are pending", function()
      local c = client{ scenario = "delay=2000", max_connections = 32 }
      local calls = 0
      for _ = 1, 32 do
        c.customers.create_async(F.minimal(), function() calls = calls + 1 end)
      end
      local t0 = now()
      local in_flight = c:poll(0)
      local one_call = now() - t0
      print(("\n  one poll(0) with 32 pending: %.3f ms"):format(one_call * 1000))
      assert.equals(32, in_flight)
      assert.equals(0, calls)
      -- A poll that waited for an answer would take the scenario's 2 s (the
      -- time printed above is the figure; the bound is only "did not wait").
      assert.is_true(one_call < 1.5, ("poll(0) took %.3f s"):format(one_call))
      c:wait()
      assert.equals(32, calls)
      assert.equals(0, c:poll(0))
      c:close()
    end)

    it("measures the CPU time of poll(0) with 100 in flight", function()
      local c = client{ scenario = "delay=5000" }   -- they stay in flight throughout
      for _ = 1, 100 do c.customers.create_async(F.minimal(), function() end) end
      c:poll(0)
      local counts = {}
      local cpu0 = os.clock()
      for i = 1, 1000 do counts[i] = c:poll(0) end
      local cpu = os.clock() - cpu0
      print(("\n  poll(0) with 100 in flight: %.1f us CPU per call (1000 calls, %.1f ms)")
        :format(cpu / 1000 * 1e6, cpu * 1000))
      for i = 1, 1000 do assert.equals(100, counts[i]) end
      c:close()
    end)

    it("does not hold the others back while one request waits to retry", function()
      -- Waits of 0.5-1 s: the four others must reach the sandbox before the
      -- retry does, and on a busy machine 0.1 s (the least wait of 0.2) is
      -- not much.
      local c = client{ scenario = "status=503,times=2", backoff_base = 1, backoff_max = 1 }
      -- The scenario counts per Idempotency-Key: spend both 503s of four
      -- keys up front, so requests carrying them are answered 201 at once.
      local keys = {}
      for i = 1, 4 do
        keys[i] = F.reference("key"):gsub("@.*$", "")
        for _ = 1, 2 do
          local data, err = c.customers.create(F.minimal(), { max_retries = 0, idempotency_key = keys[i] })
          assert.is_nil(data)
          assert.equals(503, err.status)
        end
      end

      local finished, t0 = {}, now()
      local function record(name)
        return function(data, err, meta)
          finished[#finished + 1] = { name = name, t = now() - t0, data = data, err = err, meta = meta }
        end
      end
      local retrying = c.customers.create_async(F.minimal(), record("retrying"))
      -- Drive until its first attempt got the 503 and it sleeps on a timer.
      assert.is_true(eventually(function()
        return tostring(retrying):find("waiting, 1 attempts", 1, true) ~= nil
      end, 5, c))
      local others_started = now() - t0
      for i = 1, 4 do
        c.customers.create_async(F.minimal(), record("other" .. i), { idempotency_key = keys[i] })
      end
      c:wait()

      assert.equals(5, #finished)
      local last = finished[5]
      assert.equals("retrying", last.name)
      assert.is_nil(last.err)
      assert.equals(3, last.meta.attempts)
      assert.equals(2, #last.meta.waits)
      local times = {}
      for i = 1, 4 do
        assert.matches("^other%d$", finished[i].name)
        assert.is_nil(finished[i].err)
        assert.equals(1, finished[i].meta.attempts)
        assert.is_true(finished[i].t < last.t)
        times[#times + 1] = ("%s %.0f ms"):format(finished[i].name, finished[i].t * 1000)
      end
      print(("\n  others started at %.0f ms, in the retry wait; finished: %s;"
        .. " retrying: %.0f ms (waits %.0f + %.0f ms)")
        :format(others_started * 1000, table.concat(times, ", "), last.t * 1000,
                last.meta.waits[1] * 1000, last.meta.waits[2] * 1000))
      -- What the sandbox saw after the 8 spending requests: the retrying
      -- request's first attempt, the four others, then its two retries.
      local records = sb:requests()
      assert.equals(8 + 7, #records)
      local retry_key = last.meta.idempotency_key
      local seen = {}
      for i = 9, #records do
        seen[#seen + 1] = records[i].headers["idempotency-key"] == retry_key and "R" or "o"
      end
      assert.equals("RooooRR", table.concat(seen))
      c:close()
    end)
  end)

  describe("callbacks see what create returns", function()
    it("on success", function()
      local c = client()
      local p1, p2 = F.individual(), F.individual()
      local d1, e1, m1 = c.customers.create(p1)
      local d2, e2, m2, calls = async_once(c, p2)
      assert.equals(1, calls)
      assert.is_nil(e1)
      assert.is_nil(e2)
      assert.equals(p2.reference, d2.reference)
      d1.reference, d2.reference = nil, nil
      for _, k in ipairs{ "id", "createdAt", "updatedAt" } do
        assert.is_string(d2[k])
        d1[k], d2[k] = nil, nil
      end
      assert.same(d1, d2)
      assert.equals(201, m2.status)
      assert.equals(m1.attempts, m2.attempts)
      assert.same(m1.waits, m2.waits)
      c:close()
    end)

    it("on a validation error, sending nothing", function()
      local c = client()
      local bad1, bad2 = F.minimal(), F.minimal()
      bad1.name, bad2.name = nil, nil
      local d1, e1 = c.customers.create(bad1)
      local d2, e2, m2, calls = async_once(c, bad2)
      assert.equals(1, calls)
      assert.is_nil(d1)
      assert.is_nil(d2)
      assert.is_nil(m2)
      assert.equals("validation", e2.kind)
      assert.equals("name", e2.field)
      assert.same(error_shape(e1), error_shape(e2))
      assert.equals(0, sb:stats().requests)
      c:close()
    end)

    it("on a 409 conflict", function()
      local c = client()
      local first = F.minimal()
      assert.is_table((c.customers.create(first)))
      local again1, again2 = F.minimal{ reference = first.reference }, F.minimal{ reference = first.reference }
      local _, e1 = c.customers.create(again1)
      local d2, e2, _, calls = async_once(c, again2)
      assert.equals(1, calls)
      assert.is_nil(d2)
      assert.equals("conflict", e2.kind)
      assert.equals(409, e2.status)
      assert.same(error_shape(e1), error_shape(e2))
      c:close()
    end)

    it("on a 202 accepted", function()
      local c = client{ scenario = "fault=accepted" }
      local _, e1 = c.customers.create(F.minimal())
      local d2, e2, _, calls = async_once(c, F.minimal())
      assert.equals(1, calls)
      assert.is_nil(d2)
      assert.equals("accepted", e2.kind)
      assert.equals(202, e2.status)
      assert.equals("request-accepted", e2.code)
      assert.same(error_shape(e1), error_shape(e2))
      assert.equals(2, sb:stats().requests)   -- never retried
      c:close()
    end)

    it("on 503, 503, then success through retries", function()
      local c = client{ scenario = "status=503,times=2", backoff_base = 0.01 }
      local d1, e1, m1 = c.customers.create(F.minimal())
      local p2 = F.minimal()
      local d2, e2, m2, calls = async_once(c, p2)
      assert.equals(1, calls)
      assert.is_nil(e1)
      assert.is_nil(e2)
      assert.equals("customer", d1.object)
      assert.equals(p2.reference, d2.reference)
      assert.equals(3, m1.attempts)
      assert.equals(3, m2.attempts)
      assert.equals(2, #m2.waits)
      assert.equals(201, m2.status)
      assert.equals(6, sb:stats().requests)
      c:close()
    end)
  end)

  describe("cancel", function()
    it("delivers kind 'cancelled' at the next poll and ignores the answer", function()
      local c = client{ scenario = "delay=500" }
      local calls = {}
      local req = c.customers.create_async(F.minimal(), function(data, err)
        calls[#calls + 1] = { data = data, err = err }
      end)
      assert.is_true(eventually(function() return sb:stats().requests == 1 end, 5, c))
      assert.is_true(req:cancel())
      assert.is_false(req:cancel())          -- already finished (cancelled)
      assert.equals(0, #calls)               -- callbacks run only inside poll
      assert.equals(0, c:poll(0))
      assert.equals(1, #calls)
      assert.is_nil(calls[1].data)
      assert.equals("cancelled", calls[1].err.kind)
      assert.is_false(req:cancel())
      -- Past the sandbox's answer: nothing more arrives.
      local deadline = now() + 0.8
      while now() < deadline do c:poll(20); socket.sleep(0.01) end
      assert.equals(1, #calls)
      -- Cancelling dropped the transfer, so the connection went too.
      assert.is_true(eventually(function() return sb:stats().open_connections == 0 end, 5))
      c:close()
    end)

    it("returns false for a request that already finished", function()
      local c = client()
      local calls = 0
      local req = c.customers.create_async(F.minimal(), function(data, err)
        assert.is_nil(err)
        assert.equals("customer", data.object)
        calls = calls + 1
      end)
      c:wait()
      assert.equals(1, calls)
      assert.is_false(req:cancel())
      c:poll(0)
      assert.equals(1, calls)
      c:close()
    end)

    it("stops a request that waits to retry", function()
      local c = client{ scenario = "status=503", backoff_base = 5, backoff_max = 5 }
      local got
      local req = c.customers.create_async(F.minimal(), function(_, err) got = err end)
      assert.is_true(eventually(function()
        return tostring(req):find("waiting, 1 attempts", 1, true) ~= nil
      end, 5, c))
      assert.is_true(req:cancel())
      c:poll(0)
      assert.equals("cancelled", got.kind)
      assert.equals(1, got.attempts)
      assert.equals(1, sb:stats().requests)
      c:close()
    end)
  end)

  describe("callback rules", function()
    it("an error in a callback propagates out of poll; the rest complete on later polls", function()
      local c = client()
      local done = {}
      for i = 1, 4 do
        c.customers.create_async(F.minimal(), function(data, err)
          done[#done + 1] = { i = i, data = data, err = err }
          if #done == 1 then error("boom from callback") end
        end)
      end
      local ok, msg
      repeat ok, msg = pcall(c.poll, c, 1000) until not ok or #done > 0
      assert.is_false(ok)
      assert.is_truthy(tostring(msg):find("boom from callback", 1, true))
      assert.equals(1, #done)
      c:wait()
      assert.equals(4, #done)
      local seen = {}
      for _, d in ipairs(done) do
        assert.is_nil(d.err)
        assert.equals("customer", d.data.object)
        seen[d.i] = true
      end
      assert.same({ true, true, true, true }, seen)
      assert.equals(4, sb:stats().requests)
      c:close()
    end)

    it("a nested poll or wait from a callback raises; create_async from one works", function()
      local c = client()
      local nested_poll, nested_wait, second
      c.customers.create_async(F.minimal(), function()
        nested_poll = { pcall(c.poll, c, 0) }
        nested_wait = { pcall(c.wait, c) }
        c.customers.create_async(F.minimal(), function(data) second = data end)
      end)
      c:wait()
      assert.is_false(nested_poll[1])
      assert.matches("inside a callback", nested_poll[2])
      assert.is_false(nested_wait[1])
      assert.matches("inside a callback", nested_wait[2])
      assert.equals("customer", second.object)
      c:close()
    end)

    it("a blocking create while async ones are in flight runs none of their callbacks", function()
      local c = client{ scenario = "delay=300" }
      local calls = 0
      for _ = 1, 3 do
        c.customers.create_async(F.minimal(), function(data, err)
          assert.is_nil(err)
          assert.equals("customer", data.object)
          calls = calls + 1
        end)
      end
      local params = F.minimal()
      local data, err = c.customers.create(params)
      assert.is_nil(err)
      assert.equals(params.reference, data.reference)
      assert.equals(0, calls)
      c:wait()
      assert.equals(3, calls)
      assert.equals(4, sb:stats().requests)
      c:close()
    end)
  end)

  describe("closing with transfers in flight", function()
    it("close(): callbacks never run, poll raises, the connections go", function()
      local c = client{ scenario = "delay=300" }
      local calls = 0
      for _ = 1, 5 do c.customers.create_async(F.minimal(), function() calls = calls + 1 end) end
      assert.is_true(eventually(function() return sb:stats().requests == 5 end, 5, c))
      assert.is_true(c:close())
      socket.sleep(0.4)                       -- past the sandbox's answers
      assert.equals(0, calls)
      assert.has_error(function() c:poll(0) end, "attempt to use a closed client")
      assert.has_error(function() c:wait() end, "attempt to use a closed client")
      assert.has_error(function() c.customers.create_async(F.minimal(), function() end) end)
      assert.equals(0, calls)
      assert.is_true(eventually(function() return sb:stats().open_connections == 0 end, 5))
    end)

    it("a Lua 5.4 <close> client closes at the end of its scope", function()
      if _VERSION ~= "Lua 5.4" or jit then
        pending("to-be-closed variables are Lua 5.4")
        return
      end
      -- Loaded from a string, so that LuaJIT can still parse this file.
      local chunk = assert(load([[
        local allawee, options, new_params, on_done, settle = ...
        local kept
        do
          local client <close> = allawee.new(options)
          kept = client
          for _ = 1, 3 do client.customers.create_async(new_params(), on_done) end
          settle(client)
        end
        return kept
      ]], "=close_chunk", "t"))
      local calls = 0
      local kept = chunk(allawee, { secret_key = KEY, base_url = S.scenario_url(sb, "delay=300") },
        F.minimal, function() calls = calls + 1 end,
        function(c) assert(eventually(function() return sb:stats().requests == 3 end, 5, c)) end)
      assert.equals("allawee.client (closed)", tostring(kept))
      assert.has_error(function() kept:poll(0) end, "attempt to use a closed client")
      socket.sleep(0.4)
      assert.equals(0, calls)
      assert.is_true(eventually(function() return sb:stats().open_connections == 0 end, 5))
    end)

    it("__gc of an unreferenced client with transfers in flight", function()
      local calls = 0
      local weak = setmetatable({}, { __mode = "v" })
      -- In its own function, so no stack slot keeps the client alive.
      local function orphan()
        local c = client{ scenario = "delay=300" }
        weak[1] = c
        for _ = 1, 5 do c.customers.create_async(F.minimal(), function() calls = calls + 1 end) end
        assert(eventually(function() return sb:stats().open_connections == 5 end, 5, c))
      end
      orphan()
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])
      assert.is_true(eventually(function() return sb:stats().open_connections == 0 end, 5))
      socket.sleep(0.4)
      collectgarbage()
      assert.equals(0, calls)
    end)
  end)

  describe("allawee.async / allawee.await", function()
    it("several coroutines, each awaiting its creates in turn, driven by one poll loop", function()
      local c = client{ scenario = "delay=100" }
      local results, threads = {}, {}
      for w = 1, 4 do
        results[w] = {}
        threads[w] = coroutine.create(function()
          for step = 1, 3 do
            local params = F.minimal{ name = ("worker %d step %d"):format(w, step) }
            local data, err, meta = allawee.await(allawee.async(c, params))
            results[w][step] = { data = data, err = err, meta = meta, reference = params.reference }
          end
          local bad = F.minimal()
          bad.type = "robot"
          local data, err = allawee.await(allawee.async(c, bad))
          results[w].invalid = { data = data, err = err }
        end)
        assert(coroutine.resume(threads[w]))
      end
      local function all_dead()
        for _, t in ipairs(threads) do
          if coroutine.status(t) ~= "dead" then return false end
        end
        return true
      end
      net.wait_until(all_dead, 10, function() c:poll(100) end)
      assert.is_true(all_dead())
      for w = 1, 4 do
        for step = 1, 3 do
          local r = results[w][step]
          assert.is_nil(r.err)
          assert.equals(r.reference, r.data.reference)
          assert.equals(("worker %d step %d"):format(w, step), r.data.name)
          assert.equals(201, r.meta.status)
        end
        assert.is_nil(results[w].invalid.data)
        assert.equals("validation", results[w].invalid.err.kind)
        assert.equals("type", results[w].invalid.err.field)
      end
      -- The coroutines ran side by side: every first step reached the
      -- sandbox before any second step.
      local records = sb:requests()
      assert.equals(12, #records)
      for i = 1, 4 do
        assert.matches("step 1", F.decode(records[i].body).name)
      end
      c:close()
    end)

    it("returns a result that arrived before await was called, without yielding", function()
      local c = client()
      local future = allawee.async(c, F.minimal())
      c:wait()
      assert.is_true(future.done)
      local thread = coroutine.create(function() return allawee.await(future) end)
      local ok, data, err, meta = coroutine.resume(thread)
      assert.is_true(ok)
      assert.equals("dead", coroutine.status(thread))
      assert.is_nil(err)
      assert.equals("customer", data.object)
      assert.equals(1, meta.attempts)
      c:close()
    end)

    it("delivers a cancel to the awaiting coroutine", function()
      local c = client{ scenario = "delay=500" }
      local got
      local future = allawee.async(c, F.minimal())
      local thread = coroutine.wrap(function() got = { allawee.await(future) } end)
      thread()
      assert.is_nil(got)
      assert.is_true(future:cancel())
      c:poll(0)
      assert.is_nil(got[1])
      assert.equals("cancelled", got[2].kind)
      c:close()
    end)

    it("raises outside a coroutine and for anything but a future", function()
      local c = client{ scenario = "delay=300" }
      local future = allawee.async(c, F.minimal())
      assert.has_error(function() allawee.await(future) end,
        "allawee.await: not inside a coroutine (use a callback or client:wait())")
      local req = c.customers.create_async(F.minimal(), function() end)
      assert.has_error(function() allawee.await(req) end,
        "allawee.await: expects a future from allawee.async, got userdata")
      assert.has_error(function() allawee.async(c, "not a table") end)
      c:close()
    end)

    it("an error in the coroutine after await propagates out of poll", function()
      local c = client()
      local future = allawee.async(c, F.minimal())
      local other = allawee.async(c, F.minimal())
      coroutine.wrap(function()
        allawee.await(future)
        error("boom after await", 0)
      end)()
      local ok, msg
      repeat ok, msg = pcall(c.poll, c, 1000) until not ok or msg == 0
      assert.is_false(ok)
      -- the callback's error keeps its traceback (luv's way)
      assert.equals(1, msg:find("boom after await", 1, true))
      assert.truthy(msg:find("stack traceback:", 1, true))
      c:wait()
      assert.is_true(other.done)
      assert.equals("customer", other.data.object)
      c:close()
    end)
  end)

  describe("examples", function()
    local function run_example(name, base_url, env)
      local cmd = ("cd %s && ALLAWEE_BASE_URL=%s ALLAWEE_SECRET_KEY=%s %s %s examples/%s 2>&1")
        :format(F.shell_quote(ROOT), F.shell_quote(base_url), KEY, env or "",
                F.interpreter(), name)
      local proc = assert(io.popen(cmd, "r"))
      local out = proc:read("*a")
      local ok, _, code = proc:close()
      return out, ok, code
    end

    it("game_loop.lua never blocks on 300 ms answers and creates every customer", function()
      local out, ok, code = run_example("game_loop.lua", S.scenario_url(sb, "delay=300"),
        "ALLAWEE_GAME_SECONDS=2")
      print("\n" .. out)
      assert.is_true(ok == true or ok == 0, "exit " .. tostring(code) .. ":\n" .. out)
      assert.is_nil(out:find(KEY, 1, true))
      local requested = tonumber(out:match("requested (%d+)"))
      local created = tonumber(out:match("created (%d+)"))
      local errors = tonumber(out:match("errors (%d+)"))
      local worst = tonumber(out:match("worst frame ([%d.]+) ms"))
      local frames = tonumber(out:match("frames (%d+)"))
      assert.is_true(requested > 0)
      assert.equals(requested, created)
      assert.equals(0, errors)
      assert.equals(created, sb:stats().requests)
      assert.is_true(frames >= 100)                -- 2 s at 60 Hz, plus the drain
      assert.is_true(worst < 250, "worst frame " .. worst .. " ms")
    end)

    it("await.lua runs its coroutines to the end", function()
      local out, ok, code = run_example("await.lua", S.scenario_url(sb, "delay=100"))
      print("\n" .. out)
      assert.is_true(ok == true or ok == 0, "exit " .. tostring(code) .. ":\n" .. out)
      assert.is_nil(out:find(KEY, 1, true))
      assert.equals("9", out:match("created (%d+)"))
      assert.equals("0", out:match("errors (%d+)"))
      assert.equals(9, sb:stats().requests)
    end)
  end)
end)
