--- bench/pairs.lua: two OpenResty clients compared in alternating pairs of
-- short runs, for a change whose effect is smaller than this host's noise
-- between `make bench` runs.
--
--   lua5.4 bench/pairs.lua URL_A CLIENT_A URL_B CLIENT_B [PAIRS [N [INFLIGHT]]]
--
-- URL_*: an OpenResty client nginx as `BENCH_PART=hold lua5.4 bench/run.lua
-- build/bench` prints it ("OpenResty client http://127.0.0.1:PORT"); two
-- checkouts each started that way (each builds its own module) compare two
-- builds, one checkout compares allawee with "hand". CLIENT_*: allawee,
-- hand or hand_cjson. Each pair runs N creates (default 5000, 300 warm-up)
-- INFLIGHT at a time (default 32) on A and on B, back to back, in
-- alternating order; PAIRS defaults to 41. Prints the median and quartiles
-- of (B's worker CPU time / A's): above 1, A is faster.
package.path = "./?.lua;" .. package.path
local http = require "socket.http"

local url_a, client_a, url_b, client_b = arg[1], arg[2], arg[3], arg[4]
if not (url_a and client_a and url_b and client_b) then
  io.stderr:write("usage: lua5.4 bench/pairs.lua URL_A CLIENT_A URL_B CLIENT_B " ..
                  "[PAIRS [N [INFLIGHT]]]\n")
  os.exit(2)
end
local pairs_n = tonumber(arg[5] or "41")
local n = tonumber(arg[6] or "5000")
local inflight = tonumber(arg[7] or "32")

local function cpu_seconds(url, client)
  local body, code = http.request(("%s/run?client=%s&n=%d&warmup=300&inflight=%d")
                                  :format(url, client, n, inflight))
  local cpu = body and tonumber(body:match("cpu_seconds=([%d.]+)"))
  if code ~= 200 or not cpu then
    error(("%s %s: %s %s"):format(url, client, tostring(code), tostring(body)), 0)
  end
  return cpu
end

local ratios = {}
for i = 1, pairs_n do
  local a, b
  if i % 2 == 0 then
    a = cpu_seconds(url_a, client_a)
    b = cpu_seconds(url_b, client_b)
  else
    b = cpu_seconds(url_b, client_b)
    a = cpu_seconds(url_a, client_a)
  end
  ratios[i] = b / a
end
table.sort(ratios)
local function at(q) return ratios[math.max(1, math.floor(q * (#ratios + 1) + 0.5))] end
print(("%d pairs of %d creates, %d in flight: B/A CPU time median %.3f " ..
       "(quartiles %.3f-%.3f; above 1, A is faster)")
      :format(pairs_n, n, inflight, at(0.5), at(0.25), at(0.75)))
