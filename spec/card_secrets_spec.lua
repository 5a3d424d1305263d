-- The card-secrets rule: the PAN, CVV and PIN are the most sensitive values
-- the SDK touches. They are what cards.secrets returns and what activate and
-- reset_pin send, and nowhere else: not in an error (any field, tostring),
-- not in meta, not in tostring(client), not in the sandbox's request log,
-- its GRP records, its webhook deliveries or its verbose log, not in what a
-- process using the SDK prints. Driven for real: the sandbox's secure
-- routes with their successes and refusals, and a canned server whose
-- answers repeat the test PAN, CVV and PIN (a lying or careless peer).
local allawee = require "allawee"
local S = require "support.sandbox"
local C = require "support.canned"
local F = require "support.fixtures"
local I = require "support.issuing"
local net = require "support.net"

local CARD = I.TEST_CARD
local PINS = { "1357", "2468" }   -- the other PINs the spec sends
local ACTIVATE = { cvv = CARD.cvv, pin = CARD.pin }

local function assert_clean(where, v) I.assert_no_secrets(where, v, { pins = PINS }) end

local function assert_text_clean(where, text)
  local found = I.leaks(text, PINS)
  assert(found == nil, ("%s leaked into %s"):format(tostring(found), where))
end

describe("card secrets", function()
  local sb, log_dir, log_file

  setup(function()
    log_dir = net.temp_dir("secrets-log")
    log_file = log_dir .. "/sandbox.log"
    sb = S.start{ secure = true, log = log_file }
  end)
  teardown(function()
    if sb then sb:stop() end
    if log_dir then net.remove_temp_dir(log_dir) end
  end)

  local function client(url, extra)
    return allawee.new(F.merge({ secret_key = F.KEY, base_url = url or sb.url,
                                 secure_base_url = sb.secure_url,
                                 backoff_base = 0.001, backoff_max = 0.01 }, extra))
  end

  describe("the leak detector", function()
    it("finds the PAN anywhere and the CVV/PIN in field contexts or as values", function()
      for _, s in ipairs({ "x" .. CARD.pan .. "y", "5061 9973 0418 2654", '{"cvv":"739"}', "cvv=739",
                           "CVV: 739", '{"pin": 4826}', "pin 4826" }) do
        assert.is_string(I.leaks(s), s)
      end
      for _, s in ipairs({ '{"cvv":"[redacted]"}', "card ****2654", "pin: 4 digits", "7390" }) do
        assert.is_nil(I.leaks(s), s)
      end
      assert.is_false((pcall(assert_clean, "self-test", { nested = { value = CARD.cvv } })))
      assert.is_false((pcall(assert_clean, "self-test",
        setmetatable({}, { __tostring = function() return "failed with 4826" end }))))
      assert.is_true((pcall(assert_clean, "self-test", { status = 409, message = "card c.1 is active" })))
    end)
  end)

  describe("against the sandbox", function()
    before_each(function() sb:reset() end)

    it("activate, reset_pin and secrets: successes, refusals and validation leave no secret", function()
      local c = client()
      local outputs = {}
      local function keep(where, ...) outputs[#outputs + 1] = { where, { ... } } end
      local card = I.new_card(c)
      local secret, err, meta = c.cards.secrets(card.id)
      assert.equals(CARD.pan, secret.pan)                 -- the one place they belong
      keep("secrets (inactive) meta", err, meta)
      keep("activate wrong cvv", c.cards.activate(card.id, { cvv = "123", pin = CARD.pin }))
      keep("activate bad pin", c.cards.activate(card.id, { cvv = CARD.cvv, pin = "48" }))
      keep("activate", c.cards.activate(card.id, ACTIVATE))
      keep("activate again (409)", c.cards.activate(card.id, ACTIVATE))
      keep("reset_pin", c.cards.reset_pin(card.id, { pin = PINS[1] }))
      keep("reset_pin bad pin", c.cards.reset_pin(card.id, { pin = "12345" }))
      keep("activate unknown card (404)", c.cards.activate("c.nobody000000000000", ACTIVATE))
      keep("reset_pin unknown card (404)", c.cards.reset_pin("c.nobody000000000000", { pin = PINS[2] }))
      keep("secrets unknown card (404)", c.cards.secrets("c.nobody000000000000"))
      -- the SDK's own refusals, nothing sent
      keep("validation: pin missing", c.cards.activate(card.id, { cvv = CARD.cvv }))
      keep("validation: cvv a number", c.cards.activate(card.id, { cvv = 739, pin = CARD.pin }))
      keep("validation: pin a number", c.cards.reset_pin(card.id, { pin = 4826 }))
      keep("validation: pin empty", c.cards.reset_pin(card.id, { pin = "" }))
      keep("validation: a pan key", c.cards.activate(card.id, { cvv = CARD.cvv, pin = CARD.pin, pan = CARD.pan }))
      keep("validation: pin invalid UTF-8", c.cards.reset_pin(card.id, { pin = CARD.pin .. "\255" }))
      keep("validate = false: pin nested", c.cards.reset_pin(card.id, { pin = { { CARD.pin } } },
                                                           { validate = false }))
      assert(c.cards.terminate(card.id))
      keep("secrets terminated (409)", c.cards.secrets(card.id))
      keep("reset_pin terminated (409)", c.cards.reset_pin(card.id, { pin = PINS[2] }))
      -- the async twins
      local async = {}
      local other = I.new_card(c)
      c.cards.activate_async(other.id, { cvv = "000", pin = CARD.pin }, function(...) async[1] = { ... } end)
      c.cards.reset_pin_async(other.id, { pin = PINS[2] }, function(...) async[2] = { ... } end)
      c.cards.secrets_async("c.nobody000000000000", function(...) async[3] = { ... } end)
      c:wait()
      for i = 1, 3 do keep("async #" .. i, async[i][1], async[i][2], async[i][3]) end

      local kinds = {}
      for _, o in ipairs(outputs) do
        assert_clean(o[1], o[2])
        local e = o[2][1] == nil and o[2][2] or nil
        if type(e) == "table" and e.kind then
          kinds[e.kind] = true
          assert.is_nil(e.body, o[1])   -- a secure answer is never kept on an error
        end
      end
      for _, kind in ipairs({ "validation", "invalid_request", "conflict", "not_found" }) do
        assert.is_true(kinds[kind], kind)
      end
      assert.equals("invalid_request", async[1][2].kind)   -- the wrong CVV
      assert.equals("conflict", async[2][2].kind)          -- no PIN before activation
      assert.equals("not_found", async[3][2].kind)
      assert_clean("tostring(client)", tostring(c))
      assert.is_true(I.checked > 100)
      c:close()
      assert_clean("tostring(closed client)", tostring(c))
    end)

    it("programmer errors raise without repeating a secret", function()
      local c = client()
      for i, call in ipairs({
        function() return c.cards.activate("c.1", "cvv=739&pin=4826") end,
        function() return c.cards.activate("c.1", ACTIVATE, "pin=4826") end,
        function() return c.cards.reset_pin("c.1", ACTIVATE, { timeout = CARD.pin }) end,
        function() return c.cards.reset_pin("c.1", ACTIVATE, { idempotency_key = CARD.pan .. "\n" }) end,
        function() return c.cards.secrets(5061997304182654) end,
        function() return c.cards.activate_async("c.1", ACTIVATE, CARD.pin) end,
      }) do
        local n, ok, msg = sb:requests_during(pcall, call)
        assert.is_false(ok)
        msg = tostring(msg)
        assert.truthy(msg:find("bad argument #%d to '[%w_]+'") or msg:find("cards%.[%w_]+: "), msg)
        assert_clean("raised error #" .. i, { message = msg })
        assert.equals(0, n)
      end
      c:close()
    end)

    it("the sandbox's request log, GRP records and webhook deliveries hold none", function()
      local c = client()
      local card = I.new_card(c)
      assert(c.cards.secrets(card.id))
      assert(c.cards.activate(card.id, ACTIVATE))
      assert(c.cards.reset_pin(card.id, { pin = PINS[1] }))
      -- the main port serves the secure routes too (a loopback client's default)
      local d = allawee.new{ secret_key = F.KEY, base_url = sb.url }
      assert(d.cards.reset_pin(card.id, { pin = PINS[2] }))
      assert(d.cards.secrets(card.id))
      -- kept by GRP: the body waits in the sandbox, the record never shows it
      local g = client(nil, { secure_base_url = sb.secure_url .. "/_scenario/fault=accepted" })
      local _, accepted = g.cards.reset_pin(card.id, { pin = PINS[1] })
      local _, shown = g.cards.secrets(card.id)
      sb:control_json("POST", "/_sandbox/grp/" .. accepted.request_id .. "/complete")
      sb:control_json("POST", "/_sandbox/grp/" .. shown.request_id .. "/complete")
      -- a webhook delivery of an authorization on this card (the sandbox
      -- signs on Lua 5.3+ only: it answers 501 under an older one)
      local hooks = sb:control_json("POST", "/_sandbox/webhooks", { url = "http://127.0.0.1:" ..
        net.free_port() .. "/hook", signing_key = "whsec-spec", timeout_ms = 200, max_attempts = 1 })
      assert(c.cards.block(card.id) and c.cards.unblock(card.id))
      sb:call("POST", "/simulation/cards/" .. card.id .. "/request-authorization/check", { channel = "pos" })
      for _, route in ipairs({ "/_sandbox/requests", "/_sandbox/webhooks/deliveries" }) do
        local resp = S.request(sb.url, "GET", route)
        assert.equals(200, resp.status)
        if hooks == 200 or route == "/_sandbox/requests" then assert.truthy(#resp.body > 2, route) end
        assert_text_clean(route, resp.body)
        assert_clean(route, F.decode(resp.body))
      end
      local records = sb:requests()
      local secure_bodies = 0
      for _, r in ipairs(records) do
        if r.path:find("/activate", 1, true) or r.path:find("/reset-pin", 1, true) then
          secure_bodies = secure_bodies + 1
          assert.matches('"pin":"%[redacted%]"', r.body)
        end
      end
      assert.equals(4, secure_bodies)
      for _, id in ipairs({ accepted.request_id, shown.request_id }) do
        local resp = S.request(sb.url, "GET", "/requests/" .. id, { Authorization = "Bearer " .. S.TEST_KEY })
        assert.equals(200, resp.status)
        assert_text_clean("GET /requests/" .. id, resp.body)
        assert.equals("completed", F.decode(resp.body).status)
      end
      c:close()
      d:close()
      g:close()
    end)

    it("the sandbox's verbose log holds a line per request and none of them", function()
      local c = client()
      local card = I.new_card(c)
      assert(c.cards.activate(card.id, ACTIVATE))
      assert(c.cards.secrets(card.id))
      c.cards.activate(card.id, ACTIVATE)   -- a 409
      c:close()
      local text
      assert(net.wait_until(function()
        text = net.read_file(log_file) or ""
        return select(2, text:gsub("/secrets", "")) >= 1
      end, 5), "the sandbox's verbose log never showed the request")
      assert.truthy(text:find("secure POST /cards/" .. card.id .. "/activate", 1, true))
      assert_text_clean("the sandbox's verbose log", text)
    end)

    it("a process using the SDK prints none (errors, meta, tostring)", function()
      local card = sb:make_card()
      local out = F.run_lua(([[
        local allawee = require "allawee"
        local c = allawee.new{ secret_key = %q, base_url = %q, secure_base_url = %q }
        print(tostring(c))
        local s, err, meta = c.cards.secrets(%q)
        print("secrets", s and s.last4, tostring(err), meta.status, meta.request_id)
        print("activate", select(2, c.cards.activate(%q, { cvv = "111", pin = %q })))
        print("activate", select(3, c.cards.activate(%q, { cvv = %q, pin = %q })).status)
        print("again", select(2, c.cards.activate(%q, { cvv = %q, pin = %q })))
        print("reset", select(2, c.cards.reset_pin(%q, { pin = 12 })))
        print("unknown", select(2, c.cards.secrets("c.nobody000000000000")))
      ]]):format(F.KEY, sb.url, sb.secure_url, card.id, card.id, CARD.pin, card.id, CARD.cvv, CARD.pin,
                 card.id, CARD.cvv, CARD.pin, card.id))
      assert.matches("secrets\t" .. CARD.last4 .. "\tnil\t200", out)
      assert.matches("activate\tallawee invalid_request error: cvv does not match", out, 1, true)
      assert.matches("activate\t200", out, 1, true)
      assert.matches("again\tallawee conflict error", out, 1, true)
      assert.matches("reset\tallawee validation error", out, 1, true)
      assert.matches("unknown\tallawee not_found error", out, 1, true)
      assert_text_clean("the output of a process using the SDK", out)
      for line in out:gmatch("[^\n]+") do
        assert_clean("a printed line", { message = line })
      end
    end)
  end)

  describe("against a server whose answers repeat them", function()
    local PAN, CVV, PIN = CARD.pan, CARD.cvv, CARD.pin
    local echo = ("card %s cvv %s pin %s"):format(PAN, CVV, PIN)
    -- Answers a lying or careless secure host could give, each with the
    -- kind the SDK must map it to.
    local answers = {
      { "decode: truncated JSON", "decode",
        { status = 200, body = ('{"code":"success","data":{"pan":"%s","cvv":"%s"'):format(PAN, CVV) } },
      { "decode: invalid UTF-8", "decode",
        { status = 200, body = ('{"code":"success","data":{"pan":"%s\255","cvv":"%s"}}'):format(PAN, CVV) } },
      { "decode: not JSON", "decode", { status = 200, body = ("pan=%s&cvv=%s&pin=%s"):format(PAN, CVV, PIN) } },
      { "decode: trailing text", "decode",
        { status = 200, body = ('{"code":"success","data":{"pan":"%s","cvv":"%s"}} %s'):format(PAN, CVV, PAN) } },
      { "500 echo", "api",
        { status = 500, body = ('{"code":"application-error","message":"%s"}'):format(echo) } },
      { "400 statusCode echo", "invalid_request",
        { status = 400, body = ('{"statusCode":400,"message":"pin %s is too weak for %s"}'):format(PIN, PAN) } },
      { "409 echo", "conflict",
        { status = 409, body = ('{"code":"conflict","message":"cvv %s, pin %s: %s"}'):format(CVV, PIN, PAN) } },
      { "401 echo", "authentication",
        { status = 401, body = ('{"code":"unauthorized","message":"%s"}'):format(echo) } },
      { "2xx error envelope echo", "api",
        { status = 200, body = ('{"code":"error","message":"%s"}'):format(echo) } },
      { "a code that is a PAN", "invalid_request",
        { status = 422, body = ('{"code":"%s","message":"pan %s"}'):format(PAN, PAN) } },
      { "html 500 echo", "api",
        { status = 500, headers = { ["Content-Type"] = "text/html" }, body = "<h1>" .. echo .. "</h1>" } },
      { "429 echo", "rate_limit",
        { status = 429, body = ('{"code":"too-many-requests","message":"%s"}'):format(echo) } },
      { "spaced PAN", "api", { status = 500, body =
        '{"code":"application-error","message":"card 5061 9973 0418 2654 failed"}' } },
    }

    local function canned_list()
      local list = {}
      for i, a in ipairs(answers) do list[i] = a[3] end
      return list
    end

    local calls = {
      { "cards.secrets", function(c) return c.cards.secrets("c.1") end },
      { "cards.activate", function(c) return c.cards.activate("c.1", ACTIVATE) end },
      { "cards.reset_pin", function(c) return c.cards.reset_pin("c.1", { pin = PIN }) end },
      { "client:request secure", function(c)
          return c:request("GET", "/cards/c.1/secrets", { secure = true })
        end },
    }

    for _, call in ipairs(calls) do
      it(call[1] .. ": every error is free of them, and keeps no body", function()
        local srv = C.start(canned_list())
        local ok, problem = pcall(function()
          local c = allawee.new{ secret_key = F.KEY, base_url = "http://127.0.0.1:1",
                                 secure_base_url = srv.url, max_retries = 0 }
          for _, a in ipairs(answers) do
            local data, err, meta = call[2](c)
            local where = call[1] .. " / " .. a[1]
            assert.is_nil(data, where)
            assert.is_nil(meta, where)
            assert.equals(a[2], err.kind, where)
            assert.is_nil(err.body, where)
            assert_clean(where, err)
            assert_clean(where .. " (tostring)", { message = tostring(err) })
          end
          -- the words around the digits stay readable
          assert.equals(#answers, #srv.requests())
          assert_clean("tostring(client)", tostring(c))
          c:close()
        end)
        srv.stop()
        assert(ok, problem)
      end)
    end

    it("the masked message still says what happened", function()
      local srv = C.start{ { status = 400, body = '{"code":"bad-request","message":"cvv 739 does not match card ' ..
                                                   PAN .. '; pin must be 4 digits"}' } }
      local c = allawee.new{ secret_key = F.KEY, base_url = srv.url, max_retries = 0 }
      local _, err = c.cards.activate("c.1", ACTIVATE)
      srv.stop()
      assert.equals("cvv *** does not match card ****************; pin must be 4 digits", err.message)
      assert.equals("bad-request", err.code)
      c:close()
    end)

    it("an api-host answer keeps its words as they are (only the secure host holds secrets)", function()
      local srv = C.start{ { status = 409, body = '{"code":"conflict","message":"card c.123456 is blocked"}' } }
      local c = allawee.new{ secret_key = F.KEY, base_url = srv.url, max_retries = 0 }
      local _, err = c.cards.block("c.123456")
      srv.stop()
      assert.equals("card c.123456 is blocked", err.message)
      assert.is_string(err.body)
      c:close()
    end)
  end)
end)
