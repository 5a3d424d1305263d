--[[
allawee.sandbox.cards: cards and their state machine.

    api host:    POST /cards, GET /cards, GET /cards/:id, PUT /cards/:id,
                 DELETE /cards/:id (terminate), POST /cards/:id/block,
                 POST /cards/:id/unblock, POST /cards/:id/fund
    secure host: POST /cards/:id/activate, POST /cards/:id/reset-pin,
                 GET /cards/:id/secrets

    inactive --activate--> active --block--> blocked --unblock--> active
    inactive | active | blocked --DELETE--> terminated (permanent)

Asking for what the state does not allow answers 409
{"code":"conflict","message":"card c.X is <state>: ..."}. Repeating a
transition that is already done (block a blocked card, unblock an active
one, terminate a terminated one) succeeds and changes nothing, so a retried
call is safe.

Every card has the same test PAN, CVV and expiry (M.TEST_CARD): distinctive
strings a spec can grep every output for. They leave the sandbox only in
the answer of GET /cards/:id/secrets.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local L = require "allawee.sandbox.lists"

local C = {}

-- Luhn-valid, Verve's 506199 prefix; no other sandbox output has these digits.
C.TEST_CARD = { pan = "5061997304182654", cvv = "739", expiry = "12/31", last4 = "2654", pin = "4826" }

local KEYS = {
  "type", "network", "status", "currency", "program", "customer", "reference", "details",
  "balance", "controls", "fundingSource", "metadata", "createdAt", "updatedAt", "id", "object",
}
local DETAIL_KEYS = { "last4", "expiry", "cardHolderName" }
local SECRET_KEYS = { "cardHolderName", "last4", "pan", "expiry", "cvv" }

local function touch(rec)
  rec.updated = U.time_after(rec.updated)
  rec.public.updatedAt = U.iso_timestamp(rec.updated)
end

local function state_conflict(card, needs)
  return U.conflict(("card %s is %s: %s"):format(card.id, card.status, needs))
end

-- The card record for :id, or nil and a 404 reply.
local function find(ctx)
  local rec = ctx.store:get("card", ctx.params[1])
  if not rec then return nil, U.not_found("card", ctx.params[1]) end
  return rec
end

-- Debits `amount` from the account named by debitSource (a string); nil
-- when done, else an error reply. Any other debitSource ({} in the docs'
-- samples) debits nothing.
local function debit(store, source, amount)
  if type(source) ~= "string" then return nil end
  local acct = store:get("account", source)
  if not acct then return U.bad_request(("debitSource '%s' is not an account"):format(source)) end
  if acct.balance < amount then
    return U.code_reply(400, "insufficient-funds", ("account %s has %s, the card needs %s (minor units)")
      :format(acct.id, J.number_text(acct.balance), J.number_text(amount)))
  end
  acct.balance = acct.balance - amount
  return nil
end

local function create_problem(store, body)
  local p = U.string_problem(body, "program", true)
    or U.string_problem(body, "customer", true)
    or U.string_problem(body, "reference", true)
    or U.string_problem(body, "cardHolderName")
    or U.string_problem(body, "fxHash")
    or U.enum_problem(body, "debitCurrency", { "NGN", "USD" })
    or U.object_problem(body, "controls")
    or U.object_problem(body, "metadata")
  if p then return p end
  if not U.whole(body.amount, 0) then return "amount is required: a whole number of minor units" end
  if not store:get("card.program", body.program) then
    return ("program '%s' is not a card program"):format(body.program)
  end
  if not store:get("customer", body.customer) then return ("customer '%s' does not exist"):format(body.customer) end
end

local function create(ctx)
  local store, body = ctx.store, ctx.json
  local p = create_problem(store, body)
  if p then return U.bad_request(p) end
  local program = store:get("card.program", body.program).public
  if program.status ~= "live" then
    return U.conflict(("card program %s is %s: cards can only be issued from a live program")
      :format(program.id, program.status))
  end
  if store:reference_owner("card", body.reference) then
    return U.code_reply(409, "reference-conflict", ("a card with reference '%s' already exists"):format(body.reference))
  end
  local amount = U.whole(body.amount, 0)
  local failed = debit(store, body.debitSource, amount)
  if failed then return failed end
  local customer = store:get("customer", body.customer).public
  local t = U.now()
  local now = U.iso_timestamp(t)
  local holder = U.present(body.cardHolderName) and body.cardHolderName or customer.name
  local card = J.ordered(KEYS, {
    type = program.type, network = program.network, status = "inactive", currency = program.currency,
    program = program.id, customer = customer.id, reference = body.reference,
    details = J.ordered(DETAIL_KEYS, {
      last4 = C.TEST_CARD.last4, expiry = C.TEST_CARD.expiry, cardHolderName = holder,
    }),
    balance = amount,
    controls = U.present(body.controls) and body.controls or {},
    fundingSource = type(body.fundingSource) == "string" and body.fundingSource or nil,
    metadata = U.present(body.metadata) and body.metadata or {},
    createdAt = now, updatedAt = now, id = U.new_id("c."), object = "card",
  })
  store:add("card", { id = card.id, public = card, created = t, updated = t })
  store:claim_reference("card", body.reference, card.id)
  return U.success_reply(201, card)
end

local function get(ctx)
  local rec, nf = find(ctx)
  if not rec then return nf end
  return U.success_reply(200, rec.public)
end

local function list(ctx)
  return L.reply(ctx.store:all("card"), ctx.query, { pagination = ctx.pagination })
end

-- controls and metadata, each replaced as a whole when given.
local function update(ctx)
  local rec, nf = find(ctx)
  if not rec then return nf end
  local card, body = rec.public, ctx.json
  if card.status == "terminated" then return state_conflict(card, "a terminated card cannot be updated") end
  local p = U.object_problem(body, "controls") or U.object_problem(body, "metadata")
  if p then return U.bad_request(p) end
  if U.present(body.controls) then card.controls = body.controls end
  if U.present(body.metadata) then card.metadata = body.metadata end
  touch(rec)
  return U.success_reply(200, card)
end

-- A transition: `from` lists the states that allow it; `to` is the result.
local function transition(to, from, needs)
  return function(ctx)
    local rec, nf = find(ctx)
    if not rec then return nf end
    local card = rec.public
    if card.status == to then return U.success_reply(200, card) end -- already done
    if not from[card.status] then return state_conflict(card, needs) end
    card.status = to
    touch(rec)
    return U.success_reply(200, card)
  end
end

local block = transition("blocked", { active = true }, "only an active card can be blocked")
local unblock = transition("active", { blocked = true }, "only a blocked card can be unblocked")
local terminate = transition("terminated", { inactive = true, active = true, blocked = true }, "")

local function fund(ctx)
  local rec, nf = find(ctx)
  if not rec then return nf end
  local card, body = rec.public, ctx.json
  if card.status == "terminated" then return state_conflict(card, "a terminated card cannot be funded") end
  local amount = U.whole(body.amount, 1)
  if not amount then return U.bad_request("amount is required: a whole number of minor units, at least 1") end
  local p = U.enum_problem(body, "debitCurrency", { "NGN", "USD" }) or U.string_problem(body, "fxHash")
  if p then return U.bad_request(p) end
  local failed = debit(ctx.store, body.debitSource, amount)
  if failed then return failed end
  card.balance = card.balance + amount
  touch(rec)
  return U.success_reply(200, card)
end

-- A PIN is four digits, as a string ("0123") or a number from 1000 to 9999.
local function pin_of(v)
  if type(v) == "number" and U.whole(v, 1000) and v <= 9999 then return J.number_text(v) end
  if type(v) == "string" and v:match("^%d%d%d%d$") then return v end
  return nil
end

local function cvv_of(v)
  if type(v) == "number" and U.whole(v, 0) then return string.format("%03d", v) end
  if type(v) == "string" then return v end
end

-- The messages below never repeat the CVV or PIN that was sent.
local function activate(ctx)
  local rec, nf = find(ctx)
  if not rec then return nf end
  local card, body = rec.public, ctx.json
  if card.status ~= "inactive" then return state_conflict(card, "only an inactive card can be activated") end
  local cvv = cvv_of(body.cvv)
  if not cvv then return U.bad_request("cvv is required: the card's 3 digits") end
  if cvv ~= C.TEST_CARD.cvv then return U.bad_request("cvv does not match the card") end
  local pin = pin_of(body.pin)
  if not pin then return U.bad_request("pin is required: 4 digits") end
  rec.pin = pin
  card.status = "active"
  touch(rec)
  return U.success_reply(200, card)
end

local function reset_pin(ctx)
  local rec, nf = find(ctx)
  if not rec then return nf end
  local card, body = rec.public, ctx.json
  if card.status ~= "active" and card.status ~= "blocked" then
    return state_conflict(card, "only an active or blocked card has a PIN to reset")
  end
  local pin = pin_of(body.pin)
  if not pin then return U.bad_request("pin is required: 4 digits") end
  rec.pin = pin
  touch(rec)
  return U.success_reply(200, card)
end

local function secrets(ctx)
  local rec, nf = find(ctx)
  if not rec then return nf end
  local card = rec.public
  if card.status == "terminated" then return state_conflict(card, "a terminated card has no secrets to show") end
  local reply = U.success_reply(200, J.ordered(SECRET_KEYS, {
    cardHolderName = card.details.cardHolderName, last4 = C.TEST_CARD.last4, pan = C.TEST_CARD.pan,
    expiry = C.TEST_CARD.expiry, cvv = C.TEST_CARD.cvv,
  }))
  reply.secret = true -- never logged, never kept
  return reply
end

C.routes = {
  { "POST", "/cards", create, body = "object" },
  { "GET", "/cards", list },
  { "GET", "/cards/:id", get },
  { "PUT", "/cards/:id", update, body = "object" },
  { "DELETE", "/cards/:id", terminate },
  { "POST", "/cards/:id/block", block, body = "ignored" },
  { "POST", "/cards/:id/unblock", unblock, body = "ignored" },
  { "POST", "/cards/:id/fund", fund, body = "object" },
  { "POST", "/cards/:id/activate", activate, body = "object", secure = true },
  { "POST", "/cards/:id/reset-pin", reset_pin, body = "object", secure = true },
  { "GET", "/cards/:id/secrets", secrets, secure = true },
}

return C
