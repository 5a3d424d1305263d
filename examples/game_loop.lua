--[[
A 60 Hz loop that creates customers without ever waiting for the network.

Each frame (16.7 ms) does its own work, may start a create with
create_async, calls client:poll(0) exactly once to move the transfers on and
run the callbacks of finished ones, and sleeps the rest of the frame. The
answers may take hundreds of milliseconds; the frames do not.

    lua5.4 bin/allawee-sandbox &        # prints: allawee-sandbox http://127.0.0.1:PORT pid=...
    ALLAWEE_BASE_URL=http://127.0.0.1:PORT/_scenario/delay=300 lua5.4 examples/game_loop.lua
    ALLAWEE_BASE_URL=... luajit examples/game_loop.lua

Environment: ALLAWEE_BASE_URL (required), ALLAWEE_SECRET_KEY (default: a
sandbox test key), ALLAWEE_GAME_SECONDS (how long to create, default 3).
]]

-- Run from a checkout: prefer this repository's module, built for this Lua.
local root = (debug.getinfo(1, "S").source:match("^@(.-)/?examples/[^/]*$")) or "."
if root == "" then root = "." end
local build = jit and "luajit" or _VERSION:match("%d+%.%d+")
package.path = root .. "/lua/?.lua;" .. package.path
package.cpath = root .. "/build/" .. build .. "/?.so;" .. package.cpath

local allawee = require "allawee"
local socket = require "socket"

local base_url = os.getenv("ALLAWEE_BASE_URL")
if base_url == nil or base_url == "" then
  io.stderr:write("usage: ALLAWEE_BASE_URL=http://127.0.0.1:PORT lua examples/game_loop.lua\n")
  os.exit(2)
end

local FRAME = 1 / 60                 -- seconds per frame
local CREATE_EVERY = 6               -- frames between two creates (10 per second)
local SECONDS = tonumber(os.getenv("ALLAWEE_GAME_SECONDS") or "") or 3
local DRAIN_LIMIT = 10               -- seconds to wait for the last answers

local client = allawee.new{
  secret_key = os.getenv("ALLAWEE_SECRET_KEY") or "sk.test.canary-game-loop",
  base_url = base_url,
}

-- The game's own work: move some particles. It stands for whatever a real
-- frame does, so that the frame times below include it.
local particles = {}
for i = 1, 2000 do particles[i] = { x = i, y = 0, vx = math.sin(i), vy = math.cos(i) } end
local function simulate(t)
  for i = 1, #particles do
    local p = particles[i]
    p.vx = p.vx + math.sin(t + i) * 0.01
    p.vy = p.vy - 9.81 * FRAME
    p.x, p.y = p.x + p.vx * FRAME, p.y + p.vy * FRAME
    if p.y < -100 then p.y, p.vy = 0, -p.vy * 0.5 end
  end
end

local requested, created, errors = 0, 0, 0
local function on_created(data, err)
  if err then
    errors = errors + 1
    print(("  create failed: %s"):format(tostring(err)))
  elseif data then
    created = created + 1
  end
end

local started = socket.gettime()
local run_id = math.floor(started * 1000)   -- references stay unique across runs
local frames, in_flight = 0, 0
local worst_frame, worst_busy = 0, 0
local frame_start = started

while true do
  local t = frame_start - started
  local creating = t < SECONDS
  if not creating and (in_flight == 0 or t > SECONDS + DRAIN_LIMIT) then break end

  simulate(t)
  if creating and frames % CREATE_EVERY == 0 then
    requested = requested + 1
    client.customers.create_async({
      name = "Player " .. requested,
      reference = ("player-%d-%d@example.com"):format(run_id, requested),
      type = "individual", claims = {}, verifications = { "tier-1" },
      metadata = { frame = frames },
    }, on_created)
  end
  in_flight = client:poll(0)         -- once per frame; never blocks
  frames = frames + 1

  local busy = socket.gettime() - frame_start
  if busy > worst_busy then worst_busy = busy end
  -- Sleep the rest of the frame. socket.sleep keeps "one poll per frame"
  -- exact; client:poll(remaining_ms) would do as well and run callbacks
  -- sooner, but it returns at once when nothing is in flight.
  local next_start = frame_start + FRAME
  local remaining = next_start - socket.gettime()
  if remaining > 0 then socket.sleep(remaining) end
  local frame_end = socket.gettime()
  if frame_end - frame_start > worst_frame then worst_frame = frame_end - frame_start end
  -- A late frame starts now rather than trying to catch up.
  frame_start = frame_end > next_start + FRAME and frame_end or next_start
end

client:close()
print(("game_loop: %.1f s at 60 Hz against %s"):format(socket.gettime() - started,
  (base_url:gsub("^(https?://[^/]+).*$", "%1"))))
print(("frames %d  requested %d  created %d  errors %d  in_flight %d"):format(
  frames, requested, created, errors, in_flight))
print(("worst frame %.1f ms (budget %.1f ms)  worst work+poll %.2f ms"):format(
  worst_frame * 1000, FRAME * 1000, worst_busy * 1000))
os.exit(errors == 0 and in_flight == 0 and 0 or 1)
