--[[
allawee.sandbox.customers: POST /customers, GET /customers,
GET /customers/:id, PUT /customers/:id.

Validation is never stricter than the service (the newer reference):
`name`, `reference` and `type` (individual, business or corporate) are
required; `claims`, `verifications` and `metadata` are optional; null is
accepted for any optional field; unknown fields are accepted (and not kept).
The contents of `claims` are not checked and are echoed as sent.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local L = require "allawee.sandbox.lists"

local C = {}

local KEYS = {
  "name", "type", "status", "claims", "verifications", "metadata",
  "createdAt", "updatedAt", "id", "object", "reference",
}
local TIERS = { ["tier-1"] = true, ["tier-2"] = true, ["tier-3"] = true }
local TYPES = { "individual", "business", "corporate" }

local function verifications_problem(list)
  if not U.present(list) then return nil end
  if not U.is_array(list) then
    return "verifications must be an array of 'tier-1', 'tier-2' or 'tier-3'"
  end
  for i, v in ipairs(list) do
    if not TIERS[v] then
      return ("verifications[%d] must be 'tier-1', 'tier-2' or 'tier-3'"):format(i)
    end
  end
end

-- The problem with a create (or, partial = true, an update) body; nil when valid.
local function problem(body, partial)
  if not U.is_object(body) then return "the request body must be a JSON object" end
  local required = not partial
  return U.string_problem(body, "name", required)
    or U.string_problem(body, "reference", required)
    or (partial and U.present(body.name) and body.name == "" and "name must be a non-empty string")
    or (partial and U.present(body.reference) and body.reference == "" and "reference must be a non-empty string")
    or U.enum_problem(body, "type", TYPES, required)
    or U.object_problem(body, "claims")
    or verifications_problem(body.verifications)
    or U.object_problem(body, "metadata")
end
C.problem = problem

local function verifications_of(list)
  local out = J.array({})
  if type(list) == "table" then
    for i, tier in ipairs(list) do
      out[i] = J.ordered({ "type", "status" }, { type = tier, status = "verified" })
    end
  end
  return out
end

local function table_or_empty(v)
  return type(v) == "table" and v or {}
end

-- The customer the service would return for a request body. Tolerant of a
-- body that is not a valid create, so faults can show a plausible customer.
function C.build(body, t)
  if type(body) ~= "table" then body = {} end
  local now = U.iso_timestamp(t)
  return J.ordered(KEYS, {
    name = body.name, type = body.type, status = "active",
    claims = table_or_empty(body.claims),
    verifications = verifications_of(body.verifications),
    metadata = table_or_empty(body.metadata),
    createdAt = now, updatedAt = now,
    id = U.new_id("cus."), object = "customer", reference = body.reference,
  })
end

local function reference_conflict(reference)
  return U.code_reply(409, "reference-conflict",
    ("a customer with reference '%s' already exists"):format(reference))
end

local function create(ctx)
  local body = ctx.json
  local p = problem(body)
  if p then return U.bad_request(p) end
  local store = ctx.store
  if store:reference_owner("customer", body.reference) then return reference_conflict(body.reference) end
  local t = U.now()
  local customer = C.build(body, t)
  store:add("customer", { id = customer.id, public = customer, created = t, updated = t })
  store:claim_reference("customer", body.reference, customer.id)
  return U.success_reply(201, customer)
end

local function get(ctx)
  local rec = ctx.store:get("customer", ctx.params[1])
  if not rec then return U.not_found("customer", ctx.params[1]) end
  return U.success_reply(200, rec.public)
end

-- Every field optional; the given top-level fields replace the stored ones.
local function update(ctx)
  local store = ctx.store
  local rec = store:get("customer", ctx.params[1])
  if not rec then return U.not_found("customer", ctx.params[1]) end
  local body = ctx.json
  local p = problem(body, true)
  if p then return U.bad_request(p) end
  local c = rec.public
  if U.present(body.reference) and body.reference ~= c.reference then
    if store:reference_owner("customer", body.reference) then return reference_conflict(body.reference) end
    store:release_reference("customer", c.reference)
    store:claim_reference("customer", body.reference, c.id)
    c.reference = body.reference
  end
  if U.present(body.name) then c.name = body.name end
  if U.present(body.type) then c.type = body.type end
  if U.present(body.claims) then c.claims = body.claims end
  if U.present(body.verifications) then c.verifications = verifications_of(body.verifications) end
  if U.present(body.metadata) then c.metadata = body.metadata end
  rec.updated = U.time_after(rec.updated)
  c.updatedAt = U.iso_timestamp(rec.updated)
  return U.success_reply(200, c)
end

local function list(ctx)
  return L.reply(ctx.store:all("customer"), ctx.query, { pagination = ctx.pagination })
end

C.routes = {
  { "POST", "/customers", create, body = "object" },
  { "GET", "/customers", list },
  { "GET", "/customers/:id", get },
  { "PUT", "/customers/:id", update, body = "object" },
}

return C
