-- A LÖVE game that creates its player as an Allawee customer without ever
-- blocking a frame: create_async once, client:poll(0) in every love.update.
--
--   luarocks --lua-version=5.1 install allawee   # LÖVE runs LuaJIT: Lua 5.1 modules
--   ALLAWEE_SECRET_KEY=sk.test.… love examples/love
--
-- (From a checkout: make LUA=luajit, then
--  LUA_PATH="$PWD/lua/?.lua;;" LUA_CPATH="$PWD/build/luajit/?.so;;" love examples/love)
local allawee = require "allawee"

local client
local status = "starting"

-- The reference must be unique per customer: in a real game, your player's
-- own id. Here a random one (not os.time() or math.random: LuaJIT leaves
-- math.random unseeded, so two games started in the same second would send
-- the same reference and the second would get 409 reference-conflict).
local function new_player_id()
  local f = io.open("/dev/urandom", "rb")
  local bytes = assert(f, "no /dev/urandom"):read(8)
  f:close()
  return "player-" .. bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

function love.load()
  client = allawee.new {}   -- secret_key and base_url from ALLAWEE_SECRET_KEY, ALLAWEE_BASE_URL
  status = "creating the player…"
  client.customers.create_async({
    name = "Ada Player",
    reference = new_player_id(),
    type = "individual",
    claims = {},
    verifications = { "tier-1" },
    metadata = { game = "example" },
  }, function(customer, err)   -- runs inside client:poll, in love.update
    status = customer and ("created " .. customer.id) or ("failed: " .. tostring(err))
  end)
end

function love.update()
  client:poll(0)   -- moves the bytes that are ready, runs finished callbacks; never blocks
end

function love.draw()
  love.graphics.print(status, 20, 20)
end

function love.quit()
  client:close()   -- cancels what is still in flight
end
