--- Rows: allawee's blocking calls on the other routes the issues name, one
-- after another on one client (one kept-alive connection), validation on.
--   lua5.4 bench/allawee_routes.lua ROUTE URL ITERATIONS WARMUP
-- ROUTE:
--   get           client.customers.get(id): GET /customers/:id
--   each          for c in client.customers.each{ limit = L } -- the
--                 double answers 3 pages (bench/sample.lua): 3 GETs and
--                 3 * L customers per iteration
--   cards.create  client.cards.create(params): POST /cards
-- The RESULT line counts HTTP requests (ITERATIONS times the requests of
-- one iteration), as the C loop that makes the same requests does.
-- The secret key comes from ALLAWEE_SECRET_KEY (never printed).
local measure = require "bench.measure"
local sample = require "bench.sample"
local allawee = require "allawee"

local route, url = arg[1], arg[2]
local n, warmup = tonumber(arg[3]), tonumber(arg[4])
local client = allawee.new { base_url = url, validate = true, max_retries = 0 }

local call, per_iteration
if route == "get" then
  local id = sample.customer_id
  per_iteration = 1
  call = function()
    local data, err = client.customers.get(id)
    if not data then measure.fail("get", err) end
  end
elseif route == "each" then
  local query = { limit = sample.list_limit }
  local expected = sample.list_limit * sample.list_pages
  per_iteration = sample.list_pages
  call = function()
    local seen = 0
    for customer, err in client.customers.each(query) do
      if not customer then measure.fail("each", err) end
      seen = seen + 1
    end
    if seen ~= expected then measure.fail("each", "saw " .. seen .. " customers") end
  end
elseif route == "cards.create" then
  local params = sample.card_params()
  per_iteration = 1
  call = function()
    local data, err = client.cards.create(params)
    if not data then measure.fail("cards.create", err) end
  end
else
  measure.fail("usage", "ROUTE is get, each or cards.create")
end

local result = measure.loop(n, warmup, call)
result.requests = n * per_iteration
client:close()
measure.report(result)
