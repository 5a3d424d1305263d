--[[
frame.lua: the game's Lua side for examples/host/game_host.c.

The host calls start() once, then tick() once per frame (60 Hz). Each tick
queues a few creates with create_async and then lets the SDK move bytes with
client:poll(0), which never blocks: the frame goes on whether or not the
Allawee answers have arrived. Callbacks run inside poll(0), on this thread.

    local frame = require "frame"
    frame.start{ base_url = "...", creates = 20, per_frame = 4 }
    repeat local finished, in_flight = frame.tick() until finished
    local created, failed, first_error = frame.counts()
]]

local allawee = require "allawee"

local frame = {}

local client
local wanted, per_frame = 0, 1
local submitted, created, failed = 0, 0, 0
local first_error
local run_tag = ("%d-%d"):format(os.time(), math.random(1, 1000000))

-- A player's customer record; the reference is unique per run so a shared
-- sandbox (or a second run) never answers 409.
local function customer(n)
  return {
    name = "Player " .. n,
    reference = ("player-%s-%d@example.com"):format(run_tag, n),
    type = "individual",
    claims = {
      individualInformation = {
        firstName = "Player", lastName = tostring(n), email = ("player%d@example.com"):format(n),
      },
    },
    verifications = { "tier-1" },
    metadata = { player = n },
  }
end

local function on_done(data, err)
  if data then
    created = created + 1
  else
    failed = failed + 1
    first_error = first_error or tostring(err)
  end
end

--- opts: base_url (nil: ALLAWEE_BASE_URL), creates, per_frame. The secret
--- key comes from ALLAWEE_SECRET_KEY, so it never passes through a script.
function frame.start(opts)
  math.randomseed(os.time())
  -- One connection per create (within reason), so they all wait together.
  local connections = math.max(1, math.min(opts.creates, 64))
  client = allawee.new{ base_url = opts.base_url, max_connections = connections }
  wanted = opts.creates
  per_frame = opts.per_frame or 4
end

--- One frame of SDK work. Returns finished (every create answered) and the
--- number of creates still in flight.
function frame.tick()
  for _ = 1, per_frame do
    if submitted >= wanted then break end
    submitted = submitted + 1
    client.customers.create_async(customer(submitted), on_done)
  end
  local in_flight = client:poll(0)
  return created + failed >= wanted, in_flight
end

function frame.counts()
  return created, failed, first_error
end

function frame.stop()
  if client then client:close() end
end

return frame
