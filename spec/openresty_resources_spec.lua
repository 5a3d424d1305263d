--[[
The issuing endpoints through allawee.openresty inside a real nginx
(Debian's nginx + lua-nginx-module on LuaJIT, build/luajit, one worker),
against the sandbox with its secure listener:

  busted --HTTP--> nginx worker: client.<resource>.<method>(...) --cosocket--> sandbox (api | secure)

The app below runs one SDK call per nginx request (POST /call with the
call's name and arguments as JSON) or walks `each` (POST /each), and
answers { data, err, meta } as JSON. Every endpoint of issue 10 is called
with its values asserted: accounts, card programs, cards (each over pages,
the state machine, the secure routes on the secure listener, cards.create
exactly-once, cards.fund never twice) and requests.get.
]]

local S = require "support.sandbox"
local N = require "support.nginx"
local F = require "support.fixtures"
local I = require "support.issuing"
local json = require("cjson").new()   -- private: never touch the shared cjson settings

local available, why = N.available()
if not available and os.getenv("ALLAWEE_REQUIRE_OPENRESTY") ~= "1" then
  describe("issuing endpoints in OpenResty", function()
    pending("skipped: " .. why .. " (`make test-openresty` installs and builds it)")
  end)
  return
end

local KEY = "sk.test.canary-openresty-issuing-5d2a"
local CARD = I.TEST_CARD

local APP = [==[
local cjson = require("cjson").new()
local T = require "test_config"
local A = {}

local function plain(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = plain(x) end
  if getmetatable(v) and getmetatable(v).__tostring then t.text = tostring(v) end
  return t
end

local function client_for(req)
  local o = { secret_key = T.key, base_url = T.sandbox, secure_base_url = T.secure,
              backoff_base = 0.001, backoff_max = 0.01 }
  for k, v in pairs(req.client or {}) do o[k] = v end
  if req.scenario then o.base_url = T.sandbox .. "/_scenario/" .. req.scenario end
  if req.secure_scenario then o.secure_base_url = T.secure .. "/_scenario/" .. req.secure_scenario end
  return require("allawee.openresty").new(o)
end

local function reply(v)
  local s = cjson.encode(v)
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #s
  ngx.print(s)
end

local function read_req()
  ngx.req.read_body()
  return cjson.decode(ngx.req.get_body_data() or "{}")
end

-- JSON null stands for nil among the arguments.
local function args_of(req)
  local args, n = {}, req.n or #(req.args or {})
  for i = 1, n do
    local v = req.args[i]
    if v == cjson.null then v = nil end
    args[i] = v
  end
  return args, n
end

function A.call()
  local req = read_req()
  local ok, out = pcall(function()
    local client = client_for(req)
    local resource, method = req.name:match("^(.-)%.(.*)$")
    local args, n = args_of(req)
    local data, err, meta = client[resource][method](unpack(args, 1, n))
    local shown = tostring(client)
    client:close()
    return { data = plain(data), err = plain(err), meta = plain(meta), client = shown,
             phase = ngx.get_phase() }
  end)
  reply(ok and out or { raised = tostring(out) })
end

-- client:request(method, path, args, options), args as JSON
function A.request()
  local req = read_req()
  local ok, out = pcall(function()
    local client = client_for(req)
    local data, err, meta = client:request(req.method, req.path,
      req.args ~= cjson.null and req.args or nil, req.options ~= cjson.null and req.options or nil)
    client:close()
    return { data = plain(data), err = plain(err), meta = plain(meta) }
  end)
  reply(ok and out or { raised = tostring(out) })
end

function A.each()
  local req = read_req()
  local ok, out = pcall(function()
    local client = client_for(req)
    local items, failures = {}, {}
    for item, err in client[req.resource].each(req.query ~= cjson.null and req.query or nil) do
      if item == false then failures[#failures + 1] = plain(err) else items[#items + 1] = item.id end
    end
    client:close()
    return { items = items, failures = failures }
  end)
  reply(ok and out or { raised = tostring(out) })
end

return A
]==]

local sb, srv

local function post(path, req)
  local resp, err = S.request(srv.url, "POST", path, { ["Content-Type"] = "application/json" },
                              json.encode(req), 30)
  assert(resp, "request to nginx failed: " .. tostring(err))
  assert.are.equal(200, resp.status, resp.body)
  local out = json.decode(resp.body)
  assert.is_nil(out.raised, out.raised)
  return out
end

-- One SDK call inside nginx: data, err, meta (as JSON came back).
local function call(name, ...)
  local n = select("#", ...)
  local args = { ... }
  local opts = {}
  if type(args[n]) == "table" and args[n].__nginx then
    opts = args[n]
    args[n] = nil
    n = n - 1
  end
  for i = 1, n do if args[i] == nil then args[i] = json.null end end
  local out = post("/call", { name = name, args = args, n = n, client = opts.client,
                              scenario = opts.scenario, secure_scenario = opts.secure_scenario })
  out.data = out.data ~= json.null and out.data or nil
  out.err = out.err ~= json.null and out.err or nil
  return out.data, out.err, out.meta, out
end

local function with(opts) opts.__nginx = true return opts end

local function each(resource, query)
  return post("/each", { resource = resource, query = query })
end

local function ok(data, err, meta)
  assert(data ~= nil, "the call failed: " .. tostring(err and err.text))
  return data, meta
end

local function last_record() return F.last_request(sb) end

describe("issuing endpoints through allawee.openresty in nginx", function()
  setup(function()
    sb = S.start{ secure = true }
    srv = N.start{
      files = {
        ["lua/test_app.lua"] = APP,
        ["lua/test_config.lua"] = ("return { sandbox = %q, secure = %q, key = %q }")
          :format(sb.url, sb.secure_url, KEY),
      },
      server = table.concat({
        "location = /call { content_by_lua_block { require('test_app').call() } }",
        "location = /each { content_by_lua_block { require('test_app').each() } }",
        "location = /request { content_by_lua_block { require('test_app').request() } }",
      }, "\n"),
    }
  end)

  teardown(function()
    local logs = ""
    if srv then
      logs = srv:error_log() .. srv:access_log() .. srv:stdout_log()
      srv:stop(os.getenv("ALLAWEE_KEEP_NGINX") == "1")
    end
    if sb then sb:stop() end
    assert.is_nil(logs:find(KEY, 1, true), "the secret key leaked into nginx's logs")
    assert.is_nil(I.leaks(logs, { "1357" }), "a card secret leaked into nginx's logs")
  end)

  before_each(function() sb:reset() end)

  local function customer()
    return sb:make_customer()
  end

  describe("accounts", function()
    it("create, get, list, balance, and each over pages", function()
      local cus = customer()
      local body = I.account{ customer = cus.id, metadata = { n = 1 } }
      local account, meta = ok(call("accounts.create", body))
      assert.are.equal("POST", last_record().method)
      assert.are.equal("/accounts", last_record().path)
      assert.are.equal(('{"name":"Funding account","currency":"NGN","type":"main","reference":"%s",' ..
        '"customer":"%s","metadata":{"n":1}}'):format(body.reference, cus.id), last_record().body)
      assert.matches("^ac%.", account.id)
      assert.are.equal(201, meta.status)
      assert.are.equal(last_record().headers["idempotency-key"], meta.idempotency_key)
      assert.matches("^allawee%-lua/.* ngx_lua/", last_record().headers["user-agent"])
      local got = ok(call("accounts.get", account.id))
      assert.are.same(account, got)
      local _, nf = call("accounts.get", "ac.doesnotexist0000")
      assert.are.equal("not_found", nf.kind)
      assert.are.equal(404, nf.status)
      sb:call("POST", "/simulation/payments/pay-in", { method = "bank-transfer",
        accountNumber = account.depositChannels[1].accountNumber, amount = 4200 })
      local bal = ok(call("accounts.balance", account.id))
      assert.are.equal(4200, bal.available)
      assert.are.equal("/accounts/" .. account.id .. "/balance", last_record().path)
      for _ = 1, 6 do sb:make_account() end
      local page, pmeta = ok(call("accounts.list", { limit = 3, page = 1 }))
      assert.are.equal(3, #page)
      assert.is_true(pmeta.has_more)
      assert.are.equal(1, pmeta.page)
      local walked = each("accounts", { limit = 2 })
      assert.are.equal(7, #walked.items)
      assert.are.equal(0, #walked.failures)
      local _, verr = call("accounts.create", I.account{ currency = "EUR" })
      assert.are.equal("validation", verr.kind)
      assert.are.equal("currency", verr.field)
      assert.are.equal(0, verr.attempts)
    end)

    it("with a reference, create is exactly-once under commit=1 faults", function()
      local body = I.account()
      local account, meta = ok(call("accounts.create", body, with{ scenario = "commit=1,fault=close,times=1" }))
      assert.are.equal(body.reference, account.reference)
      assert.is_true(meta.recovered)
      assert.are.equal(2, sb:posts_for(body.reference))
      assert.are.equal(1, #ok(call("accounts.list")))
    end)
  end)

  describe("card programs", function()
    it("create (virtual live, physical new), get, list, update, each", function()
      local virtual = ok(call("card_programs.create", I.program{ network = "mastercard" }))
      assert.are.equal("live", virtual.status)
      assert.are.equal("mastercard", virtual.network)
      local physical = ok(call("card_programs.create", I.program{ type = "physical", quantity = 5,
        distribution = { type = "bulked" } }))
      assert.are.equal("new", physical.status)
      assert.are.same(virtual, ok(call("card_programs.get", virtual.id)))
      local updated = ok(call("card_programs.update", physical.id, { quantity = 9 }))
      assert.are.equal(9, updated.quantity)
      assert.are.equal("PUT", last_record().method)
      assert.are.equal('{"quantity":9}', last_record().body)
      local _, conflict = call("card_programs.update", virtual.id, { quantity = 9 })
      assert.are.equal("conflict", conflict.kind)
      assert.truthy(conflict.message:find("is live", 1, true))
      for i = 1, 5 do sb:make_program{ name = "P" .. i } end
      assert.are.equal(2, #ok(call("card_programs.list", { limit = 2 })))
      assert.are.equal(7, #each("card_programs", { limit = 3 }).items)
      local _, verr = call("card_programs.create", I.program{ network = "visa" })
      assert.are.equal("validation", verr.kind)
      assert.are.equal("network", verr.field)
    end)

    it("create is never sent twice once it may have arrived", function()
      local _, err = call("card_programs.create", I.program(), with{ scenario = "commit=1,status=503,times=1" })
      assert.are.equal("api", err.kind)
      assert.is_true(err.ambiguous)
      assert.are.equal(1, err.attempts)
      assert.are.equal(1, #ok(call("card_programs.list")))
    end)
  end)

  describe("cards", function()
    local function new_card(over)
      local cus, program = customer(), sb:make_program()
      local body = I.card(program.id, cus.id, over)
      return ok(call("cards.create", body)), body
    end

    it("create, get, list, update, fund and each over pages", function()
      local card, body = new_card{ amount = 100, debitSource = {} }
      assert.are.equal("inactive", card.status)
      assert.are.equal(CARD.last4, card.details.last4)
      assert.are.equal(body.reference, card.reference)
      assert.truthy(last_record().body:find('"debitSource":{}', 1, true))
      assert.are.same(card, ok(call("cards.get", card.id)))
      local updated = ok(call("cards.update", card.id, { metadata = { team = "ops" } }))
      assert.are.same({ team = "ops" }, updated.metadata)
      local funded = ok(call("cards.fund", card.id, { amount = 250 }))
      assert.are.equal(350, funded.balance)
      assert.are.equal('{"amount":250}', last_record().body)
      for _ = 1, 6 do sb:make_card{ program = card.program, customer = card.customer } end
      local page, meta = ok(call("cards.list", { limit = 3, filter = { "program", "EQ", card.program } }))
      assert.are.equal(3, #page)
      assert.is_true(meta.has_more)
      assert.truthy(last_record().path:find("filter=program%7C%7CEQ%7C%7Cc.prg.", 1, true))
      local walked = each("cards", { limit = 3 })
      assert.are.equal(7, #walked.items)
      local _, verr = call("cards.fund", card.id, { amount = 2.5 })
      assert.are.equal("validation", verr.kind)
      assert.are.equal("amount", verr.field)
    end)

    it("the state machine, with the secure routes on the secure listener", function()
      local card = new_card()
      local steps = {
        { "cards.secrets", {}, nil, "secure" },
        { "cards.activate", { { cvv = CARD.cvv, pin = CARD.pin } }, "active", "secure" },
        { "cards.reset_pin", { { pin = "1357" } }, "active", "secure" },
        { "cards.block", {}, "blocked", "api" },
        { "cards.block", {}, "blocked", "api" },
        { "cards.unblock", {}, "active", "api" },
        { "cards.terminate", {}, "terminated", "api" },
      }
      for _, s in ipairs(steps) do
        local data, err, meta = call(s[1], card.id, (table.unpack or unpack)(s[2]))
        assert.is_nil(err, s[1] .. ": " .. tostring(err and err.text))
        assert.are.equal(200, meta.status)
        if s[3] then assert.are.equal(s[3], data.status, s[1]) end
        assert.are.equal(s[4], last_record().host, s[1])
        if s[1] == "cards.secrets" then
          assert.are.equal(CARD.pan, data.pan)
          assert.are.equal(CARD.cvv, data.cvv)
          assert.are.equal("", last_record().body)
        end
        if s[1] == "cards.block" or s[1] == "cards.unblock" or s[1] == "cards.terminate" then
          assert.are.equal("0", last_record().headers["content-length"])
        end
      end
      for _, r in ipairs(sb:requests()) do
        if r.host == "secure" then assert.is_nil(I.leaks(r.body, { "1357" })) end
      end
      -- refused transitions
      local active = new_card()
      ok(call("cards.activate", active.id, { cvv = CARD.cvv, pin = CARD.pin }))
      for _, r in ipairs({ { "cards.activate", active.id, { cvv = CARD.cvv, pin = CARD.pin }, "active" },
                           { "cards.unblock", card.id, nil, "terminated" },
                           { "cards.reset_pin", card.id, { pin = "1357" }, "terminated" },
                           { "cards.secrets", card.id, nil, "terminated" } }) do
        local _, err
        if r[3] then _, err = call(r[1], r[2], r[3]) else _, err = call(r[1], r[2]) end
        assert.are.equal("conflict", err.kind, r[1])
        assert.are.equal(409, err.status)
        assert.truthy(err.message:find("is " .. r[4], 1, true), err.message)
        assert.are.equal(1, err.attempts)
        I.assert_no_secrets(r[1] .. " refused", err, { pins = { "1357" } })
        if r[1] ~= "cards.unblock" then assert.is_nil(err.body) end   -- secure: no body kept
      end
    end)

    it("create is exactly-once under commit=1 faults", function()
      local cus, program = customer(), sb:make_program()
      local body = I.card(program.id, cus.id, { amount = 5 })
      local card, meta = ok(call("cards.create", body, with{ scenario = "commit=1,fault=close,times=1" }))
      assert.are.equal(body.reference, card.reference)
      assert.is_true(meta.recovered)
      assert.are.equal(4, meta.attempts)
      assert.are.equal(2, sb:posts_for(body.reference))
      assert.are.equal(1, #ok(call("cards.list", { filter = { "reference", "EQ", body.reference } })))
      body = I.card(program.id, cus.id)
      card, meta = ok(call("cards.create", body, with{ scenario = "commit=1,status=503,times=1" }))
      assert.are.equal(body.reference, card.reference)
      assert.is_true(meta.recovered)
      assert.are.equal(1, #ok(call("cards.list", { filter = { "reference", "EQ", body.reference } })))
    end)

    it("fund is never sent twice once it may have arrived", function()
      local card = new_card()
      for _, spec in ipairs({ "commit=1,status=503,times=1", "commit=1,fault=close,times=1" }) do
        local _, err = call("cards.fund", card.id, { amount = 10 }, with{ scenario = spec })
        assert.are.equal(spec:find("503") and "api" or "connection", err.kind)
        assert.is_true(err.ambiguous)
        assert.are.equal(1, err.attempts)
        assert.are.equal(1, I.posts_to(sb, "/_scenario/" .. spec .. "/cards/" .. card.id .. "/fund"))
      end
      assert.are.equal(20, ok(call("cards.get", card.id)).balance)   -- each took effect once
      -- block is retried (idempotent), activate on the secure host is not
      local blocked, bmeta = ok(call("cards.activate", card.id, { cvv = CARD.cvv, pin = CARD.pin }))
      assert.are.equal("active", blocked.status)
      assert.are.equal(1, bmeta.attempts)
      local _, bm = ok(call("cards.block", card.id, with{ scenario = "status=503,times=1" }))
      assert.are.equal(2, bm.attempts)
      local other = new_card()
      local _, aerr = call("cards.activate", other.id, { cvv = CARD.cvv, pin = CARD.pin },
                           with{ secure_scenario = "commit=1,status=503,times=1" })
      assert.are.equal("api", aerr.kind)
      assert.is_true(aerr.ambiguous)
      assert.are.equal(1, aerr.attempts)
      assert.are.equal("active", ok(call("cards.get", other.id)).status)
    end)
  end)

  describe("requests.get (GRP)", function()
    it("a 202 on cards.create is accepted with request_id; requests.get follows it to completed", function()
      local cus, program = customer(), sb:make_program()
      local body = I.card(program.id, cus.id)
      local _, err = call("cards.create", body, with{ scenario = "fault=accepted" })
      assert.are.equal("accepted", err.kind)
      assert.are.equal(202, err.status)
      assert.are.equal(1, err.attempts)
      assert.matches("^req_", err.request_id)
      local req, meta = ok(call("requests.get", err.request_id))
      assert.are.equal(200, meta.status)
      assert.are.equal(err.request_id, req._id)
      assert.are.equal("pending", req.status)
      assert.are.equal("/cards", req.path)
      assert.are.equal(200, (sb:control_json("POST", "/_sandbox/grp/" .. err.request_id .. "/complete")))
      req = ok(call("requests.get", err.request_id))
      assert.are.equal("completed", req.status)
      assert.are.equal(201, req.attempts[2].statusCode)
      assert.are.equal(body.reference, req.attempts[2].responseBody.data.reference)
      local _, nf = call("requests.get", "req_doesnotexist")
      assert.are.equal("not_found", nf.kind)
    end)
  end)

  describe("customers", function()
    it("create, get, update, list with filters, each over pages; 404 is not_found", function()
      local made = {}
      for i = 1, 5 do
        made[i] = ok(call("customers.create", F.minimal{ name = ("OR customer %d"):format(i) }))
      end
      local got = ok(call("customers.get", made[2].id))
      assert.are.equal(made[2].reference, got.reference)
      assert.are.equal("GET", last_record().method)
      local updated = ok(call("customers.update", made[2].id, { name = "Renamed" }))
      assert.are.equal("Renamed", updated.name)
      assert.are.equal("PUT", last_record().method)
      local page, meta = ok(call("customers.list", { limit = 2, page = 1, sort = "name" }))
      assert.are.equal(2, #page)
      assert.is_true(meta.has_more)
      assert.are.equal(1, meta.page)
      local one = ok(call("customers.list", { filter = { "reference", "EQ", made[4].reference } }))
      assert.are.equal(made[4].id, one[1].id)
      local walked = each("customers", { limit = 2 })
      assert.are.equal(5, #walked.items)
      assert.are.equal(0, #walked.failures)
      local _, err = call("customers.get", "cus.none00000000000")
      assert.are.equal("not_found", err.kind)
      assert.is_false(err.ambiguous)
    end)

    it("create is exactly-once under each commit=1 fault", function()
      for _, spec in ipairs({ "commit=1,fault=close,times=1", "commit=1,status=503,times=1",
                              "commit=1,delay=3000,times=1" }) do
        local p = F.minimal()
        local data, meta = ok(call("customers.create", p,
          with{ scenario = spec, client = { timeout = 1 } }))
        assert.are.equal(p.reference, data.reference, spec)
        assert.is_true(meta.recovered, spec)
        assert.are.equal(2, sb:posts_for(p.reference), spec)
      end
      -- with no retry, the unknown outcome says so
      local p = F.minimal()
      local _, err = call("customers.create", p,
        with{ scenario = "commit=1,fault=close,times=1", client = { max_retries = 0 } })
      assert.are.equal("connection", err.kind)
      assert.is_true(err.ambiguous)
      assert.are.equal(1, sb:posts_for(p.reference))
    end)
  end)

  describe("client:request", function()
    local function request(method, path, args, extra)
      local out = post("/request", { method = method, path = path, args = args or json.null,
                                     options = json.null, client = extra and extra.client,
                                     scenario = extra and extra.scenario })
      return out.data ~= json.null and out.data or nil, out.err ~= json.null and out.err or nil,
             out.meta ~= json.null and out.meta or nil
    end

    it("GET, POST, PUT and DELETE, with the same retry classes as the libcurl client", function()
      local data, err, meta = request("POST", "/customers", { body = F.minimal() })
      assert.is_nil(err)
      assert.are.equal("customer", data.object)
      assert.are.equal(1, meta.attempts)
      local rec = last_record()
      assert.are.equal("POST", rec.method)
      assert.is_string(rec.headers["idempotency-key"])
      data = request("GET", "/customers/" .. data.id)
      assert.are.equal("customer", data.object)
      assert.are.equal("GET", last_record().method)
      request("PUT", "/customers/" .. data.id, { body = { name = "Via request" } })
      assert.are.equal("PUT", last_record().method)
      assert.are.equal('{"name":"Via request"}', last_record().body)
      local _, derr = request("DELETE", "/things/1")
      assert.are.equal("not_found", derr.kind)
      assert.are.equal("DELETE", last_record().method)
      -- a POST that is not safe to repeat: one send after a 503, ambiguous
      local _, perr = request("POST", "/customers", { body = F.minimal() },
                              { scenario = "status=503,times=1" })
      assert.are.equal(503, perr.status)
      assert.are.equal(1, perr.attempts)
      assert.is_true(perr.ambiguous)
      -- a GET is retried
      local _, gerr = request("GET", "/customers/cus.none00000000000", nil,
                              { scenario = "status=503,times=1" })
      assert.are.equal("not_found", gerr.kind)
      assert.are.equal(2, gerr.attempts)
    end)
  end)

  describe("the same values as the libcurl client", function()
    it("for a card's life, call by call", function()
      local allawee = require "allawee"
      local curl = allawee.new{ secret_key = KEY, base_url = sb.url, secure_base_url = sb.secure_url }
      local cus, program = customer(), sb:make_program()
      local function both(name, ...)
        local resource, method = name:match("^(.-)%.(.*)$")
        local cdata, cerr = curl[resource][method](...)
        local odata, oerr = call(name, ...)
        return cdata, cerr, odata, oerr
      end
      local c1 = ok(call("cards.create", I.card(program.id, cus.id)))
      local c2 = assert(curl.cards.create(I.card(program.id, cus.id)))
      for _, step in ipairs({ { "cards.activate", { cvv = CARD.cvv, pin = CARD.pin } }, { "cards.block" },
                              { "cards.activate", { cvv = CARD.cvv, pin = CARD.pin } }, { "cards.unblock" },
                              { "cards.fund", { amount = 7 } }, { "cards.terminate" }, { "cards.block" } }) do
        local cdata, cerr = curl.cards[step[1]:match("%.(.*)$")](c2.id, step[2])
        local odata, oerr = call(step[1], c1.id, step[2])
        assert.are.equal(cdata and cdata.status, odata and odata.status, step[1])
        assert.are.equal(cerr and cerr.kind, oerr and oerr.kind, step[1])
        assert.are.equal(cerr and cerr.status, oerr and oerr.status, step[1])
        assert.are.equal(cerr and cerr.attempts, oerr and oerr.attempts, step[1])
      end
      local cdata, _, odata = both("requests.get", "req_none")
      assert.is_nil(cdata)
      assert.is_nil(odata)
      curl:close()
    end)
  end)
end)
