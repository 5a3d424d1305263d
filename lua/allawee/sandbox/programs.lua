--[[
allawee.sandbox.programs: card programs. POST/GET /card-programs,
GET/PUT /card-programs/:id and POST /simulation/card-programs/:id/go-live.

A program is created `new`; a virtual program is `live` at once ("Virtual
card programmes are live immediately"). A live program cannot be updated
("You cannot update a card program once it has been approved"): 409 conflict.
Cards can only be issued from a live program.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local L = require "allawee.sandbox.lists"

local P = {}

local KEYS = {
  "name", "description", "network", "type", "quantity", "currency", "distribution",
  "personalization", "authorization", "status", "metadata", "createdAt", "updatedAt", "id", "object",
}
local AUTH_KEYS = { "fundingSourceType", "webhook", "settlementAccount", "transactionFee", "timeoutDefault" }

P.DEFAULT_TIMEOUT = "decline" -- timeoutDefault when the program names none

local function authorization_problem(a)
  if not U.present(a) then return nil end
  if not U.is_object(a) then return "authorization must be an object" end
  local p = U.enum_problem(a, "fundingSourceType", { "card-account", "settlement-account" })
    or U.enum_problem(a, "timeoutDefault", { "approve", "decline" })
  if p then return "authorization." .. p end
end

local function problem(body, partial)
  local required = not partial
  local p = U.string_problem(body, "name", required)
    or (U.present(body.name) and body.name == "" and "name must be a non-empty string")
    or U.enum_problem(body, "network", { "verve", "mastercard" }, required)
    or U.enum_problem(body, "type", { "virtual", "physical" }, required)
    or U.enum_problem(body, "currency", { "NGN", "USD" }, required)
    or U.string_problem(body, "description")
    or U.object_problem(body, "distribution")
    or U.object_problem(body, "personalization")
    or U.object_problem(body, "metadata")
    or authorization_problem(body.authorization)
  if p then return p end
  if U.present(body.quantity) and not U.whole(body.quantity, 1) then
    return "quantity must be a whole number, at least 1"
  end
  local d = body.distribution
  if U.present(d) and U.present(d.type) and d.type ~= "individually" and d.type ~= "bulked" then
    return "distribution.type must be one of individually, bulked"
  end
end

-- The authorization settings as the service returns them: the webhook
-- becomes a wh. id (every event goes to the sandbox's one receiver).
local function authorization_of(a, old)
  a = U.is_object(a) and a or {}
  old = old or {}
  local function str(v) return type(v) == "string" and v or nil end
  local webhook = old.webhook
  if U.present(a.webhook) then webhook = type(a.webhook) == "string" and a.webhook or U.new_id("wh.") end
  return J.ordered(AUTH_KEYS, {
    fundingSourceType = str(a.fundingSourceType) or old.fundingSourceType or "card-account",
    webhook = webhook or J.null,
    settlementAccount = str(a.settlementAccount) or old.settlementAccount or J.null,
    transactionFee = type(a.transactionFee) == "number" and a.transactionFee or old.transactionFee or 0,
    timeoutDefault = str(a.timeoutDefault) or old.timeoutDefault or P.DEFAULT_TIMEOUT,
  })
end

local function name_taken(store, name, except_id)
  for _, rec in ipairs(store:all("card.program")) do
    if rec.public.name == name and rec.id ~= except_id then return true end
  end
  return false
end

local function name_conflict(name)
  return U.conflict(("a card program named '%s' already exists"):format(name))
end

local function create(ctx)
  local store, body = ctx.store, ctx.json
  local p = problem(body)
  if p then return U.bad_request(p) end
  if name_taken(store, body.name) then return name_conflict(body.name) end
  local t = U.now()
  local now = U.iso_timestamp(t)
  local function opt(v) if U.present(v) then return v end end
  local program = J.ordered(KEYS, {
    name = body.name, description = opt(body.description), network = body.network, type = body.type,
    quantity = U.whole(body.quantity, 1), currency = body.currency,
    distribution = opt(body.distribution), personalization = opt(body.personalization),
    authorization = authorization_of(body.authorization),
    status = body.type == "virtual" and "live" or "new",
    metadata = opt(body.metadata) or {},
    createdAt = now, updatedAt = now, id = U.new_id("c.prg."), object = "card.program",
  })
  store:add("card.program", { id = program.id, public = program, created = t, updated = t })
  return U.success_reply(201, program)
end

local function get(ctx)
  local rec = ctx.store:get("card.program", ctx.params[1])
  if not rec then return U.not_found("card program", ctx.params[1]) end
  return U.success_reply(200, rec.public)
end

local function update(ctx)
  local store, body = ctx.store, ctx.json
  local rec = store:get("card.program", ctx.params[1])
  if not rec then return U.not_found("card program", ctx.params[1]) end
  local prg = rec.public
  if prg.status == "live" then
    return U.conflict(("card program %s is live: a live card program cannot be updated"):format(prg.id))
  end
  local p = problem(body, true)
  if p then return U.bad_request(p) end
  if U.present(body.name) and name_taken(store, body.name, prg.id) then return name_conflict(body.name) end
  for _, k in ipairs({ "name", "description", "network", "type", "currency", "distribution",
    "personalization", "metadata" }) do
    if U.present(body[k]) then prg[k] = body[k] end
  end
  if U.present(body.quantity) then prg.quantity = U.whole(body.quantity, 1) end
  if U.present(body.authorization) then prg.authorization = authorization_of(body.authorization, prg.authorization) end
  rec.updated = U.time_after(rec.updated)
  prg.updatedAt = U.iso_timestamp(rec.updated)
  return U.success_reply(200, prg)
end

local function list(ctx)
  return L.reply(ctx.store:all("card.program"), ctx.query, { pagination = ctx.pagination })
end

local function go_live(ctx)
  local rec = ctx.store:get("card.program", ctx.params[1])
  if not rec then return U.not_found("card program", ctx.params[1]) end
  if rec.public.status ~= "live" then
    rec.public.status = "live"
    rec.updated = U.time_after(rec.updated)
    rec.public.updatedAt = U.iso_timestamp(rec.updated)
  end
  return U.success_reply(200, rec.public)
end

P.routes = {
  { "POST", "/card-programs", create, body = "object" },
  { "GET", "/card-programs", list },
  { "GET", "/card-programs/:id", get },
  { "PUT", "/card-programs/:id", update, body = "object" },
  { "POST", "/simulation/card-programs/:id/go-live", go_live, body = "optional" },
}

return P
