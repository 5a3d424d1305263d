-- TLS: certificates are verified (CA and name), ca_file trusts a private
-- CA, connections are reused, and plain http:// is for loopback only.
-- The server side is nginx terminating TLS in front of the sandbox
-- (spec/support/tls.lua makes the CA and the certificate at test time).
local allawee = require "allawee"
local S = require "support.sandbox"
local T = require "support.tls"
local F = require "support.fixtures"

local KEY = "sk.test.canary-tls-c8e2"

local sb, pki, front

local function client(opts)
  return F.new_client(KEY, front.url, { backoff_base = 0.01 }, opts)
end

setup(function()
  sb = S.start()
  pki = T.make_pki()
  front = T.start_front(pki, sb.url)
end)

teardown(function()
  if front then front:stop() end
  if sb then sb:stop() end
  T.remove_pki(pki)
end)

before_each(function() sb:reset() end)

describe("certificate verification", function()
  local function assert_unverified(err)
    assert.equals("connection", err.kind)
    assert.equals("CURLE_PEER_FAILED_VERIFICATION", err.code)
    assert.matches("certificate could not be verified", err.message, 1, true)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
    assert.is_nil(err.status)
  end

  it("fails without ca_file (the system CAs do not know the test CA), not retried", function()
    local data, err = client({ max_retries = 2 }).customers.create(F.minimal())
    assert.is_nil(data)
    assert_unverified(err)
    -- no HTTP request got through the handshake
    assert.same({}, front:entries_for({ err.idempotency_key }, 0.2))
    assert.equals(0, sb:stats().requests)
  end)

  it("fails with a ca_file of another CA", function()
    local _, err = client({ ca_file = pki.other_ca_file }).customers.create(F.minimal())
    assert_unverified(err)
    assert.equals(0, sb:stats().requests)
  end)

  it("fails when the name is not the certificate's (127.0.0.2)", function()
    local _, err = client({ base_url = front.alt_url, ca_file = pki.ca_file })
      .customers.create(F.minimal())
    assert_unverified(err)
    assert.equals(0, sb:stats().requests)
  end)

  it("a missing ca_file is an error, not a fallback to no verification", function()
    local _, err = client({ ca_file = pki.dir .. "/no-such-ca.crt" }).customers.create(F.minimal())
    assert.equals("connection", err.kind)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
    assert.equals(0, sb:stats().requests)
  end)

  it("succeeds with the CA in ca_file", function()
    local data, err, meta = client({ ca_file = pki.ca_file }).customers.create(F.minimal())
    assert.is_nil(err)
    assert.equals("active", data.status)
    assert.equals(201, meta.status)
    assert.equals(1, sb:stats().requests)
  end)

  it("also for https://localhost", function()
    local data, err = client({ base_url = "https://localhost:" .. front.port, ca_file = pki.ca_file })
      .customers.create(F.minimal())
    assert.is_nil(err)
    assert.is_table(data)
  end)
end)

describe("connection reuse over TLS", function()
  it("50 creates share one TLS connection", function()
    local c = client({ ca_file = pki.ca_file })
    local keys = {}
    for i = 1, 50 do
      local data, err, meta = c.customers.create(F.minimal())
      assert.is_nil(err)
      assert.is_table(data)
      keys[i] = meta.idempotency_key
    end
    -- nginx's access log: one line per request, with its connection serial
    local entries = front:entries_for(keys)
    assert.equals(50, #entries)
    local connections, seen = 0, {}
    for _, e in ipairs(entries) do
      assert.equals(201, e.status)
      if not seen[e.connection] then
        seen[e.connection] = true
        connections = connections + 1
      end
    end
    assert.equals(1, connections)
    assert.equals(1, entries[1].requests)   -- a fresh connection for the first create
    assert.equals(50, entries[50].requests) -- and the 50th request on it
    assert.equals(50, sb:stats().requests)
    c:close()
  end)
end)

describe("plain http://", function()
  it("is refused by allawee.new for a host that is not loopback", function()
    for _, url in ipairs({ "http://api.allawee.com", "http://10.0.0.1:8080",
                           "http://127.0.0.1.example.com", "http://localhost.example.com" }) do
      local ok, msg = pcall(allawee.new, { secret_key = KEY, base_url = url })
      assert.is_false(ok)
      assert.matches("only for loopback", tostring(msg), 1, true)
    end
  end)

  it("is allowed to loopback", function()
    for _, url in ipairs({ "http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1" }) do
      assert.is_truthy(allawee.new({ secret_key = KEY, base_url = url }))
    end
  end)

  it("other schemes are refused", function()
    for _, url in ipairs({ "ftp://api.allawee.com", "file:///etc/passwd", "api.allawee.com" }) do
      local ok, msg = pcall(allawee.new, { secret_key = KEY, base_url = url })
      assert.is_false(ok)
      assert.matches("https://", tostring(msg), 1, true)
    end
  end)
end)
