--[[
Runs examples/love/main.lua (ALLAWEE_LOVE_EXAMPLE) frame by frame and
reports, on stdout, one line:

  love-spec status=<what the example draws> frames=<n> frames_waiting=<n> worst_update_ms=<x>

then quits. Works in real LÖVE (headless: see conf.lua) and under any Lua
with the stand-in `love` table spec/love_spec.lua builds.
]]
local example = assert(os.getenv("ALLAWEE_LOVE_EXAMPLE"), "ALLAWEE_LOVE_EXAMPLE is not set")
local max_frames = 600

-- What the example draws, read by calling its love.draw with a stand-in
-- love.graphics (headless LÖVE has none; love.run must not see one).
local drawn = ""
local function read_draw(draw)
  local saved = love.graphics
  love.graphics = { print = function(text) drawn = tostring(text) end }
  draw()
  love.graphics = saved
end

assert(loadfile(example))()
local load, update, draw = love.load, love.update, love.draw
local frames, waiting, worst = 0, 0, 0

love.load = function(...) return load(...) end
love.update = function(dt)
  local t0 = love.timer.getTime()
  update(dt)
  local took = love.timer.getTime() - t0
  if took > worst then worst = took end
  frames = frames + 1
  read_draw(draw)
  local done = drawn:match("^created ") or drawn:match("^failed")
  if not done then waiting = waiting + 1 end
  if done or frames >= max_frames then
    print(("love-spec status=%s frames=%d frames_waiting=%d worst_update_ms=%.3f"):format(
      drawn, frames, waiting, worst * 1000))
    io.stdout:flush()
    love.event.quit()
  end
  if love.timer.sleep then love.timer.sleep(1 / 60) end   -- a 60 Hz frame
end
