-- make demo: start the bundled local Allawee sandbox, create a customer
-- through the module, print it. Run from the repository root:
--   lua5.4 examples/demo.lua
local lua_version = _VERSION:match("%d+%.%d+")
local build = (jit and "luajit") or lua_version
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/" .. build .. "/?.so;" .. package.cpath

local allawee = require "allawee"

-- The sandbox runs in its own process: a blocking create in this one would
-- otherwise stop it from answering.
local interpreter = jit and "luajit" or ("lua" .. lua_version)
local server = assert(io.popen("exec " .. interpreter .. " bin/allawee-sandbox --port 0"))
local banner = server:read("*l") or ""
local url = banner:match("(http://%S+)")
assert(url, "the sandbox did not start: " .. banner)
print("sandbox: " .. url)

local client = allawee.new {
  secret_key = "sk.test.demo",   -- the sandbox accepts any sk.test.* key
  base_url = url,
}
print("client:  " .. tostring(client))

local customer, err, meta = client.customers.create {
  name = "Ciroma Chukwuma Adekunle",
  reference = "demo-" .. os.time(),
  type = "individual",
  claims = {
    individualInformation = {
      title = "Mr", gender = "M", nationalityCode = "NG",
      firstName = "Ciroma", middleName = "Chukwuma", lastName = "Adekunle",
      phoneNumber = "+2349154109234", dateOfBirth = "1997-02-13",
      email = "ciroma@example.com",
    },
    individualAddress = {
      city = "Yaba", state = "NG-LA", countryCode = "NG",
      addressLineOne = "100 Herbert Macaulay Road", addressLineTwo = "",
    },
    individualIdentity = { type = "bvn", id = "22489035167", issuingCountry = "NG" },
  },
  verifications = { "tier-2" },
  metadata = { userId = 2345 },
}

-- A small, ordered pretty-printer, so the output reads the same each run.
local function show(value, indent)
  indent = indent or ""
  if type(value) ~= "table" then
    return type(value) == "string" and string.format("%q", value) or tostring(value)
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local lines = {}
  for _, k in ipairs(keys) do
    lines[#lines + 1] = indent .. "  " .. tostring(k) .. " = " .. show(value[k], indent .. "  ")
  end
  return "{\n" .. table.concat(lines, ",\n") .. "\n" .. indent .. "}"
end

local ok = customer ~= nil
if ok then
  print("created: " .. customer.id .. " (HTTP " .. meta.status .. ", request id "
        .. meta.request_id .. ", attempts " .. meta.attempts .. ")")
  print(show(customer))
else
  print("failed:  " .. tostring(err))
end

client:close()
require("socket.http").request(url .. "/_sandbox/shutdown", "")
server:close()
os.exit(ok and 0 or 1)
