-- Which Lua runs the suite, and which build of allawee.core it loaded.
-- A .so built against one Lua's headers may load into another and fail in
-- odd ways later, so the suite checks this first and loudly.
--
-- ALLAWEE_EXPECT_LUA (5.1, 5.2, 5.3, 5.4 or luajit) names the Lua that
-- `make test-lua LUA=<v>` meant to run; busted's --lua picks the one that does.
local allawee = require "allawee"

local EXPECTED = os.getenv("ALLAWEE_EXPECT_LUA")

-- The Lua this process runs, in the spelling of ALLAWEE_EXPECT_LUA.
local function running_lua()
  if jit ~= nil then return "luajit" end
  return _VERSION:match("^Lua (%d+%.%d+)$")
end

-- Every file mapped into this process whose path ends in /allawee/core.so:
-- the module that was really loaded, whatever package.cpath says.
local function mapped_core_paths()
  local seen, paths = {}, {}
  local maps = assert(io.open("/proc/self/maps", "r"))
  for line in maps:lines() do
    -- " (deleted)": the file was rebuilt while this process runs; the
    -- mapping is still the one loaded from that path.
    local path = line:match("%s(/%S*/allawee/core%.so)$")
      or line:match("%s(/%S*/allawee/core%.so) %(deleted%)$")
    if path and not seen[path] then
      seen[path] = true
      paths[#paths + 1] = path
    end
  end
  maps:close()
  return paths
end

local function cwd()
  local p = assert(io.popen("pwd -P", "r"))
  local dir = p:read("*l")
  p:close()
  return dir
end

describe("the Lua running this suite", function()
  it("is the one ALLAWEE_EXPECT_LUA names", function()
    if EXPECTED == nil or EXPECTED == "" then
      pending("ALLAWEE_EXPECT_LUA is not set (make test-lua sets it); nothing to compare against")
      return
    end
    local valid = { ["5.1"] = true, ["5.2"] = true, ["5.3"] = true, ["5.4"] = true, luajit = true }
    assert(valid[EXPECTED], "ALLAWEE_EXPECT_LUA must be 5.1, 5.2, 5.3, 5.4 or luajit, got '" .. EXPECTED .. "'")
    if EXPECTED == "luajit" then
      assert(jit ~= nil, "ALLAWEE_EXPECT_LUA=luajit but this is " .. _VERSION .. " without jit")
      assert.equals("Lua 5.1", _VERSION)
    else
      assert(jit == nil, "ALLAWEE_EXPECT_LUA=" .. EXPECTED .. " but this is LuaJIT")
      assert.equals("Lua " .. EXPECTED, _VERSION)
    end
    assert.equals(EXPECTED, running_lua())
  end)

  it("has the number semantics of that Lua", function()
    if running_lua() == "5.1" or running_lua() == "luajit" or running_lua() == "5.2" then
      assert.is_nil(math.type)
      assert.equals(9007199254740992, 2 ^ 53)
    else
      assert.equals("integer", math.type(1))
      assert.equals("float", math.type(1.0))
      assert.equals(9223372036854775807, math.maxinteger)
    end
  end)
end)

describe("allawee.core", function()
  it("is loaded from ./build/<that Lua>/allawee/core.so", function()
    local want = running_lua()
    if EXPECTED ~= nil and EXPECTED ~= "" then want = EXPECTED end
    local paths = mapped_core_paths()
    assert.equals(1, #paths) -- one build only: two would mean mixed headers
    assert.equals(cwd() .. "/build/" .. want .. "/allawee/core.so", paths[1])
  end)

  it("reports its version and libcurl's", function()
    assert.equals("0.1.0", allawee.version)
    assert.equals("0.1.0", allawee._VERSION)
    assert.matches("^%d+%.%d+%.%d+", allawee.curl_version)
  end)
end)
