-- The connection pool, through real HTTP on loopback: max_connections bounds
-- the connections over HTTP/1.1 and they are kept alive between bursts; over
-- TLS to a server that offers HTTP/2 (nginx, `listen ... ssl http2`), the
-- streams of concurrent creates are multiplexed on one connection, and the
-- same run against an HTTP/1.1-only nginx still works.
--
-- Connections are counted by the sandbox (plain HTTP) or from nginx's access
-- log ($connection, $server_protocol). The only timing assertions are loose
-- bounds on a burst of creates that each wait 300 ms at the server.
local socket = require "socket"
local S = require "support.sandbox"
local T = require "support.tls"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = "sk.test.canary-pool-7b41"
local DELAY = "delay=300"

local function now() return socket.gettime() end

-- Runs n create_async at once and waits for all of them. Returns the
-- callbacks' results (in submission order) and the elapsed seconds.
local function burst(client, n)
  local results, params = {}, {}
  local t0 = now()
  for i = 1, n do
    params[i] = F.minimal()
    client.customers.create_async(params[i], function(data, err, meta)
      assert.is_nil(results[i], "callback ran twice")
      results[i] = { data = data, err = err, meta = meta, reference = params[i].reference }
    end)
  end
  client:wait()
  return results, now() - t0
end

-- Every create of the burst succeeded, first time; returns their idempotency keys.
local function assert_all_created(results, n)
  local keys = {}
  for i = 1, n do
    local r = results[i]
    assert.is_table(r, "no callback for create " .. i)
    assert.is_nil(r.err and r.err.kind, "create " .. i .. " failed")
    assert.is_table(r.data)
    assert.matches("^cus%.", r.data.id)
    assert.equals(r.reference, r.data.reference)
    assert.equals(201, r.meta.status)
    assert.equals(1, r.meta.attempts)
    keys[i] = r.meta.idempotency_key
  end
  return keys
end

local function distinct(entries, field)
  local seen, n = {}, 0
  for _, e in ipairs(entries) do
    if not seen[e[field]] then seen[e[field]] = true; n = n + 1 end
  end
  return n, seen
end

local sb

setup(function() sb = S.start() end)
teardown(function() if sb then sb:stop() end end)
before_each(function() sb:reset() end)

describe("the pool over HTTP/1.1 (sandbox)", function()
  local function client(max_connections)
    return F.new_client(KEY, S.scenario_url(sb, DELAY), { max_connections = max_connections })
  end

  it("max_connections = 4: 16 creates use at most 4 connections, in about 4 rounds", function()
    local c = client(4)
    finally(function() c:close() end)
    local before = sb:stats()
    local results, elapsed = burst(c, 16)
    assert_all_created(results, 16)
    local after = sb:stats()
    local opened = after.connections - before.connections
    assert.is_true(opened >= 1 and opened <= 4, "connections opened: " .. opened)
    assert.equals(16, after.requests - before.requests)
    -- 16 answers of 300 ms through 4 connections: 4 rounds, ~1.2 s
    assert.is_true(elapsed > 0.5 and elapsed < 3, ("16 creates took %.3f s"):format(elapsed))
    -- kept alive: the client still holds its connections open
    assert.equals(opened, after.open_connections)

    -- the next burst reuses the pool: no new connection
    local again = burst(c, 16)
    assert_all_created(again, 16)
    local last = sb:stats()
    assert.equals(0, last.connections - after.connections)
    assert.equals(16, last.requests - after.requests)
  end)

  it("max_connections = 16: the same 16 creates run at once on up to 16 connections", function()
    -- 1 s answers, so that the bound below (three rounds would be 3 s) is far
    -- from what a busy machine adds to one round
    local c = F.new_client(KEY, S.scenario_url(sb, "delay=1000"), { max_connections = 16 })
    finally(function() c:close() end)
    local before = sb:stats()
    local results, elapsed = burst(c, 16)
    assert_all_created(results, 16)
    local after = sb:stats()
    local opened = after.connections - before.connections
    -- more than the 4 above (the pool really is wider), never more than 16
    assert.is_true(opened > 4 and opened <= 16, "connections opened: " .. opened)
    assert.equals(16, after.requests - before.requests)
    -- one round of 1 s; three rounds would already be 3 s
    assert.is_true(elapsed < 2.5, ("16 creates took %.3f s"):format(elapsed))

    local again, elapsed2 = burst(c, 16)
    assert_all_created(again, 16)
    local last = sb:stats()
    assert.equals(0, last.connections - after.connections)
    assert.equals(16, last.requests - after.requests)
    assert.is_true(elapsed2 < 2.5, ("16 more creates took %.3f s"):format(elapsed2))
  end)
end)

describe("the pool over TLS (nginx in front of the sandbox)", function()
  local pki

  setup(function() pki = T.make_pki() end)
  teardown(function() T.remove_pki(pki) end)

  -- One front per test (a front keeps its config and log in pki.dir).
  local function start_front(opts)
    local front = T.start_front(pki, sb.url, opts)
    local c = F.new_client(KEY, front.url .. "/_scenario/" .. DELAY,
                           { ca_file = pki.ca_file, max_connections = 4 })
    finally(function()
      c:close()
      front:stop()
    end)
    return front, c
  end

  it("HTTP/2: 20 concurrent creates are multiplexed on one connection", function()
    local features = (net.capture("curl-config --features"))
    if not features:match("%f[%w]HTTP2%f[%W]") then
      return pending("libcurl was built without HTTP2 (curl-config --features)")
    end
    if not (net.capture("nginx -V")):find("--with-http_v2_module", 1, true) then
      return pending("nginx was built without http_v2_module")
    end
    local front, c = start_front({ http2 = true })

    local results, elapsed = burst(c, 20)
    local keys = assert_all_created(results, 20)
    local entries = front:entries_for(keys)
    assert.equals(20, #entries)
    for _, e in ipairs(entries) do
      assert.equals("HTTP/2.0", e.protocol)
      assert.equals(201, e.status)
    end
    -- one connection, not max_connections = 4 of them
    assert.equals(1, (distinct(entries, "connection")))
    assert.equals(20, sb:stats().requests)
    -- the streams ran side by side: one after another would be 20 x 0.3 s
    assert.is_true(elapsed < 3, ("20 creates took %.3f s"):format(elapsed))

    -- the next burst goes on the same connection
    local again = burst(c, 20)
    local keys2 = assert_all_created(again, 20)
    local entries2 = front:entries_for(keys2)
    assert.equals(20, #entries2)
    assert.equals(1, (distinct(entries2, "connection")))
    assert.equals(entries[1].connection, entries2[1].connection)
    assert.equals(1, front:connections())
  end)

  it("HTTP/1.1 only: the same 20 creates still work, on at most 4 connections", function()
    local front, c = start_front()

    local results, elapsed = burst(c, 20)
    local keys = assert_all_created(results, 20)
    local entries = front:entries_for(keys)
    assert.equals(20, #entries)
    for _, e in ipairs(entries) do
      assert.equals("HTTP/1.1", e.protocol)
      assert.equals(201, e.status)
    end
    -- HTTP/1.1 cannot multiplex: the client opens its 4 connections (waiting
    -- for the first handshake must not leave it on a single one)
    assert.equals(4, (distinct(entries, "connection")))
    assert.equals(20, sb:stats().requests)
    -- 20 answers of 300 ms through 4 connections: 5 rounds, ~1.5 s
    assert.is_true(elapsed > 0.5 and elapsed < 3, ("20 creates took %.3f s"):format(elapsed))
  end)
end)
