-- Every failure kind customers.create returns (nil, err), each played by
-- the sandbox or by a real failed connection, and the secret key kept out of
-- every error and string.
local allawee = require "allawee"
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local ERROR_MT = getmetatable(core.error{ kind = "api", message = "probe" })

-- What every error must satisfy, whatever its kind.
local function check_error(err, kind)
  assert.is_table(err)
  assert.equals(kind, err.kind)
  assert.equals(ERROR_MT, getmetatable(err))
  local text = tostring(err)
  assert.is_nil(text:find("\n", 1, true), "tostring(err) must be one line: " .. text)
  assert.truthy(text:find(kind, 1, true), text)
  assert.is_string(err.message)
  assert.is_boolean(err.retryable)
  assert.matches("^%x+%-%x+%-4", err.idempotency_key)
  for _, s in ipairs({ text, err.message, err.body or "" }) do
    assert.is_nil(s:find("canary", 1, true), "the secret key leaked into: " .. s)
  end
  return err
end

describe("customers.create errors", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  -- One create through a fresh client (its own options) against a scenario.
  local function create_with(spec, client_options, params)
    local o = F.merge({ max_retries = 0 }, client_options)
    if spec then o.base_url = S.scenario_url(sb, spec) end
    local c = F.client(sb, o)
    local data, err, meta = c.customers.create(params or F.minimal())
    c:close()
    assert.is_nil(data)
    assert.is_nil(meta)
    return err
  end

  describe("answers of the service", function()
    it("401 for a bad key is authentication, code unauthorized", function()
      local err = check_error(create_with(nil, { secret_key = "sk.live.not-a-test-key" }), "authentication")
      assert.equals(401, err.status)
      assert.equals("unauthorized", err.code)
      assert.truthy(err.message:find("secret key", 1, true))
      assert.matches("^req_%w+$", err.request_id)
      assert.is_false(err.retryable)
      assert.equals(1, err.attempts)
    end)

    it("403 is permission", function()
      local err = check_error(create_with("status=403"), "permission")
      assert.equals(403, err.status)
      assert.equals("forbidden", err.code)
      assert.equals("Forbidden", err.message)
      assert.is_false(err.retryable)
    end)

    it("404 is not_found", function()
      local err = check_error(create_with("status=404"), "not_found")
      assert.equals(404, err.status)
      assert.equals("not-found", err.code)
      assert.equals("Not found", err.message)
    end)

    it("409 for a reused reference is conflict, code reference-conflict", function()
      local c = F.client(sb)
      local params = F.minimal()
      assert(c.customers.create(params))
      local data, err = c.customers.create(F.copy(params))
      c:close()
      assert.is_nil(data)
      check_error(err, "conflict")
      assert.equals(409, err.status)
      assert.equals("reference-conflict", err.code)
      assert.truthy(err.message:find(params.reference, 1, true))
      assert.is_false(err.retryable)
      assert.equals(2, sb:stats().requests)
    end)

    it("400 with {code, message} is invalid_request with the message", function()
      local err = check_error(create_with("status=400,code=bad-request,message=name%20is%20too%20long"),
        "invalid_request")
      assert.equals(400, err.status)
      assert.equals("bad-request", err.code)
      assert.equals("name is too long", err.message)
      assert.equals('{"code":"bad-request","message":"name is too long"}', err.body)
      assert.is_false(err.retryable)
    end)

    it("400 with {statusCode, message} is invalid_request with the message", function()
      local err = check_error(create_with(
        "status=400,shape=statusCode,message=Incorrect%20format%20for%20'filter'%20parameter."),
        "invalid_request")
      assert.equals(400, err.status)
      assert.equals("Incorrect format for 'filter' parameter.", err.message)
      assert.equals("bad-request", err.code) -- from the status, as the body has none
      assert.equals([[{"statusCode":400,"message":"Incorrect format for 'filter' parameter."}]], err.body)
    end)

    it("a message with CR/LF from the service stays one line in tostring(err)", function()
      local err = check_error(create_with("status=400,message=first%0D%0AX-Forged:%201"), "invalid_request")
      assert.equals("first\r\nX-Forged: 1", err.message) -- the value itself is kept as sent
      assert.equals(1, tostring(err):find("allawee invalid_request error: first  X-Forged: 1 (HTTP 400)", 1, true))
    end)

    it("429 is rate_limit, retryable", function()
      local err = check_error(create_with("status=429"), "rate_limit")
      assert.equals(429, err.status)
      assert.equals("too-many-requests", err.code)
      assert.is_true(err.retryable)
      assert.equals(1, err.attempts)
      assert.equals(1, sb:stats().requests)
    end)

    it("500 and 503 are api, retryable", function()
      local e500 = check_error(create_with("status=500"), "api")
      assert.equals(500, e500.status)
      assert.equals("application-error", e500.code)
      assert.equals("An application error occurred", e500.message)
      assert.is_true(e500.retryable)
      local e503 = check_error(create_with("status=503"), "api")
      assert.equals(503, e503.status)
      assert.equals("service-unavailable", e503.code)
      assert.equals("Service temporarily unavailable", e503.message)
      assert.is_true(e503.retryable)
      assert.equals(2, sb:stats().requests) -- max_retries = 0: one attempt each
    end)

    it("an HTML 502 is api with a readable message and the page in err.body", function()
      local err = check_error(create_with("fault=html502"), "api")
      assert.equals(502, err.status)
      assert.equals("HTTP 502 with a non-JSON body (text/html; charset=utf-8)", err.message)
      assert.is_nil(err.message:find("<", 1, true))
      assert.equals(1, err.body:find("<!DOCTYPE html>", 1, true))
      assert.truthy(err.body:find("<title>502 Bad Gateway</title>", 1, true))
      assert.is_true(err.retryable)
    end)

    it("202 request-accepted is accepted, never retried", function()
      local err = check_error(create_with("fault=accepted", { max_retries = 2 }), "accepted")
      assert.equals(202, err.status)
      assert.equals("request-accepted", err.code)
      assert.equals("Request accepted and will be processed asynchronously", err.message)
      -- The id support will ask for: the x-request-id the service sent.
      assert.matches("^req_%w+$", err.request_id)
      assert.equals(F.last_request(sb).request_id, err.request_id)
      assert.is_false(err.retryable)
      assert.equals(1, err.attempts)
      assert.equals(1, sb:stats().requests)
      assert.equals("service-unavailable", F.decode(err.body).error.code)
    end)

    it("a 2xx that is not JSON is decode", function()
      local err = check_error(create_with("fault=nonjson"), "decode")
      assert.equals(200, err.status)
      assert.equals("invalid_json", err.code)
      assert.equals(1, err.message:find("HTTP 200 with a body that is not JSON", 1, true))
      assert.equals("this is not json", err.body)
      assert.is_false(err.retryable)
    end)

    it("an empty 2xx is decode", function()
      local err = check_error(create_with("fault=empty"), "decode")
      assert.equals(200, err.status)
      assert.equals("invalid_json", err.code)
      assert.equals("HTTP 200 with a body that is not JSON: empty response body", err.message)
      assert.is_false(err.retryable)
    end)
  end)

  describe("connection failures", function()
    it("a refused port is connection, CURLE_COULDNT_CONNECT, retryable", function()
      local c = F.new_client(F.KEY, "http://127.0.0.1:" .. net.free_port(), { max_retries = 0 })
      local data, err, meta = c.customers.create(F.minimal())
      c:close()
      assert.is_nil(data)
      assert.is_nil(meta)
      check_error(err, "connection")
      assert.equals("CURLE_COULDNT_CONNECT", err.code)
      assert.is_true(err.retryable)
      assert.equals(1, err.attempts)
      assert.is_nil(err.status)
      assert.is_nil(err.request_id)
    end)

    it("an .invalid host is connection", function()
      local c = F.new_client(F.KEY, "https://nothing.invalid", { max_retries = 0, connect_timeout = 5 })
      local data, err = c.customers.create(F.minimal())
      c:close()
      assert.is_nil(data)
      check_error(err, "connection")
      assert.matches("^CURLE_", err.code)
      assert.truthy(err.message:find("nothing.invalid", 1, true))
      assert.is_true(err.retryable)
    end)
  end)

  describe("the secret key", function()
    it("is never in tostring(client)", function()
      local c = F.client(sb)
      assert.equals("allawee.client (" .. sb.url .. ")", tostring(c))
      c:close()
      assert.equals("allawee.client (closed)", tostring(c))
    end)

    it("is never in an error allawee.new raises", function()
      local bad = {
        { bogus = true },
        { timeout = "soon" },
        { max_retries = 1.5 },
        { base_url = "ftp://api.allawee.com" },
        { base_url = "http://example.com" },
        { base_url = "https://user:" .. F.KEY .. "@api.allawee.com" },
        { user_agent = "x\r\nX-Injected: 1" },
      }
      for _, extra in ipairs(bad) do
        local ok, msg = pcall(allawee.new, F.merge({ secret_key = F.KEY }, extra))
        assert.is_false(ok)
        assert.truthy(tostring(msg):find("allawee.new: ", 1, true), tostring(msg))
        assert.is_nil(tostring(msg):find("canary", 1, true), tostring(msg))
      end
      for _, key in ipairs({ F.KEY .. "\r\n", F.KEY .. "\n", F.KEY .. "\0tail" }) do
        local ok, msg = pcall(allawee.new, { secret_key = key })
        assert.is_false(ok)
        assert.is_nil(tostring(msg):find("canary", 1, true), tostring(msg))
      end
    end)

    it("is never in the error of a rejected request", function()
      local err = check_error(create_with("status=401"), "authentication")
      assert.equals(401, err.status)
      -- and the sandbox did get it, so it was in play
      assert.equals("Bearer " .. F.KEY, F.last_request(sb).headers["authorization"])
    end)
  end)

  describe("core.error", function()
    it("builds errors with the same metatable and a one-line tostring", function()
      local err = core.error{ kind = "timeout", message = "slow\nreally", status = 504, attempts = 3 }
      assert.equals(ERROR_MT, getmetatable(err))
      assert.equals("timeout", err.kind)
      assert.equals("allawee timeout error: slow really (HTTP 504) after 3 attempts", tostring(err))
    end)
  end)
end)
