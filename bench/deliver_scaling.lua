--- bench/deliver_scaling.lua: N finished callbacks delivered by ONE
-- client:poll, for proving delivery linear in N without timing anything:
-- run it under callgrind at N and 4N and compare the instructions spent
-- inside client_poll (a linear delivery costs 4x, a quadratic one 16x).
--
--   lua5.4 bench/deliver_scaling.lua N
--   valgrind --tool=callgrind --toggle-collect=client_poll \
--     --callgrind-out-file=build/deliver.%p lua5.4 bench/deliver_scaling.lua 5000
--   (again with 20000; callgrind_annotate: PROGRAM TOTALS of each)
--
-- The requests finish at submit (validation errors: nothing is sent, no
-- server needed); base_url points at a closed port to be sure of it.
package.path = "./lua/?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath
local allawee = require "allawee"

local n = tonumber(arg[1]) or 20000
local client = allawee.new({ secret_key = "sk.test.bench-deliver", base_url = "http://127.0.0.1:9" })
local got = 0
local function on_done(_, err)
  if not (err and err.kind == "validation") then error("expected a validation error") end
  got = got + 1
end
for _ = 1, n do client.customers.create_async({ name = "" }, on_done) end
local left = client:poll(0)
client:close()
if got ~= n or left ~= 0 then error(("delivered %d of %d, %d left"):format(got, n, left)) end
print(("delivered %d callbacks in one poll"):format(got))
