--- webhooks.verify on a 2 KiB body against the same check in C on
-- OpenSSL's libcrypto (bench/c_hmac.c: hex-decode the header, HMAC-SHA512
-- under the key, CRYPTO_memcmp; with the one-shot HMAC() and with a
-- re-keyed EVP_MAC context).
--
--   lua5.4 bench/webhooks.lua C_HMAC_BINARY [ITERATIONS] [ROUNDS]
--
-- Each round times ITERATIONS calls of allawee.webhooks.verify in this
-- process (CPU time, os.clock) and runs the C program for the same count
-- (which times its own loops the same way), the two back to back in
-- alternating order. Reported: the fastest round of each side in ns per
-- check, and the median of the round ratios allawee / the faster OpenSSL
-- way. The Lua side includes the call from Lua, its argument checks and
-- the header decoding.
-- `make bench` runs it pinned to the client core; `make bench-webhooks`
-- runs this row alone.
local measure = require "bench.measure"
local allawee = require "allawee"

local binary = assert(arg[1], "usage: lua5.4 bench/webhooks.lua C_HMAC_BINARY [ITERATIONS] [ROUNDS]")
local iterations = tonumber(arg[2]) or 20000
local rounds = tonumber(arg[3]) or 15
local BODY_BYTES = 2048

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- A throw-away key, random per run, handed to the C side in its environment.
local f = assert(io.open("/dev/urandom", "rb"))
local key = "whsec." .. f:read(24):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
f:close()

-- An authorization request event padded to exactly 2 KiB.
local head = '{"event":"card.authorization.request","data":{"id":"c.auth.64f1c0ffee",' ..
  '"object":"card.authorization","type":"check","status":"pending","amount":150000,' ..
  '"fees":0,"currency":"NGN","merchantDescriptor":"CHICKEN REPUBLIC","note":"'
local tail = '"},"metadata":{"sentAt":"2024-10-16T10:00:00.000Z","event":"evt.64f1a2b3c4"}}'
local body = head .. string.rep("x", BODY_BYTES - #head - #tail) .. tail
assert(#body == BODY_BYTES)

local mktemp = assert(io.popen("mktemp /tmp/allawee-bench-webhook.XXXXXX"))
local tmp = assert(mktemp:read("*l"))
mktemp:close()
local out = assert(io.open(tmp, "wb"))
out:write(body)
out:close()

local verify = allawee.webhooks.verify
local header = allawee.webhooks.sign(body, key)
assert(verify(body, header, key) == true)

local function lua_ns()
  for _ = 1, iterations // 10 + 1 do verify(body, header, key) end   -- warm-up
  collectgarbage("collect")
  local c0 = measure.cpu()
  for _ = 1, iterations do verify(body, header, key) end
  return (measure.cpu() - c0) / iterations * 1e9
end

-- The C program's two figures: HMAC() and EVP_MAC, ns per check.
local function c_ns()
  local p = assert(io.popen(("BENCH_WEBHOOK_KEY=%s %s %s %d"):format(q(key), q(binary), q(tmp),
                                                                    iterations)))
  local text = p:read("*a")
  p:close()
  local hmac = tonumber(text:match("RESULT name=openssl_verify .*hmac_ns=([%d%.]+)"))
  local evp = tonumber(text:match("RESULT name=openssl_verify .*evp_ns=([%d%.]+)"))
  if not (hmac and evp) then
    os.remove(tmp)
    measure.fail("c_hmac", text)
  end
  return hmac, evp
end

local best_a, best_hmac, best_evp, ratios = math.huge, math.huge, math.huge, {}
for round = 1, rounds do
  local a, hmac, evp
  if round % 2 == 1 then
    a = lua_ns(); hmac, evp = c_ns()
  else
    hmac, evp = c_ns(); a = lua_ns()
  end
  best_a, best_hmac, best_evp = math.min(best_a, a), math.min(best_hmac, hmac), math.min(best_evp, evp)
  ratios[#ratios + 1] = a / math.min(hmac, evp)
end
os.remove(tmp)
table.sort(ratios)
local n = #ratios
local median = n % 2 == 1 and ratios[(n + 1) // 2] or (ratios[n // 2] + ratios[n // 2 + 1]) / 2

measure.report {
  name = "webhooks_verify",
  body_bytes = BODY_BYTES,
  iterations = iterations,
  rounds = rounds,
  allawee_ns = string.format("%.0f", best_a),
  openssl_ns = string.format("%.0f", math.min(best_hmac, best_evp)),
  openssl_hmac_ns = string.format("%.0f", best_hmac),
  openssl_evp_ns = string.format("%.0f", best_evp),
  ratio = string.format("%.3f", median),
  ratio_range = string.format("%.2f-%.2f", ratios[1], ratios[n]),
}
