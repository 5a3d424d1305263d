-- Sandbox list routes: paging, filter, sort, select, the pagination object,
-- query-string decoding. Real HTTP.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_lists_spec.lua
local S = require "support.sandbox"

local FILTER_ERROR = [[{"statusCode":400,"message":"Incorrect format for 'filter' parameter."}]]

describe("sandbox lists", function()
  local sb
  local made -- the 25 customers of each test, oldest first

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function()
    sb:reset()
    made = {}
    for i = 1, 25 do
      made[i] = sb:make_customer{
        name = ("Customer %02d"):format(i), reference = ("ref-%02d"):format(i),
        type = i % 3 == 0 and "business" or "individual",
        claims = { individualInformation = { email = ("User%02d@Example.com"):format(i) } },
        metadata = { n = i },
      }
    end
  end)

  local function list(query)
    local resp, doc = sb:call("GET", "/customers" .. (query and "?" .. query or ""))
    return resp, doc
  end

  local function ids(doc)
    local out = {}
    for i, c in ipairs(doc.data) do out[i] = c.id end
    return out
  end

  local function refs(doc)
    local out = {}
    for i, c in ipairs(doc.data) do out[i] = c.reference end
    return out
  end

  describe("paging", function()
    it("gives 20 by default, newest first, with hasMore", function()
      local resp, doc = list()
      assert.equals(200, resp.status)
      assert.equals(20, #doc.data)
      assert.equals(made[25].id, doc.data[1].id)
      assert.equals(made[6].id, doc.data[20].id)
      assert.is_true(doc.metadata.hasMore)
    end)

    it("counts pages from 0", function()
      local _, doc = list("page=1")
      assert.equals(5, #doc.data)
      assert.equals(made[5].id, doc.data[1].id)
      assert.is_false(doc.metadata.hasMore)
      _, doc = list("page=4&limit=5")
      assert.same({ "ref-05", "ref-04", "ref-03", "ref-02", "ref-01" }, refs(doc))
      assert.is_false(doc.metadata.hasMore)
      _, doc = list("page=3&limit=5")
      assert.is_true(doc.metadata.hasMore)
      _, doc = list("page=9")
      assert.same({}, doc.data)
      assert.is_false(doc.metadata.hasMore)
    end)

    it("caps limit at 100 and refuses a bad limit or page with 400 bad-request", function()
      local _, doc = list("limit=1000")
      assert.equals(25, #doc.data)
      for _, q in ipairs({ "limit=0", "limit=abc", "limit=2.5", "page=-1", "page=x" }) do
        local resp, err = list(q)
        assert.equals(400, resp.status, q)
        assert.equals("bad-request", err.code, q)
      end
    end)

    it("walks with after=<id> and before=<id>", function()
      local _, first = list("limit=10")
      local _, second = list("limit=10&after=" .. first.data[10].id)
      assert.equals(made[15].id, second.data[1].id)
      assert.equals(10, #second.data)
      assert.is_true(second.metadata.hasMore)
      local _, third = list("limit=10&after=" .. second.data[10].id)
      assert.equals(5, #third.data)
      assert.is_false(third.metadata.hasMore)
      local _, back = list("limit=10&before=" .. second.data[1].id)
      assert.same(ids(first), ids(back))
      assert.is_false(back.metadata.hasMore)
      local resp, err = list("after=cus.unknown")
      assert.equals(400, resp.status)
      assert.equals("bad-request", err.code)
    end)
  end)

  describe("filter", function()
    it("supports EQ, NEQ, LIKE, IN and NIN", function()
      local _, doc = list("filter=reference||EQ||ref-07")
      assert.same({ "ref-07" }, refs(doc))
      _, doc = list("filter=type||NEQ||individual&limit=100")
      assert.equals(8, #doc.data)
      for _, c in ipairs(doc.data) do assert.equals("business", c.type) end
      _, doc = list("filter=name||LIKE||customer%202&limit=100") -- case-insensitive substring
      assert.same({ "ref-25", "ref-24", "ref-23", "ref-22", "ref-21", "ref-20" }, refs(doc))
      _, doc = list("filter=reference||IN||ref-01,ref-03,ref-99")
      assert.same({ "ref-03", "ref-01" }, refs(doc))
      _, doc = list("filter=reference||NIN||ref-01,ref-02&limit=100")
      assert.equals(23, #doc.data)
    end)

    it("follows dotted paths and compares numbers as text", function()
      local _, doc = list("filter=claims.individualInformation.email||LIKE||user12@example")
      assert.same({ "ref-12" }, refs(doc))
      _, doc = list("filter=metadata.n||EQ||9")
      assert.same({ "ref-09" }, refs(doc))
      _, doc = list("filter=claims.nothing.here||EQ||x")
      assert.same({}, doc.data)
    end)

    it("applies every repeated filter", function()
      local _, doc = list("filter=type||EQ||business&filter=name||LIKE||1&limit=100")
      assert.same({ "ref-21", "ref-18", "ref-15", "ref-12" }, refs(doc))
    end)

    it("decodes percent-encoding, and + as a space", function()
      local _, doc = list("filter=name%7C%7CEQ%7C%7CCustomer%2003")
      assert.same({ "ref-03" }, refs(doc))
      _, doc = list("filter=name||EQ||Customer+04")
      assert.same({ "ref-04" }, refs(doc))
      sb:make_customer{ name = "A+B", reference = "plus" }
      _, doc = list("filter=name||EQ||A%2BB")
      assert.same({ "plus" }, refs(doc))
    end)

    it("answers a malformed filter with the documented statusCode body", function()
      for _, f in ipairs({ "name", "name||EQ", "name||BOGUS||x", "||EQ||x", "na%20me||EQ||x", "" }) do
        local resp = list("filter=" .. f)
        assert.equals(400, resp.status, f)
        assert.equals(FILTER_ERROR, resp.body, f)
      end
    end)
  end)

  describe("sort, select, expand", function()
    it("sorts by a field, ascending or with - descending", function()
      local _, doc = list("sort=reference&limit=3")
      assert.same({ "ref-01", "ref-02", "ref-03" }, refs(doc))
      _, doc = list("sort=-name&limit=2")
      assert.same({ "ref-25", "ref-24" }, refs(doc))
      _, doc = list("sort=metadata.n&limit=2")
      assert.same({ "ref-01", "ref-02" }, refs(doc))
      _, doc = list("sort=-createdAt&limit=2")
      assert.same({ "ref-25", "ref-24" }, refs(doc))
      _, doc = list("sort=type,-reference&limit=2") -- business first, then by reference descending
      assert.same({ "ref-24", "ref-21" }, refs(doc))
    end)

    it("projects with select (repeated keys too), keeping id; ignores expand", function()
      local resp, doc = list("select=name&select=reference&limit=1&expand=customer")
      local _
      assert.equals(200, resp.status)
      assert.same({ name = "Customer 25", reference = "ref-25", id = made[25].id }, doc.data[1])
      _, doc = list("select=-claims,-metadata&limit=1")
      assert.is_nil(doc.data[1].claims)
      assert.is_nil(doc.data[1].metadata)
      assert.equals("Customer 25", doc.data[1].name)
    end)
  end)

  describe("pagination object", function()
    it("is added by the pagination setting", function()
      assert.equals(200, (sb:control_json("POST", "/_sandbox/settings", { pagination = true })))
      local _, doc = list("limit=10&filter=type||EQ||individual")
      assert.same({ lastId = doc.data[10].id, limit = 10, count = 17 }, doc.pagination)
      local _, settings = sb:control_json("GET", "/_sandbox/settings")
      assert.same({ pagination = true }, settings)
      sb:reset()
      _, settings = sb:control_json("GET", "/_sandbox/settings")
      assert.same({ pagination = false }, settings)
      assert.equals(400, (sb:control_json("POST", "/_sandbox/settings", { pagination = "yes" })))
      assert.equals(400, (sb:control_json("POST", "/_sandbox/settings", { paging = true })))
    end)

    it("is added by the scenario key pagination=1, with lastId null on an empty page", function()
      local resp = sb:call("GET", "/_scenario/pagination=1/customers?page=5")
      assert.truthy(resp.body:find('"pagination":{"lastId":null,"limit":20,"count":25}', 1, true), resp.body)
      local _, doc = sb:call("GET", "/customers", nil, { headers = { ["x-sandbox-scenario"] = "pagination=1" } })
      assert.same({ lastId = made[6].id, limit = 20, count = 25 }, doc.pagination)
    end)
  end)

  it("works the same on every list route", function()
    sb:make_account{ name = "Acct A", reference = "acct-a" }
    sb:make_account{ name = "Acct B", currency = "USD" }
    local _, doc = sb:call("GET", "/accounts?filter=currency||EQ||USD")
    assert.equals(1, #doc.data)
    assert.equals("Acct B", doc.data[1].name)
    local program = sb:make_program{ name = "Prog 1" }
    sb:make_card{ program = program.id, customer = made[1].id, reference = "card-1" }
    sb:make_card{ program = program.id, customer = made[2].id, reference = "card-2" }
    _, doc = sb:call("GET", "/cards?filter=customer||EQ||" .. made[2].id)
    assert.same({ "card-2" }, refs(doc))
    _, doc = sb:call("GET", "/card-programs?filter=name||LIKE||prog")
    assert.equals(program.id, doc.data[1].id)
    local resp = sb:call("GET", "/cards?filter=oops")
    assert.equals(FILTER_ERROR, resp.body)
  end)
end)
