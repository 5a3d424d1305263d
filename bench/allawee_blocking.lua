--- Row: allawee's blocking customers.create, one request after another on
-- one client (one kept-alive connection), validation on.
--   lua5.4 bench/allawee_blocking.lua URL REQUESTS WARMUP [CA_FILE]
-- The secret key comes from ALLAWEE_SECRET_KEY (never printed).
local measure = require "bench.measure"
local sample = require "bench.sample"
local allawee = require "allawee"

local url, n, warmup, ca_file = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local client = allawee.new {
  base_url = url,
  ca_file = ca_file,
  validate = true,
  max_retries = 0,   -- a failure must show, not be retried away
}
local params = sample.params()

local result = measure.loop(n, warmup, function()
  local data, err = client.customers.create(params)
  if not data then measure.fail("create", err) end
end)
client:close()
measure.report(result)
