--- allawee: the Lua SDK for the Allawee banking and card-issuing API.
--
-- The work happens in C (allawee.core): encoding, validation, HTTP with
-- libcurl, error mapping. This file wires in a private lua-cjson instance
-- for decoding, and offers the module-level default client.
local core = require "allawee.core"
local cjson = require "cjson"

-- The closures below reach no global: a client's resource tables hold
-- them, and what a client reaches must not lead to the whole global state.
local type, pairs, error, tostring, tonumber = type, pairs, error, tostring, tonumber
local setmetatable, getmetatable = setmetatable, getmetatable

-- A private instance: the host's global cjson settings are never touched.
local json = cjson.new()
json.decode_max_depth(32)            -- the bound the encoder uses too
json.decode_invalid_numbers(false)   -- strict JSON: no NaN, Infinity, hex
core.set_decoder(json.decode)

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

--- JSON text of a table, by the encoder requests use: integers exact (all 64
-- bits on 5.3+; up to 2^53 as digits on 5.1/5.2/LuaJIT, where cjson.encode
-- prints 1.2345678901235e+15), deterministic key order, allawee.null,
-- empty_array and array honoured. Returns the text, or nil, err (kind
-- "validation") for what JSON cannot hold (NaN, cycles, functions, ...).
function allawee.encode(value)
  if type(value) ~= "table" then
    error(("bad argument #1 to 'encode' (table expected, got %s)"):format(type(value)), 2)
  end
  return core.encode(value, false)
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

-------------------------------------------------------------------------------
-- Paging: resource.each(query [, options]) over resource.list
--
-- Pages are fetched only as the loop needs them. The loop ends when the
-- service says there is no more (metadata.hasMore false), a page is empty,
-- or pagination.count entries were seen. A failure is produced once as
-- `false, err` (the loop body sees it: nothing is dropped silently), then
-- the loop ends. The caller's query table is never modified.
-------------------------------------------------------------------------------

local function make_each(list)
  return function(query, options)
    if query ~= nil and type(query) ~= "table" then
      error(("bad argument #1 to 'each' (table expected, got %s)"):format(type(query)), 2)
    end
    local q = {}
    for k, v in pairs(query or {}) do q[k] = v end
    local page = q.page or 0
    local items, i, seen, done = nil, 0, 0, false
    local more, total, first_id = true, nil, nil
    return function()
      while not done do
        if items and i < #items then
          i = i + 1
          seen = seen + 1
          return items[i]
        end
        if items and (more == false or (total and seen >= total)) then break end
        q.page = page
        local data, err, meta = list(q, options)
        if not data then
          done = true
          return false, err
        end
        if #data == 0 then break end
        -- A service that hands out the same page again would keep the loop
        -- going for ever: say so instead.
        local id = type(data[1]) == "table" and data[1].id or nil
        if id ~= nil and id == first_id then
          done = true
          return false, core.error{ kind = "decode", code = "repeated_page",
            message = ("page %d repeats the previous page (first id %s)"):format(page, tostring(id)),
            retryable = false, attempts = meta.attempts, request_id = meta.request_id }
        end
        first_id = id
        page = page + 1
        items, i = data, 0
        more = meta.has_more
        total = type(meta.pagination) == "table" and tonumber(meta.pagination.count) or nil
      end
      done = true
      return nil
    end
  end
end

core.set_pager(make_each)
allawee.paginate = make_each   -- for clients written in Lua (allawee.openresty)

-- Module-level resources (allawee.customers.create ...) on the default
-- client, one per endpoint in the C table (core.endpoints).
for name in pairs(core.endpoints()) do
  local resource, method = name:match("^([%w_]+)%.([%w_]+)$")
  local t = allawee[resource] or {}
  allawee[resource] = t
  t[method] = function(...) return default()[resource][method](...) end
  t[method .. "_async"] = function(...) return default()[resource][method .. "_async"](...) end
  if method == "list" then
    t.each = function(...) return default()[resource].each(...) end
  end
end

--- Webhooks Allawee sends to your server (docs/webhooks.md): check the
-- Allawee-Signature header, decode the event, encode the answer to a card
-- authorization request. Plain functions on strings: no client, no HTTP.
allawee.webhooks = {
  verify = core.webhooks.verify,                            -- (body, header, key) -> true | false, why, code
  parse = core.webhooks.parse,                              -- (body, header, key) -> event | nil, err
  sign = core.webhooks.sign,                                -- (body, key) -> hex signature
  authorization_reply = core.webhooks.authorization_reply,  -- (reply [, request]) -> JSON | nil, err
}

--- The default client itself (built from the environment on first use).
function allawee.default_client()
  return default()
end

-------------------------------------------------------------------------------
-- Coroutines: allawee.async and allawee.await (docs/async.md)
--
-- A future is a Lua table around one create_async request whose callback
-- records the outcome, so await works whether the outcome arrived before or
-- after the call. The callback runs inside client:poll/wait; if a coroutine
-- is waiting, the callback resumes it there, so the loop that polls drives
-- the coroutines and nothing else is needed.
-------------------------------------------------------------------------------

local Future = {}
Future.__index = Future

--- Cancels the request (see request:cancel); the awaiting coroutine then
-- gets nil, err with err.kind == "cancelled" at the next poll.
function Future:cancel()
  return self.request:cancel()
end

-- Resumes the waiting coroutine, if any, and raises its error so that it
-- propagates out of poll like any callback error.
local function wake(future)
  local waiter = future.waiter
  future.waiter = nil
  if waiter == nil or coroutine.status(waiter) ~= "suspended" then return end
  local ok, err = coroutine.resume(waiter)
  if not ok then error(err, 0) end
end

--- Starts a create on client and returns a future for allawee.await.
-- Same params and options as client.customers.create_async; programmer
-- errors raise here, everything else ends up in the future.
function allawee.async(client, params, options)
  local future = setmetatable({ done = false }, Future)
  future.request = client.customers.create_async(params, function(data, err, meta)
    future.data, future.err, future.meta = data, err, meta
    future.done = true
    wake(future)
  end, options)
  return future
end

-- True when the running code may yield (Lua 5.1/LuaJIT have no isyieldable).
local function can_yield()
  if coroutine.isyieldable then return coroutine.isyieldable() end
  -- 5.2 has no isyieldable and running() gives the main thread too, with
  -- is_main true; 5.1 gives nil on the main thread.
  local co, is_main = coroutine.running()
  return co ~= nil and not is_main
end

--- Inside a coroutine: waits until the future's request has finished and
-- returns what its callback got: data, nil, meta | nil, err.
function allawee.await(future)
  if getmetatable(future) ~= Future then
    error("allawee.await: expects a future from allawee.async, got " .. type(future), 2)
  end
  if not future.done then
    if not can_yield() then
      error("allawee.await: not inside a coroutine (use a callback or client:wait())", 2)
    end
    -- A waiter that died (its coroutine raised) no longer waits.
    if future.waiter ~= nil and coroutine.status(future.waiter) ~= "dead" then
      error("allawee.await: another coroutine is already awaiting this future", 2)
    end
    -- The loop, not a single yield: a resume by someone else (another
    -- scheduler) must not be taken for the result.
    repeat
      future.waiter = coroutine.running()
      coroutine.yield(future)
    until future.done
  end
  if future.err ~= nil then return nil, future.err end
  return future.data, nil, future.meta
end

return allawee
