-- make demo: start the bundled local Allawee sandbox and, through the
-- module, create a customer, read it back, list customers, open an
-- account, a card programme and a card, activate the card, then fire a
-- simulated `check` authorization at a webhook receiver and show it as
-- received, its signature verified with allawee.webhooks.verify.
-- Run from the repository root:
--   lua5.4 examples/demo.lua
-- Signed webhooks need the sandbox on Lua 5.3+ (make demo uses lua5.4).
local lua_version = _VERSION:match("%d+%.%d+")
local build = (jit and "luajit") or lua_version
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/" .. build .. "/?.so;" .. package.cpath

local allawee = require "allawee"
local http = require "socket.http"
local ltn12 = require "ltn12"
local json = require("cjson").new()   -- private: the global cjson settings stay as they are

local interpreter = jit and "luajit" or ("lua" .. lua_version)

-- The sandbox runs in its own process: a blocking call in this one would
-- otherwise stop it from answering.
local server = assert(io.popen("exec " .. interpreter .. " bin/allawee-sandbox --port 0"))
local banner = server:read("*l") or ""
local url = banner:match("(http://%S+)")
assert(url, "the sandbox did not start: " .. banner)
print("sandbox:  " .. url)

local client = allawee.new {
  secret_key = "sk.test.demo",   -- the sandbox accepts any sk.test.* key
  base_url = url,                -- loopback: the secure routes (card secrets) go here too
}
print("client:   " .. tostring(client))

local receiver, receiver_pid, events_file
local ok, problem = pcall(function()
  -- Each step either gives its value or stops the demo with the error.
  local function must(what, data, err, meta)
    if data == nil then error(what .. " failed: " .. tostring(err), 0) end
    return data, meta
  end

  local customer, meta = must("customers.create", client.customers.create {
    name = "Ciroma Chukwuma Adekunle",
    reference = "demo-" .. os.time(),
    type = "individual",
    claims = {
      individualInformation = {
        title = "Mr", gender = "M", nationalityCode = "NG",
        firstName = "Ciroma", middleName = "Chukwuma", lastName = "Adekunle",
        phoneNumber = "+2349154109234", dateOfBirth = "1997-02-13",
        email = "ciroma@example.com",
      },
      individualAddress = {
        city = "Yaba", state = "NG-LA", countryCode = "NG",
        addressLineOne = "100 Herbert Macaulay Road", addressLineTwo = "",
      },
      individualIdentity = { type = "bvn", id = "22489035167", issuingCountry = "NG" },
    },
    verifications = { "tier-2" },
    metadata = { userId = 2345 },
  })
  print(("customer: %s created (HTTP %d, request id %s, attempts %d)")
        :format(customer.id, meta.status, meta.request_id, meta.attempts))

  local again = must("customers.get", client.customers.get(customer.id))
  print(("          read back: %s, %s, %s"):format(again.name, again.type, again.status))
  local listed, lmeta = must("customers.list", client.customers.list { limit = 10 })
  print(("          listed: %d customer(s), has_more %s"):format(#listed, tostring(lmeta.has_more)))

  local account = must("accounts.create", client.accounts.create {
    name = "Ciroma Adekunle", currency = "NGN", type = "main",
    reference = "demo-account-" .. os.time(), customer = customer.id,
  })
  local channel = account.depositChannels[1]
  print(("account:  %s, %s %s %s (%s)"):format(account.id, account.currency, channel.bankName,
                                               channel.accountNumber, account.status))
  -- Money in: the sandbox's pay-in simulation, then the balance.
  must("pay-in", client:request("POST", "/simulation/payments/pay-in", { body = {
    method = "bank-transfer", accountNumber = channel.accountNumber, amount = 750000 } }))
  local balance = must("accounts.balance", client.accounts.balance(account.id))
  print(("          balance after a pay-in: %d kobo"):format(balance.available))

  local program = must("card_programs.create", client.card_programs.create {
    name = "Demo virtual cards " .. os.time(), network = "verve", type = "virtual", currency = "NGN",
    authorization = { fundingSourceType = "card-account", timeoutDefault = "decline" },
  })
  print(("program:  %s, %s %s %s (%s)"):format(program.id, program.network, program.type,
                                              program.currency, program.status))

  local card = must("cards.create", client.cards.create {
    program = program.id, customer = customer.id, reference = "demo-card-" .. os.time(),
    amount = 250000, debitSource = account.id,   -- kobo, taken from the account
    controls = { allowedChannels = { "pos", "online" }, blockedChannels = allawee.array(),
                 spendingLimits = { { amount = 100000, interval = "daily" } } },
  })
  print(("card:     %s, %s **** %s, balance %d kobo (%s)"):format(card.id, card.network,
                                                                 card.details.last4, card.balance, card.status))

  -- Activation takes the card's CVV and a PIN, on the secure host. A
  -- virtual card's CVV comes from cards.secrets; neither is ever printed.
  local secrets = must("cards.secrets", client.cards.secrets(card.id))
  local active = must("cards.activate", client.cards.activate(card.id, { cvv = secrets.cvv, pin = "4826" }))
  secrets = nil   -- luacheck: ignore (drop the only reference)
  print(("          activated on the secure host: %s"):format(active.status))

  -- A webhook receiver (examples/webhook_receiver.lua) in another process,
  -- and the sandbox told to sign its webhooks with our key and send them there.
  local signing_key = "whsec-demo-" .. os.time()
  events_file = os.tmpname()
  receiver = assert(io.popen(("echo $$; exec env ALLAWEE_WEBHOOK_SIGNING_KEY=%s %s examples/webhook_receiver.lua " ..
    "--balance %d --out %s --lifetime 60"):format(signing_key, interpreter, card.balance, events_file)))
  receiver_pid = receiver:read("*l")
  local hook_url = ((receiver:read("*l") or ""):match("(http://%S+)") or "") .. "/allawee"
  local out = {}
  local _, status = http.request {
    url = url .. "/_sandbox/webhooks", method = "POST",
    source = ltn12.source.string(json.encode({ url = hook_url, signing_key = signing_key })),
    headers = { ["Content-Type"] = "application/json" }, sink = ltn12.sink.table(out),
  }
  if status ~= 200 then
    print("webhook:  not available: " .. tostring((json.decode(table.concat(out)) or {}).message))
    return
  end

  local auth = must("the check simulation", client:request("POST",
    "/simulation/cards/" .. card.id .. "/request-authorization/check",
    { body = { channel = "pos", mcc = "5411", merchantDescriptor = "SHOP LAGOS NG" } }))

  -- What the receiver got: the sandbox keeps each delivery's exact bytes and
  -- signature; they are checked here again, as any receiver checks them.
  out = {}
  http.request { url = url .. "/_sandbox/webhooks/deliveries", sink = ltn12.sink.table(out) }
  local delivery = json.decode(table.concat(out))[1]
  local verified, why = allawee.webhooks.verify(delivery.body, delivery.signature, signing_key)
  local event = must("webhooks.parse", allawee.webhooks.parse(delivery.body, delivery.signature, signing_key))
  local a = event.data
  print(("webhook:  %s %s, %d bytes to %s"):format(event.event, event.metadata.event, #delivery.body, hook_url))
  print(("          Allawee-Signature %s...: %s"):format(delivery.signature:sub(1, 16),
        verified and "verified by allawee.webhooks.verify (HMAC-SHA512)" or ("REFUSED: " .. tostring(why))))
  print(("          %s %s, %d %s at %q (mcc %s) on card %s, sent %s"):format(a.type, a.status, a.amount,
        a.currency, a.merchantDescriptor, a.mcc, a.card, event.metadata.sentAt))
  print(("          the receiver answered HTTP %d %s"):format(delivery.status, delivery.reply))
  print(("decision: %s %s (%s), card balance %d kobo"):format(auth.id, auth.status, auth.decisionType,
                                                           auth.cardBalance))
end)

if not ok then print("failed:   " .. tostring(problem)) end
if receiver then
  local pid = tonumber(receiver_pid)
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end   -- our own child, by pid
  receiver:close()
end
if events_file then os.remove(events_file) end
client:close()
http.request(url .. "/_sandbox/shutdown", "")
server:close()
os.exit(ok and 0 or 1)
