-- Smaller defects of the request engine, each with the behaviour it must
-- have. In process where nothing can crash; a child process where the
-- environment must differ (proxy variables); a raw server in another
-- process where the sandbox cannot play the peer (a proxy, a giant header).
local allawee = require "allawee"
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local C = require "support.child"
local net = require "support.net"

local KEY = "sk.test.canary-defects"
local LUA = F.build()

-- Valid UTF-8 (RFC 3629), on every Lua (utf8.len is 5.3+ only).
local function valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len, lo, hi
    lo, hi = 0x80, 0xBF
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    else
      return false, i
    end
    if i + len - 1 > n then return false, i end
    for j = 1, len - 1 do
      local b = s:byte(i + j)
      if j == 1 and (b < lo or b > hi) then return false, i end
      if j > 1 and (b < 0x80 or b > 0xBF) then return false, i end
    end
    i = i + len
  end
  return true
end

local function url_encode(s)
  return (s:gsub("[^%w%-_.~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end

---------------------------------------------------------------------------
-- A raw server in another process (create blocks this one): "proxy" logs
-- every connection and its request line, then answers 502; "bigheader"
-- answers 201 with a 100 KiB header line.
---------------------------------------------------------------------------

local RAW = [==[
local socket = require "socket"
local mode = arg[1]
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
srv:settimeout(30)       -- bounds an orphan; the test kills it long before
while true do
  local conn = srv:accept()
  if not conn then break end
  conn:settimeout(5)
  local first = conn:receive("*l")
  io.stdout:write("connection ", tostring(first), "\n")
  io.stdout:flush()
  local length = 0
  while true do
    local line = conn:receive("*l")
    if not line or line == "" then break end
    local n = line:lower():match("^content%-length:%s*(%d+)")
    if n then length = tonumber(n) end
  end
  if length > 0 then conn:receive(length) end
  if mode == "proxy" then
    conn:send("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
  else
    local body = '{"code":"success","data":{"id":"cus.x","object":"customer"}}'
    conn:send("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Big: " .. ("a"):rep(100 * 1024)
      .. "\r\nContent-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body)
  end
  conn:close()
end
]==]

local function start_raw(mode)
  local dir = net.temp_dir("raw")
  local script = dir .. "/raw.lua"
  net.write_file(script, RAW)
  local pid, proc = net.spawn(("lua5.4 %s %s"):format(net.shell_quote(script), mode))
  local port = tonumber((proc:read("*l") or ""):match("^port (%d+)$"))
  assert(pid and port, "the raw server did not start")
  local raw = { url = "http://127.0.0.1:" .. port, port = port }
  -- Stops it and returns the request lines of every connection it saw.
  function raw.stop()
    os.execute("kill " .. pid .. " 2>/dev/null")
    local out = proc:read("*a") or ""
    proc:close()
    net.remove_temp_dir(dir)
    local lines = {}
    for line in out:gmatch("connection ([^\n]*)") do lines[#lines + 1] = line end
    return lines
  end
  return raw
end

describe("engine defects (" .. LUA .. ")", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(extra)
    return F.new_client(KEY, sb.url, extra)
  end

  describe("a proxy is never used for plain http to loopback", function()
    for _, host in ipairs({ "127.0.0.1", "localhost" }) do
      it("option proxy with base_url http://" .. host, function()
        local proxy = start_raw("proxy")
        local ok, err = pcall(function()
          local c = allawee.new({ secret_key = KEY, base_url = sb.url:gsub("127%.0%.0%.1", host),
                                  proxy = proxy.url, timeout = 10 })
          local p = F.minimal()
          local data, e = c.customers.create(p)
          c:close()
          assert(data, "create failed: " .. tostring(e))
          assert.equals(1, C.posts(sb, p.reference), "the request did not reach the sandbox directly")
        end)
        local seen = proxy.stop()
        assert.equals(0, #seen, "the proxy was used for loopback: " .. table.concat(seen, " | "))
        assert(ok, err)
      end)
    end

    for _, var in ipairs({ "http_proxy", "HTTPS_PROXY", "ALL_PROXY" }) do
      it(var .. " in the environment with base_url http://127.0.0.1 and http://localhost (child process)", function()
        local proxy = start_raw("proxy")
        local ref1, ref2 = F.reference("env-proxy-ip"), F.reference("env-proxy-name")
        local res = C.run([[
          local c1 = new_client()
          emit("ip", (outcome(pcall(c1.customers.create, params(os.getenv("REF1"))))))
          c1:close()
          local c2 = new_client({ base_url = (URL:gsub("127%.0%.0%.1", "localhost")) })
          emit("name", (outcome(pcall(c2.customers.create, params(os.getenv("REF2"))))))
          c2:close()
          emit("done", "yes")
        ]], { env = { SB_URL = sb.url, REF1 = ref1, REF2 = ref2, [var] = proxy.url, NO_PROXY = "",
                      no_proxy = "" }, timeout = 30 })
        local seen = proxy.stop()
        C.assert_clean(res)
        assert.equals("0 connections", #seen .. " connections",
          "the proxy from " .. var .. " was used for loopback: " .. table.concat(seen, " | "))
        assert.equals("success", res.results.ip)
        assert.equals("success", res.results.name)
        assert.equals(1, C.posts(sb, ref1))
        assert.equals(1, C.posts(sb, ref2))
      end)
    end
  end)

  describe("base_url", function()
    local function new_with(url)
      return allawee.new({ secret_key = KEY, base_url = url })
    end

    for _, url in ipairs({ "http://127.999.999.999", "http://127.0.0.256:8080", "http://127.1", "" }) do
      it(("refuses %q"):format(url), function()
        local ok, c = pcall(new_with, url)
        if ok then c:close() end
        assert.is_false(ok, ("allawee.new accepted base_url %q"):format(url))
      end)
    end

    for _, url in ipairs({ "http://127.0.0.1:80 80", "https://api.allawee.com /x", "http://127.0.0.1:abc",
                           "http://127.0.0.1:99999", "http://127.0.0.1:0" }) do
      it(("refuses %q in new (not at the first request)"):format(url), function()
        local ok, c = pcall(new_with, url)
        if ok then c:close() end
        assert.is_false(ok, ("allawee.new accepted base_url %q"):format(url))
      end)
    end

    for _, url in ipairs({ "http://127.0.0.1:1", "http://127.255.255.254:8080", "http://localhost:8080",
                           "http://[::1]:8080", "https://api.allawee.com", "https://api.allawee.com:443/v1/" }) do
      it(("accepts %q"):format(url), function()
        local c = new_with(url)
        assert.matches("^allawee%.client %(", tostring(c))
        c:close()
      end)
    end
  end)

  describe("idempotency_key", function()
    for name, key in pairs({ empty = "", blank = "   ", ["256 bytes"] = ("k"):rep(256),
                             ["a control byte"] = "key\1", ["DEL"] = "key\127", ["non-ASCII"] = "cl\195\169" }) do
      it("refuses one that is " .. name, function()
        local c = client()
        local ok = pcall(c.customers.create, F.minimal(), { idempotency_key = key })
        c:close()
        assert.is_false(ok, "accepted an idempotency_key that is " .. name)
        assert.equals(0, sb:stats().requests)
      end)
    end

    for _, key in ipairs({ "order-1234", ("k"):rep(255), "  padded-key  ", "a b" }) do
      it(("reports in meta.idempotency_key the key the server received (%q)"):format(key:sub(1, 20)), function()
        local c = client()
        local p = F.minimal()
        local ok, data, err, meta = pcall(c.customers.create, p, { idempotency_key = key })
        c:close()
        if not ok then return end -- refusing it is fine too
        assert(data, tostring(err))
        local got = C.records(sb, p.reference)[1].headers["idempotency-key"]
        assert.equals(got, meta.idempotency_key)
      end)
    end

    it("reports the generated key the server received", function()
      local c = client()
      local p = F.minimal()
      local _, _, meta = c.customers.create(p)
      c:close()
      assert.equals(C.records(sb, p.reference)[1].headers["idempotency-key"], meta.idempotency_key)
    end)
  end)

  describe("text is never cut inside a UTF-8 sequence", function()
    it("an error message of 600 'é' from the server", function()
      local message = ("\195\169"):rep(600)
      local c = client({ base_url = S.scenario_url(sb, "status=400,message=" .. url_encode(message)) })
      local data, err = c.customers.create(F.minimal())
      c:close()
      assert.is_nil(data)
      assert.equals(400, err.status)
      local ok, at = valid_utf8(err.message)
      assert(ok, ("err.message (%d bytes) is not valid UTF-8 at byte %s"):format(#err.message, tostring(at)))
      ok, at = valid_utf8(tostring(err))
      assert(ok, ("tostring(err) is not valid UTF-8 at byte %s"):format(tostring(at)))
    end)

    -- Two suffixes: whatever length the SDK's own prefix has, a cut at an
    -- odd or an even byte lands inside an 'é' for one of them.
    for _, lead in ipairs({ "", "x" }) do
      it(("a user_agent suffix of %q .. 300 'é'"):format(lead), function()
        local c = client({ user_agent = lead .. ("\195\169"):rep(300) })
        local p = F.minimal()
        assert.is_table((c.customers.create(p)))
        c:close()
        local ua = C.records(sb, p.reference)[1].headers["user-agent"]
        local ok, at = valid_utf8(ua)
        assert(ok, ("the User-Agent (%d bytes) is not valid UTF-8 at byte %s"):format(#ua, tostring(at)))
      end)
    end

    it("err.code never holds CR or LF", function()
      local c = client({ base_url = S.scenario_url(sb, "status=400,code=bad%0D%0Acode,message=m") })
      local data, err = c.customers.create(F.minimal())
      c:close()
      assert.is_nil(data)
      assert.is_string(err.code)
      assert.is_nil(err.code:find("[\r\n]"), ("err.code holds a line break: %q"):format(err.code))
      assert.is_nil(tostring(err):find("[\r\n]"))
    end)
  end)

  it("sends -0.0 as -0.0 (or -0), never 0", function()
    local c = client()
    local p = F.minimal()
    local negative_zero = 0.0 * -1
    assert.equals(-math.huge, 1 / negative_zero) -- this Lua has it
    p.metadata = { z = negative_zero }
    assert.is_table((c.customers.create(p)))
    c:close()
    local body = C.records(sb, p.reference)[1].body
    local z = body:match('"z":([^,}]*)')
    assert(z == "-0.0" or z == "-0" or z == "-0e0", ("-0.0 was sent as %s"):format(tostring(z)))
  end)

  it("a 100 KiB response header is a clear error, not 'Out of memory'", function()
    local raw = start_raw("bigheader")
    local ok, data, err = pcall(function()
      local c = allawee.new({ secret_key = KEY, base_url = raw.url, max_retries = 0, timeout = 10 })
      local d, e = c.customers.create(F.minimal())
      c:close()
      return d, e
    end)
    raw.stop()
    assert(ok, data)
    assert.is_nil(data)
    assert.equals("response_header_too_large", err.code, ("got %s: %s"):format(tostring(err.code), err.message))
    assert.is_nil(err.message:lower():find("out of memory", 1, true))
    assert.matches("header", err.message:lower(), 1, true)
    assert.matches("too large", err.message:lower(), 1, true)
  end)

  describe("programmer errors in the standard form", function()
    it("create with a string: bad argument #1 to 'create' (table expected, got string),"
      .. " at the caller's line", function()
      local c = client()
      local line = debug.getinfo(1, "l").currentline + 1
      local ok, msg = pcall(function() local r = c.customers.create("x"); return r end)
      c:close()
      assert.is_false(ok)
      local expected = ("engine_defects_spec.lua:%d: bad argument #1 to 'create' (table expected, got string)")
        :format(line)
      assert(msg:sub(-#expected) == expected and msg:match("^[^:]*engine_defects_spec%.lua:%d+: "),
        ("expected ...%s\n     got %s"):format(expected, msg))
    end)

    it("create_async with a number callback: bad argument #2 to 'create_async'"
      .. " (function expected, got number)", function()
      local c = client()
      local ok, msg = pcall(function() local r = c.customers.create_async(F.minimal(), 42); return r end)
      c:close()
      assert.is_false(ok)
      assert.matches("engine_defects_spec%.lua:%d+: bad argument #2 to 'create_async'"
        .. " %(function expected, got number%)$", msg)
    end)

    for _, driver in ipairs({ "poll", "wait" }) do
      local name = ("a callback that raises inside %s: the error carries a traceback into the callback")
        :format(driver)
      it(name, function()
        local c = client()
        local callback_line
        c.customers.create_async(F.minimal(), function()
          callback_line = debug.getinfo(1, "l").currentline + 1
          error("boom in callback")
        end)
        local ok, msg
        for _ = 1, 200 do
          if driver == "poll" then ok, msg = pcall(c.poll, c, 20) else ok, msg = pcall(c.wait, c) end
          if not ok or callback_line then break end
        end
        c:close()
        assert.is_false(ok)
        msg = tostring(msg)
        assert.matches("boom in callback", msg, 1, true)
        assert.matches("stack traceback:", msg, 1, true)
        assert.matches("engine_defects_spec%.lua:" .. callback_line .. ":", msg)
      end)
    end
  end)

  it("delivers 20,000 finished callbacks in one poll, once each, in finishing order", function()
    -- Finished at submit (validation errors: nothing is sent), delivered by
    -- one poll. No time is asserted; bench/ can time this very case (see the
    -- report: callgrind instructions at N and 4N prove it linear).
    local N = tonumber(os.getenv("ALLAWEE_DELIVER_N") or "") or 20000
    local c = client()
    local got, order = 0, {}
    for i = 1, N do
      c.customers.create_async({ name = "" }, function(_, err)
        got = got + 1
        order[got] = i
        assert(err and err.kind == "validation")
      end)
    end
    local t0 = socket.gettime()
    local left = c:poll(0)
    local took = socket.gettime() - t0
    c:close()
    print(("\n  %d callbacks delivered by one poll in %.0f ms (not asserted)"):format(got, took * 1000))
    assert.equals(0, left)
    assert.equals(N, got)
    for i = 1, N do
      if order[i] ~= i then error(("callback %d ran in place %d"):format(order[i], i)) end
    end
    assert.equals(0, sb:stats().requests)
  end)

  describe("the new API (client:request, request_async, err.ambiguous)", function()
    local function need_request(c)
      assert(type(c.request) == "function", "client:request is not available yet")
      assert(type(c.request_async) == "function", "client:request_async is not available yet")
    end

    it("client:request POST /customers creates, with meta.attempts", function()
      local c = client()
      need_request(c)
      local p = F.minimal()
      local data, err, meta = c:request("POST", "/customers", { body = p })
      c:close()
      assert(data, tostring(err))
      assert.equals(1, meta.attempts)
      assert.equals(1, C.posts(sb, p.reference))
    end)

    it("client:request GET of an unknown path returns nil, err (not_found)", function()
      local c = client()
      need_request(c)
      local data, err = c:request("GET", "/customers/cus.nope")
      c:close()
      assert.is_nil(data)
      assert.equals("not_found", err.kind)
    end)

    it("client:request with a params proxy in body is a validation error naming the path", function()
      local c = client()
      need_request(c)
      local body = F.minimal()
      body.metadata = setmetatable({}, { __index = { a = 1 } })
      local data, err = c:request("POST", "/customers", { body = body })
      c:close()
      assert.is_nil(data)
      assert.equals("validation", err.kind)
      assert(err.field == "body.metadata" or err.field == "metadata",
        "err.field must name the proxy's path, got " .. tostring(err.field))
      assert.equals(0, sb:stats().requests)
    end)

    it("client:request_async delivers through poll, with meta.attempts counting every send", function()
      local c = client({ base_url = S.scenario_url(sb, "status=503,times=1"), backoff_base = 0.001 })
      need_request(c)
      local p = F.minimal()
      local got
      -- a POST is sent again after a 5xx only when the caller says it is safe
      c:request_async("POST", "/customers", { body = p, idempotent = true }, function(data, err, meta)
        got = { data = data, err = err, meta = meta }
      end)
      c:wait()
      c:close()
      assert(got and got.data, got and tostring(got.err) or "no callback")
      assert.equals(2, got.meta.attempts)
      assert.equals(2, C.posts(sb, p.reference))
    end)

    it("an outcome the server may have processed carries err.ambiguous = true", function()
      local c = client({ base_url = S.scenario_url(sb, "fault=close"), max_retries = 0 })
      local data, err = c.customers.create(F.minimal())
      c:close()
      assert.is_nil(data)
      assert.is_true(err.ambiguous, "the request was read by the server, then the connection closed")
    end)

    it("an outcome the server surely did not process is not ambiguous", function()
      local c = client({ base_url = S.scenario_url(sb, "status=400"), max_retries = 0 })
      local _, err = c.customers.create(F.minimal())
      c:close()
      assert.is_not_true(err.ambiguous)
      local port = net.free_port() -- nothing listens: never sent
      local c2 = allawee.new({ secret_key = KEY, base_url = "http://127.0.0.1:" .. port, max_retries = 0 })
      local _, err2 = c2.customers.create(F.minimal())
      c2:close()
      assert.equals("connection", err2.kind)
      assert.is_not_true(err2.ambiguous)
    end)
  end)
end)
