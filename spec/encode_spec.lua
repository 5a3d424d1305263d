-- The request body: what customers.create puts on the wire, read back from
-- the sandbox's record of the raw bytes, and what it refuses to send.
local allawee = require "allawee"
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"

describe("customers.create request body", function()
  local sb, client

  setup(function()
    sb = S.start()
    client = F.client(sb, { max_retries = 0 })
  end)
  teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)
  before_each(function() sb:reset() end)

  -- Creates and returns the raw body the sandbox received, with the result.
  local function sent_body(params, options)
    local data, err = client.customers.create(params, options)
    local record = F.last_request(sb)
    assert.is_table(record, "the sandbox recorded no request")
    return record.body, data, err
  end

  -- The raw text of metadata in a body (keys are sorted, so it is stable).
  local function metadata_text(body)
    return body:match('"metadata":(.*)}$')
  end

  describe("the documented samples", function()
    it("sends the individual customer exactly as given", function()
      local params = F.individual()
      local body, data, err = sent_body(params)
      assert.is_nil(err)
      assert.equals("customer", data.object)
      assert.same(params, F.decode(body))
      assert.equals(1, sb:stats().requests)
    end)

    it("sends the business customer exactly as given", function()
      local params = F.business()
      local body, data, err = sent_body(params)
      assert.is_nil(err)
      assert.equals("business", data.type)
      local decoded = F.decode(body)
      assert.same(params, decoded)
      assert.same({ "Ciroma Adekunle", "Ngozi Okafor" }, decoded.claims.businessDirectors)
      assert.same({ "tier-1", "tier-3" }, decoded.verifications)
    end)
  end)

  describe("bytes", function()
    local function fixed(reference)
      return {
        metadata = { z = 1, a = "x", m = { true, false } },
        verifications = { "tier-1" },
        claims = {
          individualAddress = { countryCode = "NG", city = "Yaba" },
          individualInformation = { firstName = "Ada" },
        },
        type = "individual", reference = reference, name = "Ada",
      }
    end

    it("writes a fixed table as exactly these bytes, twice", function()
      local reference = F.reference("fixed")
      local expected = '{"name":"Ada","reference":"' .. reference .. '","type":"individual",'
        .. '"claims":{"individualInformation":{"firstName":"Ada"},'
        .. '"individualAddress":{"city":"Yaba","countryCode":"NG"}},'
        .. '"verifications":["tier-1"],"metadata":{"a":"x","m":[true,false],"z":1}}'
      local first = sent_body(fixed(reference))
      assert.equals(expected, first)
      -- The same table again (a fresh copy, built in another order): same
      -- bytes. The sandbox answers 409 for the reused reference, after
      -- recording the body.
      local second, data, err = sent_body(fixed(reference))
      assert.is_nil(data)
      assert.equals("conflict", err.kind)
      assert.equals(expected, second)
      assert.equals(expected, core.encode(fixed(reference)))
    end)

    it("writes metadata keys in bytewise sorted order, also past 32 keys", function()
      local keys = { "b", "a", "B", "aa", "A1", "_", "é", "z" }
      for i = 1, 40 do keys[#keys + 1] = ("k%02d"):format(41 - i) end
      local metadata = {}
      for i, k in ipairs(keys) do metadata[k] = i end
      local body = sent_body(F.minimal{ metadata = metadata })
      local order = {}
      for k in metadata_text(body):gmatch('"([^"]+)":') do order[#order + 1] = k end
      -- Bytewise: upper case, "_", lower case, then the UTF-8 lead byte of é.
      local expected = { "A1", "B", "_", "a", "aa", "b" }
      for i = 1, 40 do expected[#expected + 1] = ("k%02d"):format(i) end
      expected[#expected + 1] = "z"
      expected[#expected + 1] = "é"
      assert.same(expected, order)
      assert.equals("A1", order[1])
      assert.equals("é", order[#order])
    end)
  end)

  describe("numbers", function()
    it("writes integers and short floats as exactly their digits", function()
      local big
      if math.type then
        big = 9007199254740993 -- an integer literal on 5.3+
        assert.equals("integer", math.type(big))
      else
        big = 2 ^ 53 -- 5.1/LuaJIT: the largest exact double integer
      end
      local body = sent_body(F.minimal{ metadata = { big = big, neg = -42, tenth = 0.1 } })
      if math.type then
        assert.equals('{"big":9007199254740993,"neg":-42,"tenth":0.1}', metadata_text(body))
      else
        assert.equals('{"big":9007199254740992,"neg":-42,"tenth":0.1}', metadata_text(body))
      end
    end)

    it("writes the extreme integers exactly", function()
      if math.type then
        -- 5.3+: every 64-bit integer keeps all its digits.
        local body = sent_body(F.minimal{ metadata = { max = math.maxinteger, min = math.mininteger } })
        assert.equals('{"max":9223372036854775807,"min":-9223372036854775808}', metadata_text(body))
      else
        -- 5.1/LuaJIT: doubles are exact integers up to 2^53.
        local body = sent_body(F.minimal{ metadata = { max = 2 ^ 53 - 1, min = -(2 ^ 53 - 1) } })
        assert.equals('{"max":9007199254740991,"min":-9007199254740991}', metadata_text(body))
      end
    end)

    it("writes LuaJIT's 64-bit integer cdata (LL, ULL) exactly", function()
      if not jit then
        pending("LuaJIT only: other Luas have no int64 cdata")
        return
      end
      -- Built from strings so this file still parses on PUC Lua.
      local values = assert(load([[return 9007199254740993LL, -9223372036854775807LL,
        18446744073709551615ULL]]))
      local big, min, umax = values()
      local body = sent_body(F.minimal{ metadata = { big = big, min = min, umax = umax } })
      assert.equals('{"big":9007199254740993,"min":-9223372036854775807,'
        .. '"umax":18446744073709551615}', metadata_text(body))
      -- Other cdata (arrays, structs) are still refused.
      local ffi = require "ffi"
      local _, err = allawee.new{ secret_key = "sk.test.canary-cdata", base_url = "http://127.0.0.1:1" }
        .customers.create(F.minimal{ metadata = { a = ffi.new("int[2]") } })
      assert.equals("validation", err.kind)
      assert.equals("metadata.a", err.field)
    end)

    it("writes integral floats up to 2^53 without a fraction or exponent", function()
      local two53 = 2.0 ^ 53
      if math.type then assert.equals("float", math.type(two53)) end
      local body = sent_body(F.minimal{ metadata = {
        a = two53, b = -two53, c = 2345.0, d = 1e15, e = 0.5, f = -1.25,
      } })
      assert.equals('{"a":9007199254740992,"b":-9007199254740992,"c":2345,'
        .. '"d":1000000000000000,"e":0.5,"f":-1.25}', metadata_text(body))
    end)

    it("writes floats that read back to the same double", function()
      local values = { 1 / 3, 2 ^ 60, 1e300, 5e-324, 123456.789 }
      local body = sent_body(F.minimal{ metadata = { v = values } })
      local decoded = F.decode(body).metadata.v
      for i, v in ipairs(values) do assert.equals(v, decoded[i]) end
    end)
  end)

  describe("empty tables and null", function()
    it("writes empty verifications and businessDirectors as [], empty objects as {}", function()
      local body = sent_body(F.minimal{
        verifications = {},
        claims = { businessDirectors = {}, individualAddress = {} },
        metadata = {},
      })
      assert.truthy(body:find('"verifications":[]', 1, true))
      assert.truthy(body:find('"claims":{"individualAddress":{},"businessDirectors":[]}', 1, true))
      assert.truthy(body:find('"metadata":{}}', 1, true))
    end)

    it("writes empty claims as {}", function()
      local body = sent_body(F.minimal{ claims = {} })
      assert.truthy(body:find('"claims":{}', 1, true))
    end)

    it("writes allawee.empty_array and allawee.array({}) in metadata as []", function()
      local body = sent_body(F.minimal{ metadata = {
        a = allawee.empty_array, b = allawee.array({}), c = {}, d = allawee.array({ 1, 2 }),
      } })
      assert.equals('{"a":[],"b":[],"c":{},"d":[1,2]}', metadata_text(body))
    end)

    it("writes allawee.null as null", function()
      local body = sent_body(F.minimal{ metadata = { gone = allawee.null, list = { 1, allawee.null } } })
      assert.equals('{"gone":null,"list":[1,null]}', metadata_text(body))
      assert.equals(allawee.null, F.decode(body).metadata.gone)
    end)
  end)

  describe("strings", function()
    it("escapes quotes, backslash and control characters, keeps UTF-8", function()
      local s = 'say "hi" \\ back\0nul\1\31\n\t\r\b\f\127 é 😀'
      local body, data = sent_body(F.minimal{ name = s, metadata = { [s] = s } })
      assert.truthy(body:find('"name":"say \\"hi\\" \\\\ back\\u0000nul\\u0001\\u001f'
        .. '\\n\\t\\r\\b\\f\127 é 😀"', 1, true))
      local decoded = F.decode(body)
      assert.equals(s, decoded.name)
      assert.equals(s, decoded.metadata[s])
      assert.equals(s, data.name) -- and back through the sandbox's answer
    end)
  end)

  describe("validate = false", function()
    it("sends an unknown field and type = corporate as given (client option)", function()
      local loose = F.client(sb, { validate = false, max_retries = 0 })
      local params = F.minimal{ type = "corporate", nickname = "Ace" }
      params.claims = { individualAdress = { city = "Yaba" } }
      local data, err = loose.customers.create(params)
      loose:close()
      local decoded = F.decode(F.last_request(sb).body)
      assert.equals("corporate", decoded.type)
      assert.equals("Ace", decoded.nickname)
      assert.same({ individualAdress = { city = "Yaba" } }, decoded.claims)
      -- The sandbox, never stricter than the service, takes the newer type.
      assert.is_nil(err)
      assert.equals("corporate", data.type)
    end)

    it("sends them as given with the per-call option too", function()
      local params = F.minimal{ type = "corporate", nickname = "Ace" }
      local body = sent_body(params, { validate = false })
      local decoded = F.decode(body)
      assert.equals("corporate", decoded.type)
      assert.equals("Ace", decoded.nickname)
      assert.equals(1, sb:stats().requests)
    end)

    it("still keeps an empty businessDirectors an array", function()
      local body = sent_body(F.minimal{ claims = { businessDirectors = {} } }, { validate = false })
      assert.truthy(body:find('"businessDirectors":[]', 1, true))
    end)
  end)

  describe("invalid params are refused before anything is sent", function()
    -- Runs create on params and checks the validation error names `field`
    -- and carries `reason`, with no request at the sandbox.
    local function refused(params, field, reason)
      local sent, data, err = sb:requests_during(client.customers.create, params)
      assert.is_nil(data)
      assert.is_table(err)
      assert.equals("validation", err.kind)
      assert.equals(field, err.field)
      assert.equals(1, err.message:find(field, 1, true)) -- the message starts with the path
      if reason then assert.truthy(err.message:find(reason, 1, true), err.message) end
      assert.is_false(err.retryable)
      assert.equals(0, err.attempts)
      assert.equals(0, sent)
      return err
    end

    it("refuses each missing required field", function()
      -- name, reference and type: the newer reference's rule, the looser one
      for _, name in ipairs({ "name", "reference", "type" }) do
        local p = F.minimal()
        p[name] = nil
        local err = refused(p, name, "required field is missing")
        assert.equals(name .. ": required field is missing", err.message)
      end
    end)

    it("refuses wrong types", function()
      refused(F.minimal{ name = 42 }, "name", "expected string, got number")
      refused(F.minimal{ claims = "kyc" }, "claims", "expected object, got string")
      refused(F.minimal{ verifications = "tier-1" }, "verifications", "expected array, got string")
      refused(F.minimal{ metadata = { 1, 2 } }, "metadata", "expected object, got array")
      local err = refused(F.minimal{ claims = { individualAddress = { city = 10 } } },
        "claims.individualAddress.city")
      assert.equals("claims.individualAddress.city: expected string, got number", err.message)
    end)

    it("refuses values outside the documented enums", function()
      refused(F.minimal{ type = "person" }, "type", 'got "person"')
      refused(F.minimal{ verifications = { "tier-1", "tier-9" } }, "verifications[2]", 'got "tier-9"')
    end)

    it("refuses an empty name or reference", function()
      refused(F.minimal{ name = "" }, "name", "must not be empty")
      refused(F.minimal{ reference = "" }, "reference", "must not be empty")
    end)

    it("refuses NaN, inf and -inf", function()
      refused(F.minimal{ metadata = { x = 0 / 0 } }, "metadata.x", "NaN")
      refused(F.minimal{ metadata = { x = math.huge } }, "metadata.x", "inf is not a JSON number")
      refused(F.minimal{ metadata = { x = -math.huge } }, "metadata.x", "-inf is not a JSON number")
    end)

    it("refuses a cycle", function()
      local loop = { name = "loop" }
      loop.again = loop
      refused(F.minimal{ metadata = { loop = loop } }, "metadata.loop.again", "cycle")
    end)

    it("refuses sparse arrays, mixed tables and non-string keys", function()
      refused(F.minimal{ metadata = { list = { 1, nil, 3 } } }, "metadata.list", "sparse array")
      refused(F.minimal{ metadata = { mix = { 1, 2, key = 3 } } }, "metadata.mix", "mixed table")
      refused(F.minimal{ metadata = { [true] = 1 } }, "metadata", "non-string key of type boolean")
      refused(F.minimal{ metadata = { [1.5] = 1 } }, "metadata", "non-string key 1.5")
    end)

    it("refuses invalid UTF-8 in a value and in a key", function()
      refused(F.minimal{ metadata = { bad = "ok\255" } }, "metadata.bad", "invalid UTF-8 at byte 3")
      refused(F.minimal{ name = "\192\128" }, "name", "invalid UTF-8") -- overlong NUL
      -- A surrogate (U+D800) in a key: the path shows the bad bytes escaped,
      -- so the error itself is clean text.
      refused(F.minimal{ metadata = { ["k\237\160\128"] = 1 } },
        "metadata.k\\xed\\xa0\\x80", "invalid UTF-8 at byte 2")
    end)

    it("refuses functions, userdata and coroutines", function()
      refused(F.minimal{ metadata = { f = print } }, "metadata.f", "cannot encode a function")
      refused(F.minimal{ metadata = { u = io.stdout } }, "metadata.u", "cannot encode a userdata")
      refused(F.minimal{ metadata = { co = coroutine.create(function() end) } }, "metadata.co",
        "cannot encode a thread")
    end)

    it("bounds the size of one string (value or key) at 1 MiB", function()
      local mib = 1024 * 1024
      refused(F.minimal{ metadata = { note = ("x"):rep(mib + 1) } }, "metadata.note",
        "string of 1048577 bytes is longer than the 1048576 bytes allowed")
      refused(F.minimal{ metadata = { [("k"):rep(mib + 1)] = 1 } }, "metadata." .. ("k"):rep(64),
        "longer than the 1048576 bytes allowed")
      -- Exactly 1 MiB is still sent, byte for byte.
      local sent, data, err = sb:requests_during(client.customers.create,
                                                 F.minimal{ metadata = { note = ("y"):rep(mib) } })
      assert.is_nil(err)
      assert.is_table(data)
      assert.equals(1, sent)
    end)

    it("refuses nesting 10000 deep without overflowing the C stack", function()
      local root = {}
      local t = root
      for _ = 1, 10000 do
        t.x = {}
        t = t.x
      end
      local sent, data, err = sb:requests_during(client.customers.create, F.minimal{ metadata = root })
      assert.is_nil(data)
      assert.equals("validation", err.kind)
      assert.matches("^metadata%.x%.x", err.field)
      assert.truthy(err.message:find("nested deeper than", 1, true))
      assert.equals(1, err.message:find(err.field, 1, true))
      assert.equals(0, sent)
    end)

    it("refuses unknown keys at the top level and inside claims", function()
      refused(F.minimal{ nickname = "Ace" }, "nickname", "unknown field")
      local p = F.minimal()
      p.claims = { individualAdress = { city = "Yaba" } }
      refused(p, "claims.individualAdress", "unknown field")
    end)

    it("raises for params that are not a table (a programmer error)", function()
      local sent = sb:requests_during(function()
        assert.has_error(function() client.customers.create("not a table") end)
        assert.has_error(function() client.customers.create(nil) end)
        assert.has_error(function() client.customers.create(42) end)
      end)
      assert.equals(0, sent)
    end)
  end)
end)
