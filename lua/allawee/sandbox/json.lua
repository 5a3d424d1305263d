--[[
allawee.sandbox.json: the sandbox's JSON encoder, and decoding through a
private lua-cjson instance.

Our own encoder rather than cjson's: cjson 2.1.0 decodes every number as
a float and would echo metadata {"userId":2345} as 2345.0 on Lua 5.3+, and
it writes every empty table as {} even where the API has an array.
Runs on Lua 5.1 to 5.4 and LuaJIT.
]]

local cjson = require "cjson"

local J = {}

-- A private cjson instance, so that our settings never change the shared
-- `cjson` module that the SDK or the tests also use.
local json = cjson.new()
if json.decode_invalid_numbers then
  json.decode_invalid_numbers(false) -- NaN, Infinity and hex are not JSON
end
json.decode_max_depth(128) -- what we decode we may write back (the writer stops at 200)

J.null = cjson.null

-- True when t holds exactly the keys 1..n (n > 0): a JSON array.
local function is_sequence(t)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return false end
    n = n + 1
  end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return n > 0
end
J.is_sequence = is_sequence

local ARRAY_MT = {}          -- marks a table to be written as a JSON array

function J.array(t) return setmetatable(t or {}, ARRAY_MT) end

-- A table whose keys are written in the given order (the documented order
-- of an object reads better than a sorted one). Keys not in the list are
-- written after them, sorted.
function J.ordered(keys, values)
  return setmetatable(values, { __jsonorder = keys })
end

-- The key order of an ordered table, or nil.
function J.order_of(t)
  local mt = getmetatable(t)
  return mt and mt.__jsonorder
end

-- Keys the API defines as arrays: an empty table under them is written [].
-- (cjson decodes [] and {} alike, so echoed input needs the hint.)
local ARRAY_KEYS = {
  verifications = true, businessDirectors = true, depositChannels = true, attempts = true,
  allowedMcc = true, blockedMcc = true, allowedCategories = true, blockedCategories = true,
  allowedChannels = true, blockedChannels = true, allowedMerchants = true,
  blockedMerchants = true, spendingLimits = true, updates = true, events = true,
}

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function escape_char(c)
  return ESCAPES[c] or string.format("\\u%04x", c:byte())
end

-- Bytes >= 0x80 pass through untouched: recorded bodies must survive exactly,
-- and fault=bad_utf8 needs raw invalid UTF-8 on the wire.
local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

local TWO_POW_53 = 2 ^ 53

local function encode_number(n)
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if math.type and math.type(n) == "integer" then return string.format("%d", n) end
  if n == math.floor(n) and math.abs(n) < TWO_POW_53 then
    return string.format("%.0f", n)   -- an integral float: 2345, not 2345.0
  end
  local s = string.format("%.14g", n)
  if tonumber(s) ~= n then s = string.format("%.17g", n) end
  return s
end
J.number_text = encode_number

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- The keys of t in writing order: the declared order first, then the rest.
local function key_order(t, order)
  if not order then return sorted_keys(t) end
  local seen, keys = {}, {}
  for _, k in ipairs(order) do
    seen[k] = true
    keys[#keys + 1] = k
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = k end
  end
  if rest[1] then
    table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(rest) do keys[#keys + 1] = k end
  end
  return keys
end

local encode_into -- forward declaration: values and tables recurse

local function encode_table(t, out, array_hint, depth)
  if depth > 200 then error("JSON nesting deeper than 200") end
  local mt = getmetatable(t)
  local order = mt and mt.__jsonorder
  if not order and (mt == ARRAY_MT or is_sequence(t) or (array_hint and next(t) == nil)) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_into(t[i], out, nil, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  out[#out + 1] = "{"
  local first = true
  for _, k in ipairs(key_order(t, order)) do
    local v = t[k]
    if v ~= nil then
      if not first then out[#out + 1] = "," end
      first = false
      out[#out + 1] = encode_string(tostring(k))
      out[#out + 1] = ":"
      encode_into(v, out, ARRAY_KEYS[k], depth + 1)
    end
  end
  out[#out + 1] = "}"
end

function encode_into(v, out, array_hint, depth)
  local kind = type(v)
  if v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "number" then
    out[#out + 1] = encode_number(v)
  elseif kind == "string" then
    out[#out + 1] = encode_string(v)
  elseif kind == "table" then
    encode_table(v, out, array_hint, depth or 0)
  else
    error("cannot encode a " .. kind .. " as JSON")
  end
end

function J.encode(v)
  local out = {}
  encode_into(v, out, nil, 0)
  return table.concat(out)
end

-- value, or nil and a message.
function J.decode(text)
  local ok, value = pcall(json.decode, text)
  if ok then return value end
  return nil, tostring(value)
end

-- cjson decodes {} and [] alike to an empty table, so "empty" passes both checks.
function J.is_object(v) return type(v) == "table" and (next(v) == nil or not is_sequence(v)) end
function J.is_array(v) return type(v) == "table" and (next(v) == nil or is_sequence(v)) end

return J
