-- The LuaLS annotations (types/allawee.lua) against the live module, both
-- ways: every name the module has is annotated, and every annotated name
-- exists. The live names come from the module itself, not from a list:
--
--   - the module table, the client's methods (its metatable's __index), and
--     every resource table: a client builds them on first use from the C
--     endpoint table (core.endpoints()) and keeps them in its user value, so
--     each one named there is touched first;
--   - each function's ---@param lines against its endpoint row (path
--     parameters, body or query, callback, options);
--   - the body and query classes against the validator itself: every field
--     a class names is one it knows (and the ones it requires are the ones
--     not marked `?`), and every name in src/schema.c / src/endpoints.c that
--     it knows is annotated (the sources only propose candidates; the live
--     validator decides, and nothing is sent);
--   - the options allawee.new and a call read (a recording __index sees
--     every name the C code asks for);
--   - meta, err (every kind), and every returned object, from real calls
--     against the sandbox (a list, a recovered create, a non-JSON answer, a
--     failed exactly-once lookup, ...), nested classes included.
--
-- When the API grows, this fails until types/ says so too.
local allawee = require "allawee"
local core = require "allawee.core"
local S = require "support.sandbox"
local C = require "support.canned"
local F = require "support.fixtures"
local L = require "support.luals"
local net = require "support.net"

local ROOT = net.repo_root()
local TYPES = ROOT .. "/types/allawee.lua"
local classes = L.parse{ TYPES }

local function check(live, class_name, what)
  local problem = L.diff(live, classes[class_name], what)
  assert(problem == nil, problem)
end

local function check_with(all, live, class_name, what)
  local problem = L.diff(live, all[class_name], what)
  assert(problem == nil, problem)
end

-- A resource function's ---@param lines against its endpoint row: one
-- string per path parameter, the body's or the query's class, the callback
-- (_async), then `options? allawee.CallOptions`, and nothing more.
local function param_shape(all, cls, method, row, async)
  local fn = all[cls] and all[cls].members[method]
  assert(fn and fn.kind == "function", cls .. "." .. method .. " is not annotated")
  local p, i, where = fn.params, 1, cls .. "." .. method
  for _ = 1, row.params do
    assert(p[i] and p[i].type == "string" and not p[i].optional,
           where .. ": parameter " .. i .. " must be `NAME string` (a path parameter)")
    i = i + 1
  end
  if row.body or row.query then
    local c = p[i] and L.class_of(p[i].type)
    assert(c and all[c], where .. ": parameter " .. i .. " must name the body's or query's class")
    assert(row.body or p[i].optional or p[i].type:find("|nil$"), where .. ": a query is optional")
    i = i + 1
  end
  if async then
    assert(p[i] and p[i].name == "callback", where .. ": parameter " .. i .. " must be the callback")
    i = i + 1
  end
  assert(p[i] and p[i].name == "options" and p[i].optional and p[i].type == "allawee.CallOptions",
         where .. ": the last parameter must be `options? allawee.CallOptions`")
  assert(p[i + 1] == nil, where .. ": more parameters than the endpoint takes")
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
local unpack = table.unpack or unpack

-- Records every option name the C code asks for (lua_getfield goes
-- through __index for a key the table lacks) plus those given.
local function recording(given)
  local seen = keys(given)
  return setmetatable(given, { __index = function(_, k) seen[k] = true end }), seen
end

-- The endpoints, and the resources they make: { customers = { create = row, ... } }.
local ENDPOINTS = core.endpoints()
local RESOURCES = {}
for name, row in pairs(ENDPOINTS) do
  local resource, method = name:match("^([%w_]+)%.([%w_]+)$")
  RESOURCES[resource] = RESOURCES[resource] or {}
  RESOURCES[resource][method] = row
end

-- Identifier-like string literals of a source file: candidate names that
-- the live validator then judges.
local function literals(file)
  local out = {}
  for s in assert(net.read_file(ROOT .. "/" .. file)):gmatch('"([%a_][%w_]*)"') do out[s] = true end
  return out
end

---------------------------------------------------------------------------
-- Shapes: a class against live tables, both ways
---------------------------------------------------------------------------

-- samples: { [class name] = { tables... } }. Adds `value` and, for every
-- field annotated with a class, the nested tables (array items too).
local function collect(samples, class_name, value)
  local class = classes[class_name]
  assert(class, "no ---@class " .. class_name .. " in types/")
  samples[class_name] = samples[class_name] or {}
  table.insert(samples[class_name], value)
  for k, v in pairs(value) do
    local m = type(k) == "string" and class.members[k]
    local sub = m and L.class_of(m.type)
    if sub and type(v) == "table" then
      if m.type:find("%[%]") then
        for _, item in ipairs(v) do
          if type(item) == "table" then collect(samples, sub, item) end
        end
      else
        collect(samples, sub, v)
      end
    end
  end
end

-- Every class in `samples`: the keys seen over all its samples are exactly
-- its members, and every member not marked `?` is in every sample.
-- Returns nil or the problems.
local function shape_problems(samples)
  local problems = {}
  for class_name, list in pairs(samples) do
    local seen = {}
    for _, t in ipairs(list) do
      for k in pairs(t) do if type(k) == "string" then seen[k] = true end end
      for name, m in pairs(classes[class_name].members) do
        if m.kind == "field" and not m.optional and t[name] == nil then
          problems[#problems + 1] = ("%s.%s is not marked optional, yet a live %s lacks it")
            :format(class_name, name, class_name)
        end
      end
    end
    problems[#problems + 1] = L.diff(seen, classes[class_name], "a live " .. class_name)
  end
  table.sort(problems)
  return #problems > 0 and table.concat(problems, "\n") or nil
end

local function check_shapes(samples)
  local problem = shape_problems(samples)
  assert(problem == nil, problem)
end

---------------------------------------------------------------------------
-- Bodies and queries: a class against the validator, both ways
---------------------------------------------------------------------------

-- A value of an annotated type that the validator takes: the first literal
-- of an enum, a string, a whole number, a class built from its required
-- fields, {} for tables and arrays.
local function sample_value(typ)
  local literal = typ:match('^%(?"([^"]*)"')
  if literal then return literal end
  if typ:match("^string") then return "x" end
  if typ:match("^integer") or typ:match("^number") then return 1 end
  if typ:match("^boolean") then return true end
  local class = L.class_of(typ)
  if class and not typ:find("%[%]") then
    local t = {}
    for name, m in pairs(classes[class].members) do
      if m.kind == "field" and not m.optional then t[name] = sample_value(m.type) end
    end
    return t
  end
  return {}
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy(v) or v end
  return out
end

-- body with `value` at path (a list of keys), on a copy.
local function put(body, path, value)
  local out = copy(body)
  local t = out
  for i = 1, #path - 1 do
    t[path[i]] = t[path[i]] or {}
    t = t[path[i]]
  end
  t[path[#path]] = value
  return out
end

local function dotted(prefix, path)
  local p = table.concat(path, ".")
  return prefix ~= "" and (prefix .. "." .. p) or p
end

-- `call(body)` validates `body` as some endpoint would (nothing reaches a
-- server: the client points at a closed port). Returns the problems of
-- `class_name` against it, or nil.
--   prefix: how err.field names the root ("" for bodies, "query" for queries)
--   unknown: a pattern of the validator's message for an unknown key
--   candidates: names the validator may know (from the sources)
local function validator_problems(call, class_name, candidates, opts)
  local problems = {}
  local function add(fmt, ...) problems[#problems + 1] = fmt:format(...) end
  local function refused(body)
    local ok, err = call(body)
    if ok then return nil end
    assert(err.kind ~= nil, "the validator's call returned no error table")
    if err.kind ~= "validation" then return nil end   -- it got past the validator
    return err
  end
  local function walk(cname, path, base)
    local class = classes[cname]
    local function at(name)
      local p = {}
      for i, k in ipairs(path) do p[i] = k end
      p[#p + 1] = name
      return p
    end
    local function is_unknown(name)
      local p = at(name)
      local err = refused(put(base, p, function() end))
      return err ~= nil and err.field == dotted(opts.prefix, p) and
             err.message:find(opts.unknown) ~= nil
    end
    -- the base (required fields only) passes, so nothing else is required
    local err = refused(base)
    if err then add("%s: a body with only its required fields is refused: %s", cname, err.message) end
    for name, m in pairs(class.members) do
      if m.kind == "field" then
        if is_unknown(name) then
          add("%s.%s is annotated, but the validator does not know %s", cname, name, dotted(opts.prefix, at(name)))
        elseif not m.optional then
          local without = copy(base)
          local t = without
          for _, k in ipairs(path) do t = t[k] end
          t[name] = nil
          err = refused(without)
          if not (err and err.field == dotted(opts.prefix, at(name)) and err.message:find("required")) then
            add("%s.%s is not marked optional, but the validator does not require it", cname, name)
          end
        end
        -- a class-typed field the validator checks key by key: its class too
        local sub = L.class_of(m.type)
        if sub and classes[sub] and not m.type:find("%[%]") then
          local probe = at(name)
          probe[#probe + 1] = "zz_not_a_field"
          local perr = refused(put(base, probe, 1))
          if perr and perr.field == dotted(opts.prefix, probe) and perr.message:find(opts.unknown) then
            local p = at(name)
            walk(sub, p, put(base, p, sample_value(m.type)))
          end
        end
      end
    end
    for name in pairs(candidates) do
      if not class.members[name] and not is_unknown(name) then
        add("the validator knows %s, which %s does not annotate", dotted(opts.prefix, at(name)), cname)
      end
    end
  end
  walk(class_name, {}, opts.base or sample_value(class_name))
  table.sort(problems)
  return #problems > 0 and table.concat(problems, "\n") or nil
end

---------------------------------------------------------------------------

describe("types/allawee.lua", function()
  local sb, client, closed

  setup(function()
    sb = S.start()
    client = F.client(sb)
    -- where a call that gets past validation goes: nowhere
    closed = F.new_client(F.KEY, "http://127.0.0.1:" .. net.free_port(), { max_retries = 0 })
  end)

  teardown(function()
    if client then client:close() end
    if closed then closed:close() end
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

  it("annotates every module-level resource table (and webhooks) and its functions", function()
    local n = 0
    for name, v in pairs(allawee) do
      if is_resource(v) then
        local class = field_class("allawee", name)
        assert(class, "allawee." .. name .. " has no ---@field in ---@class allawee")
        check(keys(v), class, "allawee." .. name)
        n = n + 1
      end
    end
    for resource in pairs(RESOURCES) do
      assert(is_resource(allawee[resource]), "allawee." .. resource .. " is missing")
    end
    assert.is_true(n >= 6)   -- five resources and webhooks
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
    -- Resource tables are built on first use: touch every one the endpoint
    -- table names, so the user value holds them all.
    local fresh = F.client(sb)
    for resource in pairs(RESOURCES) do assert.is_table(fresh[resource]) end
    local live = keys(methods)
    local resources = 0
    for name, v in pairs(getuservalue(fresh) or {}) do
      if type(name) == "string" and is_resource(v) then
        live[name] = true
        resources = resources + 1
        assert.are.equal(v, fresh[name], "client." .. name .. " is not what __index gives")
        local class = field_class("allawee.Client", name)
        assert(class, "client." .. name .. " has no ---@field in ---@class allawee.Client")
        check(keys(v), class, "client." .. name)
      end
    end
    local expected = 0
    for _ in pairs(RESOURCES) do expected = expected + 1 end
    assert.are.equal(expected, resources)
    check(live, "allawee.Client", "a client (methods and resources)")
    fresh:close()
  end)

  it("types every resource function's parameters as its endpoint row says", function()
    local function shape(cls, method, row, async)
      return param_shape(classes, cls, method, row, async)
    end
    for resource, methods in pairs(RESOURCES) do
      local cls = field_class("allawee.Client", resource)
      for method, row in pairs(methods) do
        shape(cls, method, row, false)
        shape(cls, method .. "_async", row, true)
      end
      assert.are.equal(methods.list ~= nil, classes[cls].members.each ~= nil, cls .. ".each")
    end
  end)

  it("types the OpenResty client's resources as the endpoint rows say (no _async)", function()
    local both = L.parse{ TYPES, ROOT .. "/types/allawee.openresty.lua" }
    local client_class = both["allawee.openresty.Client"]
    for resource, methods in pairs(RESOURCES) do
      local m = client_class.members[resource]
      assert(m, "allawee.openresty.Client has no ---@field " .. resource)
      local live = { each = methods.list ~= nil or nil }
      for method, row in pairs(methods) do
        live[method] = true
        param_shape(both, m.type, method, row, false)
      end
      check_with(both, live, m.type, "the endpoint table's " .. resource)
    end
  end)

  -- The class each endpoint's body or query parameter names.
  local function param_class(name, row)
    local resource, method = name:match("^([%w_]+)%.([%w_]+)$")
    local fn = classes[field_class("allawee.Client", resource)].members[method]
    return L.class_of(fn.params[row.params + 1].type)
  end

  it("annotates every body field the validator knows, requiring what it requires", function()
    local candidates = literals("src/schema.c")
    local checked = 0
    for name, row in pairs(ENDPOINTS) do
      if row.body then
        local resource, method = name:match("^([%w_]+)%.([%w_]+)$")
        local ids = {}
        for i = 1, row.params do ids[i] = "x" end
        local fn = closed[resource][method]
        local call = function(body)
          ids[row.params + 1] = body
          return fn(unpack(ids, 1, row.params + 1))
        end
        local problem = validator_problems(call, param_class(name, row), candidates,
                                           { prefix = "", unknown = "unknown field" })
        assert(problem == nil, name .. ":\n" .. tostring(problem))
        checked = checked + 1
      end
    end
    assert.is_true(checked >= 10)
  end)

  it("annotates every query key the validator knows (every list)", function()
    local candidates = literals("src/endpoints.c")
    local checked = 0
    for name, row in pairs(ENDPOINTS) do
      if row.query then
        local resource, method = name:match("^([%w_]+)%.([%w_]+)$")
        local ids = {}
        for i = 1, row.params do ids[i] = "x" end
        local fn = closed[resource][method]
        local call = function(q)
          ids[row.params + 1] = q
          return fn(unpack(ids, 1, row.params + 1))
        end
        local problem = validator_problems(call, param_class(name, row), candidates,
                                           { prefix = "query", unknown = "unknown query parameter" })
        assert(problem == nil, name .. ":\n" .. tostring(problem))
        checked = checked + 1
      end
    end
    assert.is_true(checked >= 4)
  end)

  it("annotates the authorization reply as webhooks.authorization_reply checks it", function()
    local call = function(reply)
      local text, err = allawee.webhooks.authorization_reply(reply)
      return text ~= nil, err
    end
    local problem = validator_problems(call, "allawee.AuthorizationReply", literals("src/schema.c"),
                                       { prefix = "", unknown = "unknown field" })
    assert(problem == nil, problem)
  end)

  it("annotates the args client:request takes, and no other", function()
    -- an unknown key raises "unknown key in args"; a known one, with a
    -- wrong value, raises something else or goes to the closed port
    local args = classes["allawee.RequestArgs"].members
    local known = 0
    for name in pairs(literals("src/prepare.c")) do
      local ok, err = pcall(closed.request, closed, "POST", "/x", { [name] = false })
      local is_known = ok or not tostring(err):find("unknown key in args", 1, true)
      assert.are.equal(is_known, args[name] ~= nil, "client:request's args." .. name)
      if is_known then known = known + 1 end
    end
    assert.are.equal(#L.names(classes["allawee.RequestArgs"]), known)
  end)

  it("annotates the request's and the future's methods and fields", function()
    local req = client.customers.create_async(F.minimal(), function() end)
    check(keys(debug.getmetatable(req).__index), "allawee.Request", "a request (create_async)")
    req:cancel()
    local good = allawee.async(client, F.minimal())
    local bad = allawee.async(client, { name = 1 })
    client:wait()
    local live = {}
    for _, future in ipairs{ good, bad } do
      for k in pairs(future) do live[k] = true end
      for k, v in pairs(getmetatable(future)) do
        if type(v) == "function" and not k:match("^__") then live[k] = true end
      end
    end
    assert.truthy(good.data and bad.err)
    check(live, "allawee.Future", "a future (allawee.async)")
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

  it("annotates every per-call option a call reads, and no other", function()
    for _, call in ipairs{
      function(o) return client.customers.create({ name = 1 }, o) end,        -- fails validation
      function(o) return client.cards.get("", o) end,                         -- an empty id
      function(o) return client:request("GET", "no-slash", nil, o) end,       -- a bad path
    } do
      local options, seen = recording{}
      local data, err = call(options)
      assert.is_nil(data)
      assert.are.equal("validation", err.kind)   -- nothing was sent
      check(seen, "allawee.CallOptions", "a call's options")
    end
  end)

  it("annotates every field of meta, from real calls that produce each", function()
    local samples = {}
    local function add(meta) assert.is_table(meta) collect(samples, "allawee.Meta", meta) end
    local _, err, meta = client.customers.create(F.individual())
    assert.is_nil(err)
    add(meta)                                                   -- idempotency_key, waits
    client.customers.create(F.minimal())
    local list
    list, err, meta = client.customers.list{ limit = 1, page = 0 }
    assert.is_nil(err)
    assert.are.equal(1, #list)
    add(meta)                                                   -- has_more, page
    local paged = F.new_client(F.KEY, S.scenario_url(sb, "pagination=1"))
    _, err, meta = paged.customers.list{ limit = 1 }
    paged:close()
    assert.is_nil(err)
    assert.is_table(meta.pagination)
    add(meta)                                                   -- pagination
    -- exactly once: the create is done, its answer lost; the retry's 409 is looked up
    local lost = F.new_client(F.KEY, S.scenario_url(sb, "commit=1,fault=close,times=1"),
                              { backoff_base = 0.001, backoff_max = 0.01 })
    _, err, meta = lost.customers.create(F.minimal())
    lost:close()
    assert.is_nil(err, err and tostring(err))
    assert.is_true(meta.recovered)
    add(meta)                                                   -- recovered
    local csv = C.start{ { status = 200, headers = { ["Content-Type"] = "text/csv" }, body = "a,b\n1,2\n" } }
    local cc = F.new_client(F.KEY, csv.url)
    local data
    data, err, meta = cc:request("GET", "/accounts/ac.1/logs/csv")
    cc:close()
    csv.stop()
    assert.is_nil(err)
    assert.are.equal("a,b\n1,2\n", data)
    add(meta)                                                   -- content_type
    check_shapes(samples)
  end)

  it("annotates every error field and every kind, from real errors", function()
    local samples, kinds = {}, {}
    local function add(err, kind)
      assert.are.equal(kind, err.kind, tostring(err))
      kinds[err.kind] = true
      collect(samples, "allawee.Error", err)
    end
    local function scenario(spec, extra)
      return F.new_client(F.KEY, S.scenario_url(sb, spec), F.merge({ max_retries = 0 }, extra))
    end
    local _, err = client.customers.create({ name = 1 })
    add(err, "validation")                                      -- field
    for spec, kind in pairs{ ["status=401"] = "authentication", ["status=403"] = "permission",
                             ["status=409"] = "conflict", ["status=400"] = "invalid_request",
                             ["status=429"] = "rate_limit", ["status=500"] = "api",
                             ["fault=accepted"] = "accepted", ["fault=nonjson"] = "decode" } do
      local c = scenario(spec)
      _, err = c.customers.create(F.minimal())
      c:close()
      add(err, kind)                                            -- body, code, status, request_id
    end
    _, err = client.customers.get("cus.nobody")
    add(err, "not_found")
    local slow = scenario("delay=500", { timeout = 0.05 })
    _, err = slow.customers.create(F.minimal())
    slow:close()
    add(err, "timeout")                                         -- ambiguous = true
    _, err = closed.customers.create(F.minimal())
    add(err, "connection")
    local got
    closed.customers.create_async(F.minimal(), function(_, e) got = e end):cancel()
    closed:wait()
    add(got, "cancelled")
    _, err = allawee.webhooks.parse('{"event":"x"}', ("0"):rep(128), "whsec")
    add(err, "signature")
    -- an exactly-once lookup that fails: the conflict, ambiguous, with its cause
    local srv = C.start{
      { status = 503, body = '{"code":"service-unavailable","message":"busy"}' },
      { status = 409, body = '{"code":"reference-conflict","message":"taken"}' },
      { status = 500, body = '{"code":"application-error","message":"lookup broke"}' },
    }
    local c = F.new_client(F.KEY, srv.url, { max_retries = 1, backoff_base = 0.001 })
    _, err = c.customers.create(F.minimal())
    c:close()
    srv.stop()
    assert.is_true(err.ambiguous)
    assert.are.equal("api", err.cause.kind)
    add(err, "conflict")                                        -- cause
    check_shapes(samples)
    -- every kind, and only those, in the allawee.ErrorKind alias
    local alias, in_alias = { name = "allawee.ErrorKind", members = {} }, false
    for line in io.lines(TYPES) do
      if line:match("^%-%-%-@alias allawee%.ErrorKind") then in_alias = true
      elseif in_alias and line:match('^%-%-%-| "') then alias.members[line:match('"([%w_]+)"')] = {}
      else in_alias = false end
    end
    local problem = L.diff(kinds, alias, "real errors")
    assert(problem == nil, problem)
  end)

  it("annotates every field of every returned object, from the sandbox", function()
    local samples = {}
    local function ok(data, err)
      assert(data ~= nil, err and tostring(err))
      return data
    end
    local individual = ok(client.customers.create(F.individual()))
    local business = ok(client.customers.create(F.business()))
    collect(samples, "allawee.Customer", individual)
    collect(samples, "allawee.Customer", business)
    collect(samples, "allawee.Customer", ok(client.customers.get(individual.id)))
    collect(samples, "allawee.Customer", ok(client.customers.update(business.id, { name = "Renamed Ltd" })))
    for _, c in ipairs(ok(client.customers.list{ limit = 2 })) do collect(samples, "allawee.Customer", c) end

    local account = ok(client.accounts.create{ name = "Funding", currency = "NGN", type = "main",
      reference = F.reference("acct"), customer = individual.id, settlementAccount = "ac.settle",
      depositChannels = { "bank-account" }, metadata = { n = 1 } })
    collect(samples, "allawee.Account", account)
    collect(samples, "allawee.Account", ok(client.accounts.get(account.id)))
    collect(samples, "allawee.Balance", ok(client.accounts.balance(account.id)))

    local program = ok(client.card_programs.create{ name = F.reference("program"), network = "verve",
      type = "virtual", currency = "NGN", description = "types", quantity = 10,
      distribution = { type = "individually", shippingAddress = { city = "Yaba" },
                       returnAddress = { city = "Yaba" } },
      personalization = { frontArtworkFile = "https://example.com/a.png", printCardholderName = true,
                          defaultCardholderName = "Holder" },
      authorization = { fundingSourceType = "card-account", timeoutDefault = "approve" },
      metadata = { n = 1 } })
    collect(samples, "allawee.CardProgram", program)
    collect(samples, "allawee.CardProgram", ok(client.card_programs.get(program.id)))

    local controls = { allowedMcc = { "5411" }, blockedMcc = { "7995" }, allowedCategories = { "food" },
      blockedCategories = { "gambling" }, allowedChannels = { "pos" }, blockedChannels = { "atm" },
      allowedMerchants = { "m1" }, blockedMerchants = { "m2" },
      spendingLimits = { { amount = 100000, interval = "daily" } } }
    local card = ok(client.cards.create{ program = program.id, amount = 500, reference = F.reference("card"),
      customer = individual.id, cardHolderName = "Ciroma Adekunle", fundingSource = "card-account",
      debitCurrency = "NGN", controls = controls, metadata = { n = 1 } })
    collect(samples, "allawee.Card", card)
    collect(samples, "allawee.Card", ok(client.cards.activate(card.id, { cvv = S.TEST_CARD.cvv, pin = "4826" })))
    collect(samples, "allawee.CardSecrets", ok(client.cards.secrets(card.id)))
    collect(samples, "allawee.Card", ok(client.cards.fund(card.id, { amount = 300 })))
    collect(samples, "allawee.Card", ok(client.cards.block(card.id)))
    collect(samples, "allawee.Card", ok(client.cards.unblock(card.id)))
    collect(samples, "allawee.Card", ok(client.cards.reset_pin(card.id, { pin = "1234" })))
    collect(samples, "allawee.Card", ok(client.cards.update(card.id, { metadata = { n = 2 } })))
    collect(samples, "allawee.Card", ok(client.cards.terminate(card.id)))

    local accepted = F.new_client(F.KEY, S.scenario_url(sb, "fault=accepted"), { max_retries = 0 })
    local _, err = accepted.customers.create(F.minimal())
    accepted:close()
    assert.are.equal("accepted", err.kind)
    collect(samples, "allawee.RequestStatus", ok(client.requests.get(err.request_id)))

    local body = '{"event":"card.authorization.request","data":{"type":"check"},' ..
                 '"metadata":{"sentAt":"2024-10-16T10:00:00.000Z","event":"evt.1"}}'
    collect(samples, "allawee.WebhookEvent",
            ok(allawee.webhooks.parse(body, allawee.webhooks.sign(body, "whsec"), "whsec")))
    check_shapes(samples)
  end)

  it("fails when a name is missing on either side (the checks can fail)", function()
    local fake = { members = { new = {}, gone = {} }, name = "fake" }
    local problem = L.diff({ new = true, added = true }, fake, "live")
    assert.truthy(problem:find("live has added", 1, true))
    assert.truthy(problem:find("fake annotates gone", 1, true))
    -- shapes: an unannotated key, a required field a sample lacks
    problem = shape_problems{ ["allawee.Balance"] = { { account = "a", currency = "NGN", available = 1,
                                                        object = "account.balance", extra = 1 } } }
    assert.truthy(problem:find("has extra", 1, true), problem)
    assert.truthy(problem:find("allawee.Balance.ledger is not marked optional", 1, true), problem)
    -- the validator: a class that lacks a field it knows, and one that
    -- names a field it does not (both against customers.update's validator)
    classes["allawee.ZzFake"] = { name = "allawee.ZzFake", members = {
      name = { kind = "field", type = "string", optional = true },
      nmae = { kind = "field", type = "string", optional = true },
    } }
    problem = validator_problems(function(b) return closed.customers.update("x", b) end, "allawee.ZzFake",
                                 { name = true, metadata = true }, { prefix = "", unknown = "unknown field" })
    classes["allawee.ZzFake"] = nil
    assert.truthy(problem:find("allawee.ZzFake.nmae is annotated, but the validator does not know nmae", 1, true),
                  problem)
    assert.truthy(problem:find("the validator knows metadata, which allawee.ZzFake does not annotate", 1, true),
                  problem)
  end)
end)
