--[[
allawee.sandbox.authorizations: card authorizations, made by the
simulation routes and read back through the API.

    POST /simulation/cards/:id/request-authorization/check
    POST /simulation/cards/:id/request-authorization/capture
    POST /simulation/cards/:id/request-authorization/update-capture
    POST /simulation/cards/:id/request-authorization/reverse-capture
    GET  /card-authorizations, GET /card-authorizations/:id

A pending decision is sent once (card.authorization.request, or
card.authorization.update for an amount update) and waits up to the
receiver's timeout (4 s unless configured) for {"action":"approve"|"decline",
...}. No answer in time: the program's timeoutDefault, statusReason
"timeout-error". Any other unusable answer (refused connection, not 2xx,
not JSON, no valid action, no whole cardBalance when approving a check):
timeoutDefault, statusReason "invalid-response". No receiver configured:
timeoutDefault, statusReason "webhook-not-configured". The simulation call
answers with the decided authorization; the final events (closed, and
update "reversed") are then delivered in the background until a 200.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local L = require "allawee.sandbox.lists"
local W = require "allawee.sandbox.webhooks"
local P = require "allawee.sandbox.programs"

local A = {}

local KEYS = {
  "type", "status", "statusReason", "decisionType", "amount", "fees", "currency", "channel", "mcc",
  "merchantDescriptor", "reserved", "card", "customer", "cardBalance", "cardHolderName", "metadata",
  "networkData", "updates", "createdAt", "updatedAt", "id", "object",
}
local UPDATE_KEYS = { "amount", "fees", "status", "statusReason", "decisionType" }
local CHANNELS = { "atm", "pos", "online", "in-app" }

local function amount_problem(body, field, required)
  if body[field] == nil and not required then return nil end
  if not U.whole(body[field], 0) then
    return ("%s is required: a whole number of minor units"):format(field)
  end
end

local function problem(kind, body)
  local p = U.enum_problem(body, "channel", CHANNELS, true)
    or U.string_problem(body, "mcc") or U.string_problem(body, "merchantDescriptor")
  if p then return p end
  local money = kind ~= "check"
  p = amount_problem(body, "amount", money) or amount_problem(body, "fees", money)
  if p then return p end
  if kind == "update-capture" then
    return amount_problem(body, "updateAmount", true) or amount_problem(body, "updateFees", true)
  end
end

local function touch(rec)
  rec.updated = U.time_after(rec.updated)
  rec.public.updatedAt = U.iso_timestamp(rec.updated)
end

-- What the receiver decided, from its answer: a table, or nil and a reason.
local function read_decision(resp, auth_type)
  if resp.status < 200 or resp.status > 299 then return nil end
  local doc = J.decode(resp.body)
  if type(doc) ~= "table" or (doc.action ~= "approve" and doc.action ~= "decline") then return nil end
  if doc.action == "approve" and auth_type == "check" and not U.whole(doc.cardBalance, 0) then return nil end
  return doc
end

-- Sends the pending authorization as `event_type` and applies the decision.
local function decide(ctx, rec, cfg, event_type, default)
  local auth = rec.public
  local status, reason, decision_type, doc
  if not cfg then
    status, reason, decision_type = default, "webhook-not-configured", "system-response"
  else
    local resp, err = W.deliver(ctx.hooks, cfg, W.event(event_type, auth), 1, cfg.timeout_ms, ctx.wait)
    doc = resp and read_decision(resp, auth.type)
    if doc then
      decision_type = "direct-response"
      if doc.action == "approve" then
        status = "approved"
      else
        status, reason = "declined", type(doc.code) == "string" and doc.code or "declined"
      end
    else
      decision_type = "system-response"
      status, reason = default, err == "timeout" and "timeout-error" or "invalid-response"
    end
  end
  auth.status, auth.statusReason, auth.decisionType = status, reason or J.null, decision_type
  if doc then
    if U.whole(doc.cardBalance, 0) then auth.cardBalance = U.whole(doc.cardBalance, 0) end
    if type(doc.cardHolderName) == "string" then auth.cardHolderName = doc.cardHolderName end
    if U.is_object(doc.metadata) then auth.metadata = doc.metadata end
  end
  auth.reserved = auth.type == "capture" and status == "approved"
  touch(rec)
end

local function simulate(kind)
  return function(ctx)
    local store, body = ctx.store, ctx.json
    local card_rec = store:get("card", ctx.params[1])
    if not card_rec then return U.not_found("card", ctx.params[1]) end
    local card = card_rec.public
    if card.status ~= "active" then
      return U.conflict(("card %s is %s: authorizations need an active card"):format(card.id, card.status))
    end
    local p = problem(kind, body)
    if p then return U.bad_request(p) end
    local program = store:get("card.program", card.program)
    local default = program and program.public.authorization.timeoutDefault or P.DEFAULT_TIMEOUT
    default = default == "approve" and "approved" or "declined"
    local cfg = ctx.hooks.config -- this receiver for the whole simulation
    local t = U.now()
    local now = U.iso_timestamp(t)
    local auth = J.ordered(KEYS, {
      type = kind == "check" and "check" or "capture", status = "pending", statusReason = J.null,
      decisionType = J.null, amount = U.whole(body.amount, 0) or 0, fees = U.whole(body.fees, 0) or 0,
      currency = card.currency, channel = body.channel,
      mcc = U.present(body.mcc) and body.mcc or nil,
      merchantDescriptor = U.present(body.merchantDescriptor) and body.merchantDescriptor or nil,
      reserved = false, card = card.id, customer = card.customer,
      networkData = J.ordered({ "network", "cardAcceptorNameLocation", "reference", "rrn", "stan" }, {
        network = card.network,
        cardAcceptorNameLocation = U.present(body.merchantDescriptor) and body.merchantDescriptor
          or "ALLAWEE SANDBOX MERCHANT LAGOS NG",
        reference = U.random_digits(13), rrn = U.random_digits(12), stan = U.random_digits(6),
      }),
      createdAt = now, updatedAt = now, id = U.new_id("c.auth."), object = "card.authorization",
    })
    local rec = store:add("card.authorization", { id = auth.id, public = auth, created = t, updated = t })
    decide(ctx, rec, cfg, "card.authorization.request", default)
    local events = {}
    if kind == "update-capture" and auth.status == "approved" then
      auth.status, auth.statusReason, auth.decisionType = "pending", J.null, J.null
      auth.amount, auth.fees = U.whole(body.updateAmount, 0), U.whole(body.updateFees, 0)
      decide(ctx, rec, cfg, "card.authorization.update", default)
      auth.updates = J.array({ J.ordered(UPDATE_KEYS, {
        amount = auth.amount, fees = auth.fees, status = auth.status, statusReason = auth.statusReason,
        decisionType = auth.decisionType,
      }) })
    end
    if cfg then events[#events + 1] = W.event("card.authorization.closed", auth) end
    if kind == "reverse-capture" and auth.status == "approved" then
      auth.status = "reversed"
      auth.reserved = false
      touch(rec)
      if cfg then events[#events + 1] = W.event("card.authorization.update", auth) end
    end
    if #events > 0 then
      local hooks = ctx.hooks
      ctx.spawn(function(wait) W.deliver_until_ok(hooks, cfg, events, wait) end)
    end
    return U.success_reply(200, auth)
  end
end

local function get(ctx)
  local rec = ctx.store:get("card.authorization", ctx.params[1])
  if not rec then return U.not_found("card authorization", ctx.params[1]) end
  return U.success_reply(200, rec.public)
end

local function list(ctx)
  return L.reply(ctx.store:all("card.authorization"), ctx.query, { pagination = ctx.pagination })
end

local BASE = "/simulation/cards/:id/request-authorization/"

A.routes = {
  { "POST", BASE .. "check", simulate("check"), body = "object" },
  { "POST", BASE .. "capture", simulate("capture"), body = "object" },
  { "POST", BASE .. "update-capture", simulate("update-capture"), body = "object" },
  { "POST", BASE .. "reverse-capture", simulate("reverse-capture"), body = "object" },
  { "GET", "/card-authorizations", list },
  { "GET", "/card-authorizations/:id", get },
}

return A
