-- Sandbox card programs: create, get, list, update, go-live.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_programs_spec.lua
local S = require "support.sandbox"

describe("sandbox card programs", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  it("makes a virtual program live at once and a physical one new", function()
    local resp, doc = sb:call("POST", "/card-programs", {
      name = "Virtual NGN", network = "mastercard", type = "virtual", currency = "NGN",
      authorization = { fundingSourceType = "settlement-account", settlementAccount = {}, transactionFee = {},
        webhook = {}, timeoutDefault = "approve" },
    })
    assert.equals(201, resp.status)
    local p = doc.data
    assert.matches("^c%.prg%.%w+$", p.id)
    assert.equals(23, #p.id)
    assert.equals("card.program", p.object)
    assert.equals("live", p.status)
    assert.equals("approve", p.authorization.timeoutDefault)
    assert.equals("settlement-account", p.authorization.fundingSourceType)
    assert.matches("^wh%.%w+$", p.authorization.webhook)

    local physical = sb:make_program{ type = "physical", quantity = 10, description = "Plastic",
      distribution = { type = "bulked", shippingAddress = { city = "Yaba" } },
      personalization = { printCardholderName = true } }
    assert.equals("new", physical.status)
    assert.equals(10, physical.quantity)
    assert.equals("bulked", physical.distribution.type)
    assert.equals("decline", physical.authorization.timeoutDefault) -- the default
  end)

  it("validates network, type, currency and the authorization settings", function()
    local base = { network = "verve", type = "virtual", currency = "USD" }
    local cases = {
      { name = "<nil>" }, { network = "visa" }, { type = "plastic" }, { currency = "GBP" }, { network = "<nil>" },
      { quantity = 0 }, { authorization = { timeoutDefault = "maybe" } },
      { authorization = { fundingSourceType = "wallet" } }, { distribution = { type = "drone" } },
    }
    for _, over in ipairs(cases) do
      local body = { name = S.unique("p") }
      for k, v in pairs(base) do body[k] = v end
      local field, value = next(over)
      if value == "<nil>" then body[field] = nil else body[field] = value end
      local resp, doc = sb:call("POST", "/card-programs", body)
      assert.equals(400, resp.status, field)
      assert.equals("bad-request", doc.code)
      assert.truthy(doc.message:find(field, 1, true), doc.message)
    end
  end)

  it("keeps names unique: 409 conflict", function()
    sb:make_program{ name = "Only one" }
    local resp, doc = sb:call("POST", "/card-programs", { name = "Only one", network = "verve", type = "physical",
      currency = "NGN" })
    assert.equals(409, resp.status)
    assert.equals("conflict", doc.code)
    assert.truthy(doc.message:find("Only one", 1, true))
  end)

  it("gets and lists programs", function()
    local a = sb:make_program()
    local b = sb:make_program{ type = "physical" }
    local _, doc = sb:call("GET", "/card-programs/" .. a.id)
    assert.same(a, doc.data)
    _, doc = sb:call("GET", "/card-programs?filter=status||EQ||new")
    assert.equals(1, #doc.data)
    assert.equals(b.id, doc.data[1].id)
    local resp = sb:call("GET", "/card-programs/c.prg.nothing")
    assert.equals(404, resp.status)
  end)

  it("updates a new program but refuses a live one with 409 conflict", function()
    local p = sb:make_program{ type = "physical" }
    local resp, doc = sb:call("PUT", "/card-programs/" .. p.id, { description = "Updated",
      authorization = { timeoutDefault = "approve" } })
    assert.equals(200, resp.status)
    assert.equals("Updated", doc.data.description)
    assert.equals("approve", doc.data.authorization.timeoutDefault)
    assert.equals(p.name, doc.data.name)
    assert.is_true(doc.data.updatedAt > p.updatedAt)
    resp = sb:call("PUT", "/card-programs/" .. p.id, { network = "amex" })
    assert.equals(400, resp.status)

    local live = sb:make_program()
    resp, doc = sb:call("PUT", "/card-programs/" .. live.id, { description = "no" })
    assert.equals(409, resp.status)
    assert.equals("conflict", doc.code)
    assert.truthy(doc.message:find("is live", 1, true), doc.message)
  end)

  it("goes live through the simulation route, and only live programs issue cards", function()
    local p = sb:make_program{ type = "physical" }
    local customer = sb:make_customer()
    local resp, doc = sb:call("POST", "/cards", { program = p.id, customer = customer.id, amount = 0,
      reference = S.unique("c") })
    assert.equals(409, resp.status)
    assert.equals("conflict", doc.code)
    assert.truthy(doc.message:find("is new", 1, true), doc.message)

    resp, doc = sb:call("POST", "/simulation/card-programs/" .. p.id .. "/go-live", {})
    assert.equals(200, resp.status)
    assert.equals("live", doc.data.status)
    resp = sb:call("POST", "/simulation/card-programs/" .. p.id .. "/go-live", "")
    assert.equals(200, resp.status) -- again: no change, no error
    assert.equals(201, (sb:call("POST", "/cards", { program = p.id, customer = customer.id, amount = 0,
      reference = S.unique("c") })).status)
    assert.equals(404, (sb:call("POST", "/simulation/card-programs/c.prg.none/go-live", {})).status)
  end)
end)
