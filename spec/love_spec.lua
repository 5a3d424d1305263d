-- examples/love/main.lua: a create_async from love.load, client:poll(0) in
-- every love.update, against a sandbox that answers after 300 ms. Run two
-- ways: under this Lua with a stand-in `love` table (always), and in real
-- LÖVE 11, headless (when the `love` package is installed: make test-love).
-- Either way the frames go on while the create waits: the example never
-- blocks a frame.
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local ROOT = net.repo_root()
local EXAMPLE = ROOT .. "/examples/love/main.lua"
local GAME = ROOT .. "/spec/support/love"

local function parse(out)
  local status, frames, waiting, worst = out:match(
    "love%-spec status=(.-) frames=(%d+) frames_waiting=(%d+) worst_update_ms=([%d.]+)")
  assert(status, "no report line in:\n" .. out)
  return { status = status, frames = tonumber(frames), waiting = tonumber(waiting), worst = tonumber(worst) }
end

local function check(r)
  assert.truthy(r.status:match("^created cus%."), r.status)
  -- 300 ms at 60 Hz is about 18 frames: the create did not hold them up.
  assert.is_true(r.waiting >= 10, ("only %d frames ran while the create waited"):format(r.waiting))
end

describe("examples/love", function()
  local sb
  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)

  it("creates the player while frames go on (stand-in love table, this Lua)", function()
    local out = F.run_lua(([[
      local socket = require "socket"
      local quit = false
      love = { timer = { getTime = socket.gettime, sleep = socket.sleep },
               event = { quit = function() quit = true end } }
      dofile(%q)
      love.load()
      while not quit do love.update(1 / 60) end
      love.quit()
    ]]):format(GAME .. "/main.lua"), {
      ALLAWEE_LOVE_EXAMPLE = EXAMPLE, ALLAWEE_SECRET_KEY = F.KEY,
      ALLAWEE_BASE_URL = S.scenario_url(sb, "delay=300"),
    })
    check(parse(out))
  end)

  local has_love = select(2, net.capture("command -v love")) == 0
  local has_luajit_build = net.read_file(ROOT .. "/build/luajit/allawee/core.so") ~= nil
  local real_it = (has_love and has_luajit_build) and it or pending
  real_it("creates the player while frames go on in real LÖVE (headless)", function()
    local runtime = net.temp_dir("love")
    local out, code = net.capture(("env XDG_RUNTIME_DIR=%s ALLAWEE_LOVE_EXAMPLE=%s " ..
      "ALLAWEE_SECRET_KEY=%s ALLAWEE_BASE_URL=%s LUA_PATH=%s LUA_CPATH=%s timeout 60 love %s")
      :format(net.shell_quote(runtime), net.shell_quote(EXAMPLE), net.shell_quote(F.KEY),
              net.shell_quote(S.scenario_url(sb, "delay=300")),
              net.shell_quote(ROOT .. "/lua/?.lua;;"), net.shell_quote(ROOT .. "/build/luajit/?.so;;"),
              net.shell_quote(GAME)))
    net.remove_temp_dir(runtime)
    assert.are.equal(0, code, out)
    check(parse(out))
  end)
end)
