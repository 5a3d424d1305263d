-- Sandbox customers: create (relaxed validation), get, update, list; real HTTP.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_customers_spec.lua
local S = require "support.sandbox"

describe("sandbox customers", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  describe("POST /customers", function()
    it("needs only name, reference and type (individual, business or corporate)", function()
      for _, t in ipairs({ "individual", "business", "corporate" }) do
        local ref = S.unique("min")
        local resp, doc = sb:call("POST", "/customers", { name = "A", reference = ref, type = t })
        assert.equals(201, resp.status, t)
        assert.equals(t, doc.data.type)
        assert.equals(ref, doc.data.reference)
        assert.same({}, doc.data.claims)
        assert.truthy(resp.body:find('"verifications":[]', 1, true))
      end
      for _, missing in ipairs({ "name", "reference", "type" }) do
        local body = { name = "A", reference = S.unique("m"), type = "individual" }
        body[missing] = nil
        local resp, doc = sb:call("POST", "/customers", body)
        assert.equals(400, resp.status, missing)
        assert.equals("bad-request", doc.code)
        assert.truthy(doc.message:find(missing, 1, true), doc.message)
      end
    end)

    it("accepts null for optional fields and claim strings, and unknown keys", function()
      local ref = S.unique("null")
      local resp = sb:call("POST", "/customers", ('{"name":"N","reference":"%s","type":"individual",'
        .. '"claims":{"individualAddress":{"addressLineTwo":null,"postalCode":"11041"}},"verifications":null,'
        .. '"metadata":null,"nickname":"Ace","futureField":{"x":1}}'):format(ref))
      assert.equals(201, resp.status)
      assert.truthy(resp.body:find('"individualAddress":{"addressLineTwo":null,"postalCode":"11041"}', 1, true))
      assert.truthy(resp.body:find('"verifications":[],"metadata":{}', 1, true))
      assert.falsy(resp.body:find("nickname", 1, true)) -- accepted, not kept
    end)
  end)

  describe("GET /customers/:id", function()
    it("answers the stored customer, and 404 not-found for an unknown id", function()
      local made = sb:make_customer{ metadata = { userId = 2345 } }
      local resp, doc = sb:call("GET", "/customers/" .. made.id)
      assert.equals(200, resp.status)
      assert.equals("success", doc.code)
      assert.same(made, doc.data)
      assert.truthy(resp.body:find('"userId":2345', 1, true))

      resp, doc = sb:call("GET", "/customers/cus.doesnotexist00000")
      assert.equals(404, resp.status)
      assert.matches("^req_%w+$", resp.headers["x-request-id"])
      assert.equals("not-found", doc.code)
      assert.truthy(doc.message:find("cus.doesnotexist00000", 1, true))
    end)

    it("decodes a percent-encoded id", function()
      local made = sb:make_customer()
      local encoded = made.id:gsub("%.", "%%2E")
      local resp, doc = sb:call("GET", "/customers/" .. encoded)
      assert.equals(200, resp.status)
      assert.equals(made.id, doc.data.id)
    end)

    it("needs a test key (401 unauthorized)", function()
      local made = sb:make_customer()
      local resp, doc = sb:call("GET", "/customers/" .. made.id, nil, { key = false })
      assert.equals(401, resp.status)
      assert.equals("unauthorized", doc.code)
      resp = sb:call("GET", "/customers/" .. made.id, nil, { key = "sk.live.abc" })
      assert.equals(401, resp.status)
    end)
  end)

  describe("PUT /customers/:id", function()
    it("replaces the given top-level fields, keeps the others, and bumps updatedAt", function()
      local made = sb:make_customer{ claims = { individualInformation = { firstName = "Old" } },
        verifications = { "tier-1" }, metadata = { a = 1 } }
      local resp, doc = sb:call("PUT", "/customers/" .. made.id, {
        name = "New Name", claims = { individualAddress = { city = "Yaba" } }, metadata = { b = 2 },
      })
      assert.equals(200, resp.status)
      local c = doc.data
      assert.equals("New Name", c.name)
      assert.same({ individualAddress = { city = "Yaba" } }, c.claims) -- replaced, not merged
      assert.same({ b = 2 }, c.metadata)
      assert.same({ { type = "tier-1", status = "verified" } }, c.verifications)
      assert.equals(made.reference, c.reference)
      assert.equals(made.type, c.type)
      assert.equals(made.id, c.id)
      assert.equals(made.createdAt, c.createdAt)
      assert.is_true(c.updatedAt > made.updatedAt)
      local _, again = sb:call("GET", "/customers/" .. made.id)
      assert.same(c, again.data)
    end)

    it("validates the fields it is given", function()
      local made = sb:make_customer()
      for _, body in ipairs({ { type = "person" }, { name = "" }, { claims = "x" }, { verifications = { "tier-9" } },
        { metadata = { 1, 2 } } }) do
        local resp, doc = sb:call("PUT", "/customers/" .. made.id, body)
        assert.equals(400, resp.status, next(body))
        assert.equals("bad-request", doc.code)
      end
      local resp = sb:call("PUT", "/customers/" .. made.id, "[")
      assert.equals(400, resp.status)
      resp = sb:call("PUT", "/customers/" .. made.id, {})
      assert.equals(200, resp.status)
    end)

    it("keeps references unique: 409 reference-conflict, and a changed reference frees the old one", function()
      local a, b = sb:make_customer(), sb:make_customer()
      local resp, doc = sb:call("PUT", "/customers/" .. a.id, { reference = b.reference })
      assert.equals(409, resp.status)
      assert.equals("reference-conflict", doc.code)
      local new_ref = S.unique("moved")
      resp = sb:call("PUT", "/customers/" .. a.id, { reference = new_ref })
      assert.equals(200, resp.status)
      assert.equals(201, (sb:call("POST", "/customers",
        { name = "C", reference = a.reference, type = "business" })).status)
      assert.equals(409, (sb:call("POST", "/customers", { name = "D", reference = new_ref, type = "business" })).status)
    end)

    it("answers 404 not-found for an unknown customer", function()
      local resp, doc = sb:call("PUT", "/customers/cus.nope", { name = "x" })
      assert.equals(404, resp.status)
      assert.equals("not-found", doc.code)
    end)
  end)

  describe("GET /customers", function()
    it("lists every customer, newest first, in the list envelope", function()
      local a = sb:make_customer()
      local b = sb:make_customer()
      local resp, doc = sb:call("GET", "/customers")
      assert.equals(200, resp.status)
      assert.equals("success", doc.code)
      assert.equals(2, #doc.data)
      assert.equals(b.id, doc.data[1].id)
      assert.equals(a.id, doc.data[2].id)
      assert.same({ hasMore = false }, doc.metadata)
      assert.is_nil(doc.pagination)
      assert.matches('^{"code":"success","data":%[', resp.body)
    end)

    it("is empty after a reset, written as []", function()
      sb:make_customer()
      sb:reset()
      local resp = sb:call("GET", "/customers")
      assert.equals('{"code":"success","data":[],"metadata":{"hasMore":false}}', resp.body)
    end)
  end)
end)
