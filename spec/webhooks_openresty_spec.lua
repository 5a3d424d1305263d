--[[
examples/openresty/webhooks.conf in a real nginx (Debian's nginx +
lua-nginx-module on LuaJIT, build/luajit), run as its comments say
(`-p <checkout>`, the signing key from the environment) with one worker,
driven by signed requests over loopback from this busted process:

  - valid, tampered, wrong key, missing and repeated header;
  - a card authorization request answered (approve with the balance,
    decline with insufficient-funds), other events answered 200 once;
  - a body nginx wrote to a temp file still verifies;
  - the webhook answer comes back while the same single worker is still
    serving a slow request started before it (ordering, not timings), and
    the control: a blocking handler makes it wait.
]]

local S = require "support.sandbox"
local N = require "support.nginx"
local net = require "support.net"
local allawee = require "allawee"
local json = require("cjson").new()   -- private: never touch the shared cjson settings

local available, why = N.available()
if not available and os.getenv("ALLAWEE_REQUIRE_OPENRESTY") ~= "1" then
  describe("webhooks in OpenResty", function()
    pending("skipped: " .. why .. " (`make test-openresty` installs and builds it)")
  end)
  return
end

local W = allawee.webhooks
local KEY = "sk.test.canary-webhook-nginx-31f0"   -- tools/test-summary greps logs for it
local PATH = "/allawee/webhooks"

local function event(name, data, id)
  return json.encode({ event = name, data = data,
                       metadata = { sentAt = "2024-10-16T10:00:00.000Z", event = id } })
end

-- The example, with its port, a prefix pid file and one worker; `extra`
-- adds test-only locations beside the webhook one.
local function start(extra, substitutions)
  local port = net.free_port()
  local conf = assert(net.read_file(N.repo .. "/examples/openresty/webhooks.conf"))
    :gsub("listen 127%.0%.0%.1:8081;", "listen 127.0.0.1:" .. port .. ";" .. (extra or ""))
    :gsub("\npid [^;]+;", "\npid ${prefix}/logs/nginx.pid;")
    :gsub("\nworker_processes auto;", "\nworker_processes 1;")
  for from, to in pairs(substitutions or {}) do
    local n
    conf, n = conf:gsub(from, to)
    assert.are.equal(1, n, from)
  end
  return N.start{ conf = conf, port = port, nginx_prefix = N.repo,
                  env = { ALLAWEE_WEBHOOK_SIGNING_KEY = KEY } }
end

local function post(srv, body, headers)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  local resp, err = S.request(srv.url, "POST", PATH, h, body, 30)
  assert(resp, "request to nginx failed: " .. tostring(err))
  return resp
end

local function signed_post(srv, body, key)
  return post(srv, body, { ["Allawee-Signature"] = W.sign(body, key or KEY) })
end

describe("examples/openresty/webhooks.conf", function()
  local srv

  setup(function() srv = start() end)

  teardown(function()
    if srv then
      local logs = srv:error_log() .. srv:stdout_log() .. srv:access_log()
      srv:stop(os.getenv("ALLAWEE_KEEP_NGINX") == "1")
      assert.is_nil(logs:find(KEY, 1, true), "the signing key leaked into nginx's logs")
      assert.is_nil(logs:find("canary-webhook-nginx", 1, true))
    end
  end)

  it("approves a check authorization with the balance left", function()
    local body = event("card.authorization.request",
                       { id = "c.auth.1", type = "check", status = "pending", amount = 5000 }, "evt.a1")
    local resp = signed_post(srv, body)
    assert.are.equal(200, resp.status, resp.body)
    assert.are.equal("application/json", resp.headers["content-type"])
    assert.are.equal('{"action":"approve","cardBalance":145000}', resp.body)
  end)

  it("declines a capture above the balance with insufficient-funds", function()
    local body = event("card.authorization.request",
                       { id = "c.auth.2", type = "capture", status = "pending", amount = 200000 }, "evt.a2")
    local resp = signed_post(srv, body)
    assert.are.equal(200, resp.status, resp.body)
    assert.are.equal('{"action":"decline","code":"insufficient-funds","cardBalance":150000}', resp.body)
  end)

  it("answers other events 200, and a second delivery of the same event id is not acted on", function()
    local body = event("card.transaction.created", { id = "c.txn.1", amount = 5000 }, "evt.t1-" .. os.time())
    for _ = 1, 2 do
      local resp = signed_post(srv, body)
      assert.are.equal(200, resp.status)
      assert.are.equal('{"code":"success"}', resp.body)
    end
    local log = srv:stdout_log() .. srv:error_log()
    local _, handled = log:gsub("webhook card%.transaction%.created evt%.t1%-", "")
    assert.are.equal(1, handled, log)
    assert.truthy(log:find("already handled", 1, true))
  end)

  it("400 Invalid Signature: tampered body, wrong key, missing, malformed or repeated header", function()
    local body = event("card.authorization.request", { type = "check", amount = 1 }, "evt.bad")
    local sig = W.sign(body, KEY)
    local tampered = body:gsub('"amount":1', '"amount":2')
    local cases = {
      post(srv, tampered, { ["Allawee-Signature"] = sig }),
      post(srv, body, { ["Allawee-Signature"] = W.sign(body, KEY .. "x") }),
      post(srv, body),
      post(srv, body, { ["Allawee-Signature"] = sig:sub(1, 127) }),
      post(srv, body, { ["Allawee-Signature"] = sig, ["allawee-signature"] = sig }),
      post(srv, body .. " ", { ["Allawee-Signature"] = sig }),
    }
    for i, resp in ipairs(cases) do
      assert.are.equal(400, resp.status, "case " .. i)
      assert.are.equal('{"error":"Invalid Signature"}', resp.body, "case " .. i)
    end
    -- the same body, signed right, goes through: upper-case hex too
    assert.are.equal(200, post(srv, body, { ["Allawee-Signature"] = sig:upper() }).status)
  end)

  it("400 Invalid Event for a signed body that is not an event; 405 for GET", function()
    assert.are.equal('{"error":"Invalid Event"}', signed_post(srv, "not json").body)
    assert.are.equal('{"error":"Invalid Event"}', signed_post(srv, '{"data":{}}').body)
    local resp = S.request(srv.url, "GET", PATH, nil, nil, 10)
    assert.are.equal(405, resp.status)
  end)

  it("a body nginx wrote to a temp file (larger than client_body_buffer_size) still verifies", function()
    local small = start(nil, { ["client_body_buffer_size 1m;"] = "client_body_buffer_size 1k;" })
    local ok, problem = pcall(function()
      local body = event("card.authorization.request",
                         { type = "check", amount = 100, note = string.rep("x", 64 * 1024) }, "evt.big")
      local resp = signed_post(small, body)
      assert.are.equal(200, resp.status, resp.body)
      assert.are.equal('{"action":"approve","cardBalance":149900}', resp.body)
      local tampered = body:gsub("x", "y", 1)
      assert.are.equal(400, post(small, tampered, { ["Allawee-Signature"] = W.sign(body, KEY) }).status)
      -- nginx did buffer it to a file
      assert.truthy((small:stdout_log() .. small:error_log())
        :find("a client request body is buffered to a temporary file", 1, true))
    end)
    small:stop()
    assert(ok, tostring(problem))
  end)

  describe("within the 4 s budget while the one worker is busy", function()
    -- /slow sends its headers, then waits 2 s: non-blocking (ngx.sleep) or
    -- blocking (os.execute sleep, the control), then its body.
    local SLOW = [[

        location = /slow {
            content_by_lua_block {
                ngx.header["Content-Length"] = 5
                ngx.send_headers()
                ngx.flush(true)
                if ngx.var.arg_blocking then os.execute("sleep 2") else ngx.sleep(2) end
                ngx.print("done\n")
            }
        }]]
    local busy

    setup(function() busy = start(SLOW) end)
    teardown(function() if busy then busy:stop() end end)

    -- Starts /slow and waits for its headers: from then on the worker is
    -- serving it. Returns the socket, with the body still to come.
    local function start_slow(query)
      local sock = assert(S.connect(busy.url, 30))
      S.send_request(sock, "GET", "/slow" .. (query or ""), { Host = "127.0.0.1", Connection = "close" })
      local status = assert(sock:receive("*l"))
      assert.truthy(status:find(" 200 ", 1, true), status)
      repeat local line = assert(sock:receive("*l")) until line == ""
      return sock
    end

    -- True when /slow's body has already arrived (checked without waiting).
    local function slow_finished(sock)
      sock:settimeout(0)
      local data, err, partial = sock:receive(5)
      sock:settimeout(30)
      if data then return true, data end
      assert.are.equal("timeout", err)
      return partial ~= "", partial
    end

    it("the authorization answer arrives before the slow request started first ends", function()
      local slow = start_slow()
      local body = event("card.authorization.request", { type = "check", amount = 1 }, "evt.busy")
      local resp = signed_post(busy, body)
      assert.are.equal(200, resp.status)
      assert.are.equal('{"action":"approve","cardBalance":149999}', resp.body)
      assert.is_false((slow_finished(slow)), "the slow request ended first")
      slow:settimeout(30)
      assert.are.equal("done\n", slow:receive(5))   -- and it does end, after
      slow:close()
    end)

    it("control: behind a blocking handler the same answer waits for it", function()
      local slow = start_slow("?blocking=1")
      local body = event("card.authorization.request", { type = "check", amount = 1 }, "evt.blocked")
      local resp = signed_post(busy, body)
      assert.are.equal(200, resp.status)
      local finished, data = slow_finished(slow)
      assert.is_true(finished, "the blocking handler did not hold the worker")
      assert.are.equal("done\n", data)
      slow:close()
    end)
  end)
end)
