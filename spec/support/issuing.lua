--[[
Test helper for the issuing specs (accounts, card programs, cards, GRP):
request bodies as the docs show them, objects made through the SDK, and the
card-secrets leak detector.

    local I = require "support.issuing"
    I.account([over])            --> a valid accounts.create body (fresh reference)
    I.program([over])            --> a valid card_programs.create body (virtual: live at once)
    I.card(program, customer [, over])  --> a valid cards.create body (fresh reference)
    I.customer(c)                --> a customer made through client c
    I.live_program(c)            --> a virtual program made through c
    I.new_card(c [, over])       --> an inactive card (customer and program made too)
    I.active_card(c)             --> an activated card (activate with the test CVV)
    I.records(sb, f)             --> the sandbox records of the requests f() made, then f's results
    I.posts_to(sb, path)         --> how many POSTs to path the sandbox recorded
    I.TEST_CARD                  --> the sandbox's test PAN, CVV, PIN, expiry
    I.leaks(s)                   --> nil, or a description (never the secret) of the card
                                     secret found in string s
    I.assert_no_secrets(where, v) -- walks v (strings, tables, tostring of each table)
]]

local S = require "support.sandbox"
local F = require "support.fixtures"

local I = {}

I.TEST_CARD = S.TEST_CARD
local CARD = I.TEST_CARD

function I.account(over)
  return F.merge({ name = "Funding account", currency = "NGN", type = "main",
                   reference = F.reference("account") }, over)
end

function I.program(over)
  return F.merge({ name = F.reference("program"), network = "verve", type = "virtual",
                   currency = "NGN" }, over)
end

function I.card(program, customer, over)
  return F.merge({ program = program, customer = customer, amount = 0,
                   reference = F.reference("card") }, over)
end

function I.customer(c)
  return assert(c.customers.create(F.minimal{ name = "Ciroma Adekunle" }))
end

function I.live_program(c, over)
  return assert(c.card_programs.create(I.program(over)))
end

function I.new_card(c, over)
  local customer, program = I.customer(c), I.live_program(c)
  return assert(c.cards.create(I.card(program.id, customer.id, over)))
end

function I.active_card(c, over)
  local card = I.new_card(c, over)
  assert(c.cards.activate(card.id, { cvv = CARD.cvv, pin = CARD.pin }))
  return card
end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

function I.records(sb, f, ...)
  local before = #sb:requests()
  local results = pack(f(...))
  local all, out = sb:requests(), {}
  for i = before + 1, #all do out[#out + 1] = all[i] end
  return out, unpack(results, 1, results.n)
end

function I.posts_to(sb, path)
  local n = 0
  for _, r in ipairs(sb:requests()) do
    if r.method == "POST" and r.path == path then n = n + 1 end
  end
  return n
end

---------------------------------------------------------------------------
-- The leak detector
---------------------------------------------------------------------------

-- The PAN is long and distinctive: a plain substring anywhere (also with
-- the usual separators). CVV and PIN are short, so they count in a field
-- context (JSON, key=value, "cvv 739") or as a digit run of their own in a
-- one-line message; exact string values are checked by assert_no_secrets.
local PAN_SPACED = CARD.pan:gsub("(%d%d%d%d)", "%1 "):gsub(" $", "")
local PAN_DASHED = CARD.pan:gsub("(%d%d%d%d)", "%1-"):gsub("%-$", "")

local function field_pattern(name, value)
  -- "cvv":"739", "cvv": 739, cvv=739, cvv 739, cvv: '739', CVV=739 ...
  local ci = name:gsub("%a", function(ch) return ("[%s%s]"):format(ch:lower(), ch:upper()) end)
  return ci .. "[\"']?%s*[:=]?%s*[\"']?" .. value .. "%f[%D]"
end

local CONTEXTS = {
  { "cvv", field_pattern("cvv", CARD.cvv) },
  { "cvv", field_pattern("cvc", CARD.cvv) },
  { "pin", field_pattern("pin", CARD.pin) },
}

--- nil, or what kind of secret s holds (never the secret itself).
function I.leaks(s, extra_pins)
  if type(s) ~= "string" then return nil end
  if s:find(CARD.pan, 1, true) or s:find(PAN_SPACED, 1, true) or s:find(PAN_DASHED, 1, true) then
    return "the test PAN"
  end
  for _, c in ipairs(CONTEXTS) do
    if s:find(c[2]) then return "the test " .. c[1] .. " in a field context" end
  end
  for _, pin in ipairs(extra_pins or {}) do
    if s:find(field_pattern("pin", pin)) then return "a PIN in a field context" end
  end
  return nil
end

-- A one-line message (an error's message or tostring): the CVV or PIN as a
-- word of its own is a leak too ("cvv 739 ...", "(4826)"). Not inside a
-- longer word: random request and card ids ("req_aB739xQ") carry such digit
-- runs by chance, about one id in fifty, and failed this check at random.
local function message_leaks(s, extra_pins)
  local found = I.leaks(s, extra_pins)
  if found then return found end
  for _, v in ipairs({ CARD.cvv, CARD.pin, unpack(extra_pins or {}) }) do
    if s:find("%f[%w]" .. v .. "%f[%W]") then return "a CVV or PIN as a number in a message" end
  end
end

I.checked = 0

--- Walks v: every string (keys too), tostring of every value, every string
-- field's exact value against the CVV and PIN; an error's message and its
-- tostring (one-line texts) also against the CVV and PIN as digit runs.
-- Fails naming the place and the kind of secret, never the text around it.
-- opts.pins: other PINs the test used.
function I.assert_no_secrets(where, v, opts)
  opts = opts or {}
  local seen = {}
  local secrets = { [CARD.cvv] = "the test CVV", [CARD.pin] = "the test PIN" }
  for _, p in ipairs(opts.pins or {}) do secrets[p] = "a PIN" end
  local function check_string(at, s, one_line, not_a_value)
    I.checked = I.checked + 1
    local found = (one_line and message_leaks or I.leaks)(s, opts.pins)
    if not found and not not_a_value and secrets[s] then found = secrets[s] .. " as a value" end
    assert(not found, ("%s leaked into %s"):format(tostring(found), at))
  end
  local function walk(x, at, key, depth)
    local t = type(x)
    if t == "string" then
      check_string(at, x, key == "message")
    elseif t == "table" and not seen[x] and depth < 32 then
      seen[x] = true
      local s = tostring(x)
      check_string(at .. " (tostring)", s, not s:match("^table: "), true)
      for k, y in pairs(x) do
        walk(k, at .. "[key]", nil, depth + 1)
        walk(y, at .. "." .. tostring(k), k, depth + 1)
      end
    elseif t ~= "nil" and t ~= "table" then
      check_string(at .. " (tostring)", tostring(x), false, true)
    end
  end
  walk(v, where, nil, 0)
end

return I
