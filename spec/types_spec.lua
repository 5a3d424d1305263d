-- The LuaLS annotations (types/allawee.lua) against the live module, both
-- ways: every name the module has is annotated, and every annotated name
-- exists. The live names come from the module itself, not from a list: the
-- module table, the client's methods (its metatable's __index), every
-- resource table a client carries (its user value) or the module offers,
-- the options allawee.new and create read (a recording __index sees every
-- name the C code asks for), and the fields of real results and errors from
-- the sandbox. When the API grows, this fails until types/ says so too.
local allawee = require "allawee"
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"
local L = require "support.luals"
local net = require "support.net"

local TYPES = net.repo_root() .. "/types/allawee.lua"
local classes = L.parse{ TYPES }

local function check(live, class_name, what)
  local problem = L.diff(live, classes[class_name], what)
  assert(problem == nil, problem)
end

-- The class a `---@field` of `owner` names as its type.
local function field_class(owner, field)
  local m = classes[owner] and classes[owner].members[field]
  return m and m.type
end

local function keys(t)
  local out = {}
  for k in pairs(t) do if type(k) == "string" then out[k] = true end end
  return out
end

-- A table whose values are all functions: a resource (customers, ...).
local function is_resource(v)
  if type(v) ~= "table" or next(v) == nil then return false end
  for _, f in pairs(v) do if type(f) ~= "function" then return false end end
  return true
end

local getuservalue = debug.getuservalue or debug.getfenv

-- Records every option name the C code asks for (lua_getfield goes
-- through __index for a key the table lacks) plus those given.
local function recording(given)
  local seen = keys(given)
  return setmetatable(given, { __index = function(_, k) seen[k] = true end }), seen
end

describe("types/allawee.lua", function()
  local sb, client

  setup(function()
    sb = S.start()
    client = F.client(sb)
  end)

  teardown(function()
    if client then client:close() end
    if sb then sb:stop() end
  end)

  it("is valid Lua with one ---@meta header and every construct placed", function()
    local f = assert(io.open(TYPES, "r"))
    local text = f:read("*a")
    f:close()
    assert.truthy(text:match("^%-%-%-@meta allawee\n"))
    assert.truthy((loadstring or load)(text, "=types/allawee.lua"))
    assert.truthy(classes["allawee"] and classes["allawee.Client"])
  end)

  it("annotates every field and function of the module, and nothing else", function()
    check(keys(allawee), "allawee", "require 'allawee'")
  end)

  it("annotates every module-level resource table and its functions", function()
    for name, v in pairs(allawee) do
      if is_resource(v) then
        local class = field_class("allawee", name)
        assert(class, "allawee." .. name .. " has no ---@field in ---@class allawee")
        check(keys(v), class, "allawee." .. name)
      end
    end
  end)

  it("annotates every client method and resource, and each resource's functions", function()
    local mt = debug.getmetatable(client)
    assert.are.equal("function", type(mt.__index))
    -- client_index (src/client.c) looks methods up in its first upvalue.
    -- PUC Lua 5.1's debug library cannot read a C function's upvalues: there
    -- the annotated methods are checked one way (each exists); every other
    -- Lua checks both ways, and the methods are the same C code on all.
    local _, methods = debug.getupvalue(mt.__index, 1)
    if methods == nil and _VERSION == "Lua 5.1" and not jit then
      methods = {}
      for name, m in pairs(classes["allawee.Client"].members) do
        if m.kind == "function" then
          assert.are.equal("function", type(client[name]), "client:" .. name .. " is annotated")
          methods[name] = true
        end
      end
    end
    assert.are.equal("table", type(methods))
    local live = keys(methods)
    local resources = 0
    for name, v in pairs(getuservalue(client) or {}) do
      if type(name) == "string" and is_resource(v) then
        live[name] = true
        resources = resources + 1
        assert.are.equal(v, client[name], "client." .. name .. " is not what __index gives")
        local class = field_class("allawee.Client", name)
        assert(class, "client." .. name .. " has no ---@field in ---@class allawee.Client")
        check(keys(v), class, "client." .. name)
      end
    end
    assert.is_true(resources >= 1)
    check(live, "allawee.Client", "a client (methods and resources)")
  end)

  it("annotates the request's and the future's methods", function()
    local req = client.customers.create_async(F.minimal(), function() end)
    check(keys(getmetatable(req).__index), "allawee.Request", "a request (create_async)")
    req:cancel()
    local future = allawee.async(client, F.minimal())
    local methods = {}
    for k, v in pairs(getmetatable(future)) do
      if type(v) == "function" and not k:match("^__") then methods[k] = true end
    end
    check(methods, "allawee.Future", "a future (allawee.async)")
    client:wait()
  end)

  it("annotates every option allawee.new reads, and no other", function()
    local options, seen = recording{ secret_key = F.KEY, base_url = sb.url }
    allawee.new(options):close()
    check(seen, "allawee.ClientOptions", "allawee.new's options")
    -- core.options (the OpenResty client's rules) reads the same ones.
    local o2, seen2 = recording{ secret_key = F.KEY, base_url = sb.url }
    core.options(o2)
    check(seen2, "allawee.ClientOptions", "core.options")
  end)

  it("annotates every per-call option create reads, and no other", function()
    local options, seen = recording{}
    local data, err = client.customers.create({ name = 1 }, options)   -- fails validation: nothing sent
    assert.is_nil(data)
    assert.are.equal("validation", err.kind)
    check(seen, "allawee.CallOptions", "customers.create's options")
  end)

  it("annotates every field of meta and of the customer, from a real create", function()
    local data, err, meta = client.customers.create(F.individual())
    assert.is_nil(err)
    check(keys(meta), "allawee.Meta", "meta")
    check(keys(data), "allawee.Customer", "the customer the sandbox returns")
  end)

  it("annotates every error field, from real errors (validation, HTTP, connection)", function()
    local seen = {}
    local function add(err) for k in pairs(err) do seen[k] = true end end
    local _, err = client.customers.create({ name = 1 })
    add(err)
    local c409 = F.new_client(F.KEY, S.scenario_url(sb, "status=409"), { max_retries = 0 })
    _, err = c409.customers.create(F.minimal())
    c409:close()
    assert.are.equal("conflict", err.kind)
    add(err)
    local refused = F.new_client(F.KEY, "http://127.0.0.1:" .. net.free_port(), { max_retries = 0 })
    _, err = refused.customers.create(F.minimal())
    refused:close()
    assert.are.equal("connection", err.kind)
    add(err)
    check(seen, "allawee.Error", "errors")
  end)

  it("annotates only params fields the validator accepts", function()
    local params_class = classes["allawee.CustomerParams"]
    local claims = field_class("allawee.CustomerParams", "claims")
    for name in pairs(classes[claims].members) do
      local sub = field_class(claims, name)
      if classes[sub] then
        for field in pairs(classes[sub].members) do
          local p = F.minimal{ claims = { [name] = { [field] = "x" } } }
          local body, err = core.encode(p, true)
          assert(body, ("claims.%s.%s is annotated but refused: %s"):format(name, field, tostring(err)))
        end
      end
    end
    for name in pairs(params_class.members) do
      assert.truthy(core.encode(F.minimal(), true):find('"' .. name .. '"', 1, true),
                    name .. " is annotated but never sent")
    end
  end)

  it("fails when a name is missing on either side (the check can fail)", function()
    local fake = { members = { new = {}, gone = {} }, name = "fake" }
    local problem = L.diff({ new = true, added = true }, fake, "live")
    assert.truthy(problem:find("live has added", 1, true))
    assert.truthy(problem:find("fake annotates gone", 1, true))
  end)
end)
