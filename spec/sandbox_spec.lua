-- Tests of the Allawee sandbox itself, through real HTTP on loopback.
-- Run: busted --lua=lua5.4 spec/sandbox_spec.lua
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local json = require("cjson").new()
local S = require "support.sandbox"
local net = require "support.net"

local AUTH = { Authorization = "Bearer sk.test.abc123", ["Content-Type"] = "application/json" }

local reference_seq = 0
local function fresh_reference()
  reference_seq = reference_seq + 1
  return ("ref-%d-%d@example.com"):format(os.time(), reference_seq)
end

-- A valid create body as JSON text; fields in `overrides` replace the defaults
-- (the string "<nil>" removes one).
local function customer_json(overrides)
  local body = {
    name = "Ciroma C Adekunle", reference = fresh_reference(), type = "individual",
    claims = { individualInformation = { firstName = "Ciroma", lastName = "Adekunle" } },
    verifications = { "tier-2" }, metadata = { userId = 2345 },
  }
  for k, v in pairs(overrides or {}) do
    if v == "<nil>" then body[k] = nil else body[k] = v end
  end
  return json.encode(body), body
end

local function merge(a, b)
  local out = {}
  for k, v in pairs(a or {}) do out[k] = v end
  for k, v in pairs(b or {}) do out[k] = v end
  return out
end

describe("allawee sandbox", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function post(path, body, headers)
    local resp, err = S.request(sb.url, "POST", path, headers or AUTH, body)
    assert(resp, err)
    return resp, resp.status == 204 and nil or (pcall(json.decode, resp.body) and json.decode(resp.body))
  end

  local function create(overrides, headers)
    return post("/customers", customer_json(overrides), headers)
  end

  local function assert_common_headers(resp, content_type)
    assert.matches("^req_%w+$", resp.headers["x-request-id"])
    assert.equals(content_type or "application/json", resp.headers["content-type"])
    assert.equals(#resp.body, tonumber(resp.headers["content-length"]))
  end

  local function connect()
    return assert(S.connect(sb.url, 5))
  end

  describe("POST /customers", function()
    it("creates a customer with the documented envelope", function()
      local text, sent = customer_json()
      local resp, doc = post("/customers", text)
      assert.equals(201, resp.status)
      assert_common_headers(resp)
      assert.equals("success", doc.code)
      local data = doc.data
      assert.equals(sent.name, data.name)
      assert.equals("individual", data.type)
      assert.equals("active", data.status)
      assert.equals(sent.reference, data.reference)
      assert.equals("customer", data.object)
      assert.matches("^cus%.%w+$", data.id)
      assert.equals(21, #data.id)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", data.createdAt)
      assert.equals(data.createdAt, data.updatedAt)
      assert.same({ { type = "tier-2", status = "verified" } }, data.verifications)
      assert.same(sent.claims, data.claims)
      -- integers stay integers on the wire
      assert.truthy(resp.body:find('"metadata":{"userId":2345}', 1, true))
      assert.falsy(resp.body:find("2345.0", 1, true))
    end)

    it("writes empty verifications as [] and empty metadata/claims as {}", function()
      local body = ('{"name":"A","reference":"%s","type":"business","claims":{},"verifications":[],"metadata":{}}')
        :format(fresh_reference())
      local resp = post("/customers", body)
      assert.equals(201, resp.status)
      assert.truthy(resp.body:find('"claims":{}', 1, true))
      assert.truthy(resp.body:find('"verifications":[]', 1, true))
      assert.truthy(resp.body:find('"metadata":{}', 1, true))
    end)

    it("gives every customer a fresh id", function()
      local _, a = create()
      local _, b = create()
      assert.are_not.equal(a.data.id, b.data.id)
    end)

    it("answers socket.http too", function()
      local chunks = {}
      local text = customer_json()
      local ok, status, headers = http.request{
        url = sb.url .. "/customers", method = "POST", sink = ltn12.sink.table(chunks),
        source = ltn12.source.string(text),
        headers = merge(AUTH, { ["content-length"] = tostring(#text) }),
      }
      assert.equals(1, ok)
      assert.equals(201, status)
      assert.matches("^req_", headers["x-request-id"])
      assert.equals("success", json.decode(table.concat(chunks)).code)
    end)

    it("rejects a missing or non-test secret key with 401", function()
      for _, auth in ipairs({ false, "Bearer sk.live.abc", "Bearer sk.test.", "Basic sk.test.abc", "sk.test.abc" }) do
        local headers = { ["Content-Type"] = "application/json", Authorization = auth or nil }
        local resp, doc = create(nil, headers)
        assert.equals(401, resp.status)
        assert_common_headers(resp)
        assert.equals("unauthorized", doc.code)
        assert.is_string(doc.message)
      end
    end)

    it("rejects bodies that do not satisfy create-a-customer.md with 400", function()
      local cases = {
        { "not json", "{" }, { "a JSON array", "[1,2]" }, { "a JSON string", '"x"' },
        { "NaN is not JSON", '{"name":NaN}' },
      }
      for _, case in ipairs(cases) do
        local resp, doc = post("/customers", case[2])
        assert.equals(400, resp.status, case[1])
        assert.equals("bad-request", doc.code)
      end
      local field_cases = {
        { name = "<nil>" }, { name = "" }, { name = 5 }, { reference = "<nil>" }, { reference = "" },
        { type = "person" }, { type = "<nil>" }, { claims = "x" }, { claims = { 1, 2 } },
        { verifications = { "tier-4" } }, { verifications = { a = 1 } },
        { verifications = "tier-1" }, { metadata = { 1 } }, { metadata = "x" },
      }
      for _, overrides in ipairs(field_cases) do
        local resp, doc = create(overrides)
        local field = next(overrides)
        assert.equals(400, resp.status, field)
        assert.equals("bad-request", doc.code)
        assert.truthy(doc.message:find(field, 1, true), doc.message)
      end
    end)

    it("is never stricter than the service: corporate, and claims/verifications/metadata optional", function()
      local resp, doc = create{ type = "corporate", claims = "<nil>", verifications = "<nil>", metadata = "<nil>",
        nickname = "unknown keys pass" }
      assert.equals(201, resp.status)
      assert.equals("corporate", doc.data.type)
      assert.truthy(resp.body:find('"claims":{},"verifications":[],"metadata":{}', 1, true))
    end)

    it("answers 409 reference-conflict for a reused reference until reset", function()
      local reference = fresh_reference()
      assert.equals(201, (create{ reference = reference }).status)
      local resp, doc = create{ reference = reference }
      assert.equals(409, resp.status)
      assert_common_headers(resp)
      assert.equals("reference-conflict", doc.code)
      sb:reset()
      assert.equals(201, (create{ reference = reference }).status)
    end)

    it("answers 404 not-found for other methods and paths", function()
      for _, req in ipairs({ { "DELETE", "/customers" }, { "POST", "/customer" }, { "PUT", "/customers" },
        { "GET", "/" }, { "GET", "/_sandbox/nothing" }, { "POST", "/customers/cus.x/y" } }) do
        local resp = assert(S.request(sb.url, req[1], req[2], AUTH))
        assert.equals(404, resp.status)
        assert_common_headers(resp)
        assert.equals("not-found", json.decode(resp.body).code)
      end
    end)
  end)

  describe("recording and counts", function()
    it("counts API connections and requests, not control ones", function()
      assert.same({ connections = 0, requests = 0, open_connections = 0 }, sb:stats())
      create()
      create()
      sb:stats()
      sb:requests()
      local stats = sb:stats()
      assert.equals(2, stats.connections)
      assert.equals(2, stats.requests)
      assert.equals(0, stats.open_connections)
    end)

    it("records method, path as received, lowercased headers, exact body, connection and time", function()
      local body = '{"name":"\0\255\254 raw","x":"\\u00e9"}' -- invalid JSON on purpose, with NUL and 0xFF
      local t0 = socket.gettime()
      local resp = post("/customers?x=1%202", body, merge(AUTH, { ["X-Custom-Header"] = "Value" }))
      local t1 = socket.gettime()
      assert.equals(400, resp.status)
      post("/_scenario/status=503/customers", "{}")
      local records = sb:requests()
      assert.equals(2, #records)
      local r = records[1]
      assert.equals("POST", r.method)
      assert.equals("/customers?x=1%202", r.path)
      assert.equals("Value", r.headers["x-custom-header"])
      assert.equals("Bearer sk.test.abc123", r.headers["authorization"])
      assert.equals(tostring(#body), r.headers["content-length"])
      assert.equals(body, r.body)
      assert.is_number(r.connection)
      assert.is_true(r.time >= t0 - 0.001 and r.time <= t1 + 0.001)
      assert.equals("/_scenario/status=503/customers", records[2].path)
      assert.are_not.equal(r.connection, records[2].connection)
    end)

    it("reset clears records and counters", function()
      create()
      sb:reset()
      assert.same({}, sb:requests())
      assert.equals(0, sb:stats().requests)
    end)
  end)

  describe("HTTP", function()
    it("keeps the connection alive across requests", function()
      local sock = connect()
      for i = 1, 3 do
        S.send_request(sock, "POST", "/customers", AUTH, (customer_json()))
        local resp = assert(S.read_response(sock))
        assert.equals(201, resp.status, "request " .. i)
        assert.equals("keep-alive", resp.headers["connection"])
      end
      local stats = sb:stats()
      assert.equals(1, stats.connections)
      assert.equals(3, stats.requests)
      assert.equals(1, stats.open_connections)
      local records = sb:requests()
      assert.equals(records[1].connection, records[3].connection)
      -- Connection: close is honoured: answered, then closed
      S.send_request(sock, "POST", "/customers", merge(AUTH, { Connection = "close" }), (customer_json()))
      local resp = assert(S.read_response(sock))
      assert.equals("close", resp.headers["connection"])
      local data, err = sock:receive(1)
      assert.is_nil(data)
      assert.equals("closed", err)
      sock:close()
    end)

    it("closes HTTP/1.0 connections unless asked to keep them", function()
      local sock = connect()
      sock:send("GET /nothing HTTP/1.0\r\n\r\n")
      local resp = assert(S.read_response(sock))
      assert.equals(404, resp.status)
      assert.equals("close", resp.headers["connection"])
      assert.equals("closed", select(2, sock:receive(1)))
      sock:close()
    end)

    it("answers pipelined requests in order", function()
      local sock = connect()
      local a, b = customer_json(), customer_json()
      local raw = ("POST /customers HTTP/1.1\r\nAuthorization: Bearer sk.test.x\r\nContent-Length: %d\r\n\r\n%s")
      sock:send(raw:format(#a, a) .. "\r\n" .. raw:format(#b, b) .. "GET /x HTTP/1.1\r\n\r\n")
      assert.equals(201, assert(S.read_response(sock)).status)
      assert.equals(201, assert(S.read_response(sock)).status)
      assert.equals(404, assert(S.read_response(sock)).status)
      sock:close()
    end)

    it("reads chunked request bodies", function()
      local text = customer_json()
      local half = math.floor(#text / 2)
      local sock = connect()
      sock:send("POST /customers HTTP/1.1\r\nAuthorization: Bearer sk.test.x\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. ("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"):format(half, text:sub(1, half), #text - half, text:sub(half + 1)))
      assert.equals(201, assert(S.read_response(sock)).status)
      sock:close()
      assert.equals(text, sb:requests()[1].body)
    end)

    it("sends 100 Continue when the client expects it", function()
      local text = customer_json()
      local sock = connect()
      sock:send(("POST /customers HTTP/1.1\r\nAuthorization: Bearer sk.test.x\r\nExpect: 100-continue\r\n"
        .. "Content-Length: %d\r\n\r\n"):format(#text))
      assert.equals("HTTP/1.1 100 Continue", sock:receive("*l"))
      assert.equals("", sock:receive("*l"))
      sock:send(text)
      assert.equals(201, assert(S.read_response(sock)).status)
      sock:close()
    end)

    it("answers a malformed request with 400 and closes", function()
      local sock = connect()
      sock:send("this is not http\r\n\r\n")
      local resp = assert(S.read_response(sock))
      assert.equals(400, resp.status)
      assert_common_headers(resp)
      assert.equals("closed", select(2, sock:receive(1)))
      sock:close()
    end)

    it("serves 32 connections delayed 300 ms each in about 300 ms", function()
      local socks = {}
      for i = 1, 32 do
        socks[i] = connect()
        S.send_request(socks[i], "POST", "/_scenario/delay=300/customers", AUTH, (customer_json()))
      end
      local t0 = socket.gettime()
      local pending, answered = {}, 0
      for i = 1, 32 do pending[i] = socks[i] end
      while answered < 32 and socket.gettime() - t0 < 5 do
        local ready = socket.select(pending, nil, 1)
        for _, sock in ipairs(ready) do
          local resp = assert(S.read_response(sock))
          assert.equals(201, resp.status)
          answered = answered + 1
          for j, s in ipairs(pending) do
            if s == sock then table.remove(pending, j) break end
          end
          sock:close()
        end
      end
      local elapsed = socket.gettime() - t0
      assert.equals(32, answered)
      assert.is_true(elapsed >= 0.25, "too fast: " .. elapsed)
      assert.is_true(elapsed < 3, "not concurrent: " .. elapsed)   -- one at a time: 9.6 s
      assert.equals(32, sb:stats().connections)
    end)

    it("streams a 64 MiB body without holding back other connections", function()
      local big = connect()
      S.send_request(big, "POST", "/_scenario/fault=huge/customers", AUTH, "{}")
      -- read the status line only: the server must now wait on a full socket
      assert.matches("^HTTP/1.1 200", big:receive("*l"))
      local resp, doc = create()
      assert.equals(201, resp.status)
      assert.equals("success", doc.code)   -- answered while the big one waits on a full socket
      local length
      while true do
        local line = assert(big:receive("*l"))
        if line == "" then break end
        length = length or tonumber(line:match("^Content%-Length: (%d+)$"))
      end
      assert.equals(64 * 1024 * 1024, length)
      local got, first, last = 0, nil, nil
      while got < length do
        local data, err, partial = big:receive(math.min(1024 * 1024, length - got))
        data = data or partial
        assert(data and #data > 0, err)
        first = first or data:sub(1, 40)
        last = data:sub(-3)
        got = got + #data
      end
      big:close()
      assert.equals(length, got)
      assert.equals('{"code":"success","data":{"padding":"aaa', first)
      assert.equals('"}}', last)
    end)
  end)

  describe("scenarios", function()
    local function scenario(spec, body, headers)
      return post("/_scenario/" .. spec .. "/customers", body or (customer_json()), headers)
    end

    it("answers status=N with the default code for N", function()
      local expected = {
        [400] = "bad-request", [401] = "unauthorized", [403] = "forbidden", [404] = "not-found",
        [409] = "reference-conflict", [429] = "too-many-requests", [500] = "application-error",
        [503] = "service-unavailable", [502] = "application-error", [422] = "application-error",
      }
      for status, code in pairs(expected) do
        local resp, doc = scenario("status=" .. status)
        assert.equals(status, resp.status)
        assert_common_headers(resp)
        assert.equals(code, doc.code)
        assert.is_string(doc.message)
      end
    end)

    it("supports shape=statusCode, shape=html and code=/message= overrides", function()
      local resp, doc = scenario("status=400,shape=statusCode,message=Incorrect%20format")
      assert.equals(400, resp.status)
      assert.same({ statusCode = 400, message = "Incorrect format" }, doc)
      resp = scenario("status=500,shape=html")
      assert.equals(500, resp.status)
      assert_common_headers(resp, "text/html; charset=utf-8")
      assert.matches("^<!DOCTYPE html>", resp.body)
      resp, doc = scenario("status=403,code=kyc-locked,message=No%2C%20not%20now")
      assert.equals(403, resp.status)
      assert.same({ code = "kyc-locked", message = "No, not now" }, doc)
    end)

    it("adds Retry-After with retry_after=S", function()
      local resp = scenario("status=429,retry_after=7")
      assert.equals(429, resp.status)
      assert.equals("7", resp.headers["retry-after"])
    end)

    it("takes the scenario from the x-sandbox-scenario header too", function()
      local resp, doc = post("/customers", (customer_json()), merge(AUTH, { ["x-sandbox-scenario"] = "status=503" }))
      assert.equals(503, resp.status)
      assert.equals("service-unavailable", doc.code)
    end)

    it("applies times=N to the first N requests per reference, then serves normally", function()
      local text = customer_json()
      assert.equals(503, (scenario("status=503,times=2", text)).status)
      assert.equals(503, (scenario("status=503,times=2", text)).status)
      local other = customer_json()
      assert.equals(503, (scenario("status=503,times=2", other)).status) -- its own counter
      local resp, doc = scenario("status=503,times=2", text)
      assert.equals(201, resp.status)
      assert.equals("success", doc.code)
      assert.equals(409, (scenario("status=503,times=2", text)).status) -- normal service: conflict
      sb:reset()
      assert.equals(503, (scenario("status=503,times=2", text)).status)
    end)

    it("matches times=N by Idempotency-Key when present", function()
      local headers = merge(AUTH, { ["Idempotency-Key"] = "key-1" })
      assert.equals(500, (scenario("status=500,times=1", nil, headers)).status)
      assert.equals(201, (scenario("status=500,times=1", nil, headers)).status) -- other reference, same key
    end)

    it("delays with delay=MS and still creates", function()
      local text, sent = customer_json()
      local t0 = socket.gettime()
      local resp = scenario("delay=200", text)
      assert.is_true(socket.gettime() - t0 >= 0.19)
      assert.equals(201, resp.status)
      assert.equals(409, (create{ reference = sent.reference }).status)
    end)

    it("fault=close closes without an answer, and does not create", function()
      local text, sent = customer_json()
      local resp, err, partial = S.request(sb.url, "POST", "/_scenario/fault=close/customers", AUTH, text)
      assert.is_nil(resp)
      assert.equals("closed", err)
      assert.equals("", partial)
      assert.equals(201, (create{ reference = sent.reference }).status)
      assert.equals(2, sb:stats().requests)
    end)

    it("fault=truncate promises more than it sends", function()
      local resp, err, partial = S.request(sb.url, "POST", "/_scenario/fault=truncate/customers", AUTH,
        (customer_json()))
      assert.is_nil(resp)
      assert.equals("closed", err)
      assert.matches('^{"code":"success"', partial)
      assert.matches("}}$", partial)
    end)

    it("fault=close_mid_body sends headers and half the body", function()
      local sock = connect()
      S.send_request(sock, "POST", "/_scenario/status=503,fault=close_mid_body/customers", AUTH, "{}")
      local resp, err, partial = S.read_response(sock)
      sock:close()
      assert.is_nil(resp)
      assert.equals("closed", err)
      local full = '{"code":"service-unavailable","message":"Service temporarily unavailable"}'
      assert.equals(full:sub(1, math.floor(#full / 2)), partial)
    end)

    it("serves the content faults", function()
      local resp = scenario("fault=nonjson")
      assert.equals(200, resp.status)
      assert.equals("this is not json", resp.body)
      assert_common_headers(resp)

      resp = scenario("fault=empty")
      assert.equals(200, resp.status)
      assert.equals("", resp.body)
      assert.equals("0", resp.headers["content-length"])

      resp = scenario("fault=html502")
      assert.equals(502, resp.status)
      assert_common_headers(resp, "text/html; charset=utf-8")
      assert.truthy(resp.body:find("502 Bad Gateway", 1, true))

      resp = scenario("fault=accepted")
      assert.equals(202, resp.status)
      assert_common_headers(resp)
      assert.equals('{"code":"request-accepted","message":"Request accepted and will be processed asynchronously",'
        .. '"error":{"code":"service-unavailable","message":"Service temporarily unavailable"}}', resp.body)

      local doc
      resp, doc = scenario("fault=envelope_error")
      assert.equals(200, resp.status)
      assert.same({ code = "error", message = "something" }, doc)

      resp = scenario("fault=nonjson,status=500")
      assert.equals(500, resp.status)
      assert.equals("this is not json", resp.body)
    end)

    it("fault=huge honours size=", function()
      local resp, doc = scenario("fault=huge,size=1000")
      assert.equals(200, resp.status)
      assert.equals(1000, #resp.body)
      assert.equals("success", doc.code)
      resp = scenario("fault=huge,size=10")
      assert.equals('{"code":"s', resp.body)
    end)

    it("fault=bad_utf8 puts \\xff\\xfe in data.name", function()
      local resp = scenario("fault=bad_utf8")
      assert.equals(201, resp.status)
      assert.truthy(resp.body:find('"name":"Ciroma C Adekunle\255\254"', 1, true))
    end)

    it("fault=deep nests depth= arrays", function()
      local resp = scenario("fault=deep,depth=3")
      assert.equals(201, resp.status)
      assert.equals('{"code":"success","data":[[[]]]}', resp.body)
      resp = scenario("fault=deep")
      assert.equals(26 + 2 * 10000, #resp.body)
    end)

    it("fault=slow_headers and fault=slow_body drip one byte per interval", function()
      local t0 = socket.gettime()
      local resp = scenario("status=503,fault=slow_headers,interval=2")
      local elapsed = socket.gettime() - t0
      assert.equals(503, resp.status)
      assert.is_true(elapsed >= #resp.raw_head * 0.002 * 0.9, "too fast: " .. elapsed)

      local sock = connect()
      S.send_request(sock, "POST", "/_scenario/status=503,fault=slow_body,interval=5/customers", AUTH, "{}")
      assert.matches("^HTTP/1.1 503", sock:receive("*l"))
      t0 = socket.gettime()
      local length
      repeat
        local line = sock:receive("*l")
        length = length or tonumber(line:match("^Content%-Length: (%d+)$"))
      until line == ""
      local body = sock:receive(length)
      elapsed = socket.gettime() - t0
      sock:close()
      assert.equals("service-unavailable", json.decode(body).code)
      assert.is_true(elapsed >= (length - 1) * 0.005 * 0.9, "too fast: " .. elapsed)
    end)

    it("fault=stale answers with keep-alive, then drops the connection", function()
      local text, sent = customer_json()
      local sock = connect()
      S.send_request(sock, "POST", "/_scenario/fault=stale/customers", AUTH, text)
      local resp = assert(S.read_response(sock))
      assert.equals(201, resp.status)
      assert.equals("keep-alive", resp.headers["connection"])
      S.send_request(sock, "POST", "/customers", AUTH, (customer_json()))
      local again, err = S.read_response(sock)
      assert.is_nil(again)
      assert.truthy(err == "closed" or err:find("reset"), err)
      sock:close()
      assert.equals(409, (create{ reference = sent.reference }).status) -- the stale answer did create
    end)

    it("fault=no_request_id omits x-request-id", function()
      local resp = scenario("fault=no_request_id")
      assert.equals(201, resp.status)
      assert.is_nil(resp.headers["x-request-id"])
    end)

    it("rejects an invalid scenario with 400 sandbox-invalid-scenario", function()
      for _, spec in ipairs({ "bogus=1", "fault=bogus", "status=abc", "status=99", "code=x", "size=5", "times" }) do
        local resp, doc = scenario(spec)
        assert.equals(400, resp.status, spec)
        assert.equals("sandbox-invalid-scenario", doc.code, spec)
      end
    end)
  end)

  describe("library", function()
    it("can be embedded and driven with step()", function()
      local sandbox = require "allawee.sandbox"
      local srv = assert(sandbox.new{ host = "127.0.0.1", port = 0 })
      assert.matches("^http://127%.0%.0%.1:%d+$", srv.url)
      -- the kernel completes the connect from the backlog; the request waits for step()
      local sock = assert(S.connect(srv.url, 5))
      S.send_request(sock, "POST", "/_scenario/delay=50/customers", AUTH, (customer_json()))
      local deadline = socket.gettime() + 5
      while socket.gettime() < deadline and not socket.select({ sock }, nil, 0)[sock] do
        assert.is_true(srv:step(0.01))
      end
      local resp = assert(S.read_response(sock))
      assert.equals(201, resp.status)
      sock:close()
      srv:close()
      assert.is_false(srv:step(0))
    end)

    it("encodes integral floats without a fraction and keeps key order when asked", function()
      local sandbox = require "allawee.sandbox"
      assert.equals('{"a":2345,"b":1.5,"c":[],"d":"\\u0000\255\\n"}',
        sandbox.encode{ a = 2345.0, b = 1.5, c = sandbox.array({}), d = "\0\255\n" })
      assert.equals('{"z":1,"a":2}', sandbox.encode(sandbox.ordered({ "z", "a" }, { a = 2, z = 1 })))
    end)
  end)

  describe("process", function()
    it("prints the pid of the Lua process", function()
      local cmdline = assert(net.read_file("/proc/" .. sb.pid .. "/cmdline"))
      assert.truthy(cmdline:find(os.getenv("ALLAWEE_SANDBOX_LUA") or "lua5.4", 1, true))
      assert.truthy(cmdline:find("allawee-sandbox", 1, true))
    end)

    for _, lua in ipairs({ "lua5.1", "lua5.2", "lua5.3", "luajit", "lua5.4" }) do
      it("runs under " .. lua .. " and shuts down on request", function()
        local other = S.start{ lua = lua }
        local resp = assert(S.request(other.url, "POST", "/customers", AUTH, (customer_json())))
        assert.equals(201, resp.status)
        assert.truthy(resp.body:find('"userId":2345', 1, true))
        local pid = other.pid
        other:stop()
        assert.is_nil(io.open("/proc/" .. pid .. "/stat"))
        assert.is_nil(S.connect(other.url, 1))
      end)
    end
  end)
end)
