-- The customers resource against the sandbox: get, update, list, each, and
-- exactly-once creates when an attempt's outcome was unknown.
local allawee = require "allawee"
local S = require "support.sandbox"
local C = require "support.canned"
local F = require "support.fixtures"

describe("customers", function()
  local sb
  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = F.KEY, base_url = url or sb.url,
                                 backoff_base = 0.001, backoff_max = 0.01 }, extra))
  end

  local function make(c, n, prefix)
    local made = {}
    for i = 1, n do
      made[i] = assert(c.customers.create(F.minimal{ name = ("%s %02d"):format(prefix or "Customer", i) }))
    end
    return made
  end

  describe("get and update", function()
    it("reads a customer back, and 404 is not_found", function()
      local c = client()
      local made = assert(c.customers.create(F.individual()))
      local got, err, meta = c.customers.get(made.id)
      assert.is_nil(err)
      assert.equals(made.id, got.id)
      assert.equals(made.reference, got.reference)
      assert.equals(2345, got.metadata.userId)
      if F.HAS_INTEGERS then assert.equals("integer", math.type(got.metadata.userId)) end
      assert.equals(200, meta.status)
      assert.is_nil(meta.idempotency_key)   -- a GET sends none
      local _, nf = c.customers.get("cus.doesnotexist00000")
      assert.equals("not_found", nf.kind)
      assert.equals(404, nf.status)
      assert.equals("not-found", nf.code)
      assert.is_false(nf.ambiguous)
      c:close()
    end)

    it("updates with PUT and the change reads back", function()
      local c = client()
      local made = assert(c.customers.create(F.minimal{ name = "Before" }))
      local updated, err, meta = c.customers.update(made.id, { name = "After", metadata = { tier = 2 } })
      assert.is_nil(err)
      assert.equals("After", updated.name)
      assert.equals(200, meta.status)
      local rec = F.last_request(sb)
      assert.equals("PUT", rec.method)
      assert.equals("/customers/" .. made.id, rec.path)
      assert.equals('{"name":"After","metadata":{"tier":2}}', rec.body)
      local got = assert(c.customers.get(made.id))
      assert.equals("After", got.name)
      assert.equals(2, got.metadata.tier)
      c:close()
    end)

    it("update takes the create schema with every field optional", function()
      local c = client()
      local made = assert(c.customers.create(F.minimal()))
      local n, data, err = sb:requests_during(c.customers.update, made.id, { nmae = "typo" })
      assert.is_nil(data)
      assert.equals("validation", err.kind)
      assert.equals("nmae", err.field)
      assert.equals(0, n)
      assert(c.customers.update(made.id, { type = "corporate" }))
      c:close()
    end)
  end)

  describe("list and each", function()
    it("list returns one page with meta.has_more and meta.page", function()
      local c = client()
      make(c, 5)
      local page, err, meta = c.customers.list{ limit = 2, page = 1, sort = "name" }
      assert.is_nil(err)
      assert.equals(2, #page)
      assert.equals("Customer 03", page[1].name)
      assert.is_true(meta.has_more)
      assert.equals(1, meta.page)
      local last, _, lmeta = c.customers.list{ limit = 2, page = 2, sort = "name" }
      assert.equals(1, #last)
      assert.is_false(lmeta.has_more)
      c:close()
    end)

    it("each walks 3+ pages lazily, in order, and stops when has_more is false", function()
      local c = client()
      make(c, 7)
      local before = sb:stats().requests
      local names = {}
      local it = c.customers.each{ limit = 2, sort = "name" }
      assert.equals(before, sb:stats().requests)   -- nothing fetched before the loop asks
      for customer, err in it do
        assert.is_nil(err)
        names[#names + 1] = customer.name
        if #names == 1 then assert.equals(before + 1, sb:stats().requests) end
      end
      assert.equals(7, #names)
      assert.equals("Customer 01", names[1])
      assert.equals("Customer 07", names[7])
      assert.equals(before + 4, sb:stats().requests)   -- pages 0..3, no extra request
      c:close()
    end)

    it("each stops at pagination.count too, and leaves the caller's query alone", function()
      local c = client(S.scenario_url(sb, "pagination=1"))
      make(c, 5)
      local q = { limit = 2, sort = "-name" }
      local n = 0
      for customer in c.customers.each(q) do
        n = n + 1
        assert.is_string(customer.id)
      end
      assert.equals(5, n)
      assert.same({ limit = 2, sort = "-name" }, q)
      c:close()
    end)

    it("filters by the documented operators, as a string or as { key, op, value }", function()
      local c = client()
      local made = make(c, 4)
      local one = assert(c.customers.list{ filter = "reference||EQ||" .. made[3].reference })
      assert.equals(1, #one)
      assert.equals(made[3].id, one[1].id)
      local like = assert(c.customers.list{ filter = { "name", "LIKE", "customer 0" }, limit = 10 })
      assert.equals(4, #like)
      local notin = assert(c.customers.list{ filter = { "reference", "NIN",
        { made[1].reference, made[2].reference } }, limit = 10 })
      assert.equals(2, #notin)
      local _, err = c.customers.list{ filter = "nonsense" }   -- the service's own 400
      assert.equals("invalid_request", err.kind)
      assert.equals(400, err.status)
      assert.equals("Incorrect format for 'filter' parameter.", err.message)
      c:close()
    end)

    it("each yields false, err once when a page fails, then ends", function()
      local srv = C.start{
        { status = 200, body = '{"code":"success","data":[{"id":"cus.1"},{"id":"cus.2"}],' ..
                               '"metadata":{"hasMore":true}}' },
        { status = 500, body = '{"code":"application-error","message":"boom"}' },
      }
      local c = client(srv.url, { max_retries = 0 })
      local seen, failures, after = {}, 0, 0
      for customer, err in c.customers.each{ limit = 2 } do
        if customer == false then
          failures = failures + 1
          assert.equals("api", err.kind)
          assert.equals(500, err.status)
        elseif failures > 0 then
          after = after + 1
        else
          seen[#seen + 1] = customer.id
        end
      end
      assert.same({ "cus.1", "cus.2" }, seen)
      assert.equals(1, failures)
      assert.equals(0, after)
      assert.equals(2, #srv.requests())
      c:close()
      srv.stop()
    end)

    it("each ends rather than loop when a service repeats a page", function()
      local srv = C.start{
        { status = 200, body = '{"code":"success","data":[{"id":"cus.1"}],"metadata":{"hasMore":true}}' },
      }
      local c = client(srv.url)
      local n, failed = 0, nil
      for customer, err in c.customers.each() do
        if customer == false then failed = err else n = n + 1 end
      end
      assert.equals(1, n)
      assert.equals("repeated_page", failed.code)
      c:close()
      srv.stop()
    end)

    it("module-level functions use the default client", function()
      assert.is_function(allawee.customers.get)
      assert.is_function(allawee.customers.list_async)
      assert.is_function(allawee.customers.each)
      assert.is_function(allawee.cards.secrets)
    end)

    it("async twins give the same results", function()
      local c = client()
      local made = assert(c.customers.create(F.minimal()))
      local got, listed
      c.customers.get_async(made.id, function(d, e) got = { d, e } end)
      c.customers.list_async(function(d, e, m) listed = { d, e, m } end)   -- no query
      c:wait()
      assert.equals(made.id, got[1].id)
      assert.equals(1, #listed[1])
      assert.is_false(listed[3].has_more)
      c:close()
    end)
  end)

  describe("validation is never stricter than the service", function()
    it("takes corporate, leaves out claims/verifications/metadata, takes null for optional fields", function()
      local c = client()
      local made, err = c.customers.create{ name = "Good Mill Ltd", reference = F.reference(),
                                            type = "corporate" }
      assert.is_nil(err)
      assert.equals("corporate", made.type)
      local p = F.individual()
      p.claims.individualAddress.addressLineTwo = allawee.null
      made, err = c.customers.create(p)
      assert.is_nil(err)
      assert.equals(p.reference, made.reference)
      assert.truthy(F.last_request(sb).body:find('"addressLineTwo":null', 1, true))
      local _, bad = c.customers.create(F.minimal{ emial = "x" })   -- a typo stays an error
      assert.equals("validation", bad.kind)
      assert.equals("emial", bad.field)
      c:close()
    end)
  end)

  describe("exactly-once creates", function()
    -- The first attempt creates the customer, then its answer is lost; the
    -- retry gets 409 reference-conflict; the SDK looks the customer up.
    local function recovered(spec, extra)
      local c = client(S.scenario_url(sb, spec), extra)
      local p = F.minimal()
      local data, err, meta = c.customers.create(p)
      assert.is_nil(err, err and tostring(err))
      assert.equals(p.reference, data.reference)
      assert.is_true(meta.recovered)
      assert.equals(2, sb:posts_for(p.reference))   -- the one create, and the retry
      c:close()
      return data, meta, p
    end

    it("after the connection dropped once the create was done", function()
      local _, meta = recovered("commit=1,fault=close,times=1")
      -- two POSTs, two lookups: the scenario (times=1, per Idempotency-Key,
      -- and a GET has none) drops the first lookup too, which is retried
      assert.equals(4, meta.attempts)
    end)

    it("after a timeout once the create was done", function()
      local _, meta = recovered("commit=1,delay=3000,times=1", { timeout = 1 })
      assert.equals(4, meta.attempts)   -- as above
    end)

    it("after a 5xx once the create was done", function()
      local data, meta = recovered("commit=1,status=503,times=1")
      assert.is_true(meta.attempts >= 3)
      local listed = assert(client().customers.list{ filter = { "reference", "EQ", data.reference } })
      assert.equals(1, #listed)   -- one customer, not two
    end)

    it("the same through create_async", function()
      local c = client(S.scenario_url(sb, "commit=1,fault=close,times=1"))
      local p, got = F.minimal(), nil
      c.customers.create_async(p, function(d, e, m) got = { d, e, m } end)
      c:wait()
      assert.is_nil(got[2])
      assert.equals(p.reference, got[1].reference)
      assert.is_true(got[3].recovered)
      c:close()
    end)

    it("a 409 on the first attempt stays a conflict: the reference was used before", function()
      local c = client()
      local p = F.minimal()
      assert(c.customers.create(p))
      local data, err = c.customers.create(F.minimal{ reference = p.reference })
      assert.is_nil(data)
      assert.equals("conflict", err.kind)
      assert.equals("reference-conflict", err.code)
      assert.is_false(err.ambiguous)
      assert.equals(1, err.attempts)
      c:close()
    end)

    it("with max_retries = 0 an unknown outcome says ambiguous", function()
      local c = client(S.scenario_url(sb, "commit=1,fault=close,times=1"), { max_retries = 0 })
      local p = F.minimal()
      local _, err = c.customers.create(p)
      assert.equals("connection", err.kind)
      assert.is_true(err.ambiguous)
      assert.equals(1, err.attempts)
      assert.equals(1, sb:posts_for(p.reference))
      c:close()
    end)

    it("when the lookup fails, the conflict says ambiguous with the lookup's error as cause", function()
      local srv = C.start{
        { status = 503, body = '{"code":"service-unavailable","message":"busy"}' },
        { status = 409, body = '{"code":"reference-conflict","message":"taken"}' },
        { status = 500, body = '{"code":"application-error","message":"lookup broke"}' },
      }
      local c = client(srv.url, { max_retries = 1 })
      local _, err = c.customers.create(F.minimal())
      assert.equals("conflict", err.kind)
      assert.equals("reference-conflict", err.code)
      assert.is_true(err.ambiguous)
      assert.equals("api", err.cause.kind)
      assert.equals(500, err.cause.status)
      assert.equals("lookup broke", err.cause.message)
      assert.equals(4, err.attempts)   -- 2 POSTs, 2 lookups
      local reqs = srv.requests()
      assert.equals("GET", reqs[3].method)
      assert.matches("^/customers%?filter=reference%%7C%%7CEQ%%7C%%7C", reqs[3].target)
      assert.matches("&limit=1$", reqs[3].target)
      c:close()
      srv.stop()
    end)

    it("when the lookup finds nothing, the conflict stands, ambiguous", function()
      local srv = C.start{
        { status = 503, body = '{"code":"service-unavailable","message":"busy"}' },
        { status = 409, body = '{"code":"reference-conflict","message":"taken"}' },
        { status = 200, body = '{"code":"success","data":[],"metadata":{"hasMore":false}}' },
      }
      local c = client(srv.url, { max_retries = 1 })
      local _, err = c.customers.create(F.minimal())
      assert.equals("conflict", err.kind)
      assert.is_true(err.ambiguous)
      assert.equals("not_found", err.cause.kind)
      c:close()
      srv.stop()
    end)
  end)
end)
