-- Sandbox cards: create, get, list, update, fund, the state machine, the
-- secure routes on both listeners, and keeping card secrets out of records.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_cards_spec.lua
local S = require "support.sandbox"
local json = require("cjson").new()

local CARD = S.TEST_CARD

describe("sandbox cards", function()
  local sb

  setup(function() sb = S.start{ secure = true } end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function post(path, body, opts) return sb:call("POST", path, body or "", opts) end

  it("exposes distinctive test card values", function()
    assert.matches("^506199%d%d%d%d%d%d%d%d%d%d$", CARD.pan)
    assert.equals(CARD.pan:sub(-4), CARD.last4)
    assert.matches("^%d%d%d$", CARD.cvv)
    assert.matches("^%d%d%d%d$", CARD.pin)
    assert.matches("^%d%d/%d%d$", CARD.expiry)
  end)

  describe("POST /cards", function()
    it("issues an inactive card without any secret in the answer", function()
      local program = sb:make_program{ network = "mastercard", currency = "USD" }
      local customer = sb:make_customer{ name = "Bachi Hilda" }
      local resp, doc = post("/cards", { program = program.id, customer = customer.id, amount = 500,
        reference = "card-ref-1", controls = { allowedChannels = { "pos" }, blockedChannels = {}, spendingLimits = {} },
        metadata = { name = "Hilda USD card" } })
      assert.equals(201, resp.status)
      local c = doc.data
      assert.matches("^c%.%w+$", c.id)
      assert.equals(19, #c.id)
      assert.equals("card", c.object)
      assert.equals("inactive", c.status)
      assert.equals("virtual", c.type)
      assert.equals("mastercard", c.network)
      assert.equals("USD", c.currency)
      assert.equals(program.id, c.program)
      assert.equals(customer.id, c.customer)
      assert.equals("card-ref-1", c.reference)
      assert.equals(500, c.balance)
      assert.same({ last4 = CARD.last4, expiry = CARD.expiry, cardHolderName = "Bachi Hilda" }, c.details)
      assert.truthy(resp.body:find('"blockedChannels":[]', 1, true))
      assert.falsy(resp.body:find(CARD.pan, 1, true))
      assert.falsy(resp.body:find('"cvv"', 1, true))
    end)

    it("needs program, customer, amount and reference; fxHash is optional", function()
      local program, customer = sb:make_program(), sb:make_customer()
      local base = { program = program.id, customer = customer.id, amount = 0 }
      local cases = {
        { program = "<nil>" }, { customer = "<nil>" }, { amount = "<nil>" }, { reference = "<nil>" },
        { amount = -1 }, { amount = 2.5 }, { program = "c.prg.none" }, { customer = "cus.none" },
        { controls = "x" }, { debitCurrency = "EUR" },
      }
      for _, over in ipairs(cases) do
        local body = { reference = S.unique("c") }
        for k, v in pairs(base) do body[k] = v end
        local field, value = next(over)
        if value == "<nil>" then body[field] = nil else body[field] = value end
        local resp, doc = post("/cards", body)
        assert.equals(400, resp.status, field)
        assert.equals("bad-request", doc.code)
        assert.truthy(doc.message:find(field, 1, true), doc.message)
      end
      local resp = post("/cards", { program = program.id, customer = customer.id, amount = 0,
        reference = S.unique("c"), fxHash = "a6454tgrfdcvhhyue64645ref45363jh", debitSource = {}, fundingSource = {} })
      assert.equals(201, resp.status)
    end)

    it("keeps references unique: 409 reference-conflict", function()
      local card = sb:make_card()
      local resp, doc = post("/cards", { program = card.program, customer = card.customer, amount = 0,
        reference = card.reference })
      assert.equals(409, resp.status)
      assert.equals("reference-conflict", doc.code)
    end)

    it("debits a debitSource account, refusing with 400 insufficient-funds", function()
      local acct = sb:make_account()
      local number = acct.depositChannels[1].accountNumber
      local resp, doc = post("/cards", { program = sb:make_program().id, customer = sb:make_customer().id,
        amount = 1000, reference = "poor", debitSource = acct.id })
      assert.equals(400, resp.status)
      assert.equals("insufficient-funds", doc.code)
      post("/simulation/payments/pay-in", { method = "bank-transfer", accountNumber = number, amount = 1500 })
      local card = sb:make_card{ amount = 1000, debitSource = acct.id, reference = "rich" }
      assert.equals(1000, card.balance)
      local _, bal = sb:call("GET", "/accounts/" .. acct.id .. "/balance")
      assert.equals(500, bal.data.available)
    end)
  end)

  describe("reading and updating", function()
    it("gets, lists and updates controls and metadata (replaced whole)", function()
      local card = sb:make_card{ metadata = { a = 1 }, controls = { allowedChannels = { "pos" } } }
      local _, doc = sb:call("GET", "/cards/" .. card.id)
      assert.same(card, doc.data)
      local resp
      resp, doc = sb:call("PUT", "/cards/" .. card.id, { metadata = { b = 2 }, controls = { blockedMcc = { "7995" } },
        status = "active" })
      assert.equals(200, resp.status)
      assert.same({ b = 2 }, doc.data.metadata)
      assert.same({ blockedMcc = { "7995" } }, doc.data.controls)
      assert.equals("inactive", doc.data.status) -- not changed by PUT
      _, doc = sb:call("GET", "/cards")
      assert.equals(1, #doc.data)
      assert.equals(404, (sb:call("GET", "/cards/c.none")).status)
      assert.equals(404, (sb:call("PUT", "/cards/c.none", {})).status)
    end)

    it("funds a card from an account", function()
      local acct = sb:make_account()
      post("/simulation/payments/pay-in", { method = "bank-transfer",
        accountNumber = acct.depositChannels[1].accountNumber, amount = 700 })
      local card = sb:make_card()
      local resp, doc = post("/cards/" .. card.id .. "/fund", { amount = 300, debitSource = acct.id })
      assert.equals(200, resp.status)
      assert.equals(300, doc.data.balance)
      resp, doc = post("/cards/" .. card.id .. "/fund", { amount = 500, debitSource = acct.id })
      assert.equals(400, resp.status)
      assert.equals("insufficient-funds", doc.code)
      local _, bal = sb:call("GET", "/accounts/" .. acct.id .. "/balance")
      assert.equals(400, bal.data.available)
      assert.equals(400, (post("/cards/" .. card.id .. "/fund", { amount = 0 })).status)
      _, doc = post("/cards/" .. card.id .. "/fund", { amount = 25 }) -- no debitSource: credited as is
      assert.equals(325, doc.data.balance)
    end)
  end)

  describe("state machine", function()
    local function status_of(card)
      local _, doc = sb:call("GET", "/cards/" .. card.id)
      return doc.data.status
    end

    local function expect_conflict(resp, doc, state)
      assert.equals(409, resp.status)
      assert.equals("conflict", doc.code)
      assert.truthy(doc.message:find("is " .. state, 1, true), doc.message)
    end

    it("activates with the card's CVV and a 4-digit PIN", function()
      local card = sb:make_card()
      local resp, doc = post("/cards/" .. card.id .. "/activate", { cvv = "000", pin = CARD.pin })
      assert.equals(400, resp.status)
      assert.equals("bad-request", doc.code)
      for _, pin in ipairs({ "12", "12345", "abcd", 12 }) do
        resp = post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = pin })
        assert.equals(400, resp.status, tostring(pin))
      end
      assert.equals("inactive", status_of(card))
      resp, doc = post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = CARD.pin })
      assert.equals(200, resp.status)
      assert.equals("active", doc.data.status)
      resp, doc = post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = CARD.pin })
      expect_conflict(resp, doc, "active")
    end)

    it("blocks, unblocks and terminates; repeating a done transition changes nothing", function()
      local card = sb:make_card()
      local resp, doc = post("/cards/" .. card.id .. "/block")
      expect_conflict(resp, doc, "inactive")
      resp, doc = post("/cards/" .. card.id .. "/unblock")
      expect_conflict(resp, doc, "inactive")
      post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = CARD.pin })
      resp, doc = post("/cards/" .. card.id .. "/block")
      assert.equals(200, resp.status)
      assert.equals("blocked", doc.data.status)
      assert.equals(200, (post("/cards/" .. card.id .. "/block")).status)
      assert.equals("blocked", status_of(card))
      resp, doc = post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = CARD.pin })
      expect_conflict(resp, doc, "blocked")
      doc = select(2, post("/cards/" .. card.id .. "/unblock"))
      assert.equals("active", doc.data.status)
      assert.equals(200, (post("/cards/" .. card.id .. "/unblock")).status)
      resp, doc = sb:call("DELETE", "/cards/" .. card.id)
      assert.equals(200, resp.status)
      assert.equals("terminated", doc.data.status)
      assert.equals(200, (sb:call("DELETE", "/cards/" .. card.id)).status)
      for _, path in ipairs({ "/block", "/unblock", "/fund" }) do
        resp, doc = post("/cards/" .. card.id .. path, { amount = 1 })
        expect_conflict(resp, doc, "terminated")
      end
      resp, doc = sb:call("PUT", "/cards/" .. card.id, { metadata = {} })
      expect_conflict(resp, doc, "terminated")
      resp, doc = sb:call("GET", "/cards/" .. card.id .. "/secrets")
      expect_conflict(resp, doc, "terminated")
      assert.equals("terminated", status_of(card))
    end)

    it("terminates an inactive card too; resets a PIN only once activated", function()
      local card = sb:make_card()
      local resp, doc = post("/cards/" .. card.id .. "/reset-pin", { pin = "1111" })
      expect_conflict(resp, doc, "inactive")
      post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = CARD.pin })
      resp = post("/cards/" .. card.id .. "/reset-pin", { pin = "1111" })
      assert.equals(200, resp.status)
      assert.equals(400, (post("/cards/" .. card.id .. "/reset-pin", { pin = "11" })).status)
      local other = sb:make_card()
      assert.equals("terminated", select(2, sb:call("DELETE", "/cards/" .. other.id)).data.status)
    end)
  end)

  describe("secure host", function()
    it("serves the secret routes on the secure listener and on the main one", function()
      local card = sb:make_card{ cardHolderName = "Damini" }
      local resp, doc = sb:call("GET", "/cards/" .. card.id .. "/secrets", nil, { url = sb.secure_url })
      assert.equals(200, resp.status)
      assert.same({ cardHolderName = "Damini", last4 = CARD.last4, pan = CARD.pan, expiry = CARD.expiry,
        cvv = CARD.cvv }, doc.data)
      assert.equals("no-store", resp.headers["cache-control"])
      resp = sb:call("POST", "/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = CARD.pin },
        { url = sb.secure_url })
      assert.equals(200, resp.status)
      resp, doc = sb:call("GET", "/cards/" .. card.id .. "/secrets")
      assert.equals(200, resp.status)
      assert.equals(CARD.pan, doc.data.pan)
      local hosts = {}
      for _, r in ipairs(sb:requests()) do hosts[#hosts + 1] = r.host end
      assert.same({ "api", "api", "api", "secure", "secure", "api" }, hosts)
    end)

    it("serves only the secure routes on the secure listener", function()
      local card = sb:make_card()
      local resp, doc = sb:call("GET", "/cards/" .. card.id, nil, { url = sb.secure_url })
      assert.equals(404, resp.status)
      assert.equals("not-found", doc.code)
      assert.truthy(doc.message:find("secure host", 1, true))
      assert.equals(404, (sb:call("POST", "/customers", { name = "x" }, { url = sb.secure_url })).status)
      -- and the control routes, for the harness
      assert.equals(200, (S.request(sb.secure_url, "GET", "/_sandbox/stats")).status)
    end)

    it("never records a PAN, CVV or PIN", function()
      local card = sb:make_card()
      post("/cards/" .. card.id .. "/activate", { cvv = CARD.cvv, pin = "9753" }, { url = sb.secure_url })
      post("/cards/" .. card.id .. "/reset-pin", { pin = "8642" })
      sb:call("GET", "/cards/" .. card.id .. "/secrets", nil, { url = sb.secure_url })
      post("/_scenario/status=503/cards/" .. card.id .. "/activate", '{"cvv":"' .. CARD.cvv .. '","pin":"7531"}')
      post("/cards/" .. card.id .. "/activate", '{"pin":"7531", not json', { url = sb.secure_url })
      post("/cards/link", { pan = CARD.pan, customer = card.customer }, { url = sb.secure_url })
      local resp = S.request(sb.url, "GET", "/_sandbox/requests")
      local text = resp.body
      assert.falsy(text:find(CARD.pan, 1, true))
      -- The short ones as JSON strings, plain or escaped inside a recorded body (a
      -- record's time or a random id may hold the bare digits).
      for _, secret in ipairs({ CARD.cvv, "9753", "8642", "7531" }) do
        assert.falsy(text:find('"' .. secret .. '"', 1, true), secret)
        assert.falsy(text:find('\\"' .. secret .. '\\"', 1, true), secret)
      end
      assert.truthy(text:find('\\"[redacted]\\"', 1, true)) -- the escaped form is what a leak would look like
      local records = json.decode(text)
      assert.equals(9, #records) -- 3 creates by make_card, then the 6 above
      assert.same({ cvv = "[redacted]", pin = "[redacted]" }, json.decode(records[4].body))
      assert.same({ pin = "[redacted]" }, json.decode(records[5].body))
      assert.same({ cvv = "[redacted]", pin = "[redacted]" }, json.decode(records[7].body))
      assert.matches("^%[redacted", records[8].body)
      -- what is not secret is kept
      assert.same({ pan = "[redacted]", customer = card.customer }, json.decode(records[9].body))
    end)
  end)
end)
