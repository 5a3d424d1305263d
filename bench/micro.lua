--- In-process micro-benchmarks on the documented sample (bench/sample.lua):
--   encode: allawee.core.encode(t) (validation on) vs cjson.encode(t)
--   decode: allawee.core.interpret(201, body) (decode, integer normalisation,
--           envelope check) vs cjson.decode(body)
-- Each pair runs ROUNDS rounds of ITERATIONS calls; within a round the two
-- sides run back to back (in alternating order), so the round's ratio
-- compares them under the same machine conditions. Reported: the fastest
-- round of each side in ns per call, and the median of the round ratios
-- (the figure the target is judged on: robust to a disturbed round).
--   lua5.4 bench/micro.lua [ITERATIONS] [ROUNDS]
local measure = require "bench.measure"
local sample = require "bench.sample"
require "allawee"   -- registers the private decoder core.interpret uses
local core = require "allawee.core"
local cjson = require "cjson"

local iterations = tonumber(arg[1]) or 20000
local rounds = tonumber(arg[2]) or 15
local params, body = sample.params(), sample.success_body

-- Same inputs give the same answers, or the comparison means nothing.
local encoded = assert(core.encode(params))
assert(cjson.encode(cjson.decode(encoded)))
local data = assert(core.interpret(201, body))
assert(math.type(data.metadata.userId) == "integer" and data.id == cjson.decode(body).data.id)

local function time_ns(f)
  collectgarbage("collect")
  local c0 = measure.cpu()
  for _ = 1, iterations do f() end
  return (measure.cpu() - c0) / iterations * 1e9
end

local pairs_to_run = {
  { "encode",
    function() core.encode(params) end,
    function() cjson.encode(params) end },
  { "decode",
    function() core.interpret(201, body) end,
    function() cjson.decode(body) end },
}

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

for _, p in ipairs(pairs_to_run) do
  local best_allawee, best_cjson, ratios = math.huge, math.huge, {}
  for round = 1, rounds do
    local a, c
    if round % 2 == 1 then
      a = time_ns(p[2]); c = time_ns(p[3])
    else
      c = time_ns(p[3]); a = time_ns(p[2])
    end
    best_allawee, best_cjson = math.min(best_allawee, a), math.min(best_cjson, c)
    ratios[#ratios + 1] = a / c
  end
  measure.report {
    name = p[1],
    iterations = iterations,
    rounds = rounds,
    allawee_ns = string.format("%.0f", best_allawee),
    cjson_ns = string.format("%.0f", best_cjson),
    ratio = string.format("%.3f", median(ratios)),
  }
end
