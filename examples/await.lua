--[[
Sequential-looking code, concurrent requests: allawee.async + allawee.await.

Three workers, each a coroutine, create three customers one after the other
with `local customer, err = allawee.await(allawee.async(client, params))`.
One loop calls client:poll; the callbacks it runs resume the workers. The
workers' requests overlap, so the whole run takes about as long as one
worker's.

    lua5.4 bin/allawee-sandbox &        # prints: allawee-sandbox http://127.0.0.1:PORT pid=...
    ALLAWEE_BASE_URL=http://127.0.0.1:PORT/_scenario/delay=100 lua5.4 examples/await.lua

Environment: ALLAWEE_BASE_URL (required), ALLAWEE_SECRET_KEY (default: a
sandbox test key).
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
  io.stderr:write("usage: ALLAWEE_BASE_URL=http://127.0.0.1:PORT lua examples/await.lua\n")
  os.exit(2)
end

local client = allawee.new{
  secret_key = os.getenv("ALLAWEE_SECRET_KEY") or "sk.test.canary-await",
  base_url = base_url,
}

local WORKERS, PER_WORKER = 3, 3
local run_id = math.floor(socket.gettime() * 1000)   -- references stay unique across runs
local created, errors = 0, 0

-- One worker: plain sequential code. Each await suspends only this
-- coroutine; the others go on.
local function worker(id)
  for n = 1, PER_WORKER do
    local customer, err = allawee.await(allawee.async(client, {
      name = ("Worker %d customer %d"):format(id, n),
      reference = ("await-%d-%d-%d@example.com"):format(run_id, id, n),
      type = "individual", claims = {}, verifications = { "tier-1" }, metadata = {},
    }))
    if customer then
      created = created + 1
      print(("worker %d: created %s (%s)"):format(id, customer.id, customer.name))
    else
      errors = errors + 1
      print(("worker %d: failed: %s"):format(id, tostring(err)))
    end
  end
end

local workers = {}
for id = 1, WORKERS do
  workers[id] = coroutine.create(worker)
  assert(coroutine.resume(workers[id], id))   -- runs up to its first await
end

local function all_done()
  for _, co in ipairs(workers) do
    if coroutine.status(co) ~= "dead" then return false end
  end
  return true
end

-- The one loop: poll runs the callbacks, which resume the workers. A real
-- program does its other work here too.
local started = socket.gettime()
while not all_done() do
  client:poll(100)
end
client:close()
print(("created %d  errors %d  in %.0f ms"):format(created, errors,
  (socket.gettime() - started) * 1000))
os.exit(errors == 0 and 0 or 1)
