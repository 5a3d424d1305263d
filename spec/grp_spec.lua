-- Guaranteed Request Processing through the SDK: a 202 request-accepted is
-- err.kind "accepted" with err.request_id, never retried, and
-- client.requests.get(err.request_id) follows the kept request (answered
-- un-enveloped) from pending to completed or cancelled.
local allawee = require "allawee"
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local I = require "support.issuing"

describe("GRP: requests.get", function()
  local sb
  setup(function() sb = S.start{ secure = true } end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = F.KEY, base_url = url or sb.url,
                                 secure_base_url = sb.secure_url,
                                 backoff_base = 0.001, backoff_max = 0.01 }, extra))
  end

  local function complete(id)
    local status, doc = sb:control_json("POST", "/_sandbox/grp/" .. id .. "/complete")
    assert.equals(200, status)
    return doc
  end

  it("a card create answered 202: accepted, not retried; pending, then completed after the sandbox runs it", function()
    local c = client()
    local customer, program = I.customer(c), I.live_program(c)
    local g = client(S.scenario_url(sb, "fault=accepted"))
    local body = I.card(program.id, customer.id, { amount = 120 })
    local data, err, meta = g.cards.create(body)
    assert.is_nil(data)
    assert.is_nil(meta)
    assert.equals("accepted", err.kind)
    assert.equals("request-accepted", err.code)
    assert.equals(202, err.status)
    assert.is_false(err.retryable)
    assert.equals(1, err.attempts)
    assert.matches("^req_%w+$", err.request_id)
    assert.matches("asynchronously", err.message, 1, true)
    assert.equals(1, sb:posts_for(body.reference))          -- never sent again
    assert.equals(0, #assert(c.cards.list()))                -- not run yet

    local recs, req, gerr, gmeta = I.records(sb, c.requests.get, err.request_id)
    assert.is_nil(gerr)
    assert.equals("GET", recs[1].method)
    assert.equals("/requests/" .. err.request_id, recs[1].path)
    assert.equals(200, gmeta.status)
    assert.is_nil(gmeta.idempotency_key)
    -- the answer is not enveloped: the request object itself
    assert.equals(err.request_id, req._id)
    assert.equals("pending", req.status)
    assert.equals("/cards", req.path)
    assert.equals("POST", req.method)
    assert.equals(1, #req.attempts)
    assert.equals(202, req.attempts[1].statusCode)
    assert.equals("request-accepted", req.attempts[1].responseBody.code)

    complete(err.request_id)
    req = assert(c.requests.get(err.request_id))
    assert.equals("completed", req.status)
    assert.equals(2, #req.attempts)
    assert.equals(201, req.attempts[2].statusCode)
    local card = req.attempts[2].responseBody.data
    assert.equals(body.reference, card.reference)
    assert.equals(120, card.balance)
    local listed = assert(c.cards.list{ filter = { "reference", "EQ", body.reference } })
    assert.equals(1, #listed)
    assert.equals(card.id, listed[1].id)
    -- completing it again is the service's conflict; reading it stays the same
    local status = sb:control_json("POST", "/_sandbox/grp/" .. err.request_id .. "/complete")
    assert.equals(409, status)
    assert.equals("completed", assert(c.requests.get(err.request_id)).status)
    c:close()
    g:close()
  end)

  it("a cancelled request never runs", function()
    local c = client()
    local g = client(S.scenario_url(sb, "fault=accepted"))
    local _, err = g.accounts.create(I.account())
    assert.equals("accepted", err.kind)
    local status = sb:control_json("POST", "/_sandbox/grp/" .. err.request_id .. "/cancel")
    assert.equals(200, status)
    local req = assert(c.requests.get(err.request_id))
    assert.equals("cancelled", req.status)
    assert.equals(1, #req.attempts)
    assert.equals(0, #assert(c.accounts.list()))
    c:close()
    g:close()
  end)

  it("a fund answered 202 is not sent again; completing it moves the money once", function()
    local c = client()
    local card = I.new_card(c)
    local g = client(S.scenario_url(sb, "fault=accepted"))
    local _, err = g.cards.fund(card.id, { amount = 900 })
    assert.equals("accepted", err.kind)
    assert.equals(1, err.attempts)
    assert.equals(1, I.posts_to(sb, "/_scenario/fault=accepted/cards/" .. card.id .. "/fund"))
    assert.equals(0, assert(c.cards.get(card.id)).balance)
    complete(err.request_id)
    local req = assert(c.requests.get(err.request_id))
    assert.equals("/cards/" .. card.id .. "/fund", req.path)
    assert.equals(200, req.attempts[2].statusCode)
    assert.equals(900, req.attempts[2].responseBody.data.balance)
    assert.equals(900, assert(c.cards.get(card.id)).balance)
    c:close()
    g:close()
  end)

  it("a kept request completes by itself (complete_after), and requests.get_async reads it", function()
    local c = client()
    local g = client(S.scenario_url(sb, "fault=accepted,complete_after=50"))
    local _, err = g.card_programs.create(I.program())
    assert.equals("accepted", err.kind)
    local req
    for _ = 1, 200 do   -- at most ~10 s on a loaded machine; no timing asserted
      req = assert(c.requests.get(err.request_id))
      if req.status ~= "pending" then break end
      socket.sleep(0.05)
    end
    assert.equals("completed", req.status)
    assert.equals(201, req.attempts[2].statusCode)
    local got
    c.requests.get_async(err.request_id, function(d, e, m) got = { d, e, m } end)
    c:wait()
    assert.is_nil(got[2])
    assert.same(req, got[1])
    assert.equals(200, got[3].status)
    assert.equals(1, #assert(c.card_programs.list()))
    c:close()
    g:close()
  end)

  it("a secure call answered 202 is kept too, and its record never shows the card's secrets", function()
    local c = client()
    local card = I.new_card(c)
    local g = client(nil, { secure_base_url = sb.secure_url .. "/_scenario/fault=accepted" })
    local _, aerr = g.cards.activate(card.id, { cvv = I.TEST_CARD.cvv, pin = I.TEST_CARD.pin })
    assert.equals("accepted", aerr.kind)
    assert.is_nil(aerr.body)
    local _, serr = g.cards.secrets(card.id)
    assert.equals("accepted", serr.kind)
    complete(aerr.request_id)
    complete(serr.request_id)
    local activated = assert(c.requests.get(aerr.request_id))
    assert.equals("/cards/" .. card.id .. "/activate", activated.path)
    assert.equals(200, activated.attempts[2].statusCode)
    assert.equals("active", activated.attempts[2].responseBody.data.status)
    local shown = assert(c.requests.get(serr.request_id))
    assert.equals(200, shown.attempts[2].statusCode)
    assert.equals("[redacted: card secrets]", shown.attempts[2].responseBody)
    I.assert_no_secrets("GRP records of secure calls", { activated, shown, aerr, serr })
    assert.equals("active", assert(c.cards.get(card.id)).status)
    c:close()
    g:close()
  end)

  it("an unknown request is not_found (enveloped); a bad id is refused unsent", function()
    local c = client()
    local _, err = c.requests.get("req_doesnotexist000000000000")
    assert.equals("not_found", err.kind)
    assert.equals(404, err.status)
    assert.equals("not-found", err.code)
    local n, _, bad = sb:requests_during(c.requests.get, "req_1/../x")
    assert.equals("validation", bad.kind)
    assert.equals("id", bad.field)
    assert.equals(0, n)
    local ok, msg = pcall(c.requests.get, nil)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'get' (string expected, got nil)", msg, 1, true)
    c:close()
  end)

  it("every other endpoint's 202 is accepted too, never retried", function()
    local c = client()
    local card = I.active_card(c)
    local program = assert(c.card_programs.create(I.program{ type = "physical" }))
    local g = client(S.scenario_url(sb, "fault=accepted"),
                     { secure_base_url = sb.secure_url .. "/_scenario/fault=accepted", max_retries = 3 })
    local calls = {
      { "accounts.create", I.account() }, { "accounts.get", "ac.x" }, { "accounts.list" },
      { "accounts.balance", "ac.x" }, { "card_programs.create", I.program() },
      { "card_programs.get", program.id }, { "card_programs.list" },
      { "card_programs.update", program.id, { quantity = 2 } },
      { "cards.get", card.id }, { "cards.list" }, { "cards.update", card.id, { metadata = {} } },
      { "cards.block", card.id }, { "cards.unblock", card.id }, { "cards.terminate", card.id },
      { "cards.reset_pin", card.id, { pin = "1357" } }, { "requests.get", "req_x" },
    }
    for _, call in ipairs(calls) do
      local resource, method = call[1]:match("^(.-)%.(.*)$")
      local _, err = g[resource][method]((table.unpack or unpack)(call, 2))
      assert.equals("accepted", err.kind, call[1])
      assert.equals(1, err.attempts, call[1])
      assert.matches("^req_", err.request_id)
    end
    assert.equals("active", assert(c.cards.get(card.id)).status)   -- nothing ran
    c:close()
    g:close()
  end)
end)
