--[[
Test fixtures shared by the customers.create specs.

    local F = require "support.fixtures"
    F.individual()            --> the documented individual customer (fresh reference)
    F.business()              --> the documented business customer (fresh reference)
    F.reference()             --> a reference never used before in this process
    F.client(sb [, opts])     --> allawee.new{ secret_key = F.KEY, base_url = sb.url, ... }
    F.last_request(sb)        --> the newest request the sandbox recorded
    F.decode(text)            --> a private cjson instance's decode
    F.copy(t)                 --> a deep copy

Every sample is built fresh on each call, so a test may change it freely.
]]

local allawee = require "allawee"
local json = require("cjson").new() -- private: never touch the shared cjson settings

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
  local p = {
    name = "Ada", reference = F.reference("minimal"), type = "individual",
    claims = {}, verifications = {}, metadata = {},
  }
  for k, v in pairs(overrides or {}) do p[k] = v end
  return p
end

function F.client(sb, opts)
  local o = { secret_key = F.KEY, base_url = sb.url }
  for k, v in pairs(opts or {}) do o[k] = v end
  return allawee.new(o)
end

function F.decode(text)
  return json.decode(text)
end

function F.last_request(sb)
  local records = sb:requests()
  return records[#records]
end

--- The interpreter running this suite, for child processes.
function F.interpreter()
  if jit then return "luajit" end
  return "lua" .. _VERSION:match("%d+%.%d+")
end

function F.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

return F
