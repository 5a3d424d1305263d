--- Row: does memory stay flat? One client makes 1 000 blocking creates,
-- then goes on to 100 000 in total, in one process; VmRSS is read after a
-- full garbage collection at both points. A leak of even 10 bytes per call
-- would show as ~1 MiB.
--   lua5.4 bench/rss_growth.lua URL
local measure = require "bench.measure"
local sample = require "bench.sample"
local allawee = require "allawee"

local url = arg[1]
local early, total = 1000, 100000
local client = allawee.new { base_url = url, validate = true, max_retries = 0 }
local params = sample.params()

local function creates(count)
  for _ = 1, count do
    local data, err = client.customers.create(params)
    if not data then measure.fail("create", err) end
  end
end

local function settled_rss()
  collectgarbage("collect")
  collectgarbage("collect")   -- the second pass frees what finalizers released
  return measure.rss_kib(), collectgarbage("count")
end

local wall0, cpu0 = measure.wall(), measure.cpu()
creates(early)
local rss_early, heap_early = settled_rss()
creates(total - early)
local rss_late, heap_late = settled_rss()
client:close()
measure.report {
  requests = total,
  seconds = measure.wall() - wall0,
  cpu_seconds = measure.cpu() - cpu0,
  rss_1k_kib = rss_early,
  rss_100k_kib = rss_late,
  lua_heap_1k_kib = string.format("%.1f", heap_early),
  lua_heap_100k_kib = string.format("%.1f", heap_late),
}
