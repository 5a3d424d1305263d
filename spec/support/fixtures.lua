--[[
Test fixtures shared by the customers.create specs.

    local F = require "support.fixtures"
    F.individual()            --> the documented individual customer (fresh reference)
    F.business()              --> the documented business customer (fresh reference)
    F.minimal([overrides])    --> the smallest valid create (fresh reference), overrides laid on top
    F.reference([prefix])     --> a reference never used before (in this run or another)
    F.client(sb [, opts])     --> allawee.new{ secret_key = F.KEY, base_url = sb.url, ... }
    F.new_client(key, base_url [, opts...])
                              --> allawee.new{ secret_key = key, base_url = base_url }
                                  with each opts table laid on top in turn
    F.merge(t1, t2, ...)      --> a new table: the fields of each in turn (nil ones skipped)
    F.last_request(sb)        --> the newest request the sandbox recorded
    F.decode(text)            --> a private cjson instance's decode
    F.copy(t)                 --> a deep copy
    F.build(), F.interpreter() --> "5.4" / "luajit" (build/<it>), and the command of this Lua
    F.run_lua(code [, env])   --> what `code` printed in a child of this Lua, on this checkout's
                                  module, with env set and no other ALLAWEE_ variable
    F.shell_quote(s)          --> s as one sh word

Every sample is built fresh on each call, so a test may change it freely.
]]

local allawee = require "allawee"
local json = require("cjson").new() -- private: never touch the shared cjson settings

-- support.net needs luasocket, which the fuzz oracle's embedded Lua (it
-- takes its templates from here) does not have: loaded on first use.
local function net() return require "support.net" end

local F = {}

--- A test key the sandbox accepts; distinctive, so a leak is easy to spot.
F.KEY = "sk.test.SECRET-canary-1234"

--- True on Lua 5.3+ (integer subtype); false on 5.1, 5.2 and LuaJIT.
F.HAS_INTEGERS = math.type ~= nil

-- References must be unique across the sandbox's life and across runs that
-- share a sandbox: a counter plus the time and a random tail (read from the
-- kernel, so the suite's math.random state is left alone).
local function random_tag()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(4) or ""
  if f then f:close() end
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end
local run_tag = ("%d-%s"):format(os.time(), random_tag())
local counter = 0

function F.reference(prefix)
  counter = counter + 1
  return ("%s-%s-%d@example.com"):format(prefix or "ref", run_tag, counter)
end

function F.copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = F.copy(x) end
  return setmetatable(out, getmetatable(v))
end

--- The individual customer of the API notes (the documented success sample).
function F.individual()
  return {
    name = "Ciroma C Adekunle",
    reference = F.reference("individual"),
    type = "individual",
    claims = {
      individualInformation = {
        firstName = "Ciroma", lastName = "Adekunle", middleName = "Chukwuma",
        email = "ciroma@gmail.com", phoneNumber = "+2349154109234", title = "Mr",
        gender = "M", dateOfBirth = "1997-2-13", nationalityCode = "NG",
      },
      individualAddress = {
        city = "Yaba", state = "NG-LA", countryCode = "NG",
        addressLineOne = "100 herbert macaulay road", addressLineTwo = "", postalCode = "11041",
      },
      individualIdentity = { type = "bvn", id = "22489035167", issuingCountry = "NG" },
    },
    verifications = { "tier-2" },
    metadata = { userId = 2345 },
  }
end

--- The business customer of create-a-customer.md (its business claims).
function F.business()
  return {
    name = "Good Mill Ltd",
    reference = F.reference("business"),
    type = "business",
    claims = {
      businessInformation = {
        registrationName = "Good Mill Ltd", phoneNumber = "+2348123456789",
        email = "goodmill@gmail.com",
      },
      businessIdentity = {
        type = "cac", id = "A015BVP13Z", url = "https://example.com/document.png",
        issuingCountry = "NG",
      },
      businessDirectors = { "Ciroma Adekunle", "Ngozi Okafor" },
      businessAddress = {
        city = "Yaba", state = "Lagos", countryCode = "NG",
        addressLineOne = "No 10, Adekunle Close", addressLineTwo = "Off Ciroma Rd",
      },
    },
    verifications = { "tier-1", "tier-3" },
    metadata = { accountManager = "A. Bello", tier = 3 },
  }
end

--- The smallest valid create (individual, no claims, no verifications).
function F.minimal(overrides)
  return F.merge({
    name = "Ada", reference = F.reference("minimal"), type = "individual",
    claims = {}, verifications = {}, metadata = {},
  }, overrides)
end

function F.merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    for k, v in pairs((select(i, ...)) or {}) do out[k] = v end
  end
  return out
end

function F.new_client(key, base_url, ...)
  return allawee.new(F.merge({ secret_key = key, base_url = base_url }, ...))
end

function F.client(sb, opts)
  return F.new_client(F.KEY, sb.url, opts)
end

function F.decode(text)
  return json.decode(text)
end

function F.last_request(sb)
  local records = sb:requests()
  return records[#records]
end

--- The build of the module this Lua loads: build/<F.build()>/allawee/core.so.
function F.build()
  if jit then return "luajit" end
  return _VERSION:match("%d+%.%d+")
end

--- The interpreter running this suite, for child processes.
function F.interpreter()
  if jit then return "luajit" end
  return "lua" .. F.build()
end

function F.shell_quote(s)
  return net().shell_quote(s)
end

--- Runs `code` in a child process (Lua cannot set its own environment);
-- returns its output, stdout and stderr.
function F.run_lua(code, env)
  local assignments = {}
  for k, v in pairs(env or {}) do assignments[#assignments + 1] = k .. "=" .. F.shell_quote(v) end
  table.sort(assignments)
  local root = net().repo_root()
  local prelude = ("package.path = %q .. package.path; package.cpath = %q .. package.cpath; "):format(
    root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;",
    root .. "/build/" .. F.build() .. "/?.so;")
  local cmd = ("env -u ALLAWEE_SECRET_KEY -u ALLAWEE_BASE_URL %s %s -e %s 2>&1"):format(
    table.concat(assignments, " "), F.interpreter(), F.shell_quote(prelude .. code))
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  p:close()
  return out
end

return F
