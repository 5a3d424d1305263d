--[[
allawee.sandbox.util: what every part of the sandbox shares: ids, times,
JSON replies in the service's envelopes, query strings, field checks.
Runs on Lua 5.1 to 5.4 and LuaJIT.
]]

local socket = require "socket"
local J = require "allawee.sandbox.json"

local U = {}

local ordered = J.ordered

---------------------------------------------------------------------------
-- Ids and times
---------------------------------------------------------------------------

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

function U.random_string(n, alphabet)
  alphabet = alphabet or ALNUM
  local out = {}
  for i = 1, n do
    local k = math.random(1, #alphabet)
    out[i] = alphabet:sub(k, k)
  end
  return table.concat(out)
end

function U.random_digits(n) return U.random_string(n, "0123456789") end

-- Lua 5.1-5.3 start math.random with a fixed seed: two sandboxes would then
-- hand out the same ids. Seed from the kernel (31 bits fit every version).
local function seed_random()
  local seed
  local f = io.open("/dev/urandom", "rb")
  if f then
    local b = f:read(4)
    f:close()
    if b and #b == 4 then
      seed = ((b:byte(1) % 128) * 16777216) + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4)
    end
  end
  math.randomseed(seed or math.floor((socket.gettime() * 1000) % 2147483647))
end
seed_random()

-- "<prefix><17 alnum>", as the service's ids: cus.2tXNjMhytgx7hCxu9
function U.new_id(prefix) return prefix .. U.random_string(17) end
function U.new_request_id() return "req_" .. U.random_string(24) end

U.now = socket.gettime

-- ISO-8601 UTC with milliseconds, as the service writes createdAt/updatedAt.
function U.iso_timestamp(t)
  t = t or socket.gettime()
  local secs = math.floor(t)
  local ms = math.floor((t - secs) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%03dZ", ms)
end

-- A time strictly after `previous` (by at least a millisecond), so that an
-- update always moves updatedAt even within the same millisecond.
function U.time_after(previous)
  local t = socket.gettime()
  if previous and t < previous + 0.001 then t = previous + 0.001 end
  return t
end

---------------------------------------------------------------------------
-- Replies
---------------------------------------------------------------------------

function U.json_reply(status, value)
  return { status = status, content_type = "application/json", body = J.encode(value), headers = {} }
end

-- {"code":<code>,"message":<message>}: the service's error shape.
function U.code_reply(status, code, message)
  return U.json_reply(status, ordered({ "code", "message" }, { code = code, message = message }))
end

-- {"statusCode":N,"message":...}: the other documented error shape.
function U.status_code_reply(status, message)
  return U.json_reply(status, ordered({ "statusCode", "message" }, { statusCode = status, message = message }))
end

function U.success_reply(status, data)
  return U.json_reply(status, ordered({ "code", "data" }, { code = "success", data = data }))
end

function U.bad_request(message) return U.code_reply(400, "bad-request", message) end

function U.not_found(what, id)
  return U.code_reply(404, "not-found", ("%s '%s' not found"):format(what, tostring(id)))
end

function U.conflict(message) return U.code_reply(409, "conflict", message) end

---------------------------------------------------------------------------
-- Query strings
---------------------------------------------------------------------------

-- Percent-decoding (RFC 3986). In a query string "+" also means a space
-- (HTML forms); our client writes a space as %20 and "+" as %2B.
function U.url_decode(s, plus_is_space)
  if plus_is_space then s = s:gsub("%+", " ") end
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- "a=1&b=x%20y&a=2" -> { a = {"1", "2"}, b = {"x y"} }; a key without "="
-- has the value "".
function U.parse_query(qs)
  local q = {}
  for item in (qs or ""):gmatch("[^&]+") do
    local k, v = item:match("^([^=]*)=(.*)$")
    if not k then k, v = item, "" end
    k, v = U.url_decode(k, true), U.url_decode(v, true)
    local list = q[k]
    if not list then
      list = {}
      q[k] = list
    end
    list[#list + 1] = v
  end
  return q
end

---------------------------------------------------------------------------
-- Field checks
---------------------------------------------------------------------------

U.is_object, U.is_array = J.is_object, J.is_array

function U.is_nonempty_string(v) return type(v) == "string" and v ~= "" end

-- Neither missing nor JSON null.
function U.present(v) return v ~= nil and v ~= J.null end

-- A whole number (cjson 2.1.0 gives floats) in [min, 2^53), as an integer
-- where the Lua has them; nil when it is not one.
function U.whole(v, min)
  if type(v) ~= "number" or v ~= v or v % 1 ~= 0 or v < (min or 0) or v >= 2 ^ 53 then return nil end
  if math.tointeger then return math.tointeger(v) end
  return v
end

-- The problem with an optional enum field, or nil.
function U.enum_problem(body, field, values, required)
  local v = body[field]
  if not U.present(v) then
    if required then return ("%s is required: one of %s"):format(field, table.concat(values, ", ")) end
    return nil
  end
  for _, ok in ipairs(values) do
    if v == ok then return nil end
  end
  return ("%s must be one of %s"):format(field, table.concat(values, ", "))
end

-- The problem with an optional string field, or nil (null is accepted).
function U.string_problem(body, field, required)
  local v = body[field]
  if not U.present(v) then
    if required then return field .. " is required and must be a non-empty string" end
    return nil
  end
  if required and not U.is_nonempty_string(v) then
    return field .. " is required and must be a non-empty string"
  end
  if type(v) ~= "string" then return field .. " must be a string" end
end

function U.object_problem(body, field)
  local v = body[field]
  if U.present(v) and not J.is_object(v) then return field .. " must be an object" end
end

-- A shallow copy (keeps an ordered table's order).
function U.copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return setmetatable(out, getmetatable(t))
end

return U
