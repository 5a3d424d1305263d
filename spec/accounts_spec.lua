-- The accounts resource through the SDK against the sandbox: create, get,
-- list, each, balance and their _async twins; what is sent, what comes back,
-- validation, and the retry class (exactly-once with a reference, never
-- repeated without one).
local allawee = require "allawee"
local S = require "support.sandbox"
local F = require "support.fixtures"
local I = require "support.issuing"

describe("accounts", function()
  local sb
  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = F.KEY, base_url = url or sb.url,
                                 backoff_base = 0.001, backoff_max = 0.01 }, extra))
  end

  local function pay_in(account, amount)
    local resp = sb:call("POST", "/simulation/payments/pay-in", { method = "bank-transfer",
      accountNumber = account.depositChannels[1].accountNumber, amount = amount })
    assert.equals(201, resp.status)
  end

  describe("create", function()
    it("sends the documented body exactly and returns the account with meta", function()
      local c = client()
      local customer = I.customer(c)
      local body = I.account{ customer = customer.id, depositChannels = { "bank-account" },
                              metadata = { team = "ops", n = 3 }, settlementAccount = "ac.settle" }
      local recs, account, err, meta = I.records(sb, c.accounts.create, body)
      assert.is_nil(err)
      assert.equals(1, #recs)
      assert.equals("POST", recs[1].method)
      assert.equals("/accounts", recs[1].path)
      assert.equals(('{"name":"Funding account","currency":"NGN","type":"main",' ..
        '"settlementAccount":"ac.settle","reference":"%s","customer":"%s",' ..
        '"depositChannels":["bank-account"],"metadata":{"n":3,"team":"ops"}}')
        :format(body.reference, customer.id), recs[1].body)
      assert.equals(meta.idempotency_key, recs[1].headers["idempotency-key"])
      assert.equals("Bearer " .. F.KEY, recs[1].headers.authorization)
      assert.equals("account", account.object)
      assert.matches("^ac%.%w+$", account.id)
      assert.equals("active", account.status)
      assert.equals(body.reference, account.reference)
      assert.equals(customer.id, account.customer)
      assert.equals(3, account.metadata.n)
      assert.matches("^%d%d%d%d%d%d%d%d%d%d$", account.depositChannels[1].accountNumber)
      assert.equals("Allawee Sandbox Bank", account.depositChannels[1].bankName)
      assert.equals(201, meta.status)
      assert.equals(1, meta.attempts)
      assert.matches("^req_%w+$", meta.request_id)
      c:close()
    end)

    it("validates from the docs: required fields, the currency and type enums, typos", function()
      local c = client()
      local cases = {
        { { name = "<nil>" }, "name", "required" },
        { { currency = "<nil>" }, "currency", "required" },
        { { type = "<nil>" }, "type", "required" },
        { { name = "" }, "name", "empty" },
        { { currency = "EUR" }, "currency", "NGN, USD" },
        { { currency = "ngn" }, "currency", "NGN, USD" },
        { { type = "savings" }, "type", "main, sub, virtual" },
        { { metadata = "x" }, "metadata", "" },
        { { reference = 7 }, "reference", "string" },
        { { refrence = "typo" }, "refrence", "unknown field" },
      }
      for _, case in ipairs(cases) do
        local body = I.account()
        local field, value = next(case[1])
        if value == "<nil>" then body[field] = nil else body[field] = value end
        local n, data, err = sb:requests_during(c.accounts.create, body)
        assert.is_nil(data, field)
        assert.equals("validation", err.kind, field)
        assert.equals(case[2], err.field)
        assert.matches(case[3], err.message, 1, true)
        assert.equals(0, err.attempts)
        assert.equals(0, n)   -- nothing sent
      end
      -- never stricter than the docs: only name, currency and type are required
      local minimal, err = c.accounts.create{ name = "Ops", currency = "USD", type = "virtual" }
      assert.is_nil(err)
      assert.equals("USD", minimal.currency)
      assert.equals("virtual", minimal.type)
      c:close()
    end)

    it("validate = false sends anything, and the sandbox answers for itself", function()
      local c = client()
      local body = I.account{ currency = "EUR", colour = "blue" }
      local recs, data, err = I.records(sb, c.accounts.create, body, { validate = false })
      assert.is_nil(data)
      assert.equals("invalid_request", err.kind)
      assert.equals(400, err.status)
      assert.equals("bad-request", err.code)
      assert.matches("currency", err.message, 1, true)
      assert.equals(1, #recs)
      assert.truthy(recs[1].body:find('"currency":"EUR"', 1, true))
      assert.truthy(recs[1].body:find('"colour":"blue"', 1, true))
      c:close()
    end)

    it("a reused reference is a conflict, not retried", function()
      local c = client()
      local body = I.account()
      assert(c.accounts.create(body))
      local _, err = c.accounts.create(I.account{ reference = body.reference })
      assert.equals("conflict", err.kind)
      assert.equals("reference-conflict", err.code)
      assert.equals(409, err.status)
      assert.equals(1, err.attempts)
      assert.is_false(err.ambiguous)
      c:close()
    end)

    it("with a reference it is exactly-once: an ambiguous first attempt is looked up", function()
      local c = client(S.scenario_url(sb, "commit=1,fault=close,times=1"))
      local body = I.account()
      local account, err, meta = c.accounts.create(body)
      assert.is_nil(err, err and tostring(err))
      assert.equals(body.reference, account.reference)
      assert.is_true(meta.recovered)
      assert.equals(4, meta.attempts)   -- 2 POSTs, 2 lookups (the first lookup dropped too)
      assert.equals(2, sb:posts_for(body.reference))
      local listed = assert(client().accounts.list{ filter = { "reference", "EQ", body.reference } })
      assert.equals(1, #listed)
      local lookup
      for _, r in ipairs(sb:requests()) do
        if r.method == "GET" and r.path:find("^/_scenario/") then lookup = r end
      end
      assert.equals("/_scenario/commit=1,fault=close,times=1/accounts?filter=reference%7C%7CEQ%7C%7C" ..
                    body.reference:gsub("@", "%%40") .. "&limit=1", lookup.path)
      c:close()
    end)

    it("without a reference it is never sent again once it may have arrived", function()
      local c = client(S.scenario_url(sb, "commit=1,status=503,times=1"))
      local body = I.account()
      body.reference = nil   -- nothing to deduplicate it by
      local data, err = c.accounts.create(body)
      assert.is_nil(data)
      assert.equals("api", err.kind)
      assert.equals(503, err.status)
      assert.is_true(err.ambiguous)
      assert.equals(1, err.attempts)
      assert.equals(1, I.posts_to(sb, "/_scenario/commit=1,status=503,times=1/accounts"))
      assert.equals(1, #assert(client().accounts.list()))   -- it did take effect, once
      c:close()
    end)
  end)

  describe("get, list, each, balance", function()
    it("get reads the account back; an unknown id is not_found; a bad id is refused", function()
      local c = client()
      local made = assert(c.accounts.create(I.account()))
      local recs, got, err, meta = I.records(sb, c.accounts.get, made.id)
      assert.is_nil(err)
      assert.same(made, got)
      assert.equals("GET", recs[1].method)
      assert.equals("/accounts/" .. made.id, recs[1].path)
      assert.equals(200, meta.status)
      assert.is_nil(meta.idempotency_key)
      local _, nf = c.accounts.get("ac.doesnotexist0000")
      assert.equals("not_found", nf.kind)
      assert.equals(404, nf.status)
      local n, _, bad = sb:requests_during(c.accounts.get, "ac.1/../x")
      assert.equals("validation", bad.kind)
      assert.equals("id", bad.field)
      assert.equals(0, n)
      c:close()
    end)

    it("list pages with meta.has_more and filters; each walks 3+ pages in order", function()
      local c = client()
      for i = 1, 7 do assert(c.accounts.create(I.account{ name = ("Account %02d"):format(i) })) end
      local page, err, meta = c.accounts.list{ limit = 3, page = 1, sort = "name" }
      assert.is_nil(err)
      assert.equals(3, #page)
      assert.equals("Account 04", page[1].name)
      assert.is_true(meta.has_more)
      assert.equals(1, meta.page)
      assert.equals("/accounts?limit=3&page=1&sort=name", F.last_request(sb).path)
      local before = sb:stats().requests
      local names = {}
      for account, e in c.accounts.each{ limit = 2, sort = "name" } do
        assert.is_nil(e)
        names[#names + 1] = account.name
      end
      assert.equals(7, #names)
      for i = 1, 7 do assert.equals(("Account %02d"):format(i), names[i]) end
      assert.equals(before + 4, sb:stats().requests)   -- pages 0..3
      local usd = assert(c.accounts.list{ filter = "currency||EQ||USD" })
      assert.equals(0, #usd)
      local _, qerr = c.accounts.list{ limt = 2 }
      assert.equals("validation", qerr.kind)
      assert.equals("query.limt", qerr.field)
      c:close()
    end)

    it("balance starts at 0 and follows a pay-in, in integer minor units", function()
      local c = client()
      local account = assert(c.accounts.create(I.account()))
      local bal, err, meta = c.accounts.balance(account.id)
      assert.is_nil(err)
      assert.equals(200, meta.status)
      assert.equals("/accounts/" .. account.id .. "/balance", F.last_request(sb).path)
      assert.equals(account.id, bal.account)
      assert.equals(0, bal.available)
      pay_in(account, 150000)
      bal = assert(c.accounts.balance(account.id))
      assert.equals(150000, bal.available)
      assert.equals(150000, bal.ledger)
      assert.equals("NGN", bal.currency)
      if F.HAS_INTEGERS then assert.equals("integer", math.type(bal.available)) end
      local _, nf = c.accounts.balance("ac.doesnotexist0000")
      assert.equals("not_found", nf.kind)
      c:close()
    end)
  end)

  describe("_async twins", function()
    it("give the same values as the blocking calls", function()
      local c = client()
      local got = {}
      local body = I.account{ currency = "USD", type = "sub" }
      c.accounts.create_async(body, function(d, e, m) got.create = { d, e, m } end)
      c:wait()
      local account = got.create[1]
      assert.is_nil(got.create[2])
      assert.equals(body.reference, account.reference)
      assert.equals(201, got.create[3].status)
      pay_in(account, 250)
      c.accounts.get_async(account.id, function(d, e) got.get = { d, e } end)
      c.accounts.balance_async(account.id, function(d, e) got.balance = { d, e } end)
      c.accounts.list_async(function(d, e, m) got.list = { d, e, m } end)
      c.accounts.list_async({ filter = { "type", "EQ", "main" } }, function(d, e) got.none = { d, e } end)
      c:wait()
      assert.same(account, got.get[1])
      assert.equals(250, got.balance[1].available)
      assert.equals(1, #got.list[1])
      assert.is_false(got.list[3].has_more)
      assert.same({}, got.none[1])
      local verr
      c.accounts.create_async({ name = "x", currency = "XXX", type = "main" }, function(_, e) verr = e end)
      c:wait()
      assert.equals("validation", verr.kind)
      assert.equals("currency", verr.field)
      c:close()
    end)

    it("module-level functions use the default client from the environment", function()
      local account = sb:make_account{ name = "Env account" }
      local out = F.run_lua(([[
        local allawee = require "allawee"
        local a, err = allawee.accounts.get(%q)
        print(a and a.name or tostring(err))
        local bal = assert(allawee.accounts.balance(%q))
        print(bal.available)
        local n = 0
        for _ in allawee.accounts.each{ limit = 1 } do n = n + 1 end
        print(n)
      ]]):format(account.id, account.id), { ALLAWEE_SECRET_KEY = F.KEY, ALLAWEE_BASE_URL = sb.url })
      assert.equals("Env account\n0\n1\n", out)
    end)
  end)
end)
