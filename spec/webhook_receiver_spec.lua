-- examples/webhook_receiver.lua end to end against the sandbox: the sandbox
-- signs its webhooks with its own pure-Lua HMAC-SHA512, the receiver checks
-- them with allawee.webhooks (the module's C), answers authorization
-- requests, and refuses what is not signed with its key. The sandbox's
-- delivery log is checked with allawee.webhooks.verify here too.
local allawee = require "allawee"
local S = require "support.sandbox"
local F = require "support.fixtures"
local I = require "support.issuing"
local net = require "support.net"

local SIGNING_KEY = "whsec-receiver-spec-7c1e"
local BALANCE = 500000

-- Starts the example receiver under this spec's Lua; events go to a file.
local function start_receiver()
  local dir = net.temp_dir("receiver")
  local out = dir .. "/events.jsonl"
  local pid, proc = net.spawn(("env ALLAWEE_WEBHOOK_SIGNING_KEY=%s %s %s --balance %d --out %s --lifetime 120")
    :format(net.shell_quote(SIGNING_KEY), F.interpreter(),
            net.shell_quote(net.repo_root() .. "/examples/webhook_receiver.lua"), BALANCE, net.shell_quote(out)))
  local line = proc:read("*l") or ""
  local url = line:match("^webhook receiver (http://%S+) pid=%d+$")
  assert(url, "the receiver did not start: " .. line)
  local rcv = { url = url, pid = pid }
  function rcv.events(n)
    local list = {}
    net.wait_until(function()
      list = {}
      for l in (net.read_file(out) or ""):gmatch("[^\n]+") do list[#list + 1] = F.decode(l) end
      return #list >= (n or 0)
    end, 10)
    return list
  end
  function rcv.stop()
    os.execute("kill " .. pid .. " 2>/dev/null")   -- our own child, by pid
    net.wait_gone(pid, 3)
    proc:close()
    net.remove_temp_dir(dir)
  end
  return rcv
end

describe("examples/webhook_receiver.lua against the sandbox", function()
  local sb, rcv, available
  setup(function()
    sb = S.start()
    rcv = start_receiver()
  end)
  teardown(function()
    if rcv then rcv.stop() end
    if sb then sb:stop() end
  end)
  before_each(function()
    sb:reset()
    available = sb:control_json("POST", "/_sandbox/webhooks", { url = rcv.url .. "/allawee",
      signing_key = SIGNING_KEY, retry_interval_ms = 50 }) == 200
  end)

  local function client(url)
    return allawee.new{ secret_key = F.KEY, base_url = url or sb.url, backoff_base = 0.001 }
  end

  local function simulate(card, kind, body)
    local resp, doc = sb:call("POST", "/simulation/cards/" .. card.id .. "/request-authorization/" .. kind, body)
    assert.equals(200, resp.status, resp.body)
    return doc.data
  end

  local function need_webhooks()
    if not available then
      pending("the sandbox signs webhooks on Lua 5.3+ only (ALLAWEE_SANDBOX_LUA)")
      return false
    end
    return true
  end

  it("a check: signed by the sandbox, verified and approved by the receiver, then closed", function()
    if not need_webhooks() then return end
    local c = client()
    local card = I.active_card(c)
    local before = #rcv.events()
    local auth = simulate(card, "check", { channel = "pos", mcc = "5411", merchantDescriptor = "SHOP LAGOS NG" })
    assert.equals("approved", auth.status)
    assert.equals("direct-response", auth.decisionType)
    assert.equals(BALANCE, auth.cardBalance)
    local events = rcv.events(before + 2)
    local request, closed = events[before + 1], events[before + 2]
    assert.equals("card.authorization.request", request.event)
    assert.is_true(request.verified)
    assert.equals(auth.id, request.data.id)
    assert.equals("check", request.data.type)
    assert.equals("pending", request.data.status)
    assert.equals(card.id, request.data.card)
    assert.equals('{"action":"approve","cardBalance":500000}', request.answer)
    assert.equals("card.authorization.closed", closed.event)
    assert.equals("approved", closed.data.status)
    assert.equals('{"code":"success"}', closed.answer)
    -- the sandbox's log of the same deliveries: 200s, signatures the SDK verifies
    local deliveries = sb:deliveries(2)
    assert.equals(2, #deliveries)
    for i, d in ipairs(deliveries) do
      assert.equals(200, d.status)
      assert.is_true(allawee.webhooks.verify(d.body, d.signature, SIGNING_KEY))
      assert.equals(events[before + i].signature, d.signature:sub(1, 16) .. "…")
      assert.equals(events[before + i].id, d.id)
    end
    I.assert_no_secrets("the deliveries", deliveries)
    c:close()
  end)

  it("a capture beyond the balance is declined with insufficient-funds", function()
    if not need_webhooks() then return end
    local c = client()
    local card = I.active_card(c)
    local auth = simulate(card, "capture", { channel = "online", amount = BALANCE, fees = 65 })
    assert.equals("declined", auth.status)
    assert.equals("insufficient-funds", auth.statusReason)
    assert.equals("direct-response", auth.decisionType)
    auth = simulate(card, "capture", { channel = "online", amount = 5000, fees = 65 })
    assert.equals("approved", auth.status)
    assert.is_true(auth.reserved)
    c:close()
  end)

  it("request.completed for a GRP create arrives signed and verified", function()
    if not need_webhooks() then return end
    local c = client()
    local customer, program = I.customer(c), I.live_program(c)
    local g = client(S.scenario_url(sb, "fault=accepted"))
    local _, err = g.cards.create(I.card(program.id, customer.id))
    assert.equals("accepted", err.kind)
    local before = #rcv.events()
    assert.equals(200, (sb:control_json("POST", "/_sandbox/grp/" .. err.request_id .. "/complete")))
    -- by its type: the previous test's `closed` deliveries are jobs the
    -- sandbox may still be sending when this one starts
    local ev
    assert(net.wait_until(function()
      for i, e in ipairs(rcv.events()) do
        if i > before and e.event == "request.completed" then ev = e end
      end
      return ev ~= nil
    end, 10), "no request.completed arrived")
    assert.equals("request.completed", ev.event)
    assert.is_true(ev.verified)
    assert.equals(err.request_id, ev.data._id)
    assert.equals("completed", ev.data.status)
    assert.same(ev.data, assert(c.requests.get(err.request_id)))
    c:close()
    g:close()
  end)

  it("refuses a forged, a missing or a foreign signature with 400, and says why", function()
    local body = '{"event":"card.authorization.request","data":{"type":"check","amount":1},' ..
                 '"metadata":{"sentAt":"2026-01-01T00:00:00.000Z","event":"evt.forged"}}'
    local before = #rcv.events()
    local cases = {
      { { ["Allawee-Signature"] = string.rep("0", 128) }, "signature_mismatch" },
      { {}, "signature_missing" },
      { { ["Allawee-Signature"] = allawee.webhooks.sign(body, "another-key") }, "signature_mismatch" },
      { { ["Allawee-Signature"] = "sha512=" .. allawee.webhooks.sign(body, SIGNING_KEY) }, "signature_malformed" },
    }
    for _, case in ipairs(cases) do
      local headers = F.merge({ ["Content-Type"] = "application/json" }, case[1])
      local resp = assert(S.request(rcv.url, "POST", "/allawee", headers, body))
      assert.equals(400, resp.status)
      assert.equals('{"error":"Invalid Signature"}', resp.body)
    end
    local events = rcv.events(before + #cases)
    for i, case in ipairs(cases) do
      assert.equals(case[2], events[before + i].refused)
      assert.is_nil(events[before + i].event)
    end
    -- the same body signed with the key is taken, and a repeat of it gets the same answer
    local signed = { ["Allawee-Signature"] = allawee.webhooks.sign(body, SIGNING_KEY) }
    local first = assert(S.request(rcv.url, "POST", "/allawee", signed, body))
    local again = assert(S.request(rcv.url, "POST", "/allawee", signed, body))
    assert.equals(200, first.status)
    assert.equals('{"action":"approve","cardBalance":500000}', first.body)
    assert.equals(first.body, again.body)
  end)
end)
