--[[
allawee.sandbox.accounts: POST /accounts, GET /accounts, GET /accounts/:id,
GET /accounts/:id/balance, and POST /simulation/payments/pay-in, which
credits an account found by its deposit channel's account number.

Balances are integers in minor units (kobo, cents) and start at 0. They
live beside the account (rec.balance), not in it.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local L = require "allawee.sandbox.lists"

local A = {}

A.BANK_NAME, A.BANK_CODE, A.PARTNER = "Allawee Sandbox Bank", "000", "allawee-sandbox"

local KEYS = {
  "name", "type", "status", "currency", "reference", "customer", "settlementAccount",
  "depositChannels", "metadata", "createdAt", "updatedAt", "id", "object",
}
local CHANNEL_KEYS = {
  "type", "accountName", "accountNumber", "bankName", "bankCode", "partner", "createdAt", "updatedAt",
}

local function problem(store, body)
  local p = U.string_problem(body, "name", true)
    or U.enum_problem(body, "currency", { "NGN", "USD" }, true)
    or U.enum_problem(body, "type", { "main", "sub", "virtual" }, true)
    or U.string_problem(body, "reference")
    or U.string_problem(body, "customer")
    or U.string_problem(body, "settlementAccount")
    or U.object_problem(body, "metadata")
  if p then return p end
  if U.present(body.depositChannels) then
    if not U.is_array(body.depositChannels) then
      return "depositChannels must be an array such as [\"bank-account\"]"
    end
    for i, ch in ipairs(body.depositChannels) do
      if ch ~= "bank-account" then return ("depositChannels[%d] must be 'bank-account'"):format(i) end
    end
  end
  if U.present(body.customer) and not store:get("customer", body.customer) then
    return ("customer '%s' does not exist"):format(body.customer)
  end
end

local function new_account_number(store)
  while true do
    local n = U.random_digits(10)
    if not store:account_by_number(n) then return n end
  end
end

local function create(ctx)
  local store, body = ctx.store, ctx.json
  local p = problem(store, body)
  if p then return U.bad_request(p) end
  local reference = U.present(body.reference) and body.reference or nil
  if reference and store:reference_owner("account", reference) then
    return U.code_reply(409, "reference-conflict", ("an account with reference '%s' already exists"):format(reference))
  end
  local t = U.now()
  local now = U.iso_timestamp(t)
  local number = new_account_number(store)
  local account = J.ordered(KEYS, {
    name = body.name, type = body.type, status = "active", currency = body.currency,
    reference = reference, customer = U.present(body.customer) and body.customer or nil,
    settlementAccount = U.present(body.settlementAccount) and body.settlementAccount or nil,
    depositChannels = J.array({ J.ordered(CHANNEL_KEYS, {
      type = "bank-account", accountName = body.name, accountNumber = number,
      bankName = A.BANK_NAME, bankCode = A.BANK_CODE, partner = A.PARTNER,
      createdAt = now, updatedAt = now,
    }) }),
    metadata = U.present(body.metadata) and body.metadata or {},
    createdAt = now, updatedAt = now, id = U.new_id("ac."), object = "account",
  })
  local rec = store:add("account", { id = account.id, public = account, created = t, updated = t, balance = 0 })
  store:add_account_number(number, rec)
  if reference then store:claim_reference("account", reference, account.id) end
  return U.success_reply(201, account)
end

local function get(ctx)
  local rec = ctx.store:get("account", ctx.params[1])
  if not rec then return U.not_found("account", ctx.params[1]) end
  return U.success_reply(200, rec.public)
end

function A.balance_object(rec)
  return J.ordered({ "account", "currency", "available", "ledger", "object" }, {
    account = rec.id, currency = rec.public.currency, available = rec.balance, ledger = rec.balance,
    object = "account.balance",
  })
end

local function balance(ctx)
  local rec = ctx.store:get("account", ctx.params[1])
  if not rec then return U.not_found("account", ctx.params[1]) end
  return U.success_reply(200, A.balance_object(rec))
end

local function list(ctx)
  return L.reply(ctx.store:all("account"), ctx.query, { pagination = ctx.pagination })
end

local PAYMENT_KEYS = {
  "type", "method", "status", "amount", "currency", "account", "accountNumber", "narration",
  "createdAt", "updatedAt", "id", "object",
}

-- {method, accountNumber, amount}: an inbound transfer credits the account.
local function pay_in(ctx)
  local store, body = ctx.store, ctx.json
  local p = U.string_problem(body, "method", true) or U.string_problem(body, "accountNumber", true)
  if p then return U.bad_request(p) end
  local amount = U.whole(body.amount, 1)
  if not amount then return U.bad_request("amount is required: a whole number of minor units, at least 1") end
  local rec = store:account_by_number(body.accountNumber)
  if not rec then
    return U.code_reply(404, "not-found", ("no account has the account number '%s'"):format(body.accountNumber))
  end
  rec.balance = rec.balance + amount
  local now = U.iso_timestamp()
  local payment = J.ordered(PAYMENT_KEYS, {
    type = "pay-in", method = body.method, status = "completed", amount = amount,
    currency = rec.public.currency, account = rec.id, accountNumber = body.accountNumber,
    narration = type(body.narration) == "string" and body.narration or nil,
    createdAt = now, updatedAt = now, id = U.new_id("p."), object = "payment",
  })
  store:add("payment", { id = payment.id, public = payment })
  return U.success_reply(201, payment)
end

A.routes = {
  { "POST", "/accounts", create, body = "object" },
  { "GET", "/accounts", list },
  { "GET", "/accounts/:id", get },
  { "GET", "/accounts/:id/balance", balance },
  { "POST", "/simulation/payments/pay-in", pay_in, body = "object" },
}

return A
