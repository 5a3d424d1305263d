--[[
fuzz/oracle.lua: what the fuzz targets check, in Lua (loaded by fuzz_lua.c
into the embedded state). Every check raises on a violation; the harness
turns that into an abort, so libFuzzer keeps the input as a crash.

The encoder's promises (json_encode.c):
  - output, when there is one, is valid UTF-8 and valid JSON;
  - it decodes to the same value: strings byte for byte, floats exactly
    (shortest round trip), integers exactly (beyond 2^53, where cjson's
    doubles cannot tell, the exact decimal digits must be in the text);
  - the same table gives the same bytes every time;
  - what passes validation also encodes without it;
  - a failure is a "validation" error table with a string message.
The response mapping's promise (response.c): data (a table) only for a 2xx
other than 202 with the documented envelope; otherwise an error table with
a known kind, a string message and the retryable flag the caller was given.
]]

local allawee = require "allawee"
local core = require "allawee.core"
local cjson = require "cjson"
local F = require "support.fixtures"

local json = cjson.new()           -- a reference decoder, not the SDK's
json.decode_max_depth(1000)        -- the encoder stops at 32; be looser
json.decode_invalid_numbers(false)

local O = {
  encode = core.encode,
  interpret = core.interpret,
  empty_array = allawee.empty_array,
  array_mt = allawee.array_mt,
  null = allawee.null,
}

local TWO_53 = 9007199254740992

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

--------------------------------------------------------------------------
-- Templates: valid creates that mutations start from, so the fuzzer gets
-- past the first required-field check and into every schema object. They
-- are the suite's documented samples (spec/support/fixtures.lua) with a
-- fixed reference, so that the same input always makes the same run.
--------------------------------------------------------------------------

local function with_reference(sample, reference)
  return function()
    local p = sample()
    p.reference = reference
    return p
  end
end

local templates = {
  with_reference(F.individual, "customer@example.com"),
  with_reference(F.business, "goodmill@example.com"),
  with_reference(F.minimal, "r"),
}

function O.template(n)
  return templates[n % #templates + 1]()
end

--------------------------------------------------------------------------
-- Encoder
--------------------------------------------------------------------------

-- Raw pairs: the input's metatables must not take part.
local function count_keys(t)
  local n, k = 0, next(t)
  while k ~= nil do
    n = n + 1
    k = next(t, k)
  end
  return n
end

local function same(input, decoded, body, path)
  local ti = type(input)
  if ti == "number" then
    if type(decoded) ~= "number" then fail("%s: number became %s", path, type(decoded)) end
    if math.type(input) == "integer" and (input > TWO_53 or input < -TWO_53) then
      -- Past 2^53 cjson's double cannot hold it; the digits must be in the text.
      if decoded ~= input + 0.0 then fail("%s: %d decoded as %.17g", path, input, decoded) end
      if not body:find(("%d"):format(input), 1, true) then
        fail("%s: the digits of %d are not in the body", path, input)
      end
    elseif decoded ~= input then
      fail("%s: %.17g decoded as %.17g", path, input, decoded)
    end
  elseif ti == "string" or ti == "boolean" then
    if decoded ~= input then fail("%s: %s changed", path, ti) end
  elseif ti == "userdata" then       -- light: null or empty_array
    if input == O.null then
      if decoded ~= cjson.null then fail("%s: null became %s", path, type(decoded)) end
    elseif input == O.empty_array then
      if type(decoded) ~= "table" or next(decoded) ~= nil then fail("%s: [] changed", path) end
    else
      fail("%s: a light userdata was encoded", path)
    end
  elseif ti == "table" then
    if type(decoded) ~= "table" then fail("%s: table became %s", path, type(decoded)) end
    if count_keys(input) ~= count_keys(decoded) then
      fail("%s: %d keys became %d", path, count_keys(input), count_keys(decoded))
    end
    local k, v = next(input)
    while k ~= nil do
      same(v, rawget(decoded, k), body, path .. "." .. tostring(k))
      k, v = next(input, k)
    end
  else
    fail("%s: a %s was encoded", path, ti)
  end
end

local function check_error(err, what)
  if type(err) ~= "table" or err.kind ~= "validation" or type(err.message) ~= "string" then
    fail("%s: a failure that is not a validation error: %s", what, tostring(err))
  end
  if err.field ~= nil and type(err.field) ~= "string" then fail("%s: field is not a string", what) end
  if type(tostring(err)) ~= "string" then fail("%s: __tostring", what) end
end

local function check_body(input, body, what)
  if type(body) ~= "string" then fail("%s: body is a %s", what, type(body)) end
  if not utf8.len(body) then fail("%s: body is not valid UTF-8", what) end
  local ok, decoded = pcall(json.decode, body)
  if not ok then fail("%s: body is not JSON (%s): %q", what, decoded, body:sub(1, 200)) end
  same(input, decoded, body, what)
end

-- Encodes `input` with and without validation and checks every promise.
function O.check_encode(input)
  if type(input) ~= "table" then
    -- Only a table is a request: anything else is the caller's error.
    if pcall(core.encode, input) then fail("encode accepted a %s", type(input)) end
    input = { metadata = input }
  end
  local strict, serr = core.encode(input, true)
  local loose, lerr = core.encode(input, false)
  if strict then check_body(input, strict, "validated") else check_error(serr, "validated") end
  if loose then check_body(input, loose, "unvalidated") else check_error(lerr, "unvalidated") end
  if strict and not loose then fail("validated encode passed, unvalidated failed: %s", lerr.message) end
  if strict and core.encode(input, true) ~= strict then fail("validated output is not deterministic") end
  if loose and core.encode(input, false) ~= loose then fail("unvalidated output is not deterministic") end
end

--------------------------------------------------------------------------
-- Response mapping
--------------------------------------------------------------------------

local KINDS = {
  authentication = true, permission = true, not_found = true, conflict = true,
  rate_limit = true, invalid_request = true, api = true, decode = true, accepted = true,
  timeout = true, connection = true,
}

-- ok, value: what ax_response_outcome gave; retryable: its out flag.
function O.check_outcome(ok, value, retryable, status, attempts)
  if ok then
    -- a table; `true` for an answer with no body to read (204)
    if type(value) ~= "table" and not (value == true and status == 204) then
      fail("success with a %s", type(value))
    end
    if status < 200 or status > 299 or status == 202 then fail("success for HTTP %d", status) end
    if retryable then fail("a success marked retryable") end
    return
  end
  local err = value
  if type(err) ~= "table" or getmetatable(err) == nil then fail("an error that is not an error table") end
  if type(err.kind) ~= "string" or not KINDS[err.kind] then fail("unknown kind %s", tostring(err.kind)) end
  if type(err.message) ~= "string" then fail("%s error without a message", err.kind) end
  if err.retryable ~= retryable then fail("err.retryable disagrees with the out flag") end
  if err.attempts ~= attempts then fail("attempts %s, want %d", tostring(err.attempts), attempts) end
  if err.status ~= nil and math.type(err.status) ~= "integer" then fail("status is not an integer") end
  if err.body ~= nil and (type(err.body) ~= "string" or #err.body > 4096) then fail("body too long") end
  if err.code ~= nil and type(err.code) ~= "string" then fail("code is not a string") end
  if err.request_id ~= nil and type(err.request_id) ~= "string" then fail("request_id is not a string") end
  if type(tostring(err)) ~= "string" then fail("__tostring") end
end

-- The transport-less path: core.interpret must answer, never raise.
function O.check_interpret(status, body, headers, attempts)
  local value, err = core.interpret(status, body, headers, attempts)
  if value ~= nil then
    O.check_outcome(true, value, false, status, attempts)
  else
    O.check_outcome(false, err, err and err.retryable, status, attempts)
  end
end

return O
