-- The secret key never appears in anything the module says: error values
-- (every kind, every field, __tostring), raised errors, tostring of the
-- client and of requests, meta, nor the output of a process that takes the
-- key from the environment. And values that could smuggle headers (CR, LF,
-- NUL in the key or the user agent) are refused.
--
-- Each error below is triggered for real (sandbox, refused port, DNS,
-- TLS against a plain-HTTP port, ...) by a client that holds the key.
local allawee = require "allawee"
local S = require "support.sandbox"
local T = require "support.tls"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = "sk.test.canary-secrets-0a9f3c"
local LIVE_KEY = "sk.live.canary-secrets-77d1e0" -- the sandbox answers 401 to it
-- Any of these in a string is a leak, even a cut or re-cased copy.
local NEEDLES = { KEY, LIVE_KEY, "canary-secrets", "CANARY-SECRETS" }

local sb
local kinds_seen = {}
local strings_checked = 0

-- Asserts that the string s holds no copy of the key. The failure message
-- names the place only: printing s would print the key.
local function assert_clean(where, s)
  if type(s) ~= "string" then return end
  strings_checked = strings_checked + 1
  for _, needle in ipairs(NEEDLES) do
    assert(not s:find(needle, 1, true), "the secret key leaked into " .. where)
  end
end

-- Every string of an error value (or meta), and its __tostring.
local function assert_clean_value(where, v)
  if type(v) ~= "table" then
    assert_clean(where, tostring(v))
    return
  end
  assert_clean(where .. " (tostring)", tostring(v))
  for k, x in pairs(v) do
    if type(x) == "table" then
      for i, y in pairs(x) do assert_clean(where .. "." .. tostring(k) .. "." .. tostring(i), tostring(y)) end
    else
      assert_clean(where .. "." .. tostring(k), tostring(x))
    end
  end
end

-- Runs one create and checks whatever comes back; returns err.
local function check_create(where, c, p, o, want_kind)
  local data, err, meta = c.customers.create(p or F.minimal(), o)
  assert.is_nil(data, where .. " should fail")
  assert.is_table(err)
  if want_kind then assert.equals(want_kind, err.kind) end
  kinds_seen[err.kind] = true
  assert_clean_value(where, err)
  assert_clean_value(where .. " meta", meta)
  return err
end

-- Calls f and checks the error it raises.
local function check_raise(where, f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, where .. " should raise")
  assert_clean(where, tostring(msg))
  return tostring(msg)
end

local function client(base_url, opts, key)
  return F.new_client(key or KEY, base_url, { backoff_base = 0.01, backoff_max = 0.02 }, opts)
end

local function scenario(spec, opts)
  return client(S.scenario_url(sb, spec), opts)
end

setup(function() sb = S.start() end)
teardown(function() sb:stop() end)

describe("the leak detector", function()
  it("catches the key, a cut copy, and the key in upper case", function()
    for _, s in ipairs({ "x " .. KEY .. " y", "Bearer sk.test.canary-secrets", KEY:upper() }) do
      assert.is_false((pcall(assert_clean, "self-test", s)))
    end
    assert.is_true((pcall(assert_clean, "self-test", "sk.test.<redacted>")))
  end)
end)

describe("error values never contain the secret key", function()
  it("validation", function()
    local c = client(sb.url)
    check_create("validation: empty params", c, {}, nil, "validation")
    check_create("validation: wrong type", c, F.minimal{ name = 42 }, nil, "validation")
    check_create("validation: bad enum", c, F.minimal{ type = "person" }, nil, "validation")
    check_create("validation: bad nested field", c,
      F.minimal{ claims = { individualAddress = { city = {} } } }, nil, "validation")
    check_create("validation: invalid UTF-8", c, F.minimal{ name = "Ada \255" }, nil, "validation")
  end)

  it("connection: refused, DNS, proxy with the key in its credentials, TLS to a silent server", function()
    check_create("connection refused", client("http://127.0.0.1:" .. net.free_port()), nil, nil, "connection")
    check_create("DNS failure", client("https://api.allawee.invalid", { max_retries = 0 }),
      nil, nil, "connection")
    check_create("proxy with credentials",
      -- (not loopback: loopback is never reached through a proxy; with a
      -- proxy libcurl resolves nothing itself, so no DNS query leaves)
      client("https://api.allawee.test", { max_retries = 0,
        proxy = "http://user:" .. KEY .. "@127.0.0.1:" .. net.free_port() }),
      nil, nil, "connection")
    -- A server that does not speak TLS and never answers: a listener that
    -- accepts nothing (the kernel completes the TCP handshake). (Not the
    -- sandbox: about once in 700 runs a ClientHello's random bytes hold
    -- "\n\n", which ends a request head there, and the 400 closes.)
    local silent = assert(require("socket").bind("127.0.0.1", 0))
    local _, silent_port = silent:getsockname()
    local ok, problem = pcall(check_create, "TLS handshake with a server that never answers",
      client("https://127.0.0.1:" .. silent_port, { max_retries = 0, connect_timeout = 0.3 }),
      nil, nil, "timeout")
    silent:close()
    assert(ok, problem)
    check_create("server closed", scenario("fault=close", { max_retries = 0 }), nil, nil, "connection")
    check_create("truncated", scenario("fault=truncate", { max_retries = 0 }), nil, nil, "connection")
  end)

  it("TLS verification failure", function()
    local pki = T.make_pki()
    local ok, problem = pcall(function()
      local front = T.start_front(pki, sb.url)
      local inner_ok, inner_problem = pcall(function()
        local err = check_create("TLS verification", client(front.url), nil, nil, "connection")
        assert.matches("certificate could not be verified", err.message, 1, true)
        check_create("TLS wrong name", client(front.alt_url, { ca_file = pki.ca_file }), nil, nil,
          "connection")
      end)
      front:stop()
      assert(inner_ok, inner_problem)
    end)
    T.remove_pki(pki)
    assert(ok, problem)
  end)

  it("timeout", function()
    check_create("timeout", scenario("fault=slow_headers,interval=100", { max_retries = 0 }),
      nil, { timeout = 0.2 }, "timeout")
  end)

  it("decode", function()
    for _, spec in ipairs({ "fault=nonjson", "fault=empty", "fault=bad_utf8", "fault=deep" }) do
      check_create("decode " .. spec, scenario(spec), nil, nil, "decode")
    end
    check_create("decode too large", scenario("fault=huge,size=5000", { max_response_bytes = 4096 }),
      nil, nil, "decode")
  end)

  it("api, and the status kinds", function()
    check_create("html 502", scenario("fault=html502", { max_retries = 0 }), nil, nil, "api")
    check_create("envelope error", scenario("fault=envelope_error"), nil, nil, "api")
    check_create("redirect", scenario("status=302"), nil, nil, "api")
    check_create("401 by scenario", scenario("status=401"), nil, nil, "authentication")
    check_create("403", scenario("status=403"), nil, nil, "permission")
    check_create("404", scenario("status=404"), nil, nil, "not_found")
    check_create("429", scenario("status=429", { max_retries = 0 }), nil, nil, "rate_limit")
    check_create("400 statusCode shape", scenario("status=400,shape=statusCode"), nil, nil,
      "invalid_request")
    check_create("202", scenario("fault=accepted"), nil, nil, "accepted")
  end)

  it("the service's own answers: 401 for a live key, 404 route, 400, 409", function()
    check_create("401 for the live key", client(sb.url, nil, LIVE_KEY), nil, nil, "authentication")
    check_create("404 route", client(sb.url .. "/v9"), nil, nil, "not_found")
    check_create("400 unvalidated body", client(sb.url), { name = "x" }, { validate = false },
      "invalid_request")
    local p = F.minimal()
    assert.is_table((client(sb.url).customers.create(p)))
    check_create("409 conflict", client(sb.url), p, nil, "conflict")
  end)

  it("cancelled", function()
    local c = scenario("delay=2000")
    local got
    local request = c.customers.create_async(F.minimal(), function(_, err) got = err end)
    assert_clean("tostring(request) in flight", tostring(request))
    assert.is_true(request:cancel())
    c:wait()
    assert.equals("cancelled", got.kind)
    kinds_seen[got.kind] = true
    assert_clean_value("cancelled", got)
    assert_clean("tostring(request) done", tostring(request))
  end)

  -- After all the tests above, in whatever order they ran: every kind of
  -- error the module has was produced and checked.
  teardown(function()
    for _, kind in ipairs({ "validation", "connection", "timeout", "decode", "api", "authentication",
                            "permission", "not_found", "conflict", "rate_limit", "invalid_request",
                            "accepted", "cancelled" }) do
      assert(kinds_seen[kind] == true, "no error of kind " .. kind .. " was checked")
    end
    assert(strings_checked > 200, "too few strings checked: " .. strings_checked)
  end)
end)

describe("success values never contain the secret key", function()
  it("meta and data", function()
    local data, err, meta = client(sb.url).customers.create(F.minimal())
    assert.is_nil(err)
    assert_clean_value("meta", meta)
    assert_clean_value("data", data)
  end)
end)

describe("raised errors never contain the secret key", function()
  it("allawee.new, with the key in different places", function()
    local closed = net.free_port()
    check_raise("key with CR", allawee.new, { secret_key = KEY .. "\r" })
    check_raise("base_url with the key as credentials", allawee.new,
      { secret_key = KEY, base_url = "https://user:" .. KEY .. "@api.allawee.com" })
    check_raise("base_url that is the key", allawee.new, { secret_key = KEY, base_url = KEY })
    check_raise("base_url with the key and http to a remote host", allawee.new,
      { secret_key = KEY, base_url = "http://api.allawee.com/" .. KEY })
    check_raise("base_url with the key in the query", allawee.new,
      { secret_key = KEY, base_url = "https://api.allawee.com/?key=" .. KEY })
    check_raise("the key in a number option", allawee.new, { secret_key = KEY, timeout = KEY })
    check_raise("the key in a boolean option", allawee.new, { secret_key = KEY, validate = KEY })
    check_raise("the key as the proxy with a CR", allawee.new,
      { secret_key = KEY, proxy = "http://u:" .. KEY .. "@127.0.0.1:" .. closed .. "\r" })
    check_raise("unknown option beside the key", allawee.new, { secret_key = KEY, secret = KEY })
    check_raise("the key as a positional value", allawee.new, { KEY })
    check_raise("the key instead of the options table", allawee.new, KEY)
    check_raise("a number key", allawee.new, { secret_key = 12345 })
    check_raise("an empty key", allawee.new, { secret_key = "" })
  end)

  it("customers.create and closed clients", function()
    local c = client(sb.url)
    local sent = sb:requests_during(function()
      check_raise("params not a table", c.customers.create, KEY)
      check_raise("bad per-call option", c.customers.create, F.minimal(), { timeout = KEY })
      check_raise("unknown per-call option", c.customers.create, F.minimal(), { secret_key = KEY })
      check_raise("idempotency key with LF", c.customers.create, F.minimal(),
        { idempotency_key = KEY .. "\n" })
      check_raise("idempotency key too long", c.customers.create, F.minimal(),
        { idempotency_key = KEY .. string.rep("x", 300) })
    end)
    assert.equals(0, sent) -- raised before sending anything
    local customers = c.customers
    c:close()
    check_raise("create on a closed client", customers.create, F.minimal())
    check_raise("customers of a closed client", function() return c.customers end)
    check_raise("poll on a closed client", function() return c:poll(0) end)
  end)
end)

describe("tostring(client)", function()
  it("never contains the key, open or closed", function()
    local c = client(sb.url)
    local shown = tostring(c)
    assert_clean("tostring(client)", shown)
    assert.matches("allawee.client", shown, 1, true)
    assert.matches(sb.url, shown, 1, true)
    assert_clean("tostring(default base_url client)", tostring(allawee.new { secret_key = KEY }))
    c:close()
    assert_clean("tostring(closed client)", tostring(c))
  end)

  it("nothing reachable from the client through the debug library holds the key", function()
    -- What a debugger or a dump could walk: the user value (anchors and the
    -- bound customers functions), their upvalues, metatables, requests.
    local c = client(sb.url)
    local req = c.customers.create_async(F.minimal(), function() end)
    local seen, walked = {}, 0
    local function walk(v, where)
      if seen[v] then return end
      local t = type(v)
      if t == "string" then assert_clean(where, v) return end
      if t ~= "table" and t ~= "function" and t ~= "userdata" then return end
      seen[v] = true
      walked = walked + 1
      if t == "table" then
        for k, x in pairs(v) do walk(k, where .. "[k]") walk(x, where .. "." .. tostring(k)) end
      elseif t == "function" then
        for i = 1, 255 do
          local name, x = debug.getupvalue(v, i)
          if name == nil then break end
          walk(x, where .. "^" .. i)
        end
      elseif debug.getuservalue then
        walk(debug.getuservalue(v), where .. ".uservalue")
      end
      walk(debug.getmetatable(v), where .. ".mt")
    end
    walk(c, "client")
    walk(req, "request")
    c:wait()
    walk(c, "client after wait")
    assert.is_true(walked > 5)   -- the walk reached the user value and the functions
    c:close()
  end)

  it("the client exposes no key through indexing", function()
    local c = client(sb.url)
    for _, name in ipairs({ "secret_key", "key", "auth_header", "authorization", "headers" }) do
      assert.is_nil(c[name])
    end
    local ok, mt = pcall(getmetatable, c)
    assert.is_true(ok)
    assert.equals("locked", mt)
  end)
end)

describe("values that could inject headers are refused", function()
  local bad = { { "CR", "\r" }, { "LF", "\n" }, { "CRLF", "\r\n" }, { "NUL", "\0" }, { "TAB", "\t" } }
  for _, case in ipairs(bad) do
    it("a secret key with " .. case[1], function()
      local msg = check_raise("key with " .. case[1], allawee.new,
        { secret_key = KEY .. case[2] .. "X-Injected: 1", base_url = sb.url })
      assert.matches("secret_key", msg, 1, true)
      assert.matches("control character", msg, 1, true)
    end)

    it("a user_agent with " .. case[1], function()
      local msg = check_raise("user_agent with " .. case[1], allawee.new,
        { secret_key = KEY, base_url = sb.url, user_agent = "app/1" .. case[2] .. "X-Injected: 1" })
      assert.matches("user_agent", msg, 1, true)
    end)
  end

  it("a clean user_agent is appended to the module's own", function()
    sb:reset()
    local _, err = client(sb.url, { user_agent = "shop/2.1" }).customers.create(F.minimal())
    assert.is_nil(err)
    local ua = sb:requests()[1].headers["user-agent"]
    assert.matches("^allawee%-lua/", ua)
    assert.matches(" shop/2.1$", ua)
  end)
end)

describe("a key from the environment", function()
  -- A child process: Lua cannot set its own environment.
  local function run_child(env_key, code)
    return F.run_lua(code, { ALLAWEE_SECRET_KEY = env_key,
                             ALLAWEE_BASE_URL = "http://127.0.0.1:" .. net.free_port() })
  end

  it("is not printed by the default client's errors or tostring", function()
    local out = run_child(KEY, [[
      local allawee = require "allawee"
      local data, err = allawee.customers.create({ name = "A", reference = "env-1", type = "individual",
        claims = {}, verifications = {}, metadata = {} }, { max_retries = 0 })
      print("kind=" .. tostring(err and err.kind))
      print(tostring(err))
      print(tostring(allawee.default_client()))
    ]])
    assert.matches("kind=connection", out, 1, true)
    assert_clean("default client output", out)
  end)

  it("with a CR is refused, and the refusal does not print it", function()
    local out = run_child(KEY .. "\r", [[
      local allawee = require "allawee"
      local ok, msg = pcall(allawee.default_client)
      print("ok=" .. tostring(ok))
      print(tostring(msg))
    ]])
    assert.matches("ok=false", out, 1, true)
    assert.matches("control character", out, 1, true)
    assert_clean("environment key refusal", out)
  end)
end)
