-- The route-generic engine: client:request for any route, paths and
-- queries, the two hosts, one connection pool, how answers are read, exact
-- integers, and the retry classes with every send counted.
local allawee = require "allawee"
local S = require "support.sandbox"
local C = require "support.canned"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = F.KEY

describe("the request engine", function()
  local sb
  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = KEY, base_url = url or sb.url, max_retries = 0,
                                 backoff_base = 0.001 }, extra))
  end

  local function last() return F.last_request(sb) end

  describe("client:request", function()
    it("sends GET, POST, PUT and DELETE with their method, path and body", function()
      local c = client()
      local data, err, meta = c:request("POST", "/customers", { body = F.minimal() })
      assert.is_nil(err)
      assert.equals("customer", data.object)
      assert.equals(201, meta.status)
      assert.equals(1, meta.attempts)
      assert.equals("POST", last().method)
      assert.matches("^[0-9a-f-]+$", last().headers["idempotency-key"])

      local _, gerr = c:request("GET", "/nothing/here", { query = { b = "2", a = "1" } })
      assert.equals("not_found", gerr.kind)
      assert.equals("GET", last().method)
      assert.equals("/nothing/here?a=1&b=2", last().path)
      assert.equals("", last().body)
      assert.is_nil(last().headers["idempotency-key"])   -- a GET changes nothing
      assert.is_false(gerr.ambiguous)

      c:request("put", "/things/t1", { body = '{"raw":true}' })
      assert.equals("PUT", last().method)
      assert.equals('{"raw":true}', last().body)

      c:request("DELETE", "/things/t1")
      assert.equals("DELETE", last().method)
      assert.equals("", last().body)
      c:close()
    end)

    it("refuses a path it would have to guess about, and sends nothing", function()
      local c = client()
      for _, path in ipairs({ "customers", "/a//b", "/a/../b", "/a b", "/x?y=1", "/%zz" }) do
        local n, data, err = sb:requests_during(c.request, c, "GET", path)
        assert.is_nil(data)
        assert.equals("validation", err.kind, path)
        assert.equals("path", err.field)
        assert.equals(0, n)
      end
      c:close()
    end)

    it("raises for programmer errors in the standard form", function()
      local c = client()
      local ok, msg = pcall(c.request, c, "FETCH", "/x")
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'request' (expected GET, POST, PUT, PATCH or DELETE)",
                     msg, 1, true)
      ok, msg = pcall(c.request, c, "GET", "/x", { bogus = 1 })
      assert.is_false(ok)
      assert.matches("unknown key in args", msg, 1, true)
      ok, msg = pcall(c.request, c, "GET", "/x", { body = "x" })
      assert.is_false(ok)
      assert.matches("a GET has no body", msg, 1, true)
      c:close()
    end)

    it("has an async twin with the same results", function()
      local c = client()
      local got
      c:request_async("POST", "/customers", { body = F.minimal() }, function(d, e, m)
        got = { d, e, m }
      end)
      c:wait()
      assert.is_nil(got[2])
      assert.equals("customer", got[1].object)
      assert.equals(1, got[3].attempts)
      c:close()
    end)
  end)

  describe("paths and queries", function()
    it("percent-encodes path parameters (RFC 3986)", function()
      local c = client()
      c.customers.get("cus.a b%ü:")
      assert.equals("/customers/cus.a%20b%25%C3%BC%3A", last().path)
      c.customers.get("cus.2tXNjMhytgx7hCxu9~_-")
      assert.equals("/customers/cus.2tXNjMhytgx7hCxu9~_-", last().path)
      c:close()
    end)

    it("refuses an id that is empty, has '..' or a control character, by field", function()
      local c = client()
      for _, id in ipairs({ "", "..", "a..b", "a\nb", "a\0b" }) do
        local n, data, err = sb:requests_during(c.customers.get, id)
        assert.is_nil(data)
        assert.equals("validation", err.kind)
        assert.equals("id", err.field)
        assert.equals(0, n)
      end
      local ok, msg = pcall(c.customers.get, 42)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'get' (string expected, got number)", msg, 1, true)
      c:close()
    end)

    it("encodes queries deterministically: sorted keys, arrays repeated, filters built", function()
      local c = client()
      c.customers.list{ sort = "-createdAt", limit = 5, page = 0, select = { "name", "id" },
                        filter = { "reference", "eq", "a b" } }
      assert.equals("/customers?filter=reference%7C%7CEQ%7C%7Ca%20b&limit=5&page=0" ..
                    "&select=name&select=id&sort=-createdAt", last().path)
      c.customers.list{ filter = "reference||EQ||x+y" }
      assert.equals("/customers?filter=reference%7C%7CEQ%7C%7Cx%2By", last().path)
      c.customers.list{ filter = { key = "status", op = "IN", value = { "active", "new" } } }
      assert.equals("/customers?filter=status%7C%7CIN%7C%7Cactive%2Cnew", last().path)
      c:close()
    end)

    it("refuses unknown query keys and bad filters, unless validate = false", function()
      local c = client()
      local n, data, err = sb:requests_during(c.customers.list, { limt = 5 })
      assert.is_nil(data)
      assert.equals("validation", err.kind)
      assert.equals("query.limt", err.field)
      assert.equals(0, n)
      local _
      _, err = c.customers.list{ filter = { "reference", "EQ", "a||b" } }
      assert.equals("validation", err.kind)
      assert.matches("'||'", err.message, 1, true)
      _, err = c.customers.list{ filter = { "reference", "GT", "a" } }
      assert.matches("op must be one of", err.message, 1, true)
      _, err = c.customers.list{ limit = -1 }
      assert.equals("query.limit", err.field)
      c.customers.list({ limt = 5 }, { validate = false })
      assert.equals("/customers?limt=5", last().path)
      c:close()
    end)
  end)

  describe("the secure host", function()
    it("defaults to base_url for loopback and is used for secure routes", function()
      local secure = S.start()
      local c = client(sb.url, { secure_base_url = secure.url })
      c:request("GET", "/cards/c.1/secrets", { secure = true })
      assert.equals(1, secure:stats().requests)
      assert.equals(0, sb:stats().requests)
      c:request("GET", "/cards/c.1")
      assert.equals(1, sb:stats().requests)
      c:close()
      secure:stop()
      local d = client(sb.url)
      d:request("GET", "/cards/c.1/secrets", { secure = true })
      assert.equals(2, sb:stats().requests)
      d:close()
    end)

    it("follows base_url's rules and defaults to https://secure.allawee.com", function()
      local core = require "allawee.core"
      assert.equals("https://secure.allawee.com",
        core.options{ secret_key = KEY, base_url = "https://api.example.com" }.secure_base_url)
      local ok, msg = pcall(allawee.new, { secret_key = KEY, secure_base_url = "http://example.com" })
      assert.is_false(ok)
      assert.matches("option 'secure_base_url' may use plain http:// only for loopback", msg, 1, true)
    end)
  end)

  describe("one connection pool", function()
    it("1000 mixed calls over two hosts reuse one connection per host", function()
      local secure = S.start()
      local c = client(sb.url, { secure_base_url = secure.url })
      for i = 1, 1000 do
        local k = i % 4
        if k == 0 then c:request("GET", "/customers/cus." .. i)
        elseif k == 1 then c:request("GET", "/cards/c." .. i .. "/secrets", { secure = true })
        elseif k == 2 then c:request("PUT", "/things/" .. i, { body = { n = i } })
        else c:request("DELETE", "/things/" .. i) end
      end
      assert.equals(750, sb:stats().requests)
      assert.equals(250, secure:stats().requests)
      assert.equals(1, sb:stats().connections)
      assert.equals(1, secure:stats().connections)
      c:close()
      secure:stop()
    end)
  end)

  describe("answers", function()
    local srv
    after_each(function() if srv then srv.stop() srv = nil end end)

    it("a non-JSON 2xx comes back as the body string with meta.content_type", function()
      srv = C.start{ { status = 200, headers = { ["Content-Type"] = "text/csv" }, body = "a,b\n1,2\n" } }
      local c = client(srv.url)
      local data, err, meta = c:request("GET", "/accounts/ac.1/logs/csv")
      assert.is_nil(err)
      assert.equals("a,b\n1,2\n", data)
      assert.equals("text/csv", meta.content_type)
      -- a route that promises an object does not take one
      local _, gerr = c.customers.get("cus.1")
      assert.equals("decode", gerr.kind)
      assert.equals("unexpected_body", gerr.code)
      c:close()
    end)

    it("an un-enveloped object or array is tolerated", function()
      srv = C.start{
        { status = 200, body = '{"_id":"req_1","status":"completed","attempts":[]}' },
        { status = 200, body = '[1,2]' },
      }
      local c = client(srv.url)
      local data = c:request("GET", "/requests/req_1")
      assert.equals("completed", data.status)
      assert.equals("req_1", data._id)
      data = c:request("GET", "/x")
      assert.same({ 1, 2 }, data)
      c:close()
    end)

    it("a success whose data is not what the route says is a decode error", function()
      srv = C.start{
        { status = 200, body = '{"code":"success","data":[{"id":"cus.1"}]}' },
        { status = 200, body = '{"code":"success","data":{"id":"cus.1"}}' },
      }
      local c = client(srv.url)
      local _, err = c.customers.get("cus.1")
      assert.equals("decode", err.kind)
      assert.matches("list where an object was expected", err.message, 1, true)
      _, err = c.customers.list()
      assert.equals("decode", err.kind)
      assert.matches("not a list", err.message, 1, true)
      c:close()
    end)

    it("lists give meta.has_more, meta.page and meta.pagination in either shape", function()
      srv = C.start{
        { status = 200, body = '{"code":"success","data":[{"id":"a"}],"metadata":{"hasMore":true}}' },
        { status = 200, body = '{"code":"success","data":[],"pagination":{"lastId":"b","limit":2,"count":7}}' },
      }
      local c = client(srv.url)
      local list, err, meta = c.customers.list{ page = 3, limit = 1 }
      assert.is_nil(err)
      assert.equals("a", list[1].id)
      assert.is_true(meta.has_more)
      assert.equals(3, meta.page)
      list, err, meta = c.customers.list()
      assert.is_nil(err)
      assert.equals(0, #list)
      assert.equals(7, meta.pagination.count)
      assert.equals("b", meta.pagination.lastId)
      c:close()
    end)

    it("integers are exact over 64 bits on 5.3+, whichever lua-cjson decodes", function()
      srv = C.start{ { status = 200, body = '{"code":"success","data":{"a":9007199254740993,' ..
        '"b":-9223372036854775808,"c":9223372036854775807,"d":18446744073709551616,' ..
        '"e":[123456789012345678],"f":1.5,"g":"9007199254740993"}}' } }
      local c = client(srv.url)
      local data = assert(c.customers.get("cus.big"))
      if F.HAS_INTEGERS then
        assert.equals(math.tointeger(9007199254740993), data.a)
        assert.equals("integer", math.type(data.a))
        assert.equals(math.mininteger, data.b)
        assert.equals(math.maxinteger, data.c)
        assert.equals("float", math.type(data.d))   -- beyond 64 bits: a float (documented)
        assert.equals(123456789012345678, data.e[1])
      else
        assert.equals(9007199254740992, data.a)      -- a double: the nearest one
      end
      assert.equals(1.5, data.f)
      assert.equals("9007199254740993", data.g)      -- strings are never touched
      c:close()
    end)
  end)

  describe("retry classes, every send counted", function()
    local function scenario_client(spec, extra)
      return client(S.scenario_url(sb, spec), F.merge({ max_retries = 2 }, extra))
    end

    it("a GET is retried on 5xx", function()
      local c = scenario_client("status=503,times=1")
      local _, err = c:request("GET", "/customers/cus.1")
      assert.equals("not_found", err.kind)   -- the second attempt reached the route
      assert.equals(2, err.attempts)
      c:close()
    end)

    it("a POST that is not safe to repeat is not retried after a 5xx, and says so", function()
      local c = scenario_client("status=503,times=1")
      local _, err = c:request("POST", "/customers", { body = F.minimal() })
      assert.equals("api", err.kind)
      assert.equals(503, err.status)
      assert.equals(1, err.attempts)
      assert.is_true(err.ambiguous)
      assert.matches("ambiguous", tostring(err), 1, true)
      assert.equals(1, sb:stats().requests)
      c:close()
    end)

    it("... unless the caller says idempotent = true", function()
      local c = scenario_client("status=503,times=1")
      local data, err, meta = c:request("POST", "/customers", { body = F.minimal(), idempotent = true })
      assert.is_nil(err)
      assert.equals("customer", data.object)
      assert.equals(2, meta.attempts)
      c:close()
    end)

    it("a POST is retried on 429 and when it never left (connection refused)", function()
      local c = scenario_client("status=429,times=1")
      local _, err, meta = c:request("POST", "/customers", { body = F.minimal() })
      assert.is_nil(err)
      assert.equals(2, meta.attempts)
      c:close()
      local d = client("http://127.0.0.1:" .. net.free_port(), { max_retries = 2 })
      local _, derr = d:request("POST", "/customers", { body = F.minimal() })
      assert.equals("connection", derr.kind)
      assert.equals(3, derr.attempts)
      assert.is_false(derr.ambiguous)   -- it never left
      d:close()
    end)

    it("a POST whose answer timed out is not sent again", function()
      local c = scenario_client("delay=1000", { timeout = 0.2 })
      local _, err = c:request("POST", "/customers", { body = F.minimal() })
      assert.equals("timeout", err.kind)
      assert.equals(1, err.attempts)
      assert.is_true(err.ambiguous)
      c:close()
    end)

    it("a PUT is retried on a timeout", function()
      -- (the second attempt has all of its 1 s: a busy machine may be slow)
      local c = scenario_client("delay=3000,times=1", { timeout = 1 })
      local _, err = c:request("PUT", "/things/1", { body = { a = 1 } })
      assert.equals("not_found", err.kind)
      assert.equals(2, err.attempts)
      c:close()
    end)

    describe("libcurl's own resend on a dead keep-alive connection", function()
      -- The connection is kept alive by a first request; the second one is
      -- read by the server, which then hangs up without a byte: libcurl
      -- wants to send it again on a new connection.
      local function dead_after_read(c, call)
        c:request("GET", "/warm-up")   -- a 404 is fine: it opens the connection
        return call()
      end

      it("is refused for a POST with max_retries = 0: one send, ambiguous", function()
        local c = client(sb.url, { max_retries = 0 })
        local p = F.minimal()
        local _, err = dead_after_read(c, function()
          return c:request("POST", "/_scenario/fault=close,times=1/customers", { body = p })
        end)
        assert.equals("connection", err.kind)
        assert.equals(1, err.attempts)
        assert.is_true(err.ambiguous)
        local posts = 0
        for _, r in ipairs(sb:requests()) do
          if r.method == "POST" then posts = posts + 1 end
        end
        assert.equals(1, posts)   -- the server saw exactly one
        c:close()
      end)

      it("is an attempt like any other where the class allows it", function()
        local c = client(sb.url, { max_retries = 2 })
        local p = F.minimal()
        local data, err, meta = dead_after_read(c, function()
          return c:request("PUT", "/_scenario/fault=close,times=1/things/1", { body = p })
        end)
        assert.is_nil(data)
        assert.equals("not_found", err.kind)
        assert.equals(2, err.attempts)   -- both sends counted
        assert.is_nil(meta)
        c:close()
      end)
    end)
  end)
end)
