-- `make demo` (examples/demo.lua) as a user runs it: it creates a customer,
-- an account, a programme and a card, activates the card and prints a
-- simulated authorization whose signature it verified; it prints neither
-- the key nor a card secret, and leaves no process behind.
local F = require "support.fixtures"
local I = require "support.issuing"
local net = require "support.net"

local on_54 = F.build() == "5.4"   -- the demo runs as make demo runs it: lua5.4, build/5.4

describe("make demo", function()
  local run = on_54 and it or pending
  run("goes from a customer to a verified authorization, and prints no secret", function()
    local out, code = net.capture(("cd %s && lua5.4 examples/demo.lua"):format(net.shell_quote(net.repo_root())))
    assert.equals(0, code, out)
    local expect = {
      "^sandbox:  http://127%.0%.0%.1:%d+$",
      "^client:   allawee%.client %(http://127%.0%.0%.1:%d+%)$",
      "^customer: cus%.%w+ created %(HTTP 201, request id req_%w+, attempts 1%)$",
      "^          read back: Ciroma Chukwuma Adekunle, individual, active$",
      "^          listed: 1 customer%(s%), has_more false$",
      "^account:  ac%.%w+, NGN Allawee Sandbox Bank %d+ %(active%)$",
      "^          balance after a pay%-in: 750000 kobo$",
      "^program:  c%.prg%.%w+, verve virtual NGN %(live%)$",
      "^card:     c%.%w+, verve %*%*%*%* %d%d%d%d, balance 250000 kobo %(inactive%)$",
      "^          activated on the secure host: active$",
      "^webhook:  card%.authorization%.request evt%.%w+, %d+ bytes to http://127%.0%.0%.1:%d+/allawee$",
      "^          Allawee%-Signature %x+%.%.%.: verified by allawee%.webhooks%.verify %(HMAC%-SHA512%)$",
      '^          check pending, 0 NGN at "SHOP LAGOS NG" %(mcc 5411%) on card c%.%w+, sent [%d%-T:%.Z]+$',
      '^          the receiver answered HTTP 200 {"action":"approve","cardBalance":250000}$',
      "^decision: c%.auth%.%w+ approved %(direct%-response%), card balance 250000 kobo$",
    }
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equals(#expect, #lines, out)
    for i, pattern in ipairs(expect) do
      assert.truthy(lines[i]:match(pattern), ("line %d: %s"):format(i, lines[i]))
    end
    assert.is_nil(out:find("sk.test", 1, true), "the demo printed its key")
    assert.is_nil(out:find("whsec", 1, true), "the demo printed its signing key")
    assert.is_nil(I.leaks(out, { "4826" }))
    -- the sandbox and the receiver are gone (their ports, from the output)
    for port in out:gmatch("http://127%.0%.0%.1:(%d+)") do
      assert(net.wait_until(function() return not net.listening(tonumber(port)) end, 5),
             "port " .. port .. " still listening after the demo")
    end
  end)
end)
