--- Row: Debian's lua-curl (the luacurl 0.3 binding, module "curl"; it ships
-- for Lua 5.1 and 5.2 only) plus cjson, under Lua 5.1. One easy handle is
-- reused, so the connection is kept alive as with allawee. The binding has
-- no getinfo, so the status comes from the status line. Its callbacks get
-- (data, length) and return the length; perform returns 0 or code, message.
--   lua5.1 bench/luacurl_cjson.lua URL REQUESTS WARMUP
local measure = require "bench.measure"
local sample = require "bench.sample"
local cjson = require "cjson"
local curl = require "curl"

local url, n, warmup = arg[1], tonumber(arg[2]), tonumber(arg[3])
local params = sample.params()
local chunks, status

local easy = curl.easy_init()
easy:setopt(curl.OPT_URL, url .. "/customers")
easy:setopt(curl.OPT_POST, 1)
easy:setopt(curl.OPT_NOSIGNAL, 1)
easy:setopt(curl.OPT_HTTPHEADER, {
  "Authorization: Bearer " .. assert(os.getenv("ALLAWEE_SECRET_KEY")),
  "Content-Type: application/json",
  "Accept: application/json",
  "Expect:",
})
easy:setopt(curl.OPT_WRITEFUNCTION, function(data, length)
  chunks[#chunks + 1] = data
  return length
end)
easy:setopt(curl.OPT_HEADERFUNCTION, function(line, length)
  local code = line:match("^HTTP/%S+ (%d+)")
  if code then status = tonumber(code) end
  return length
end)

local function create()
  local body = cjson.encode(params)
  chunks, status = {}, nil
  easy:setopt(curl.OPT_POSTFIELDS, body)
  easy:setopt(curl.OPT_POSTFIELDSIZE, #body)
  local code, message = easy:perform()
  if code ~= 0 or status ~= 201 then measure.fail("perform", message or status) end
  local decoded = cjson.decode(table.concat(chunks))
  if decoded.code ~= "success" then measure.fail("decode", decoded.code) end
  return decoded.data
end

measure.report(measure.loop(n, warmup, create))
