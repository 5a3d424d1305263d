-- The webhooks the sandbox sends: signed authorization requests and their
-- decisions (approve, decline, timeout, bad replies), closed/update events
-- redelivered until a 200, request.completed for GRP, the delivery log, and
-- the 501 on Luas without 64-bit integers. A receiver runs in a child
-- process (spec/support/webhook_receiver.lua); signatures are checked with
-- openssl, independently of the sandbox.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_webhooks_spec.lua
local socket = require "socket"
local S = require "support.sandbox"
local R = require "support.webhook_receiver"
local net = require "support.net"
local json = require("cjson").new()

local KEY = "whsec-sandbox-spec-key-7d2a"

local function openssl_signature(key, file)
  local out = net.capture(("openssl dgst -sha512 -hmac %s %s"):format(net.shell_quote(key), net.shell_quote(file)))
  return (out:match("= (%x+)%s*$"))
end

local function events_of(list)
  local out = {}
  for i, r in ipairs(list) do out[i] = r.event .. ":" .. tostring(r.status) end
  return out
end

-- ALLAWEE_SANDBOX_LUA may run the sandbox under another Lua; signing needs 5.3+.
local SANDBOX_LUA = os.getenv("ALLAWEE_SANDBOX_LUA") or "lua5.4"
local SIGNS = SANDBOX_LUA:match("lua5%.[34]") ~= nil

describe("sandbox webhooks", function()
  if not SIGNS then
    pending("the sandbox runs on " .. SANDBOX_LUA .. ": signed webhooks need Lua 5.3+ (the 501 is tested below)")
    return
  end
  local sb, rcv

  setup(function()
    sb = S.start()
    rcv = R.start()
  end)
  teardown(function()
    if sb then sb:stop() end
    if rcv then rcv:stop() end
  end)
  before_each(function() sb:reset() end)

  -- Configures the receiver at `path`; cfg adds timeout_ms and the like.
  local function hook(path, cfg)
    local body = { url = rcv.url .. path, signing_key = KEY, retry_interval_ms = 20 }
    for k, v in pairs(cfg or {}) do body[k] = v end
    return sb:webhooks(body)
  end

  -- An active card whose program has the given timeoutDefault.
  local function card(timeout_default)
    local program = sb:make_program{ authorization = { timeoutDefault = timeout_default or "decline", webhook = {} } }
    return sb:make_active_card{ program = program.id }
  end

  local function simulate(c, kind, body)
    local resp, doc = sb:call("POST", "/simulation/cards/" .. c.id .. "/request-authorization/" .. kind,
      body or { channel = "pos", amount = 5000, fees = 65, mcc = "5411", merchantDescriptor = "SHOP LAGOS NG" },
      { timeout = 30 })
    assert.equals(200, resp.status, resp.body)
    return doc.data, resp
  end

  -- The receiver's records about card c from the n-th on, once `count` of
  -- them are there. Only c's: an earlier test's redelivery (a `closed`
  -- re-sent until its 200) is a job the reset does not end once it has sent,
  -- and the receiver may record it whenever it next runs.
  local function received_since(n0, count, c)
    local function about_c(r) return type(r.doc.data) == "table" and r.doc.data.card == c.id end
    local function about_c_since_n0(l)
      local out = {}
      for i = n0 + 1, #l do
        if about_c(l[i]) then out[#out + 1] = l[i] end
      end
      return out
    end
    return about_c_since_n0(rcv:wait_for(function(l) return #about_c_since_n0(l) >= count end))
  end

  describe("configuration", function()
    it("takes {url, signing_key} and never shows the key", function()
      local doc = hook("/approve", { timeout_ms = 1500, max_attempts = 3 })
      assert.equals(rcv.url .. "/approve", doc.url)
      assert.equals(1500, doc.timeout_ms)
      assert.equals(3, doc.max_attempts)
      assert.equals(20, doc.retry_interval_ms)
      local status, shown = sb:control_json("GET", "/_sandbox/webhooks")
      assert.equals(200, status)
      assert.same(doc, shown)
      local text = S.request(sb.url, "GET", "/_sandbox/webhooks").body
      assert.falsy(text:find(KEY, 1, true))
      assert.equals(200, (sb:control_json("DELETE", "/_sandbox/webhooks")))
      local _, none = sb:control_json("GET", "/_sandbox/webhooks")
      assert.equals(json.null, none)
    end)

    it("refuses a bad configuration with 400", function()
      for _, cfg in ipairs({
        { url = "https://127.0.0.1:1/x", signing_key = KEY }, { url = "http://example.com/x", signing_key = KEY },
        { url = rcv.url }, { url = rcv.url, signing_key = "" }, { url = rcv.url, signing_key = KEY, timeout_ms = 0 },
        { url = rcv.url, signing_key = KEY, max_attempts = 1000 },
        { url = "http://127.0.0.1:99999/", signing_key = KEY },
      }) do
        local status, doc = sb:control_json("POST", "/_sandbox/webhooks", cfg)
        assert.equals(400, status, cfg.url)
        assert.equals("bad-request", doc.code)
      end
    end)

    it("is cleared by reset", function()
      hook("/approve")
      sb:reset()
      local _, none = sb:control_json("GET", "/_sandbox/webhooks")
      assert.equals(json.null, none)
    end)
  end)

  describe("authorization requests", function()
    it("signs a check request, applies the approval and sends closed", function()
      local c = card()
      hook("/approve?balance=123456")
      local n0 = #rcv:received()
      local auth = simulate(c, "check", { channel = "atm", merchantDescriptor = "EMERALD ATM" })
      assert.matches("^c%.auth%.%w+$", auth.id)
      assert.equals("card.authorization", auth.object)
      assert.equals("check", auth.type)
      assert.equals("approved", auth.status)
      assert.equals("direct-response", auth.decisionType)
      assert.equals(json.null, auth.statusReason)
      assert.equals(123456, auth.cardBalance)
      assert.equals("Receiver Holder", auth.cardHolderName)
      assert.equals(c.id, auth.card)

      local got = received_since(n0, 2, c)
      assert.same({ "card.authorization.request:pending", "card.authorization.closed:approved" }, events_of(got))
      for _, r in ipairs(got) do
        assert.matches("^%x+$", r.signature)
        assert.equals(128, #r.signature)
        assert.equals(openssl_signature(KEY, r.file), r.signature)
        assert.matches("^evt%.%w+$", r.event_id)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT", r.doc.metadata.sentAt)
        assert.matches('^{"event":"card%.authorization%.[a-z]+","data":{', r.body)
      end
      assert.equals(auth.id, got[1].doc.data.id)
      assert.equals("check", got[1].doc.data.type)
      assert.equals("EMERALD ATM", got[1].doc.data.merchantDescriptor)
      assert.are_not.equal(got[1].event_id, got[2].event_id)

      local _, stored = sb:call("GET", "/card-authorizations/" .. auth.id)
      assert.same(auth, stored.data)
      local _, listed = sb:call("GET", "/card-authorizations?filter=card||EQ||" .. c.id)
      assert.equals(1, #listed.data)
    end)

    it("verifies with the sandbox's own HMAC too (on Lua 5.3+)", function()
      if not (math.type and math.maxinteger == 9223372036854775807) then return end
      local sha = require "allawee.sandbox.sha512"
      local c = card()
      hook("/approve")
      local n0 = #rcv:received()
      simulate(c, "capture")
      local got = received_since(n0, 1, c)
      assert.equals(sha.hmac_sha512_hex(KEY, got[1].body), got[1].signature)
      assert.are_not.equal(sha.hmac_sha512_hex(KEY .. "x", got[1].body), got[1].signature)
    end)

    it("applies a decline with its code", function()
      local c = card("approve")
      hook("/decline?code=spending-control")
      local auth = simulate(c, "capture")
      assert.equals("capture", auth.type)
      assert.equals("declined", auth.status)
      assert.equals("spending-control", auth.statusReason)
      assert.equals("direct-response", auth.decisionType)
      assert.equals(5000, auth.amount)
      assert.equals(65, auth.fees)
      assert.is_false(auth.reserved)
    end)

    it("applies timeoutDefault when the receiver does not answer in time", function()
      hook("/silent", { timeout_ms = 300 })
      local auth = simulate(card("approve"), "capture")
      assert.equals("approved", auth.status)
      assert.equals("timeout-error", auth.statusReason)
      assert.equals("system-response", auth.decisionType)
      auth = simulate(card("decline"), "check", { channel = "online" })
      assert.equals("declined", auth.status)
      assert.equals("timeout-error", auth.statusReason)
    end)

    it("applies timeoutDefault on an unusable answer", function()
      hook("/badjson")
      local auth = simulate(card("approve"), "capture")
      assert.equals("approved", auth.status)
      assert.equals("invalid-response", auth.statusReason)
      assert.equals("system-response", auth.decisionType)
      hook("/nobalance") -- approving a check needs cardBalance
      auth = simulate(card("decline"), "check", { channel = "pos" })
      assert.equals("declined", auth.status)
      assert.equals("invalid-response", auth.statusReason)
      auth = simulate(card("decline"), "capture") -- a capture does not
      assert.equals("approved", auth.status)
      assert.equals("direct-response", auth.decisionType)
      hook("/flood") -- an answer past the 1 MiB the sandbox reads
      auth = simulate(card("decline"), "capture")
      assert.equals("declined", auth.status)
      assert.equals("invalid-response", auth.statusReason)
      local flood
      for _, d in ipairs(sb:deliveries()) do
        if d.event == "card.authorization.request" and d.url:find("/flood$") then flood = d end
      end
      assert.equals(json.null, flood.status)
      assert.truthy(tostring(flood.error):find("larger than", 1, true), tostring(flood.error))
      sb:webhooks{ url = "http://127.0.0.1:" .. net.free_port() .. "/", signing_key = KEY } -- nobody listens
      auth = simulate(card("approve"), "capture")
      assert.equals("approved", auth.status)
      assert.equals("invalid-response", auth.statusReason)
    end)

    it("decides by timeoutDefault without a receiver (webhook-not-configured)", function()
      local auth = simulate(card("approve"), "check", { channel = "pos" })
      assert.equals("approved", auth.status)
      assert.equals("webhook-not-configured", auth.statusReason)
      assert.equals("system-response", auth.decisionType)
    end)

    it("sends the amount update of update-capture as card.authorization.update (pending)", function()
      local c = card()
      hook("/approve")
      local n0 = #rcv:received()
      local auth = simulate(c, "update-capture", { channel = "online", amount = 5000, fees = 50, updateAmount = 7000,
        updateFees = 70 })
      assert.equals("approved", auth.status)
      assert.equals(7000, auth.amount)
      assert.equals(70, auth.fees)
      assert.equals(1, #auth.updates)
      assert.equals("approved", auth.updates[1].status)
      local got = received_since(n0, 3, c)
      assert.same({ "card.authorization.request:pending", "card.authorization.update:pending",
        "card.authorization.closed:approved" }, events_of(got))
      assert.equals(5000, got[1].doc.data.amount)
      assert.equals(7000, got[2].doc.data.amount)
    end)

    it("reverses a capture: closed (approved), then update (reversed)", function()
      local c = card()
      hook("/approve")
      local n0 = #rcv:received()
      local auth = simulate(c, "reverse-capture")
      assert.equals("reversed", auth.status)
      local got = received_since(n0, 3, c)
      assert.same({ "card.authorization.request:pending", "card.authorization.closed:approved",
        "card.authorization.update:reversed" }, events_of(got))
    end)

    it("refuses a card that is not active (409) and a missing channel (400)", function()
      hook("/approve")
      local c = sb:make_card()
      local resp, doc = sb:call("POST", "/simulation/cards/" .. c.id .. "/request-authorization/check",
        { channel = "pos" })
      assert.equals(409, resp.status)
      assert.equals("conflict", doc.code)
      assert.truthy(doc.message:find("is inactive", 1, true))
      local base = "/simulation/cards/" .. card().id .. "/request-authorization/"
      resp = sb:call("POST", base .. "capture", { amount = 1, fees = 0 })
      assert.equals(400, resp.status)
      resp = sb:call("POST", base .. "capture", { channel = "pos" })
      assert.equals(400, resp.status)
      assert.equals(404, (sb:call("POST", "/simulation/cards/c.none/request-authorization/check",
        { channel = "pos" })).status)
    end)
  end)

  describe("redelivery", function()
    it("re-sends closed until a 200, with the same event id and body", function()
      local c = card()
      hook("/fail?n=2", { max_attempts = 5 })
      local n0 = #rcv:received()
      simulate(c, "capture")
      local got = received_since(n0, 4, c)
      assert.same({ "card.authorization.request:pending", "card.authorization.closed:approved",
        "card.authorization.closed:approved", "card.authorization.closed:approved" }, events_of(got))
      assert.same({ "200", "500", "500", "200" }, { got[1].replied, got[2].replied, got[3].replied, got[4].replied })
      assert.equals(got[2].event_id, got[4].event_id)
      assert.equals(got[2].body, got[4].body)
      socket.sleep(0.3)
      assert.equals(4, #received_since(n0, 4, c)) -- nothing after the 200
      local log = sb:deliveries(4)
      assert.equals(4, #log)
      assert.same({ 1, 1, 2, 3 }, { log[1].attempt, log[2].attempt, log[3].attempt, log[4].attempt })
      assert.same({ 200, 500, 500, 200 }, { log[1].status, log[2].status, log[3].status, log[4].status })
      assert.equals(got[4].signature, log[4].signature)
      assert.equals("card.authorization.closed", log[4].event)
    end)

    it("stops after max_attempts", function()
      local c = card()
      hook("/fail?n=50", { max_attempts = 3 })
      local n0 = #rcv:received()
      simulate(c, "capture")
      received_since(n0, 4, c)
      socket.sleep(0.3)
      local log = sb:deliveries(4)
      assert.equals(4, #log) -- the request, then 3 attempts of closed
      assert.equals(3, log[4].attempt)
      assert.equals(500, log[4].status)
    end)

    it("keeps the signing key out of the delivery log", function()
      hook("/approve")
      simulate(card(), "capture")
      sb:deliveries(2)
      local text = S.request(sb.url, "GET", "/_sandbox/webhooks/deliveries").body
      assert.falsy(text:find(KEY, 1, true))
      assert.truthy(text:find('"event":"card.authorization.request"', 1, true))
    end)
  end)

  it("keeps serving other connections while a webhook waits", function()
    local c = card("approve")
    hook("/silent", { timeout_ms = 3000 })
    local slow = assert(S.connect(sb.url, 10))
    local body = json.encode({ channel = "pos", amount = 1, fees = 0 })
    S.send_request(slow, "POST", "/simulation/cards/" .. c.id .. "/request-authorization/capture",
      { Authorization = "Bearer " .. S.TEST_KEY }, body)
    -- wait until the sandbox has called the receiver
    rcv:wait_for(function(l) return #l > 0 and l[#l].path == "/silent" end)
    local resp, doc = sb:call("GET", "/cards/" .. c.id)
    assert.equals(200, resp.status)
    assert.equals(c.id, doc.data.id)
    assert.equals(0, #socket.select({ slow }, nil, 0)) -- the simulation is still waiting
    local answer = assert(S.read_response(slow))
    slow:close()
    assert.equals(200, answer.status)
    assert.equals("timeout-error", json.decode(answer.body).data.statusReason)
  end)

  it("sends request.completed when a GRP request completes", function()
    hook("/approve")
    local resp = sb:call("POST", "/_scenario/fault=accepted/customers", { name = "G", reference = "grp-hook",
      type = "individual" })
    local id = resp.headers["x-request-id"]
    local n0 = #rcv:received()
    assert.equals(200, (sb:control_json("POST", "/_sandbox/grp/" .. id .. "/complete")))
    -- A late delivery of an earlier test (a `closed` event re-sent until
    -- its 200) may land in between: wait for this one by its type.
    local list = rcv:wait_for(function(l)
      for i = n0 + 1, #l do if l[i].event == "request.completed" then return true end end
      return false
    end)
    local got = {}
    for i = n0 + 1, #list do
      if list[i].event == "request.completed" then got[#got + 1] = list[i] end
    end
    assert.equals(1, #got)
    assert.equals("request.completed", got[1].event)
    assert.equals(id, got[1].doc.data._id)
    assert.equals("completed", got[1].doc.data.status)
    assert.equals(201, got[1].doc.data.attempts[2].statusCode)
    assert.equals(openssl_signature(KEY, got[1].file), got[1].signature)
  end)
end)

describe("sandbox webhooks on Luas without 64-bit integers", function()
  for _, lua in ipairs({ "lua5.1", "luajit" }) do
    it("answers 501 to the webhook configuration under " .. lua .. ", and still simulates", function()
      local old = S.start{ lua = lua }
      local ok, err = pcall(function()
        local status, doc = old:control_json("POST", "/_sandbox/webhooks",
          { url = "http://127.0.0.1:9/hook", signing_key = KEY })
        assert.equals(501, status)
        assert.equals("not-implemented", doc.code)
        assert.truthy(doc.message:find("Lua 5.3 or later", 1, true), doc.message)
        local program = old:make_program{ authorization = { timeoutDefault = "approve" } }
        local c = old:make_active_card{ program = program.id }
        local resp, auth = old:call("POST", "/simulation/cards/" .. c.id .. "/request-authorization/check",
          { channel = "pos" })
        assert.equals(200, resp.status)
        assert.equals("webhook-not-configured", auth.data.statusReason)
        assert.equals("approved", auth.data.status)
      end)
      old:stop()
      assert(ok, err)
    end)
  end
end)
