--- Row: allawee's create_async with INFLIGHT requests kept in flight on one
-- client (max_connections = INFLIGHT): each callback submits the next
-- request until REQUESTS have finished; client:wait() drives the loop.
--   lua5.4 bench/allawee_async.lua URL REQUESTS INFLIGHT
-- The first INFLIGHT requests (which open the connections) are a warm-up.
local measure = require "bench.measure"
local sample = require "bench.sample"
local allawee = require "allawee"

local url, n, inflight = arg[1], tonumber(arg[2]), tonumber(arg[3])
local client = allawee.new {
  base_url = url,
  validate = true,
  max_retries = 0,
  max_connections = inflight,
}
local params = sample.params()
local submitted, finished, limit = 0, 0, 0

local on_done
local function submit()
  submitted = submitted + 1
  client.customers.create_async(params, on_done)
end

function on_done(data, err)
  if not data then measure.fail("create_async", err) end
  finished = finished + 1
  if submitted < limit then submit() end
end

local function run(count)
  submitted, finished, limit = 0, 0, count
  for _ = 1, math.min(inflight, count) do submit() end
  client:wait()
  if finished ~= count then measure.fail("create_async", "finished " .. finished) end
end

run(inflight)   -- warm-up: the connections open here
collectgarbage("collect")
local wall0, cpu0 = measure.wall(), measure.cpu()
run(n)
local result = { requests = n, seconds = measure.wall() - wall0,
                 cpu_seconds = measure.cpu() - cpu0 }
client:close()
measure.report(result)
