-- allawee.new's options, the client's life cycle (close, <close>, __tostring)
-- and create_async against the blocking create.
local allawee = require "allawee"
local S = require "support.sandbox"
local F = require "support.fixtures"

-- Calls allawee.new(options) expecting it to raise; returns the message.
local function new_fails(options, pattern)
  local ok, msg = pcall(allawee.new, options)
  assert.is_false(ok, "allawee.new accepted it")
  msg = tostring(msg)
  assert.truthy(msg:find("allawee.new: ", 1, true), msg)
  if pattern then assert.truthy(msg:find(pattern, 1, true), msg) end
  assert.is_nil(msg:find("canary", 1, true), msg)
  return msg
end

local function with_key(extra)
  return F.merge({ secret_key = F.KEY }, extra)
end

describe("allawee.new", function()
  it("raises for an unknown option", function()
    new_fails(with_key{ timout = 5 }, "unknown option 'timout'")
    new_fails(with_key{ [1] = "x" }, "unknown option")
  end)

  it("raises for an option of the wrong type", function()
    new_fails(with_key{ timeout = "5" }, "option 'timeout' must be a number, got string")
    new_fails(with_key{ validate = "yes" }, "option 'validate' must be a boolean, got string")
    new_fails(with_key{ base_url = 80 }, "option 'base_url' must be a string, got number")
    new_fails({ secret_key = true }, "option 'secret_key' must be a string, got boolean")
    new_fails(with_key{ max_retries = -1 }, "option 'max_retries' must be between")
    new_fails(with_key{ max_retries = 2.5 }, "option 'max_retries' must be a whole number")
    new_fails(with_key{ timeout = 0 / 0 }, "option 'timeout' must be between")
    assert.has_error(function() allawee.new("sk.test.x") end)
  end)

  it("raises without a key (in this process when ALLAWEE_SECRET_KEY is unset)", function()
    new_fails({ secret_key = "" }, "no secret_key")
    if os.getenv("ALLAWEE_SECRET_KEY") ~= nil then
      pending("ALLAWEE_SECRET_KEY is set in this process; the child process test below covers it")
      return
    end
    new_fails({}, "no secret_key")
    new_fails(nil, "no secret_key")
  end)

  it("raises without a key in a child process where ALLAWEE_SECRET_KEY is unset", function()
    local out = F.run_lua("local ok, msg = pcall(require('allawee').new); print(ok, msg)")
    assert.truthy(out:find("^false\t"), out)
    assert.truthy(out:find("allawee.new: no secret_key (pass one, or set ALLAWEE_SECRET_KEY)", 1, true), out)
  end)

  it("raises for a key with CR, LF or NUL", function()
    for _, key in ipairs({ "sk.test.a\rb", "sk.test.a\nb", "sk.test.a\0b", F.KEY .. "\r\nX-Evil: 1" }) do
      new_fails({ secret_key = key }, "option 'secret_key' contains a control character")
    end
  end)

  it("raises for a base_url that is not http(s)", function()
    new_fails(with_key{ base_url = "ftp://api.allawee.com" }, "option 'base_url' must start with https://")
    new_fails(with_key{ base_url = "api.allawee.com" }, "option 'base_url' must start with https://")
  end)

  it("raises for plain http:// to a host that is not loopback", function()
    new_fails(with_key{ base_url = "http://example.com" }, "may use plain http:// only for loopback")
    new_fails(with_key{ base_url = "http://127.0.0.1.example.com" }, "may use plain http:// only for loopback")
    new_fails(with_key{ base_url = "http://10.0.0.1:8080" }, "may use plain http:// only for loopback")
  end)

  it("accepts http:// to loopback and https:// anywhere, without a request", function()
    for _, url in ipairs({ "http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1",
                           "https://example.com", "https://api.allawee.com/" }) do
      local c = allawee.new{ secret_key = F.KEY, base_url = url }
      assert.equals("allawee.client (" .. url:gsub("/$", "") .. ")", tostring(c))
      c:close()
    end
  end)
end)

describe("the option defaults", function()
  -- core.options applies allawee.new's own rules (the OpenResty client uses
  -- it too): these are the defaults the README's table documents.
  it("are the documented ones", function()
    local core = require "allawee.core"
    local o = core.options { secret_key = "sk.test.canary-defaults", base_url = "https://example.com//" }
    assert.same({
      base_url = "https://example.com", secure_base_url = "https://secure.allawee.com",
      timeout = 80, connect_timeout = 30, deadline = 120,
      max_retries = 2, validate = true, max_response_bytes = 8 * 1024 * 1024,
      max_connections = 16, backoff_base = 0.5, backoff_max = 5, max_retry_after = 30,
    }, o)   -- never the key
    -- a loopback base URL brings its own secure host
    o = core.options { secret_key = "sk.test.canary-defaults", base_url = "http://127.0.0.1:9/" }
    assert.equals("http://127.0.0.1:9", o.secure_base_url)
  end)
end)

describe("a client", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  it("shows its base URL and not its key in tostring", function()
    local c = F.client(sb)
    local text = tostring(c)
    assert.equals("allawee.client (" .. sb.url .. ")", text)
    assert.is_nil(text:find("sk.test", 1, true))
    c:close()
  end)

  describe("close", function()
    it("makes create raise, tostring say closed, and is fine twice", function()
      local c = F.client(sb)
      local create = c.customers.create -- taken while open
      assert(create(F.minimal()))
      assert.is_true(c:close())
      assert.equals("allawee.client (closed)", tostring(c))
      assert.has_error(function() create(F.minimal()) end, "attempt to use a closed client")
      local ok, msg = pcall(function() return c.customers.create(F.minimal()) end)
      assert.is_false(ok)
      assert.truthy(tostring(msg):find("attempt to use a closed client", 1, true), tostring(msg))
      assert.is_true(c:close())
      assert.equals("allawee.client (closed)", tostring(c))
      assert.equals(1, sb:stats().requests)
    end)

    it("happens at scope end with Lua 5.4's <close>", function()
      if _VERSION ~= "Lua 5.4" then
        -- <close> is 5.4 syntax; elsewhere check the explicit close instead.
        local c = F.client(sb)
        c:close()
        assert.equals("allawee.client (closed)", tostring(c))
        return
      end
      -- Compiled from a string so that other Luas can still parse this file.
      local chunk = assert(load([[
        local allawee, options, params = ...
        local escaped, inside, data
        do
          local c <close> = allawee.new(options)
          escaped = c
          inside = tostring(c)
          data = c.customers.create(params)
        end
        return escaped, inside, data
      ]], "=close_scope"))
      local c, inside, data = chunk(allawee, { secret_key = F.KEY, base_url = sb.url }, F.minimal())
      assert.equals("allawee.client (" .. sb.url .. ")", inside)
      assert.equals("customer", data.object)
      assert.equals("allawee.client (closed)", tostring(c))
      assert.has_error(function() return c.customers end, "attempt to use a closed client")
    end)
  end)

  describe("per-call options", function()
    it("raise when invalid", function()
      local c = F.client(sb)
      local sent = sb:requests_during(function()
        assert.has_error(function() c.customers.create(F.minimal(), { timeout = -1 }) end,
          "customers.create: option 'timeout' must be between 0.001 and " .. (math.type and "86400.0" or "86400"))
        assert.has_error(function() c.customers.create(F.minimal(), { timeout = "fast" }) end,
          "customers.create: option 'timeout' must be a number, got string")
        assert.has_error(function() c.customers.create(F.minimal(), { timeout = 0 / 0 }) end)
        assert.has_error(function() c.customers.create(F.minimal(), { retries = 1 }) end,
          "customers.create: unknown option 'retries'")
        assert.has_error(function() c.customers.create(F.minimal(), { idempotency_key = "" }) end)
        assert.has_error(function() c.customers.create(F.minimal(), "fast") end)
      end)
      assert.equals(0, sent)
      c:close()
    end)

    it("are used when valid", function()
      local c = F.client(sb)
      local data, err, meta = c.customers.create(F.minimal(), { timeout = 5, max_retries = 0 })
      c:close()
      assert.is_nil(err)
      assert.equals("customer", data.object)
      assert.equals(1, meta.attempts)
    end)
  end)

  describe("create_async", function()
    -- The customer minus what differs between two creates.
    local function comparable(data)
      local copy = F.copy(data)
      copy.id, copy.createdAt, copy.updatedAt, copy.reference = nil, nil, nil, nil
      return copy
    end

    it("with client:wait() returns the same data as create", function()
      local c = F.client(sb)
      local params = F.individual()
      local sync_data, sync_err, sync_meta = c.customers.create(params)
      assert.is_nil(sync_err)

      local async_params = F.individual()
      local calls, got = 0, nil
      local request = c.customers.create_async(async_params, function(data, err, meta)
        calls = calls + 1
        got = { data = data, err = err, meta = meta }
      end)
      assert.equals("userdata", type(request))
      assert.equals(0, calls) -- callbacks only run inside poll/wait
      c:wait()
      assert.equals(1, calls)
      assert.is_nil(got.err)
      assert.equals(async_params.reference, got.data.reference)
      assert.matches("^cus%.%w+$", got.data.id)
      assert.are_not.equal(sync_data.id, got.data.id)
      assert.same(comparable(sync_data), comparable(got.data))
      if math.type then assert.equals("integer", math.type(got.data.metadata.userId)) end
      assert.equals(sync_meta.status, got.meta.status)
      assert.equals(201, got.meta.status)
      assert.equals(1, got.meta.attempts)
      assert.matches("^req_%w+$", got.meta.request_id)
      assert.equals(0, c:poll(0))
      c:close()
      assert.equals(2, sb:stats().requests)
    end)

    it("hands a validation error to the callback without sending", function()
      local c = F.client(sb)
      local got
      c.customers.create_async(F.minimal{ type = "person" }, function(data, err)
        got = { data = data, err = err }
      end)
      c:wait()
      c:close()
      assert.is_nil(got.data)
      assert.equals("validation", got.err.kind)
      assert.equals("type", got.err.field)
      assert.equals(0, sb:stats().requests)
    end)
  end)
end)
