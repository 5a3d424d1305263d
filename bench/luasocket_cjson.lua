--- Row: what a user would write without allawee: luasocket's http.request
-- (https through luasec for an https URL) plus cjson for both directions.
-- luasocket opens a new connection for every call (and a TLS handshake for
-- every https call): that is its design, and what this row measures.
--   lua5.4 bench/luasocket_cjson.lua URL REQUESTS WARMUP [CA_FILE]
local measure = require "bench.measure"
local sample = require "bench.sample"
local cjson = require "cjson"
local ltn12 = require "ltn12"

local url, n, warmup, ca_file = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local https = url:match("^https:") ~= nil
local request = https and require("ssl.https").request or require("socket.http").request
local authorization = "Bearer " .. assert(os.getenv("ALLAWEE_SECRET_KEY"))
local params = sample.params()

local function create()
  local body = cjson.encode(params)
  local chunks = {}
  local req = {
    url = url .. "/customers",
    method = "POST",
    headers = {
      ["authorization"] = authorization,
      ["content-type"] = "application/json",
      ["accept"] = "application/json",
      ["content-length"] = tostring(#body),
    },
    source = ltn12.source.string(body),
    sink = ltn12.sink.table(chunks),
  }
  if https then
    req.cafile = ca_file
    req.verify = "peer"
    req.protocol = "any"
  end
  local ok, status = request(req)
  if not ok or status ~= 201 then measure.fail("http.request", status) end
  local decoded = cjson.decode(table.concat(chunks))
  if decoded.code ~= "success" then measure.fail("decode", decoded.code) end
  return decoded.data
end

measure.report(measure.loop(n, warmup, create))
