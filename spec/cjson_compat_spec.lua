-- Either lua-cjson: Debian's 2.1.0 (every number a float, no empty_array) or
-- the OpenResty fork LuaRocks installs (integers kept). The fork cannot be
-- installed here (no LuaRocks server), so its one difference that reaches
-- the module, integral numbers decoded as Lua integers, is reproduced by a
-- decoder that does exactly that on top of Debian's, and the results must
-- be the same. Also: the module never encodes with cjson and never changes
-- the shared cjson's settings.
local cjson = require "cjson"
local core = require "allawee.core"
local S = require "support.sandbox"
local F = require "support.fixtures"

-- Integral floats to integers, recursively: what the fork returns on 5.3+.
local function to_integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = to_integers(x) end
  elseif math.type and math.type(v) == "float" then
    return math.tointeger(v) or v
  end
  return v
end

-- Puts allawee's own private decoder back (re-running allawee.lua does).
local function restore_private_decoder()
  package.loaded.allawee = nil
  require "allawee"
end

describe("lua-cjson, Debian's or the OpenResty fork", function()
  local sb, client

  setup(function()
    sb = S.start()
    client = F.client(sb)
  end)

  teardown(function()
    restore_private_decoder()
    client:close()
    sb:stop()
  end)

  it("gives the same result whether the decoder returns floats or integers", function()
    local params = F.individual()
    params.metadata = { userId = 2345, nested = { count = 7, ratio = 0.25 } }
    local debian, err = client.customers.create(params)
    assert.is_nil(err)

    local fork = cjson.new()
    core.set_decoder(function(text) return to_integers(fork.decode(text)) end)
    local second = F.copy(params)
    second.reference = F.reference("fork")
    local forked, err2 = client.customers.create(second)
    restore_private_decoder()
    assert.is_nil(err2)

    for _, data in ipairs { debian, forked } do
      assert.equals(2345, data.metadata.userId)
      assert.equals(7, data.metadata.nested.count)
      assert.equals(0.25, data.metadata.nested.ratio)
      if F.HAS_INTEGERS then
        assert.equals("integer", math.type(data.metadata.userId))
        assert.equals("integer", math.type(data.metadata.nested.count))
        assert.equals("float", math.type(data.metadata.nested.ratio))
      end
    end
    -- Everything but the per-customer fields is identical.
    for _, k in ipairs { "id", "reference", "createdAt", "updatedAt" } do
      debian[k], forked[k] = nil, nil
    end
    assert.same(debian, forked)
  end)

  it("never encodes with cjson and leaves the shared cjson's settings alone", function()
    local depth, invalid = cjson.decode_max_depth(), cjson.decode_invalid_numbers()
    local encode = cjson.encode
    cjson.encode = function() error("cjson.encode must not be used by allawee") end
    local ok, data, err = pcall(client.customers.create, F.minimal())
    cjson.encode = encode
    assert.is_true(ok, tostring(data))
    assert.is_nil(err)
    assert.is_table(data)
    -- allawee.lua bounded and tightened its private instance only.
    assert.equals(depth, cjson.decode_max_depth())
    assert.equals(invalid, cjson.decode_invalid_numbers())
    assert.equals(1000, cjson.decode_max_depth())
    assert.is_true(cjson.decode_invalid_numbers())
  end)
end)
