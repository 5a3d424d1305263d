--- allawee: the Lua SDK for the Allawee banking and card-issuing API.
--
-- The work happens in C (allawee.core): encoding, validation, HTTP with
-- libcurl, error mapping. This file wires in a private lua-cjson instance
-- for decoding, and offers the module-level default client.
local core = require "allawee.core"
local cjson = require "cjson"

-- A private instance: the host's global cjson settings are never touched.
local json = cjson.new()
json.decode_max_depth(32)            -- the bound the encoder uses too
json.decode_invalid_numbers(false)   -- strict JSON: no NaN, Infinity, hex
core.set_decoder(json.decode, cjson.null)

local allawee = {
  _VERSION = core.version,
  version = core.version,
  curl_version = core.curl_version,
  --- JSON null in requests and responses (the same value as cjson.null).
  null = cjson.null,
  --- A value that encodes as [] wherever it appears (free-form metadata too).
  empty_array = core.empty_array,
  --- Tables with this metatable encode as arrays, even when empty.
  array_mt = core.array_mt,
}

--- Builds a client. See README.md for every option.
function allawee.new(options)
  return core.new(options)
end

--- Marks t (or a new table) as an array, so it encodes as [] when empty.
function allawee.array(t)
  return setmetatable(t or {}, core.array_mt)
end

-- The module-level client is built on first use, from the environment
-- (ALLAWEE_SECRET_KEY, ALLAWEE_BASE_URL), so requiring the module never
-- fails for want of a key.
local default_client
local function default()
  if default_client == nil then
    default_client = core.new()
  end
  return default_client
end

allawee.customers = {
  create = function(params, options)
    return default().customers.create(params, options)
  end,
  create_async = function(params, callback, options)
    return default().customers.create_async(params, callback, options)
  end,
}

--- The default client itself (built from the environment on first use).
function allawee.default_client()
  return default()
end

return allawee
