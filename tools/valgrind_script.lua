--[[
tools/valgrind_script.lua: one run through every path of allawee.core, for
memory checkers (make valgrind; make asan runs it too).

    lua5.4 tools/valgrind_script.lua [cpath]     (from the repository root)

cpath defaults to ./build/5.4/?.so. The script starts the sandbox
(spec/support/sandbox.lua), then covers: success; every error kind
(validation, 401, 403, 404, 409, 400 in both body shapes, 429, 5xx, HTML
502, 202 accepted, decode: not JSON / empty / bad envelope / bad UTF-8 / too
deep / too large, truncated, connection refused, timeout); retries;
async with poll and wait; cancel; close with transfers in flight; clients
and requests dropped and collected; the transport-less codec.

It checks what it gets and fails loudly (exit 1) on a surprise, and it ends
by returning from the chunk (not os.exit), so lua.c runs lua_close and
every __gc: anything of the module's still allocated then is a real leak.
]]

package.path = "./lua/?.lua;./lua/?/init.lua;./spec/?.lua;" .. package.path
package.cpath = (arg[1] or "./build/5.4/?.so") .. ";" .. package.cpath

local allawee = require "allawee"
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = "sk.test.valgrind-script"
local checks = 0

local function check(cond, what, ...)
  checks = checks + 1
  if not cond then
    local detail = {}
    for i = 1, select("#", ...) do detail[#detail + 1] = tostring((select(i, ...))) end
    error(("check failed: %s %s"):format(what, table.concat(detail, " ")), 2)
  end
end

-- Not F.individual(): its metadata nests a list with a float, a string and null.
local function customer(overrides)
  return F.merge({
    name = "Ciroma C Adekunle", reference = F.reference("valgrind"), type = "individual",
    claims = {
      individualInformation = { firstName = "Ciroma", lastName = "Adekunle", email = "c@example.com" },
      individualAddress = { city = "Yaba", state = "NG-LA", countryCode = "NG" },
      individualIdentity = { type = "bvn", id = "22489035167", issuingCountry = "NG" },
    },
    verifications = { "tier-2" },
    metadata = { userId = 2345, nested = { list = { 1, 2.5, "x", allawee.null } } },
  }, overrides)
end

local sb = S.start()
local function client(scenario, opts)
  return F.new_client(KEY, scenario and S.scenario_url(sb, scenario) or sb.url,
                      { backoff_base = 0.01, backoff_max = 0.05, timeout = 10 }, opts)
end

local function expect_error(c, kind, params, options)
  local data, err = c.customers.create(params or customer(), options)
  check(data == nil and type(err) == "table", "an error for " .. kind, data)
  check(err.kind == kind, "kind", kind, "got", err.kind, err.message)
  check(type(tostring(err)) == "string", "__tostring")
  return err
end

local ok, failure = pcall(function()
  ---------------------------------------------------------------- success
  local c = client()
  local data, err, meta = c.customers.create(customer())
  check(data and data.id, "success", err and err.message)
  check(meta.attempts == 1 and meta.status == 201, "meta", meta.attempts, meta.status)
  data = c.customers.create(customer{ type = "business", claims = {
    businessInformation = { registrationName = "Good Mill Ltd" },
    businessDirectors = { "A", "B" }, businessAddress = { city = "Yaba" } },
    verifications = allawee.empty_array, metadata = allawee.array() })
  check(data and data.id, "business success")
  data = c.customers.create(customer{ extra = "sent anyway" }, { validate = false,
    idempotency_key = "valgrind-key-1", timeout = 5, deadline = 20, max_retries = 1 })
  check(data and data.id, "unvalidated success")

  ------------------------------------------------------------- validation
  local e = expect_error(c, "validation", customer{ name = "" })
  check(e.field == "name", "field", e.field)
  expect_error(c, "validation", customer{ claims = { individualAddress = { city = 7 } } })
  expect_error(c, "validation", customer{ typo = true })
  expect_error(c, "validation", customer{ verifications = { "tier-9" } })
  expect_error(c, "validation", customer{ metadata = { [true] = 1 } })
  expect_error(c, "validation", customer{ metadata = { 1, nil, 3 } })
  expect_error(c, "validation", customer{ metadata = { x = 0 / 0 } })
  expect_error(c, "validation", customer{ metadata = { x = "\255" } })
  local cyclic = { }
  cyclic.self = cyclic
  expect_error(c, "validation", customer{ metadata = cyclic })
  local deep = {}
  for _ = 1, 40 do deep = { deep } end
  expect_error(c, "validation", customer{ metadata = { deep = deep } })
  local wide = {}
  for i = 1, 200 do wide["k" .. i] = i end   -- more keys than the stack array
  data = c.customers.create(customer{ metadata = wide })
  check(data and data.id, "wide metadata")

  ---------------------------------------------------------- error statuses
  expect_error(client(nil, { secret_key = "not-a-test-key" }), "authentication")
  expect_error(client("status=401"), "authentication")
  expect_error(client("status=403,code=kyc-locked,message=No%2C%20not%20now"), "permission")
  expect_error(client("status=404"), "not_found")
  local params = customer()
  check(c.customers.create(params), "first create")
  e = expect_error(c, "conflict", params)
  check(e.status == 409, "409", e.status)
  e = expect_error(client("status=400,shape=statusCode,message=Incorrect%20format"), "invalid_request")
  check(e.message == "Incorrect format", "statusCode message", e.message)
  expect_error(client("status=400"), "invalid_request")
  e = expect_error(client("status=429,retry_after=0"), "rate_limit", nil, { max_retries = 0 })
  check(e.retryable == true, "429 retryable")
  expect_error(client("status=500"), "api", nil, { max_retries = 0 })
  expect_error(client("status=503,shape=html"), "api", nil, { max_retries = 0 })
  expect_error(client("fault=html502"), "api", nil, { max_retries = 0 })
  e = expect_error(client("fault=accepted"), "accepted")
  check(e.status == 202 and e.request_id, "202", e.status)
  expect_error(client("status=302"), "api")

  ------------------------------------------------------------------ decode
  expect_error(client("fault=nonjson"), "decode")
  expect_error(client("fault=empty"), "decode")
  expect_error(client("fault=envelope_error"), "api")
  expect_error(client("fault=bad_utf8"), "decode")
  expect_error(client("fault=deep,depth=100"), "decode")
  e = expect_error(client("fault=huge,size=200000", { max_response_bytes = 65536 }), "decode")
  check(e.code == "response_too_large", "too large", e.code)
  data = client("fault=huge,size=100000").customers.create(customer())
  check(data and #data.padding > 90000, "large body within the cap")

  --------------------------------------------------------------- transport
  -- A port on loopback where nothing listens: bound, then released.
  expect_error(client(nil, { base_url = "http://127.0.0.1:" .. net.free_port() }), "connection", nil,
               { max_retries = 0 })
  expect_error(client("delay=3000", { timeout = 0.2 }), "timeout", nil, { max_retries = 0 })
  expect_error(client("delay=3000"), "timeout", nil, { max_retries = 2, deadline = 0.3 })
  expect_error(client("fault=truncate,status=500"), "connection", nil, { max_retries = 0 })
  expect_error(client("fault=close"), "connection", nil, { max_retries = 0 })
  expect_error(client("status=503,fault=close_mid_body"), "connection", nil, { max_retries = 0 })
  data = client("fault=stale").customers.create(customer())
  check(data, "stale connection, first")
  data = client("fault=slow_body,interval=1").customers.create(customer())
  check(data, "slow body")

  ----------------------------------------------------------------- retries
  data, err, meta = client("status=503,times=2").customers.create(customer())
  check(data and meta.attempts == 3 and #meta.waits == 2, "retried to success",
        err and err.message, meta and meta.attempts)
  e = expect_error(client("status=503"), "api", nil, { max_retries = 2 })
  check(e.attempts == 3, "attempts", e.attempts)
  data, err, meta = client("status=429,retry_after=0,times=1").customers.create(customer())
  check(data and meta.attempts == 2, "429 then success", err and err.message)

  ---------------------------------------------------------- async, poll, wait
  local ac = client()
  local delivered, outcomes = 0, {}
  local function callback(d, e2, m)
    delivered = delivered + 1
    outcomes[#outcomes + 1] = { d, e2, m }
  end
  for _ = 1, 4 do ac.customers.create_async(customer(), callback) end
  ac.customers.create_async(customer{ name = "" }, callback)            -- validation
  local slow = client("delay=200")
  slow.customers.create_async(customer(), callback)
  local left = 1
  local spins = 0
  while left > 0 and spins < 2000 do
    left = ac:poll(20)
    spins = spins + 1
  end
  check(left == 0 and delivered == 5, "poll delivered", left, delivered)
  slow:wait()
  check(delivered == 6, "wait delivered", delivered)
  local errors = 0
  for _, o in ipairs(outcomes) do if o[1] == nil then errors = errors + 1 end end
  check(errors == 1, "one async validation error", errors)
  check(tostring(ac):match("^allawee.client"), "client __tostring")

  -- A callback that raises: the error propagates out of wait.
  ac.customers.create_async(customer(), function() error("boom from a callback") end)
  local raised = select(2, pcall(ac.wait, ac))
  check(tostring(raised):match("boom"), "callback error propagates", raised)
  -- A callback may start another request; nested poll is refused.
  local chained = false
  ac.customers.create_async(customer(), function()
    check(not pcall(ac.poll, ac, 0), "nested poll refused")
    ac.customers.create_async(customer(), function(d) chained = d ~= nil end)
  end)
  ac:wait()
  check(chained, "request started from a callback")

  -- Re-entry from callbacks: a blocking create, a cancel of another request
  -- in flight, and finally close with requests still in flight.
  local reentrant = client()
  local slow_peer = client("delay=400")
  local nested_ok, other_cancelled, after_close = false, nil, 0
  local victim = slow_peer.customers.create_async(customer(), function(_, e2) other_cancelled = e2 end)
  reentrant.customers.create_async(customer(), function()
    nested_ok = reentrant.customers.create(customer()) ~= nil
    check(victim:cancel() == true, "cancel another client's request from a callback")
  end)
  reentrant:wait()
  check(nested_ok, "blocking create inside a callback")
  slow_peer:wait()
  check(other_cancelled and other_cancelled.kind == "cancelled", "cancelled from a callback")
  local closer = client("delay=300")
  local first = client()
  local pending_req
  first.customers.create_async(customer(), function()
    check(closer:close() == true, "close another client from a callback")
    check(pending_req:cancel() == false, "cancel after its client closed")
  end)
  pending_req = closer.customers.create_async(customer(), function() after_close = after_close + 1 end)
  closer.customers.create_async(customer(), function() after_close = after_close + 1 end)
  first:wait()
  check(after_close == 0, "a closed client's callbacks never run")
  local self_closer = client("delay=200")
  self_closer.customers.create_async(customer(), function() self_closer:close() end)
  self_closer.customers.create_async(customer(), function() self_closer:close() end)
  self_closer.customers.create_async(customer{ name = "" }, function() self_closer:close() end)
  self_closer:wait()
  check(tostring(self_closer):match("closed"), "closed from its own callback")

  ------------------------------------------------------------------ cancel
  local cancelled
  local req = slow.customers.create_async(customer(), function(_, e2) cancelled = e2 end)
  check(tostring(req):match("^allawee.request"), "request __tostring")
  ac:poll(0)
  check(req:cancel() == true, "cancel in flight")
  check(req:cancel() == false, "second cancel")
  slow:wait()
  check(cancelled and cancelled.kind == "cancelled", "cancel delivered", cancelled and cancelled.kind)
  -- Cancel while waiting for a retry timer.
  local retrying = client("status=503", { backoff_base = 5, backoff_max = 5 })
  req = retrying.customers.create_async(customer(), function(_, e2) cancelled = e2 end)
  for _ = 1, 50 do retrying:poll(10) end
  check(req:cancel() == true, "cancel while waiting to retry")
  retrying:wait()
  check(cancelled.kind == "cancelled", "cancelled during backoff")

  ---------------------------------------------- close with transfers in flight
  local closing = client("delay=500")
  local never = 0
  for _ = 1, 3 do closing.customers.create_async(customer(), function() never = never + 1 end) end
  closing:poll(50)
  check(closing:close() == true, "close")
  check(closing:close() == true, "close twice")
  check(never == 0, "callbacks of a closed client never run")
  check(not pcall(closing.poll, closing), "a closed client raises")
  check(tostring(closing):match("closed"), "closed __tostring")
  do
    local scoped <close> = client("delay=500")
    scoped.customers.create_async(customer(), function() never = never + 1 end)
    scoped:poll(20)
  end
  check(never == 0, "__close cancels too")

  ------------------------------------------------------------ garbage collection
  -- Clients dropped with requests in flight (delayed), finished but not
  -- delivered, or idle with pooled handles.
  local dropped = 0
  for i = 1, 8 do
    local g = client(i % 2 == 0 and "delay=300" or nil)
    g.customers.create_async(customer(), function() dropped = dropped + 1 end)
    if i % 2 == 0 then g:poll(30) end
    if i % 4 == 0 then g.customers.create(customer()) end
  end
  -- Requests whose handles are dropped by the caller.
  for _ = 1, 4 do ac.customers.create_async(customer(), function() end) end
  ac:wait()
  collectgarbage("collect")
  collectgarbage("collect")
  check(dropped == 0, "collected clients run no callbacks", dropped)

  ------------------------------------------------------------- module client
  -- The module-level default client reads the environment; none here.
  check(not pcall(allawee.customers.create, customer()), "default client without a key raises")

  -------------------------------------------------------------------- codec
  local body = assert(core.encode(customer()))
  check(body:sub(1, 1) == "{", "encode")
  local nb, verr = core.encode({ name = 1 })
  check(nb == nil and verr.kind == "validation", "encode validation")
  check(core.encode({ anything = { 1, 2, { x = math.maxinteger } } }, false), "encode unvalidated")
  local d2 = core.interpret(201, '{"code":"success","data":{"n":12345678901234567}}',
                            { ["x-request-id"] = "req_1" }, 1)
  check(d2 and math.type(d2.n) == "integer", "interpret success")
  for _, case in ipairs({
    { 401, '{"code":"unauthorized","message":"no"}', "authentication" },
    { 400, '{"statusCode":400,"message":"bad"}', "invalid_request" },
    { 502, "<html>bad gateway</html>", "api" },
    { 202, '{"code":"request-accepted"}', "accepted" },
    { 200, "[1,2]", "decode" },
    { 200, "\255", "decode" },
    { 200, "", "decode" },
    { 429, "", "rate_limit" },
  }) do
    local v, ierr = core.interpret(case[1], case[2], { ["retry-after"] = "1", ["content-type"] = "text/html" })
    check(v == nil and ierr.kind == case[3], "interpret " .. case[1], ierr and ierr.kind)
  end
  check(getmetatable(core.error({ kind = "x" })) ~= nil, "core.error")

  -------------------------------------------- the engine for Lua transports
  -- core.config / cfg:call / call:next / call:head / call:answer / failed
  -- (allawee.openresty's path), with luasocket moving the bytes. A call's
  -- memory is not zeroed when made and goes back when "done" is handed
  -- out: memcheck sees any field read before it is set, or used after.
  local socket = require "socket"
  local port = tonumber(sb.url:match(":(%d+)$"))
  local cfg = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 1,
                            backoff_base = 0.001, backoff_max = 0.002 }, "valgrind", "vg-agent")
  local function over_http(call, request)
    local conn = assert(socket.connect("127.0.0.1", port))
    conn:settimeout(10)
    assert(conn:send(table.concat(request)))
    local buf = assert(conn:receive("*l")) .. "\r\n"
    repeat
      local line = assert(conn:receive("*l"))
      buf = buf .. line .. "\r\n"
    until line == ""
    local what, status, _, _, _, cl = call:head(buf, 1, 0, 65536, 200)
    check(what == "head", "call:head", what)
    local answer_body = assert(conn:receive(tonumber(cl)))
    conn:close()
    call:answer(status, nil, answer_body)
  end
  local engine_calls = {
    { customer(), over_http, "success" },
    { customer({ name = 5 }), nil, "validation" },   -- refused: never sent
    { customer(), function(call) call:failed("connect", "connection refused", false) end,
      "connection" },
    { customer(), function(call) call:answer(503, { ["x-request-id"] = "req_vg" }, "{}", 0) end,
      "api" },
  }
  for _, case in ipairs(engine_calls) do
    local call, e_err = cfg:call("customers.create", case[1])
    local e_data, e_meta
    if call then
      local results
      while true do
        results = { call:next(cfg) }
        if results[1] == "send" then case[2](call, results[2])
        elseif results[1] == "wait" then socket.sleep(results[2])
        else break end
      end
      e_data, e_err, e_meta = results[2], results[3], results[4]
      check(not pcall(call.next, call, cfg), "a finished call refuses use")
    end
    if case[3] == "success" then
      check(e_data and e_data.id and e_meta.attempts == 1, "engine success", e_err and e_err.kind)
    else
      check(e_data == nil and e_err.kind == case[3], "engine " .. case[3], e_err and e_err.kind)
    end
  end
  local dropped_call = assert(cfg:call("customers.create", customer()))
  check(dropped_call:next(cfg) == "send", "a call dropped mid-send")
  dropped_call = nil   -- luacheck: ignore 311
  collectgarbage("collect")
  cfg:close()

  -- A closing pass: every client is unreachable now except these locals.
  c:close()
  ac:close()
end)

sb:stop()
if not ok then
  io.stderr:write("valgrind_script: ", tostring(failure), "\n")
  os.exit(1)
end
collectgarbage("collect")
io.stdout:write(("valgrind_script: %d checks passed\n"):format(checks))
