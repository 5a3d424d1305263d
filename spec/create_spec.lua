-- customers.create end to end against the sandbox: the value it returns,
-- the request it sends, connection reuse, and the module-level client.
local allawee = require "allawee"
local S = require "support.sandbox"
local F = require "support.fixtures"

local UUID_V4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

describe("customers.create", function()
  local sb, client

  setup(function()
    sb = S.start()
    client = F.client(sb)
  end)
  teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)
  before_each(function() sb:reset() end)

  describe("on success", function()
    it("returns the customer, normalised, and meta", function()
      local params = F.individual()
      local data, err, meta = client.customers.create(params)
      assert.is_nil(err)
      assert.matches("^cus%.%w+$", data.id)
      assert.equals("customer", data.object)
      assert.equals("Ciroma C Adekunle", data.name)
      assert.equals("individual", data.type)
      assert.equals("active", data.status)
      assert.equals(params.reference, data.reference)
      assert.same(params.claims, data.claims)
      assert.equals(2345, data.metadata.userId)
      if math.type then
        -- lua-cjson decodes every number as a float; the SDK gives integers back.
        assert.equals("integer", math.type(data.metadata.userId))
      else
        assert.equals(2345, math.floor(data.metadata.userId))
      end
      assert.same({ { type = "tier-2", status = "verified" } }, data.verifications)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", data.createdAt)

      assert.equals(201, meta.status)
      assert.equals(1, meta.attempts)
      assert.same({}, meta.waits)
      assert.matches(UUID_V4, meta.idempotency_key)
      -- The request id is the x-request-id the sandbox sent for this request.
      local sent = F.last_request(sb)
      assert.matches("^req_%w+$", meta.request_id)
      assert.equals(sent.request_id, meta.request_id)
      assert.equals(meta.idempotency_key, sent.headers["idempotency-key"])
    end)

    it("returns business customers with their directors", function()
      local params = F.business()
      local data, err, meta = client.customers.create(params)
      assert.is_nil(err)
      assert.equals(201, meta.status)
      assert.equals("business", data.type)
      assert.same(params.claims.businessDirectors, data.claims.businessDirectors)
      assert.same({ { type = "tier-1", status = "verified" }, { type = "tier-3", status = "verified" } },
        data.verifications)
      assert.equals(3, data.metadata.tier)
      if math.type then assert.equals("integer", math.type(data.metadata.tier)) end
    end)

    it("gives each create its own request id and idempotency key", function()
      local _, _, a = client.customers.create(F.minimal())
      local _, _, b = client.customers.create(F.minimal())
      assert.are_not.equal(a.request_id, b.request_id)
      assert.are_not.equal(a.idempotency_key, b.idempotency_key)
    end)

    it("sends the caller's idempotency key when given", function()
      local _, err, meta = client.customers.create(F.minimal(), { idempotency_key = "order-77-create" })
      assert.is_nil(err)
      assert.equals("order-77-create", meta.idempotency_key)
      assert.equals("order-77-create", F.last_request(sb).headers["idempotency-key"])
    end)
  end)

  describe("the request on the wire", function()
    it("is a POST /customers with the documented headers", function()
      local data = assert(client.customers.create(F.minimal()))
      assert.is_table(data)
      local records = sb:requests()
      assert.equals(1, #records)
      local r = records[1]
      assert.equals("POST", r.method)
      assert.equals("/customers", r.path)
      assert.equals("1.1", r.version)
      assert.equals("Bearer " .. F.KEY, r.headers["authorization"])
      assert.matches("^Bearer sk%.test%.", r.headers["authorization"])
      assert.equals("application/json", r.headers["content-type"])
      assert.equals("application/json", r.headers["accept"])
      assert.equals(tostring(#r.body), r.headers["content-length"])
      assert.matches(UUID_V4, r.headers["idempotency-key"])
      assert.is_nil(r.headers["expect"])
      assert.is_nil(r.headers["transfer-encoding"])
      local ua = r.headers["user-agent"]
      assert.equals(1, ua:find("allawee-lua/0.1.0 libcurl/", 1, true))
      assert.truthy(ua:find("libcurl/" .. allawee.curl_version, 1, true))
      assert.truthy(ua:find(_VERSION, 1, true))
    end)

    it("adds the user_agent suffix when given", function()
      local c = F.client(sb, { user_agent = "shop/2.3 (+https://shop.example)" })
      assert(c.customers.create(F.minimal()))
      c:close()
      local ua = F.last_request(sb).headers["user-agent"]
      assert.equals(("allawee-lua/0.1.0 libcurl/%s %s shop/2.3 (+https://shop.example)")
        :format(allawee.curl_version, _VERSION), ua)
    end)

    it("sends no Expect header even for a large body", function()
      local blob = string.rep("x", 256 * 1024)
      assert(client.customers.create(F.minimal{ metadata = { blob = blob } }))
      local r = F.last_request(sb)
      assert.is_nil(r.headers["expect"])
      assert.equals(blob, F.decode(r.body).metadata.blob)
    end)
  end)

  describe("connections", function()
    it("makes 1000 sequential creates on exactly one TCP connection", function()
      -- A fresh client: the shared one's connection predates sb:reset(),
      -- which the sandbox no longer counts.
      local c = F.client(sb)
      local before = sb:stats().connections
      local references, ids = {}, {}
      for i = 1, 1000 do
        local params = F.minimal()
        local data, err = c.customers.create(params)
        assert(data, err and tostring(err))
        assert.is_nil(references[params.reference])
        assert.is_nil(ids[data.id])
        references[params.reference], ids[data.id] = true, true
        if i == 1000 then assert.equals(params.reference, data.reference) end
      end
      local stats = sb:stats()
      c:close()
      assert.equals(1, stats.connections - before)
      assert.equals(1000, stats.requests)
      -- The same connection id on every record, too.
      local records = sb:requests()
      assert.equals(1000, #records)
      for _, r in ipairs(records) do assert.equals(records[1].connection, r.connection) end
    end)
  end)

  describe("the module-level client", function()
    -- Runs `code` in a child Lua with the environment set, as os.setenv does
    -- not exist; returns its output lines.
    local function run_child(code, env)
      local out, lines = F.run_lua(code, env), {}
      if out ~= "" and out:sub(-1) ~= "\n" then out = out .. "\n" end
      for line in out:gmatch("(.-)\n") do lines[#lines + 1] = line end
      return lines
    end

    it("creates with ALLAWEE_SECRET_KEY and ALLAWEE_BASE_URL from the environment", function()
      local reference = F.reference("module")
      local lines = run_child(([[
        local allawee = require "allawee"
        local data, err, meta = allawee.customers.create{
          name = "Env Customer", reference = %q, type = "individual",
          claims = {}, verifications = { "tier-1" }, metadata = { n = 7 } }
        if not data then print("ERR " .. tostring(err)) os.exit(1) end
        print("id=" .. data.id)
        print("reference=" .. data.reference)
        print("status=" .. meta.status)
        print("n=" .. tostring(data.metadata.n))
        print("client=" .. tostring(allawee.default_client()))
      ]]):format(reference), { ALLAWEE_SECRET_KEY = F.KEY, ALLAWEE_BASE_URL = sb.url })
      local out = {}
      for _, line in ipairs(lines) do
        local k, v = line:match("^(%w+)=(.*)$")
        if k then out[k] = v end
      end
      assert.matches("^cus%.%w+$", out.id, table.concat(lines, "\n"))
      assert.equals(reference, out.reference)
      assert.equals("201", out.status)
      assert.equals("7", out.n)
      assert.equals("allawee.client (" .. sb.url .. ")", out.client)
      local r = F.last_request(sb)
      assert.equals("Bearer " .. F.KEY, r.headers["authorization"])
      assert.equals(reference, F.decode(r.body).reference)
      for _, line in ipairs(lines) do assert.is_nil(line:find("canary", 1, true)) end
    end)

    it("raises on first use, not on require, when no key is set", function()
      local lines = run_child([[
        local allawee = require "allawee"
        print("loaded=" .. type(allawee.customers.create))
        local ok, msg = pcall(allawee.customers.create, { name = "x" })
        print("ok=" .. tostring(ok))
        print("msg=" .. tostring(msg))
      ]], {})
      assert.equals("loaded=function", lines[1])
      assert.equals("ok=false", lines[2])
      assert.truthy(lines[3]:find("no secret_key", 1, true), lines[3])
    end)
  end)
end)
