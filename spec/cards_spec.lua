-- The cards resource through the SDK against the sandbox: create, get, list,
-- each, update, fund, block, unblock, terminate, and on the secure host
-- activate, reset_pin, secrets; their _async twins; validation; the state
-- machine; the retry classes (create exactly-once, fund never twice).
local allawee = require "allawee"
local S = require "support.sandbox"
local F = require "support.fixtures"
local I = require "support.issuing"

local CARD = I.TEST_CARD

describe("cards", function()
  local sb
  setup(function() sb = S.start{ secure = true } end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  -- base_url may be a scenario; the secure routes go to the secure listener.
  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = F.KEY, base_url = url or sb.url,
                                 secure_base_url = sb.secure_url,
                                 backoff_base = 0.001, backoff_max = 0.01 }, extra))
  end

  local ACTIVATE = { cvv = CARD.cvv, pin = CARD.pin }

  local function card_in(c, state)
    local card = I.new_card(c)
    if state == "inactive" then return card end
    assert(c.cards.activate(card.id, ACTIVATE))
    if state == "blocked" then assert(c.cards.block(card.id)) end
    if state == "terminated" then assert(c.cards.terminate(card.id)) end
    return card
  end

  local function funded_account(c, amount)
    local account = assert(c.accounts.create(I.account()))
    local resp = sb:call("POST", "/simulation/payments/pay-in", { method = "bank-transfer",
      accountNumber = account.depositChannels[1].accountNumber, amount = amount })
    assert.equals(201, resp.status)
    return account
  end

  describe("create", function()
    it("issues an inactive card: the body as sent, the answer, meta, no secret in it", function()
      local c = client()
      local customer = assert(c.customers.create(F.minimal{ name = "Bachi Hilda" }))
      local program = I.live_program(c, { network = "mastercard", currency = "USD" })
      local body = I.card(program.id, customer.id, {
        amount = 500, cardHolderName = "Bachi Hilda", debitCurrency = "NGN",
        controls = { allowedChannels = { "pos" }, blockedChannels = allawee.array(),
                     spendingLimits = { { amount = 1000, interval = "monthly" } } },
        metadata = { name = "Hilda USD card" },
      })
      local recs, card, err, meta = I.records(sb, c.cards.create, body)
      assert.is_nil(err)
      assert.equals(1, #recs)
      assert.equals("POST", recs[1].method)
      assert.equals("/cards", recs[1].path)
      assert.equals("api", recs[1].host)
      assert.equals(('{"program":"%s","amount":500,"reference":"%s","customer":"%s",' ..
        '"cardHolderName":"Bachi Hilda","debitCurrency":"NGN","controls":{"allowedChannels":["pos"],' ..
        '"blockedChannels":[],"spendingLimits":[{"amount":1000,"interval":"monthly"}]},' ..
        '"metadata":{"name":"Hilda USD card"}}'):format(program.id, body.reference, customer.id),
        recs[1].body)
      assert.equals("card", card.object)
      assert.matches("^c%.%w+$", card.id)
      assert.equals("inactive", card.status)
      assert.equals("virtual", card.type)
      assert.equals("mastercard", card.network)
      assert.equals("USD", card.currency)
      assert.equals(program.id, card.program)
      assert.equals(customer.id, card.customer)
      assert.equals(body.reference, card.reference)
      assert.equals(CARD.last4, card.details.last4)
      assert.equals("Bachi Hilda", card.details.cardHolderName)
      assert.equals(500, card.balance)
      assert.equals("monthly", card.controls.spendingLimits[1].interval)
      assert.equals(201, meta.status)
      assert.equals(1, meta.attempts)
      assert.equals(meta.idempotency_key, recs[1].headers["idempotency-key"])
      I.assert_no_secrets("the created card", { card, meta })
      c:close()
    end)

    it("takes the docs' own samples as shown (debitSource and fundingSource {}, fxHash)", function()
      local c = client()
      local customer, program = I.customer(c), I.live_program(c)
      -- cards/create.md: every sample sends "debitSource": {} and "fundingSource": {}
      local card, err = c.cards.create(I.card(program.id, customer.id, {
        amount = 1000, fxHash = "a6454tgrfdcvhhyue64645ref45363jh", debitSource = {}, fundingSource = {},
        debitCurrency = "NGN", cardHolderName = "John Doe",
        controls = { allowedMcc = { "5541-5542,7654" }, blockedMcc = { "7399", "7395" },
                     allowedCategories = { "airlines" }, blockedCategories = { "airlines" },
                     allowedChannels = { "pos" }, blockedChannels = { "online" },
                     allowedMerchants = { "mch.2cbc123456" }, blockedMerchants = { "mch.2cbc123456" },
                     spendingLimits = { allawee.null } },
        metadata = {},
      }))
      assert.is_nil(err, err and tostring(err))
      assert.equals("inactive", card.status)
      local sent = F.last_request(sb).body
      assert.truthy(sent:find('"debitSource":{},"fundingSource":{}', 1, true), sent)
      assert.truthy(sent:find('"spendingLimits":[null]', 1, true), sent)
      c:close()
    end)

    it("validates from the docs: required fields, amounts in whole minor units, typos", function()
      local c = client()
      local cases = {
        { { program = "<nil>" }, "program", "required" },
        { { customer = "<nil>" }, "customer", "required" },
        { { amount = "<nil>" }, "amount", "required" },
        { { reference = "<nil>" }, "reference", "required" },
        { { reference = "" }, "reference", "empty" },
        { { amount = 2.5 }, "amount", "whole" },
        { { amount = -1 }, "amount", "whole" },
        { { amount = "500" }, "amount", "" },
        { { amount = 0 / 0 }, "amount", "" },
        { { cardHolderName = 5 }, "cardHolderName", "string" },
        { { metadata = "x" }, "metadata", "" },
        { { ammount = 500 }, "ammount", "unknown field" },
      }
      for _, case in ipairs(cases) do
        local body = I.card("c.prg.x", "cus.x")
        local field, value = next(case[1])
        if value == "<nil>" then body[field] = nil else body[field] = value end
        local n, data, err = sb:requests_during(c.cards.create, body)
        assert.is_nil(data, field)
        assert.equals("validation", err.kind, field)
        assert.equals(case[2], err.field)
        assert.matches(case[3], err.message, 1, true)
        assert.equals(0, n)
      end
      -- fxHash is "Yes" in the table yet in no sample: not required
      local customer, program = I.customer(c), I.live_program(c)
      assert(c.cards.create(I.card(program.id, customer.id, { amount = 0 })))
      -- validate = false: sent as given, the service judges
      local recs, _, err = I.records(sb, c.cards.create, I.card(program.id, customer.id, { amount = 2.5 }),
                                     { validate = false })
      assert.equals("invalid_request", err.kind)
      assert.matches("amount", err.message, 1, true)
      assert.truthy(recs[1].body:find('"amount":2.5', 1, true))
      c:close()
    end)

    it("the service's refusals: a new programme, an unknown customer, a reused reference, no funds", function()
      local c = client()
      local customer = I.customer(c)
      local new = assert(c.card_programs.create(I.program{ type = "physical", quantity = 1 }))
      local _, err = c.cards.create(I.card(new.id, customer.id))
      assert.equals("conflict", err.kind)
      assert.matches("is new", err.message, 1, true)
      local live = I.live_program(c)
      _, err = c.cards.create(I.card(live.id, "cus.nobody00000000"))
      assert.equals("invalid_request", err.kind)
      assert.equals(400, err.status)
      local body = I.card(live.id, customer.id)
      assert(c.cards.create(body))
      _, err = c.cards.create(I.card(live.id, customer.id, { reference = body.reference }))
      assert.equals("conflict", err.kind)
      assert.equals("reference-conflict", err.code)
      assert.is_false(err.ambiguous)
      assert.equals(1, err.attempts)
      local poor = funded_account(c, 100)
      _, err = c.cards.create(I.card(live.id, customer.id, { amount = 500, debitSource = poor.id }))
      assert.equals("invalid_request", err.kind)
      assert.equals("insufficient-funds", err.code)
      local rich = funded_account(c, 1000)
      local card = assert(c.cards.create(I.card(live.id, customer.id, { amount = 400, debitSource = rich.id })))
      assert.equals(400, card.balance)
      assert.equals(600, assert(c.accounts.balance(rich.id)).available)
      c:close()
    end)
  end)

  describe("create is exactly-once (it deduplicates by reference)", function()
    local function setup_refs(c)
      return I.customer(c), I.live_program(c)
    end

    local function recovered(spec, extra)
      local setup_client = client()
      local customer, program = setup_refs(setup_client)
      local c = client(S.scenario_url(sb, spec), extra)
      local body = I.card(program.id, customer.id, { amount = 250 })
      local card, err, meta = c.cards.create(body)
      assert.is_nil(err, err and tostring(err))
      assert.equals(body.reference, card.reference)
      assert.equals(250, card.balance)
      assert.is_true(meta.recovered)
      assert.equals(2, sb:posts_for(body.reference))   -- the create, and the retry's 409
      local listed = assert(setup_client.cards.list{ filter = { "reference", "EQ", body.reference } })
      assert.equals(1, #listed)                          -- one card, not two
      c:close()
      setup_client:close()
      return card, meta, body
    end

    it("after the connection dropped once the card was made", function()
      local _, meta, body = recovered("commit=1,fault=close,times=1")
      assert.equals(4, meta.attempts)   -- 2 POSTs, 2 lookups (the first lookup dropped too)
      local lookups = {}
      for _, r in ipairs(sb:requests()) do
        if r.method == "GET" and r.path:find("^/_scenario/") then lookups[#lookups + 1] = r.path end
      end
      assert.equals(2, #lookups)
      assert.equals("/_scenario/commit=1,fault=close,times=1/cards?filter=reference%7C%7CEQ%7C%7C" ..
                    body.reference:gsub("@", "%%40") .. "&limit=1", lookups[2])
    end)

    it("after a timeout once the card was made", function()
      local _, meta = recovered("commit=1,delay=3000,times=1", { timeout = 1 })
      assert.equals(4, meta.attempts)
    end)

    it("after a 5xx once the card was made", function()
      local _, meta = recovered("commit=1,status=503,times=1")
      assert.is_true(meta.attempts >= 3)
    end)

    it("the same through create_async", function()
      local setup_client = client()
      local customer, program = setup_refs(setup_client)
      local c = client(S.scenario_url(sb, "commit=1,fault=close,times=1"))
      local body, got = I.card(program.id, customer.id), nil
      c.cards.create_async(body, function(d, e, m) got = { d, e, m } end)
      c:wait()
      assert.is_nil(got[2])
      assert.equals(body.reference, got[1].reference)
      assert.is_true(got[3].recovered)
      assert.equals(1, #assert(setup_client.cards.list()))
      c:close()
      setup_client:close()
    end)

    it("with max_retries = 0 an unknown outcome says ambiguous, and was sent once", function()
      local setup_client = client()
      local customer, program = setup_refs(setup_client)
      local c = client(S.scenario_url(sb, "commit=1,fault=close,times=1"), { max_retries = 0 })
      local body = I.card(program.id, customer.id)
      local _, err = c.cards.create(body)
      assert.equals("connection", err.kind)
      assert.is_true(err.ambiguous)
      assert.equals(1, err.attempts)
      assert.equals(1, sb:posts_for(body.reference))
      c:close()
      setup_client:close()
    end)
  end)

  describe("get, list, each, update", function()
    it("get reads the card back; unknown ids are not_found; bad ids are refused unsent", function()
      local c = client()
      local card = I.new_card(c)
      local got, err, meta = c.cards.get(card.id)
      assert.is_nil(err)
      assert.same(card, got)
      assert.equals("/cards/" .. card.id, F.last_request(sb).path)
      assert.equals(200, meta.status)
      local _, nf = c.cards.get("c.doesnotexist000000")
      assert.equals("not_found", nf.kind)
      assert.equals(404, nf.status)
      assert.equals("not-found", nf.code)
      for _, id in ipairs({ "", "c.1/block", "..", "c.1\n" }) do
        local n, _, bad = sb:requests_during(c.cards.get, id)
        assert.equals("validation", bad.kind)
        assert.equals(0, n)
      end
      local ok, msg = pcall(c.cards.get, 12)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'get' (string expected, got number)", msg, 1, true)
      c:close()
    end)

    it("list pages and filters; each walks 3+ pages in order", function()
      local c = client()
      local customer, program = I.customer(c), I.live_program(c)
      local made = {}
      for i = 1, 7 do
        made[i] = assert(c.cards.create(I.card(program.id, customer.id,
          { amount = i * 10, reference = ("order-%02d-%s"):format(i, F.reference()) })))
      end
      assert(c.cards.activate(made[2].id, ACTIVATE))
      local page, err, meta = c.cards.list{ limit = 3, sort = "reference" }
      assert.is_nil(err)
      assert.equals(3, #page)
      assert.equals(made[1].id, page[1].id)
      assert.is_true(meta.has_more)
      local active = assert(c.cards.list{ filter = { "status", "EQ", "active" } })
      assert.equals(1, #active)
      assert.equals(made[2].id, active[1].id)
      local seen, pages_before = {}, sb:stats().requests
      for card, e in c.cards.each{ limit = 3, sort = "-reference" } do
        assert.is_nil(e)
        seen[#seen + 1] = card.balance
      end
      assert.same({ 70, 60, 50, 40, 30, 20, 10 }, seen)
      assert.equals(pages_before + 3, sb:stats().requests)   -- 3 + 3 + 1
      c:close()
    end)

    it("update (PUT) replaces controls and metadata whole", function()
      local c = client()
      local card = I.new_card(c, { metadata = { keep = "no" } })
      local recs, updated, err, meta = I.records(sb, c.cards.update, card.id, {
        controls = { blockedCategories = { "betting" } }, metadata = { name = "Travel card" } })
      assert.is_nil(err)
      assert.equals("PUT", recs[1].method)
      assert.equals("/cards/" .. card.id, recs[1].path)
      assert.equals('{"controls":{"blockedCategories":["betting"]},"metadata":{"name":"Travel card"}}',
                    recs[1].body)
      assert.equals(200, meta.status)
      assert.same({ name = "Travel card" }, updated.metadata)
      assert.same({ "betting" }, updated.controls.blockedCategories)
      assert.same({ name = "Travel card" }, assert(c.cards.get(card.id)).metadata)
      local n, _, bad = sb:requests_during(c.cards.update, card.id, { metdata = {} })
      assert.equals("validation", bad.kind)
      assert.equals("metdata", bad.field)
      assert.equals(0, n)
      _, bad = c.cards.update(card.id, { status = "active" })   -- not a field of the update
      assert.equals("status", bad.field)
      c:close()
    end)
  end)

  describe("fund", function()
    it("credits the card; with a debitSource the account pays; amounts are whole minor units", function()
      local c = client()
      local card = I.new_card(c)
      local recs, funded, err, meta = I.records(sb, c.cards.fund, card.id, { amount = 300 })
      assert.is_nil(err)
      assert.equals("POST", recs[1].method)
      assert.equals("/cards/" .. card.id .. "/fund", recs[1].path)
      assert.equals('{"amount":300}', recs[1].body)
      assert.equals(300, funded.balance)
      assert.equals(200, meta.status)
      local account = funded_account(c, 1000)
      funded = assert(c.cards.fund(card.id, { amount = 600, debitSource = account.id, debitCurrency = "NGN" }))
      assert.equals(900, funded.balance)
      assert.equals(('{"amount":600,"debitSource":"%s","debitCurrency":"NGN"}'):format(account.id),
                    F.last_request(sb).body)
      assert.equals(400, assert(c.accounts.balance(account.id)).available)
      local _, poor = c.cards.fund(card.id, { amount = 500, debitSource = account.id })
      assert.equals("invalid_request", poor.kind)
      assert.equals("insufficient-funds", poor.code)
      assert.equals(900, assert(c.cards.get(card.id)).balance)   -- nothing moved
      for _, case in ipairs({ { {}, "amount" }, { { amount = 2.5 }, "amount" }, { { amount = -5 }, "amount" },
                              { { amount = "300" }, "amount" }, { { ammount = 300 }, "ammount" },
                              { { amount = 1, debitSource = 5 }, "debitSource" } }) do
        local n, _, bad = sb:requests_during(c.cards.fund, card.id, case[1])
        assert.equals("validation", bad.kind)
        assert.equals(case[2], bad.field)
        assert.equals(0, n)
      end
      c:close()
    end)

    -- No reference: once a fund may have reached the service it is never sent
    -- again (a second send could move the money twice).
    local function fund_once(spec, extra, want_kind)
      local c0 = client()
      local card = I.new_card(c0)
      local c = client(S.scenario_url(sb, spec), extra)
      local data, err = c.cards.fund(card.id, { amount = 700 })
      assert.is_nil(data)
      assert.equals(want_kind, err.kind, spec)
      assert.is_true(err.ambiguous)
      assert.equals(1, err.attempts)
      assert.matches("ambiguous", tostring(err), 1, true)
      assert.equals(1, I.posts_to(sb, "/_scenario/" .. spec .. "/cards/" .. card.id .. "/fund"))
      assert.equals(700, assert(c0.cards.get(card.id)).balance)   -- it took effect once
      c:close()
      c0:close()
    end

    it("is never sent twice after a 5xx", function()
      fund_once("commit=1,status=503,times=1", nil, "api")
    end)

    it("is never sent twice after a dropped connection", function()
      fund_once("commit=1,fault=close,times=1", nil, "connection")
    end)

    it("is never sent twice after a timeout", function()
      fund_once("commit=1,delay=600,times=1", { timeout = 0.2 }, "timeout")
    end)

    it("nor by libcurl's own resend on a dead keep-alive connection", function()
      local c0 = client()
      local card = I.new_card(c0)
      -- the warm-up GET is dropped once too, and retried: it leaves a
      -- kept-alive connection, which the server closes after reading the fund
      local d = client(sb.url .. "/_scenario/fault=close,times=1")
      assert(d.cards.get(card.id))
      local _, ferr = d.cards.fund(card.id, { amount = 5 })
      assert.equals("connection", ferr.kind)
      assert.equals(1, ferr.attempts)
      assert.is_true(ferr.ambiguous)
      assert.equals(1, I.posts_to(sb, "/_scenario/fault=close,times=1/cards/" .. card.id .. "/fund"))
      assert.equals(0, assert(c0.cards.get(card.id)).balance)   -- fault=close alone changes nothing
      d:close()
      c0:close()
    end)

    it("but a 429 (not processed) or a refused connection is retried", function()
      local c0 = client()
      local card = I.new_card(c0)
      local c = client(S.scenario_url(sb, "status=429,times=1"))
      local funded, err, meta = c.cards.fund(card.id, { amount = 40 })
      assert.is_nil(err)
      assert.equals(2, meta.attempts)
      assert.equals(40, funded.balance)
      local net = require "support.net"
      local closed = client("http://127.0.0.1:" .. net.free_port(), { max_retries = 2 })
      local _, cerr = closed.cards.fund(card.id, { amount = 40 })
      assert.equals("connection", cerr.kind)
      assert.equals(3, cerr.attempts)
      assert.is_false(cerr.ambiguous)
      c:close()
      closed:close()
      c0:close()
    end)
  end)

  describe("the state machine", function()
    it("inactive -> active -> blocked -> active -> terminated, each answered with the new state", function()
      local c = client()
      local card = I.new_card(c)
      local steps = {
        { "activate", { card.id, ACTIVATE }, "active", "POST", "/activate", "secure" },
        { "block", { card.id }, "blocked", "POST", "/block", "api" },
        { "block", { card.id }, "blocked", "POST", "/block", "api" },       -- again: no change
        { "unblock", { card.id }, "active", "POST", "/unblock", "api" },
        { "unblock", { card.id }, "active", "POST", "/unblock", "api" },   -- again: no change
        { "reset_pin", { card.id, { pin = "1357" } }, "active", "POST", "/reset-pin", "secure" },
        { "block", { card.id }, "blocked", "POST", "/block", "api" },
        { "reset_pin", { card.id, { pin = "2468" } }, "blocked", "POST", "/reset-pin", "secure" },
        { "terminate", { card.id }, "terminated", "DELETE", "", "api" },
        { "terminate", { card.id }, "terminated", "DELETE", "", "api" },   -- again: no change
      }
      for i, s in ipairs(steps) do
        local recs, data, err, meta = I.records(sb, c.cards[s[1]], (table.unpack or unpack)(s[2]))
        assert.is_nil(err, ("step %d %s: %s"):format(i, s[1], tostring(err)))
        assert.equals(s[3], data.status, s[1])
        assert.equals(card.id, data.id)
        assert.equals(200, meta.status)
        assert.equals(1, meta.attempts)
        assert.equals(1, #recs)
        assert.equals(s[4], recs[1].method)
        assert.equals("/cards/" .. card.id .. s[5], recs[1].path)
        assert.equals(s[6], recs[1].host, s[1])
        assert.equals(s[3], assert(c.cards.get(card.id)).status)
      end
      -- terminate is allowed from inactive and from blocked too
      local inactive = card_in(c, "inactive")
      assert.equals("terminated", assert(c.cards.terminate(inactive.id)).status)
      local blocked = card_in(c, "blocked")
      assert.equals("terminated", assert(c.cards.terminate(blocked.id)).status)
      c:close()
    end)

    it("refuses what the state does not allow, as conflict naming the state", function()
      local c = client()
      local cards = {}
      for _, state in ipairs({ "inactive", "active", "blocked", "terminated" }) do
        cards[state] = card_in(c, state)
      end
      local refused = {
        { "inactive", "block" }, { "inactive", "unblock" }, { "inactive", "reset_pin", { pin = "1357" } },
        { "active", "activate", ACTIVATE }, { "blocked", "activate", ACTIVATE },
        { "terminated", "activate", ACTIVATE }, { "terminated", "block" }, { "terminated", "unblock" },
        { "terminated", "reset_pin", { pin = "1357" } }, { "terminated", "fund", { amount = 1 } },
        { "terminated", "update", { metadata = { a = 1 } } }, { "terminated", "secrets" },
      }
      for _, r in ipairs(refused) do
        local state, action, body = r[1], r[2], r[3]
        local id = cards[state].id
        local data, err
        if body then data, err = c.cards[action](id, body) else data, err = c.cards[action](id) end
        local what = state .. " " .. action
        assert.is_nil(data, what)
        assert.equals("conflict", err.kind, what)
        assert.equals("conflict", err.code, what)
        assert.equals(409, err.status, what)
        assert.matches("is " .. state, err.message, 1, true)
        assert.is_false(err.retryable)
        assert.is_false(err.ambiguous)
        assert.equals(1, err.attempts, what)
        assert.equals(state, assert(c.cards.get(id)).status)   -- nothing changed
      end
      -- what each state does allow besides the transitions
      assert.equals(5, assert(c.cards.fund(cards.inactive.id, { amount = 5 })).balance)
      assert.equals(5, assert(c.cards.fund(cards.blocked.id, { amount = 5 })).balance)
      assert.equals(CARD.last4, assert(c.cards.secrets(cards.inactive.id)).last4)
      assert.equals(CARD.last4, assert(c.cards.secrets(cards.blocked.id)).last4)
      assert.same({ b = 2 }, assert(c.cards.update(cards.blocked.id, { metadata = { b = 2 } })).metadata)
      c:close()
    end)

    it("activate needs the card's CVV and a 4-digit PIN: the service's 400s, the SDK's own checks", function()
      local c = client()
      local card = I.new_card(c)
      local _, err = c.cards.activate(card.id, { cvv = "000", pin = CARD.pin })
      assert.equals("invalid_request", err.kind)
      assert.equals(400, err.status)
      assert.matches("cvv does not match", err.message, 1, true)
      _, err = c.cards.activate(card.id, { cvv = CARD.cvv, pin = "12" })
      assert.equals("invalid_request", err.kind)
      assert.matches("pin", err.message, 1, true)
      for _, case in ipairs({ { { cvv = CARD.cvv }, "pin" }, { { pin = CARD.pin }, "cvv" },
                              { { cvv = "", pin = CARD.pin }, "cvv" }, { { cvv = 739, pin = CARD.pin }, "cvv" },
                              { { cvv = CARD.cvv, pin = CARD.pin, pan = "x" }, "pan" } }) do
        local n, _, bad = sb:requests_during(c.cards.activate, card.id, case[1])
        assert.equals("validation", bad.kind)
        assert.equals(case[2], bad.field)
        assert.equals(0, n)
      end
      assert.equals("inactive", assert(c.cards.get(card.id)).status)
      assert.equals("active", assert(c.cards.activate(card.id, ACTIVATE)).status)
      c:close()
    end)

    it("secrets come from the secure host: PAN, CVV, expiry of the test card", function()
      local c = client()
      local card = I.new_card(c, { cardHolderName = "Ngozi Okafor" })
      local recs, secret, err, meta = I.records(sb, c.cards.secrets, card.id)
      assert.is_nil(err)
      assert.equals(CARD.pan, secret.pan)
      assert.equals(CARD.cvv, secret.cvv)
      assert.equals(CARD.expiry, secret.expiry)
      assert.equals(CARD.last4, secret.last4)
      assert.equals("Ngozi Okafor", secret.cardHolderName)
      assert.equals(200, meta.status)
      assert.equals("GET", recs[1].method)
      assert.equals("/cards/" .. card.id .. "/secrets", recs[1].path)
      assert.equals("secure", recs[1].host)
      assert.equals("", recs[1].body)
      c:close()
    end)
  end)

  describe("two hosts", function()
    it("activate, reset_pin and secrets go to secure_base_url; everything else to base_url", function()
      local c = client()
      local card = I.new_card(c)
      local recs = I.records(sb, function()
        assert(c.cards.get(card.id))
        assert(c.cards.activate(card.id, ACTIVATE))
        assert(c.cards.secrets(card.id))
        assert(c.cards.reset_pin(card.id, { pin = "1357" }))
        assert(c.cards.fund(card.id, { amount = 1 }))
        assert(c.cards.block(card.id))
        assert(c.cards.list())
      end)
      local hosts = {}
      for _, r in ipairs(recs) do hosts[#hosts + 1] = r.path:match("([^/]+)$") .. "@" .. r.host end
      assert.same({ card.id .. "@api", "activate@secure", "secrets@secure", "reset-pin@secure",
                    "fund@api", "block@api", "cards@api" }, hosts)
      for _, r in ipairs(recs) do
        if r.host == "secure" then
          assert.equals("Bearer " .. F.KEY, r.headers.authorization)
          assert.is_nil(I.leaks(r.body))   -- the sandbox redacts what it records
        end
      end
      c:close()
    end)

    it("with a loopback base_url and no secure_base_url, the secure routes use base_url", function()
      local c = allawee.new{ secret_key = F.KEY, base_url = sb.url }
      local card = I.new_card(c)
      local recs = I.records(sb, function()
        assert(c.cards.activate(card.id, ACTIVATE))
        assert(c.cards.secrets(card.id))
      end)
      assert.equals("api", recs[1].host)
      assert.equals("api", recs[2].host)
      assert.equals('{"cvv":"[redacted]","pin":"[redacted]"}', recs[1].body)
      c:close()
    end)

    it("a secure route sent to the api-only listener is the service's 404", function()
      local c = client(nil, { secure_base_url = sb.url })   -- fine: the main port serves all
      local card = I.new_card(c)
      assert(c.cards.secrets(card.id))
      local d = client(sb.secure_url)                      -- api routes on the secure listener
      local _, err = d.cards.get(card.id)
      assert.equals("not_found", err.kind)
      assert.matches("secure host", err.message, 1, true)
      c:close()
      d:close()
    end)
  end)

  describe("retry classes of the other card routes", function()
    it("block, unblock, terminate and reset_pin are retried on a 5xx; activate is not", function()
      local c0 = client()
      local card = I.new_card(c0)
      local spec = "status=503,times=1"
      local secure = client(nil, { secure_base_url = sb.secure_url .. "/_scenario/commit=1,status=503,times=1" })
      local _, aerr = secure.cards.activate(card.id, ACTIVATE)
      assert.equals("api", aerr.kind)
      assert.equals(503, aerr.status)
      assert.equals(1, aerr.attempts)
      assert.is_true(aerr.ambiguous)
      assert.equals("active", assert(c0.cards.get(card.id)).status)   -- it did take effect
      local c = client(S.scenario_url(sb, spec), { secure_base_url = sb.secure_url .. "/_scenario/" .. spec })
      for _, step in ipairs({ { "block", "blocked" }, { "unblock", "active" },
                              { "reset_pin", "active", { pin = "1357" } }, { "terminate", "terminated" } }) do
        local data, err, meta
        if step[3] then data, err, meta = c.cards[step[1]](card.id, step[3])
        else data, err, meta = c.cards[step[1]](card.id) end
        assert.is_nil(err, step[1])
        assert.equals(step[2], data.status)
        assert.equals(2, meta.attempts, step[1])
      end
      c:close()
      c0:close()
      secure:close()
    end)
  end)

  describe("on the wire", function()
    it("a POST or DELETE without a body says Content-Length: 0 (RFC 9110 8.6)", function()
      local c = client()
      local card = I.new_card(c, { amount = 0 })
      assert(c.cards.activate(card.id, ACTIVATE))
      local recs = I.records(sb, function()
        assert(c.cards.block(card.id))
        assert(c.cards.unblock(card.id))
        assert(c.cards.terminate(card.id))
      end)
      for _, r in ipairs(recs) do
        assert.equals("", r.body)
        assert.is_nil(r.headers["transfer-encoding"])
        assert.equals("0", r.headers["content-length"], r.method .. " " .. r.path)
      end
      c:close()
    end)
  end)

  describe("_async twins", function()
    it("drive a card through every card endpoint with the same values", function()
      local c = client()
      local customer, program = I.customer(c), I.live_program(c)
      local got = {}
      local function run(name, ...)
        local args = { ... }
        args[#args + 1] = function(d, e, m) got[name] = { d, e, m } end
        c.cards[name .. "_async"]((table.unpack or unpack)(args))
        c:wait()
        assert.is_nil(got[name][2], name .. ": " .. tostring(got[name][2]))
        return got[name][1], got[name][3]
      end
      local body = I.card(program.id, customer.id, { amount = 20 })
      local card, meta = run("create", body)
      assert.equals("inactive", card.status)
      assert.equals(201, meta.status)
      assert.equals(card.id, (run("get", card.id)).id)
      assert.equals(1, #run("list", { filter = { "reference", "EQ", body.reference } }))
      assert.same({ n = 1 }, run("update", card.id, { metadata = { n = 1 } }).metadata)
      assert.equals(45, run("fund", card.id, { amount = 25 }).balance)
      assert.equals(CARD.last4, run("secrets", card.id).last4)
      assert.equals("active", run("activate", card.id, ACTIVATE).status)
      assert.equals("active", run("reset_pin", card.id, { pin = "1357" }).status)
      assert.equals("blocked", run("block", card.id).status)
      assert.equals("active", run("unblock", card.id).status)
      assert.equals("terminated", run("terminate", card.id).status)
      local refused
      c.cards.activate_async(card.id, ACTIVATE, function(_, e) refused = e end)
      c:wait()
      assert.equals("conflict", refused.kind)
      assert.matches("is terminated", refused.message, 1, true)
      local hosts = {}
      for _, r in ipairs(sb:requests()) do
        if r.path:find("/activate", 1, true) or r.path:find("/secrets", 1, true) or
           r.path:find("/reset-pin", 1, true) then hosts[r.host] = (hosts[r.host] or 0) + 1 end
      end
      assert.same({ secure = 4 }, hosts)
      c:close()
    end)
  end)
end)
