-- make random-check: one build of the module per random source (src/random.c),
-- each loaded here. Usage: lua5.4 tools/random_check.lua CPATH_DIR EXPECTED_SOURCE
--
-- Proves, for the build in CPATH_DIR: core.random_source is EXPECTED_SOURCE;
-- 400 creates (25 refills of the 256-byte pool) each get a distinct RFC 4122
-- version-4 idempotency key; with ALLAWEE_EXPECT_RANDOM_FAILURE=1 (run in a
-- mount namespace where /dev/urandom reads as empty) the create refuses to
-- send instead: kind "api", code "random_unavailable".
local dir, expected = arg[1], arg[2]
package.cpath = dir .. "/?.so;" .. package.cpath
package.path = "./lua/?.lua;" .. package.path
local core = require "allawee.core"
local allawee = require "allawee"
local socket = require "socket"

assert(core.random_source == expected,
       ("random source %s, expected %s"):format(tostring(core.random_source), expected))

-- A loopback port nothing listens on: every attempt is refused at once.
local probe = assert(socket.bind("127.0.0.1", 0))
local _, port = probe:getsockname()
probe:close()

local client = allawee.new { secret_key = "sk.test.canary-random", max_retries = 0,
                             base_url = "http://127.0.0.1:" .. port }
local params = { name = "R", reference = "r", type = "individual", claims = {},
                 verifications = {}, metadata = {} }

if os.getenv("ALLAWEE_EXPECT_RANDOM_FAILURE") == "1" then
  local data, err = client.customers.create(params)
  assert(data == nil and err.code == "random_unavailable",
         "a failing random source must refuse to send, got " .. tostring(err))
  print(("random-check: %s failing: create refused (%s)"):format(expected, tostring(err)))
  return
end

local seen, n = {}, 400
for i = 1, n do
  local data, err = client.customers.create(params)
  assert(data == nil and err.kind == "connection", tostring(err))
  local key = err.idempotency_key
  assert(key:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"),
         "not a UUID v4: " .. key)
  assert(not seen[key], "key repeated after " .. i .. " creates: " .. key)
  seen[key] = true
end
client:close()
print(("random-check: %s: %d distinct UUID v4 keys"):format(expected, n))
