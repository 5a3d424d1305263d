-- Sandbox accounts: create, get, list, balance, and the pay-in simulation.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_accounts_spec.lua
local S = require "support.sandbox"

describe("sandbox accounts", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  it("creates an account with a sandbox deposit channel", function()
    local customer = sb:make_customer()
    local resp, doc = sb:call("POST", "/accounts", {
      name = "Funding account", currency = "NGN", type = "main", reference = "acct-1",
      customer = customer.id, depositChannels = { "bank-account" }, metadata = { team = "ops" },
    })
    assert.equals(201, resp.status)
    local a = doc.data
    assert.matches("^ac%.%w+$", a.id)
    assert.equals(20, #a.id)
    assert.equals("account", a.object)
    assert.equals("active", a.status)
    assert.equals("main", a.type)
    assert.equals("NGN", a.currency)
    assert.equals("acct-1", a.reference)
    assert.equals(customer.id, a.customer)
    assert.same({ team = "ops" }, a.metadata)
    assert.equals(1, #a.depositChannels)
    local ch = a.depositChannels[1]
    assert.equals("bank-account", ch.type)
    assert.matches("^%d%d%d%d%d%d%d%d%d%d$", ch.accountNumber)
    assert.equals("Allawee Sandbox Bank", ch.bankName)
    assert.equals("allawee-sandbox", ch.partner)
    assert.equals("000", ch.bankCode)
    assert.equals("Funding account", ch.accountName)
  end)

  it("needs name, currency (NGN|USD) and type (main|sub|virtual)", function()
    local base = { name = "A", currency = "USD", type = "virtual" }
    assert.equals(201, (sb:call("POST", "/accounts", base)).status)
    local cases = {
      { name = "<nil>" }, { currency = "<nil>" }, { type = "<nil>" }, { currency = "EUR" }, { type = "savings" },
      { depositChannels = { "card" } }, { metadata = "x" }, { reference = 5 }, { customer = "cus.unknown" },
    }
    for _, over in ipairs(cases) do
      local body = {}
      for k, v in pairs(base) do body[k] = v end
      local field, value = next(over)
      if value == "<nil>" then body[field] = nil else body[field] = value end
      local resp, doc = sb:call("POST", "/accounts", body)
      assert.equals(400, resp.status, field)
      assert.equals("bad-request", doc.code, field)
      assert.truthy(doc.message:find(field, 1, true), doc.message)
    end
  end)

  it("keeps a given reference unique (409 reference-conflict); none is fine twice", function()
    sb:make_account{ reference = "same" }
    local resp, doc = sb:call("POST", "/accounts", { name = "B", currency = "NGN", type = "sub", reference = "same" })
    assert.equals(409, resp.status)
    assert.equals("reference-conflict", doc.code)
    sb:make_account()
    sb:make_account()
    local _, listed = sb:call("GET", "/accounts")
    assert.equals(3, #listed.data)
  end)

  it("gets one account, 404 for an unknown one", function()
    local a = sb:make_account()
    local _, doc = sb:call("GET", "/accounts/" .. a.id)
    assert.same(a, doc.data)
    local resp, err = sb:call("GET", "/accounts/ac.nothing")
    assert.equals(404, resp.status)
    assert.equals("not-found", err.code)
    resp = sb:call("GET", "/accounts/ac.nothing/balance")
    assert.equals(404, resp.status)
  end)

  it("starts at a zero balance and is credited by pay-in, in integer minor units", function()
    local a = sb:make_account()
    local resp, doc = sb:call("GET", "/accounts/" .. a.id .. "/balance")
    assert.equals(200, resp.status)
    assert.same({ account = a.id, currency = "NGN", available = 0, ledger = 0, object = "account.balance" }, doc.data)
    local number = a.depositChannels[1].accountNumber
    resp, doc = sb:call("POST", "/simulation/payments/pay-in",
      { method = "bank-transfer", accountNumber = number, amount = 150000 })
    assert.equals(201, resp.status)
    assert.equals("payment", doc.data.object)
    assert.matches("^p%.", doc.data.id)
    assert.equals("completed", doc.data.status)
    assert.equals(a.id, doc.data.account)
    sb:call("POST", "/simulation/payments/pay-in", { method = "bank-transfer", accountNumber = number, amount = 50 })
    resp = sb:call("GET", "/accounts/" .. a.id .. "/balance")
    assert.truthy(resp.body:find('"available":150050,"ledger":150050', 1, true), resp.body)
  end)

  it("refuses a pay-in to an unknown account number (404) or without a whole amount (400)", function()
    local a = sb:make_account()
    local resp, doc = sb:call("POST", "/simulation/payments/pay-in",
      { method = "bank-transfer", accountNumber = "0000000000", amount = 10 })
    assert.equals(404, resp.status)
    assert.equals("not-found", doc.code)
    for _, amount in ipairs({ 0, -5, 1.5, "10" }) do
      resp = sb:call("POST", "/simulation/payments/pay-in",
        { method = "bank-transfer", accountNumber = a.depositChannels[1].accountNumber, amount = amount })
      assert.equals(400, resp.status, tostring(amount))
    end
    resp = sb:call("POST", "/simulation/payments/pay-in",
      { accountNumber = a.depositChannels[1].accountNumber, amount = 1 })
    assert.equals(400, resp.status)
  end)
end)
