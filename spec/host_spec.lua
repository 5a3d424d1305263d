-- C hosts that link liballawee.a statically (examples/host, docs/embedding.md):
-- a 60 Hz game loop that keeps ticking while creates wait on a slow API, and
-- K OS threads with a lua_State each, creating at the same time.
--
-- The hosts embed Lua 5.4 whatever Lua runs this suite; `make hosts` builds
-- them (and build/static-5.4/liballawee.a) once, later runs find them up to date.

local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local ROOT = net.repo_root()
local q = F.shell_quote

-- Runs a shell command; returns its output (stdout and stderr) and exit code.
local run = net.capture

-- The host's summary line, `key=number ...`, as a table of numbers.
local function summary(out, first_key)
  local line = out:match("\n?(" .. first_key .. "=[^\n]*)")
  assert(line, "no summary line in the host's output:\n" .. out)
  local t = {}
  for k, v in line:gmatch("([%w_]+)=([%d%.]+)") do t[k] = tonumber(v) end
  return t
end

local function run_host(name, args)
  local cmd = ("ALLAWEE_SECRET_KEY=%s %s"):format(q(F.KEY), q(ROOT .. "/build/host/" .. name))
  for _, a in ipairs(args) do cmd = cmd .. " " .. q(a) end
  return run(cmd)
end

describe("C hosts linking liballawee.a", function()
  local sb

  setup(function()
    local out, code = run(("make -s --no-print-directory -C %s hosts"):format(q(ROOT)))
    assert(code == 0, "make hosts failed:\n" .. out)
    sb = S.start()
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    sb:reset()
  end)

  it("game host: the 60 Hz loop keeps ticking while 20 creates wait 300 ms", function()
    local creates = 20
    local out, code = run_host("game_host", { S.scenario_url(sb, "delay=300"), creates, 4 })
    local r = summary(out, "frames")
    print(("\n  game host: %d frames (%d with creates in flight), worst frame %.3f ms, "
      .. "avg %.3f ms, %d over 16.7 ms, %d ms in all"):format(r.frames, r.frames_waiting,
      r.worst_frame_ms, r.avg_frame_ms, r.overruns, r.elapsed_ms))

    assert.equals(0, code, out)
    assert.equals(creates, r.creates_done)
    assert.equals(0, r.errors)
    -- The service saw every create, through the delay scenario.
    assert.equals(creates, sb:stats().requests)
    local references = {}
    for _, rec in ipairs(sb:requests()) do
      assert.equals("/_scenario/delay=300/customers", rec.path)
      references[F.decode(rec.body).reference] = true
    end
    local distinct = 0
    for _ in pairs(references) do distinct = distinct + 1 end
    assert.equals(creates, distinct)

    -- The answers took at least the 300 ms delay, and the loop ran through it:
    -- 300 ms is 18 frames at 60 Hz; 10 leaves room for a loaded machine, while
    -- a poll(0) that blocked until the answers came would give 1 or 2.
    assert.is_true(r.elapsed_ms >= 300, "finished before the 300 ms delay")
    assert.is_true(r.frames_waiting >= 10, "too few frames while creates waited: " .. out)
    -- Timing is not asserted tightly (machines are noisy), only that no frame
    -- sat out the delay.
    assert.is_true(r.worst_frame_ms < 250, "a frame blocked: " .. out)
    assert.is_nil(out:find(F.KEY, 1, true), "the secret key leaked into the output")
  end)

  it("threaded host: 4 threads with a lua_State each make 10 creates each, together", function()
    local threads, each = 4, 10
    local out, code = run_host("threaded_host", { sb.url, threads, each })
    local r = summary(out, "threads")
    print(("\n  threaded host: %d threads x %d creates in %d ms"):format(
      r.threads, r.creates_per_thread, r.elapsed_ms))

    assert.equals(0, code, out)
    assert.equals(threads * each, r.creates_done)
    assert.equals(0, r.errors)
    assert.equals(threads * each, sb:stats().requests)
    -- Every create was its own: distinct references and idempotency keys.
    local references, keys, n = {}, {}, 0
    for _, rec in ipairs(sb:requests()) do
      n = n + 1
      references[F.decode(rec.body).reference] = true
      keys[rec.headers["idempotency-key"]] = true
    end
    local distinct_refs, distinct_keys = 0, 0
    for _ in pairs(references) do distinct_refs = distinct_refs + 1 end
    for _ in pairs(keys) do distinct_keys = distinct_keys + 1 end
    assert.equals(threads * each, n)
    assert.equals(threads * each, distinct_refs)
    assert.equals(threads * each, distinct_keys)
  end)
end)
