--[[
allawee.sandbox.lists: every list route's query parameters.

    page (0-based), limit (default 20, at most 100), after=<id> / before=<id>
    filter=key||OP||value   (EQ NEQ LIKE IN NIN; repeated filters all apply)
    sort=field | -field     (default: newest first)
    select=a,b | -a         (top-level projection; id is always kept)
    expand                  (ignored)

The answer is {"code":"success","data":[...],"metadata":{"hasMore":bool}},
plus "pagination":{"lastId","limit","count"} when asked for.
Runs on Lua 5.1 to 5.4 and LuaJIT.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"

local L = {}

L.DEFAULT_LIMIT, L.MAX_LIMIT = 20, 100

local FILTER_MESSAGE = "Incorrect format for 'filter' parameter."

local OPS = { EQ = true, NEQ = true, LIKE = true, IN = true, NIN = true }

-- The value at a dotted path ("claims.individualInformation.email"), or nil.
local function lookup(obj, path)
  local v = obj[path]
  if v ~= nil or not path:find(".", 1, true) then return v end
  v = obj
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end
L.lookup = lookup

-- A scalar as the text a filter compares with; nil for null and tables.
local function as_text(v)
  local kind = type(v)
  if kind == "string" then return v end
  if kind == "number" then return J.number_text(v) end
  if kind == "boolean" then return tostring(v) end
  return nil
end

-- "key||OP||value" -> { key, op, value }; nil when malformed.
local function parse_filter(text)
  local s1, e1 = text:find("||", 1, true)
  if not s1 then return nil end
  local s2, e2 = text:find("||", e1 + 1, true)
  if not s2 then return nil end
  local key, op, value = text:sub(1, s1 - 1), text:sub(e1 + 1, s2 - 1):upper(), text:sub(e2 + 1)
  if key == "" or not key:match("^[%w_.%-]+$") or not OPS[op] then return nil end
  local f = { key = key, op = op, value = value }
  if op == "IN" or op == "NIN" then
    f.set = {}
    for item in (value .. ","):gmatch("([^,]*),") do f.set[item] = true end
  elseif op == "LIKE" then
    f.lower = value:lower()
  end
  return f
end

local function matches(obj, f)
  local text = as_text(lookup(obj, f.key))
  local op = f.op
  if op == "EQ" then return text == f.value end
  if op == "NEQ" then return text ~= f.value end
  if op == "LIKE" then return text ~= nil and text:lower():find(f.lower, 1, true) ~= nil end
  if op == "IN" then return text ~= nil and f.set[text] == true end
  return text == nil or not f.set[text] -- NIN
end

-- Words of repeated parameters: select=a,b&select=c -> {"a","b","c"}.
local function words(values)
  local out = {}
  for _, v in ipairs(values or {}) do
    for w in v:gmatch("[^,%s]+") do out[#out + 1] = w end
  end
  return out
end

local TYPE_RANK = { number = 1, string = 2, boolean = 3 }

-- -1, 0, 1; values of no sortable kind (missing, null, tables) come last.
local function compare(a, b)
  local ra, rb = TYPE_RANK[type(a)], TYPE_RANK[type(b)]
  if not ra or not rb then
    if ra then return -1 end
    if rb then return 1 end
    return 0
  end
  if ra ~= rb then return ra < rb and -1 or 1 end
  if ra == 3 then a, b = tostring(a), tostring(b) end
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function sort_records(records, keys)
  if #keys == 0 then
    table.sort(records, function(x, y) return x.seq > y.seq end) -- newest first
    return
  end
  local desc_ties = keys[1].desc
  table.sort(records, function(x, y)
    for _, k in ipairs(keys) do
      local c = compare(lookup(x.public, k.field), lookup(y.public, k.field))
      if c ~= 0 then
        if k.desc then return c > 0 end
        return c < 0
      end
    end
    if desc_ties then return x.seq > y.seq end
    return x.seq < y.seq
  end)
end

-- Projection of the top-level fields; id always stays.
local function projector(fields)
  if #fields == 0 then return nil end
  local include, exclude = {}, {}
  local has_include = false
  for _, f in ipairs(fields) do
    if f:sub(1, 1) == "-" then
      exclude[f:sub(2)] = true
    else
      include[f] = true
      has_include = true
    end
  end
  return function(obj)
    local order = J.order_of(obj)
    local out = {}
    for k, v in pairs(obj) do
      if k == "id" or (not exclude[k] and (not has_include or include[k])) then out[k] = v end
    end
    if order then return J.ordered(order, out) end
    return out
  end
end

local function first(q, key)
  local list = q[key]
  return list and list[#list]
end

-- The page of `records` (store records, any order) the query asks for, as a
-- reply. opts.pagination adds the pagination object.
function L.reply(records, q, opts)
  opts = opts or {}
  -- filters
  local filters = {}
  for _, text in ipairs(q.filter or {}) do
    local f = parse_filter(text)
    if not f then return U.status_code_reply(400, FILTER_MESSAGE) end
    filters[#filters + 1] = f
  end
  -- paging parameters
  local limit = L.DEFAULT_LIMIT
  local limit_text = first(q, "limit")
  if limit_text and limit_text ~= "" then
    local n = tonumber(limit_text)
    if not n or n % 1 ~= 0 or n < 1 then
      return U.bad_request("limit must be a whole number from 1 to " .. L.MAX_LIMIT)
    end
    limit = math.min(n, L.MAX_LIMIT)
  end
  local page = 0
  local page_text = first(q, "page")
  if page_text and page_text ~= "" then
    page = tonumber(page_text)
    if not page or page % 1 ~= 0 or page < 0 then
      return U.bad_request("page must be a whole number from 0 (the first page)")
    end
  end
  local after, before = first(q, "after"), first(q, "before")
  if after == "" then after = nil end
  if before == "" then before = nil end
  if after and before then return U.bad_request("after and before cannot be used together") end
  -- sort keys
  local keys = {}
  for _, w in ipairs(words(q.sort)) do
    local desc = w:sub(1, 1) == "-"
    local field = w:gsub("^[-+]", "")
    if field ~= "" then keys[#keys + 1] = { field = field, desc = desc } end
  end
  -- the matching records, sorted
  local hits = {}
  for _, rec in ipairs(records) do
    local ok = true
    for _, f in ipairs(filters) do
      if not matches(rec.public, f) then
        ok = false
        break
      end
    end
    if ok then hits[#hits + 1] = rec end
  end
  sort_records(hits, keys)
  -- the page
  local first_index, last_index
  if after or before then
    local pos
    for i, rec in ipairs(hits) do
      if rec.id == (after or before) then
        pos = i
        break
      end
    end
    if not pos then
      return U.bad_request(("%s: '%s' is not among the matching items"):format(after and "after" or "before",
        after or before))
    end
    if after then
      first_index, last_index = pos + 1, math.min(#hits, pos + limit)
    else
      first_index, last_index = math.max(1, pos - limit), pos - 1
    end
  else
    first_index = page * limit + 1
    last_index = math.min(#hits, first_index + limit - 1)
  end
  local has_more
  if before then has_more = first_index > 1 else has_more = last_index < #hits end
  local project = projector(words(q.select))
  local data = J.array({})
  for i = first_index, last_index do
    local obj = hits[i].public
    data[#data + 1] = project and project(obj) or obj
  end
  local doc = J.ordered({ "code", "data", "metadata", "pagination" }, {
    code = "success", data = data,
    metadata = J.ordered({ "hasMore" }, { hasMore = has_more }),
  })
  if opts.pagination then
    local last = data[#data]
    doc.pagination = J.ordered({ "lastId", "limit", "count" }, {
      lastId = last and last.id or J.null, limit = limit, count = #hits,
    })
  end
  return U.json_reply(200, doc)
end

return L
