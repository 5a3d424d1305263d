--[[
Test helper: reads LuaLS annotation files (types/*.lua) with a line parser,
so specs can compare what they declare with the live module.

    local L = require "support.luals"
    local classes = L.parse{ "types/allawee.lua" }
    classes["allawee.Client"].members.poll   --> { kind = "function", line = 123, params = {...} }
    classes["allawee"].members.customers     --> { kind = "field", type = "allawee.Customers" }
    classes["allawee.Meta"].members.page     --> { kind = "field", type = "number", optional = true }
    classes["allawee.Customers"].members.get.params
                                             --> { { name = "id", type = "string" },
                                                   { name = "query", type = "allawee.GetQuery", optional = true }, ... }
    L.names(classes["allawee.Meta"])         --> sorted member names
    L.diff(live_names, classes[name], what)  --> nil, or a message naming what each side lacks
    L.class_of(type)                         --> "allawee.Card" for "allawee.Card[]", "allawee.Card|nil", ...

The constructs (one per line, as the header of types/allawee.lua asks):
`---@class NAME`, `---@field NAME[?] TYPE ...` right under it, `local X = {}`
right after a class's fields (X stands for that class),
`function X.name(` / `function X:name(`, and `---@param NAME[?] TYPE` lines
in the comment right above a function. Anything else is ignored; a
`---@field` or `function X.` line it cannot place is an error, so a typo
cannot hide a name from the comparison.
]]

local L = {}

function L.parse(paths)
  local classes, vars = {}, {}
  for _, path in ipairs(paths) do
    local current, pending
    local params = {}
    local n = 0
    for line in assert(io.open(path, "r")):lines() do
      n = n + 1
      local where = path .. ":" .. n
      local cls = line:match("^%-%-%-@class%s+([%w_.]+)")
      local var = line:match("^local%s+([%w_]+)%s*=%s*{%s*}%s*$")
      local fvar, fname = line:match("^function%s+([%w_]+)[.:]([%w_]+)%s*%(")
      local pname, popt, ptype = line:match("^%-%-%-@param%s+([%w_]+)(%??)%s+(%S+)")
      if cls then
        assert(not classes[cls], where .. ": class " .. cls .. " declared twice")
        classes[cls] = { name = cls, members = {}, file = path, line = n }
        current, pending = cls, cls
      elseif line:match("^%-%-%-@field") then
        local name, opt, typ = line:match("^%-%-%-@field%s+([%w_]+)(%??)%s+(%S+)")
        assert(name and current, where .. ": a ---@field that is not right under a ---@class")
        assert(not classes[current].members[name], where .. ": " .. current .. "." .. name .. " twice")
        classes[current].members[name] = { kind = "field", type = typ, optional = opt == "?", line = n }
      elseif pname then
        params[#params + 1] = { name = pname, type = ptype, optional = popt == "?", line = n }
      elseif var then
        if pending then vars[var] = pending end
        current, pending = nil, nil
        params = {}
      elseif fvar then
        local owner = vars[fvar]
        assert(owner, where .. ": function " .. fvar .. "." .. fname .. " of no declared class")
        assert(not classes[owner].members[fname], where .. ": " .. owner .. "." .. fname .. " twice")
        classes[owner].members[fname] = { kind = "function", line = n, params = params }
        current, pending = nil, nil
        params = {}
      elseif not line:match("^%-%-%-") then
        current = nil      -- a field block ends at the first other line
        params = {}        -- and so does a function's comment
      end
    end
  end
  return classes
end

--- The class a type names: "allawee.Card" for "allawee.Card", "allawee.Card[]",
-- "allawee.Card|nil", "allawee.Card?"; nil when it names none (string, table...).
function L.class_of(typ)
  if type(typ) ~= "string" then return nil end
  local t = typ:gsub("|nil$", ""):gsub("%?$", ""):gsub("%[%]$", "")
  return t:match("^allawee%.[%w_.]+$")
end

function L.names(class)
  local out = {}
  for name in pairs(class and class.members or {}) do out[#out + 1] = name end
  table.sort(out)
  return out
end

--- live: a set { name = true } (or a list). Returns nil when the names are the
-- same both ways, else a message listing each side's missing names.
function L.diff(live, class, what)
  local set = {}
  for k, v in pairs(live) do
    if type(k) == "number" then set[v] = true else set[k] = true end
  end
  local unannotated, stale = {}, {}
  for name in pairs(set) do
    if not (class and class.members[name]) then unannotated[#unannotated + 1] = name end
  end
  for _, name in ipairs(L.names(class)) do
    if not set[name] then stale[#stale + 1] = name end
  end
  if #unannotated == 0 and #stale == 0 then return nil end
  table.sort(unannotated)
  local msg = {}
  if not class then
    msg[#msg + 1] = ("%s: no ---@class for it in types/"):format(what)
  end
  if #unannotated > 0 then
    msg[#msg + 1] = ("%s has %s, which %s does not annotate (add them to types/)")
      :format(what, table.concat(unannotated, ", "), class and class.name or "types/")
  end
  if #stale > 0 then
    msg[#msg + 1] = ("%s annotates %s, which %s does not have (remove or rename them)")
      :format(class.name, table.concat(stale, ", "), what)
  end
  return table.concat(msg, "; ")
end

return L
