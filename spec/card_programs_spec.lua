-- The card_programs resource through the SDK against the sandbox: create,
-- get, list, each, update and their _async twins; the documented samples,
-- validation, and a create that is never sent twice.
local allawee = require "allawee"
local S = require "support.sandbox"
local F = require "support.fixtures"
local I = require "support.issuing"

-- The physical programme of the docs (card-programs/create.md), values as shown.
local function physical(name)
  local address = { city = "Yaba", state = "Lagos", countryCode = "NG", phoneNumber = "+2348123456789",
                    addressLineOne = "No 10, Adekunle Close", addressLineTwo = "Off Ciroma Rd" }
  return {
    name = name or F.reference("physical"), description = "string", network = "verve", type = "physical",
    quantity = 1, currency = "NGN",
    distribution = { type = "bulked", shippingAddress = address, returnAddress = address },
    personalization = { frontArtworkFile = "string", printCardholderName = true,
                        defaultCardholderName = "string" },
    authorization = { fundingSourceType = "settlement-account", settlementAccount = {},
                      transactionFee = {}, webhook = {}, timeoutDefault = "decline" },
  }
end

describe("card programs", function()
  local sb
  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = F.KEY, base_url = url or sb.url,
                                 backoff_base = 0.001, backoff_max = 0.01 }, extra))
  end

  describe("create", function()
    it("a virtual programme is live at once; the body is sent exactly", function()
      local c = client()
      local body = I.program{ network = "mastercard", currency = "USD",
        authorization = { fundingSourceType = "card-account", timeoutDefault = "approve" } }
      local recs, program, err, meta = I.records(sb, c.card_programs.create, body)
      assert.is_nil(err)
      assert.equals(1, #recs)
      assert.equals("POST", recs[1].method)
      assert.equals("/card-programs", recs[1].path)
      assert.equals(('{"name":"%s","network":"mastercard","type":"virtual","currency":"USD",' ..
        '"authorization":{"fundingSourceType":"card-account","timeoutDefault":"approve"}}')
        :format(body.name), recs[1].body)
      assert.equals("card.program", program.object)
      assert.matches("^c%.prg%.%w+$", program.id)
      assert.equals("live", program.status)
      assert.equals("mastercard", program.network)
      assert.equals("USD", program.currency)
      assert.equals("approve", program.authorization.timeoutDefault)
      assert.equals(201, meta.status)
      assert.equals(1, meta.attempts)
      assert.matches("^%x+%-", meta.idempotency_key)
      c:close()
    end)

    it("the documented physical programme validates as shown and starts new", function()
      local c = client()
      local body = physical()
      local program, err = c.card_programs.create(body)
      assert.is_nil(err, err and tostring(err))
      assert.equals("new", program.status)
      assert.equals("physical", program.type)
      assert.equals(1, program.quantity)
      assert.equals("bulked", program.distribution.type)
      assert.equals("Yaba", program.distribution.shippingAddress.city)
      assert.matches("^wh%.", program.authorization.webhook)
      local sent = F.decode(F.last_request(sb).body)
      assert.equals(true, sent.personalization.printCardholderName)
      assert.equals(1, sent.quantity)
      assert.same({}, sent.authorization.settlementAccount)
      c:close()
    end)

    it("validates from the docs: required fields, network/type/currency enums, whole quantity, typos", function()
      local c = client()
      local cases = {
        { { name = "<nil>" }, "name", "required" },
        { { network = "<nil>" }, "network", "required" },
        { { type = "<nil>" }, "type", "required" },
        { { currency = "<nil>" }, "currency", "required" },
        { { network = "visa" }, "network", "verve, mastercard" },
        { { type = "plastic" }, "type", "virtual, physical" },
        { { currency = "GBP" }, "currency", "NGN, USD" },
        { { quantity = 1.5 }, "quantity", "whole" },
        { { quantity = -1 }, "quantity", "whole" },
        { { quantity = "1" }, "quantity", "" },
        { { description = 5 }, "description", "string" },
        { { netwrok = "verve" }, "netwrok", "unknown field" },
      }
      for _, case in ipairs(cases) do
        local body = I.program()
        local field, value = next(case[1])
        if value == "<nil>" then body[field] = nil else body[field] = value end
        local n, data, err = sb:requests_during(c.card_programs.create, body)
        assert.is_nil(data, field)
        assert.equals("validation", err.kind, field)
        assert.equals(case[2], err.field)
        assert.matches(case[3], err.message, 1, true)
        assert.equals(0, n)
      end
      c:close()
    end)

    it("validate = false sends anything; a taken name is the service's conflict", function()
      local c = client()
      local _, err = c.card_programs.create(I.program{ network = "visa" }, { validate = false })
      assert.equals("invalid_request", err.kind)
      assert.equals(400, err.status)
      assert.truthy(F.last_request(sb).body:find('"network":"visa"', 1, true))
      local body = I.program()
      assert(c.card_programs.create(body))
      local _, dup = c.card_programs.create(I.program{ name = body.name })
      assert.equals("conflict", dup.kind)
      assert.equals("conflict", dup.code)
      assert.equals(409, dup.status)
      assert.equals(1, dup.attempts)
      c:close()
    end)

    it("is never sent again once it may have arrived (a 5xx, a dropped connection)", function()
      for _, spec in ipairs({ "commit=1,status=503,times=1", "commit=1,fault=close,times=1" }) do
        sb:reset()
        local c = client(S.scenario_url(sb, spec))
        local data, err = c.card_programs.create(I.program())
        assert.is_nil(data)
        assert.equals(spec:find("503") and "api" or "connection", err.kind, spec)
        assert.is_true(err.ambiguous)
        assert.equals(1, err.attempts)
        assert.equals(1, I.posts_to(sb, "/_scenario/" .. spec .. "/card-programs"))
        assert.equals(1, #assert(client().card_programs.list()))   -- created once
        c:close()
      end
    end)

    it("but a 429 (not processed) is retried", function()
      local c = client(S.scenario_url(sb, "status=429,times=1"))
      local program, err, meta = c.card_programs.create(I.program())
      assert.is_nil(err)
      assert.equals("live", program.status)
      assert.equals(2, meta.attempts)
      c:close()
    end)
  end)

  describe("get, list, each, update", function()
    it("get reads it back; unknown ids are not_found", function()
      local c = client()
      local made = I.live_program(c)
      local got, err, meta = c.card_programs.get(made.id)
      assert.is_nil(err)
      assert.same(made, got)
      assert.equals("/card-programs/" .. made.id, F.last_request(sb).path)
      assert.equals(200, meta.status)
      local _, nf = c.card_programs.get("c.prg.doesnotexist00")
      assert.equals("not_found", nf.kind)
      assert.equals(404, nf.status)
      c:close()
    end)

    it("list pages and filters; each walks 3+ pages", function()
      local c = client()
      for i = 1, 7 do
        assert(c.card_programs.create(I.program{ name = ("Programme %02d"):format(i),
                                                 network = i % 2 == 0 and "mastercard" or "verve" }))
      end
      local page, _, meta = c.card_programs.list{ limit = 2, sort = "name" }
      assert.equals(2, #page)
      assert.equals("Programme 01", page[1].name)
      assert.is_true(meta.has_more)
      local mc = assert(c.card_programs.list{ filter = { "network", "EQ", "mastercard" }, limit = 10 })
      assert.equals(3, #mc)
      local names = {}
      for p, err in c.card_programs.each{ limit = 2, sort = "-name" } do
        assert.is_nil(err)
        names[#names + 1] = p.name
      end
      assert.equals(7, #names)
      assert.equals("Programme 07", names[1])
      assert.equals("Programme 01", names[7])
      c:close()
    end)

    it("update (PUT) changes a new programme; a live one is a conflict", function()
      local c = client()
      local new = assert(c.card_programs.create(physical()))
      local recs, updated, err, meta = I.records(sb, c.card_programs.update, new.id,
        { description = "Staff cards", quantity = 250 })
      assert.is_nil(err)
      assert.equals("PUT", recs[1].method)
      assert.equals("/card-programs/" .. new.id, recs[1].path)
      assert.equals('{"description":"Staff cards","quantity":250}', recs[1].body)
      assert.equals("Staff cards", updated.description)
      assert.equals(250, updated.quantity)
      assert.equals(200, meta.status)
      assert.equals(250, assert(c.card_programs.get(new.id)).quantity)
      local live = I.live_program(c)
      local _, conflict = c.card_programs.update(live.id, { description = "x" })
      assert.equals("conflict", conflict.kind)
      assert.equals(409, conflict.status)
      assert.matches("is live", conflict.message, 1, true)
      assert.equals(1, conflict.attempts)
      local n, _, bad = sb:requests_during(c.card_programs.update, new.id, { currency = "EUR" })
      assert.equals("validation", bad.kind)
      assert.equals("currency", bad.field)
      assert.equals(0, n)
      c:close()
    end)

    it("update is retried on a 5xx (a PUT is idempotent)", function()
      local c = client()
      local new = assert(c.card_programs.create(physical()))
      local d = client(S.scenario_url(sb, "status=503,times=1"))
      local updated, err, meta = d.card_programs.update(new.id, { quantity = 3 })
      assert.is_nil(err)
      assert.equals(3, updated.quantity)
      assert.equals(2, meta.attempts)
      c:close()
      d:close()
    end)
  end)

  describe("_async twins", function()
    it("give the same values as the blocking calls", function()
      local c = client()
      local got = {}
      c.card_programs.create_async(physical("Async programme"), function(d, e, m) got.create = { d, e, m } end)
      c:wait()
      local program = got.create[1]
      assert.is_nil(got.create[2])
      assert.equals("new", program.status)
      c.card_programs.get_async(program.id, function(d, e) got.get = { d, e } end)
      c.card_programs.list_async({ limit = 5 }, function(d, e, m) got.list = { d, e, m } end)
      c.card_programs.update_async(program.id, { description = "async" }, function(d, e) got.update = { d, e } end)
      c:wait()
      assert.equals(program.id, got.get[1].id)
      assert.equals(1, #got.list[1])
      assert.equals("async", got.update[1].description)
      assert.equals("async", assert(c.card_programs.get(program.id)).description)
      c:close()
    end)
  end)
end)
