-- Packaging: the rockspecs' explicit lists against the tree, the licence,
-- exported symbols, `make install`, the Makefile's and the compiler's
-- messages when Lua or libcurl is missing, and tools/install-deps' refusal
-- to remove packages. (`luarocks install` itself: tools/rocks-install-check.)
local net = require "support.net"
local F = require "support.fixtures"

local ROOT = net.repo_root()
local q = net.shell_quote

local function sh(cmd)
  local out, code = net.capture("cd " .. q(ROOT) .. " && " .. cmd)
  return out, code
end

-- A rockspec is Lua assignments: run it in an empty environment.
local function load_rockspec(path)
  local f = assert(io.open(ROOT .. "/" .. path, "r"))
  local text = f:read("*a")
  f:close()
  local env = {}
  local chunk = assert((loadstring or load)(text, "=" .. path, "t", env))
  if setfenv then setfenv(chunk, env) end
  chunk()
  return env
end

local function lines(cmd)
  local out = {}
  for line in sh(cmd):gmatch("[^\n]+") do out[#out + 1] = line end
  table.sort(out)
  return out
end

local function sorted(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function is_sandbox(file)
  return file == "lua/allawee/sandbox.lua" or file:find("^lua/allawee/sandbox/") ~= nil
end

-- The .lua files a rockspec's build.modules installs, and its C sources.
local function rock_files(spec)
  local lua_files, c_files = {}, {}
  for name, src in pairs(spec.build.modules) do
    if type(src) == "string" then
      assert.are.equal("lua/" .. name:gsub("%.", "/") .. ".lua", src,
                       spec.package .. ": module " .. name .. " must come from its path")
      lua_files[src] = true
    else
      for _, c in ipairs(src.sources) do c_files[c] = true end
    end
  end
  return lua_files, c_files
end

describe("packaging", function()
  local lib = load_rockspec("rockspec/allawee-scm-1.rockspec")
  local sandbox = load_rockspec("rockspec/allawee-sandbox-scm-1.rockspec")

  describe("rockspec lists (the lead updates them when files are added)", function()
    it("the library rock compiles exactly src/*.c", function()
      local _, c_files = rock_files(lib)
      assert.are.same(lines("ls src/*.c"), sorted(c_files),
        "rockspec/allawee-scm-1.rockspec's allawee.core sources differ from src/*.c")
    end)

    it("every library Lua module is in the library rock, no sandbox file is", function()
      local lua_files = rock_files(lib)
      local want = {}
      for _, file in ipairs(lines("find lua -name '*.lua'")) do
        if not is_sandbox(file) then want[#want + 1] = file end
      end
      assert.are.same(want, sorted(lua_files),
        "rockspec/allawee-scm-1.rockspec's Lua modules differ from lua/ (sandbox excluded)")
      assert.is_nil((lib.build.install or {}).bin, "the library rock installs no program")
    end)

    it("the sandbox rock has every lua/allawee/sandbox* file and its launcher, nothing else", function()
      local lua_files, c_files = rock_files(sandbox)
      local want = {}
      for _, file in ipairs(lines("find lua -name '*.lua'")) do
        if is_sandbox(file) then want[#want + 1] = file end
      end
      assert.is_true(#want >= 1)
      assert.are.same(want, sorted(lua_files),
        "rockspec/allawee-sandbox-scm-1.rockspec's modules differ from lua/allawee/sandbox*")
      assert.are.same({}, sorted(c_files))
      assert.are.same({ ["allawee-sandbox"] = "bin/allawee-sandbox" }, sandbox.build.install.bin)
    end)

    it("declares what each rock needs: luasocket for the sandbox only", function()
      local function deps(spec)
        local out = {}
        for _, d in ipairs(spec.dependencies) do out[d:match("^[%w%-_]+")] = true end
        return out
      end
      assert.are.same({ lua = true, ["lua-cjson"] = true }, deps(lib))
      assert.are.same({ lua = true, luasocket = true, ["lua-cjson"] = true }, deps(sandbox))
      assert.are.same({ CURL = { library = "curl" } }, lib.external_dependencies)
    end)

    it("says MIT and the platforms it supports, and ships the licence and types", function()
      for _, spec in ipairs{ lib, sandbox } do
        assert.are.equal("MIT", spec.description.license)
        assert.are.same({ "linux", "macosx", "bsd" }, spec.supported_platforms)
      end
      assert.are.same({ LICENSE = "LICENSE" }, lib.build.install.conf)
      assert.are.same({ "docs", "types" }, lib.build.copy_directories)
      local license = assert(net.read_file(ROOT .. "/LICENSE"))
      assert.truthy(license:find("^MIT License\n"))
      assert.truthy(license:find("Permission is hereby granted, free of charge", 1, true))
      local readme = assert(net.read_file(ROOT .. "/README.md"))
      assert.truthy(readme:find("[MIT](LICENSE)", 1, true), "the README names the licence")
    end)

    it("make dist turns them into release rockspecs that luarocks lint accepts", function()
      local out, code = sh("tools/release-rockspec rockspec/allawee-scm-1.rockspec 9.8.7 " ..
                           "https://example.invalid/allawee-9.8.7.tar.gz allawee-9.8.7")
      assert.are.equal(0, code, out)
      local tmp = net.temp_dir("rockspec")
      net.write_file(tmp .. "/allawee-9.8.7-1.rockspec", out)
      local lint, lcode = net.capture("luarocks lint " .. q(tmp .. "/allawee-9.8.7-1.rockspec"))
      net.remove_temp_dir(tmp)
      assert.are.equal(0, lcode, lint)
      assert.truthy(out:find('\nversion = "9.8.7-1"\n', 1, true))
      assert.truthy(out:find('url = "https://example.invalid/allawee-9.8.7.tar.gz"', 1, true))
    end)
  end)

  describe("the shared object", function()
    it("exports exactly one symbol, luaopen_allawee_core (visibility is in the code)", function()
      local so = ROOT .. "/build/" .. F.build() .. "/allawee/core.so"
      local out, code = net.capture("nm -D --defined-only " .. q(so))
      assert.are.equal(0, code, out)
      local symbols = {}
      for name in out:gmatch("%x+ %a ([%w_]+)") do symbols[#symbols + 1] = name end
      assert.are.same({ "luaopen_allawee_core" }, symbols)
    end)
  end)

  describe("make install", function()
    it("installs the library (no sandbox) under DESTDIR/PREFIX, loadable; uninstall removes it", function()
      local dest = net.temp_dir("install")
      local lua = F.build()
      local v = lua == "luajit" and "5.1" or lua
      local out, code = sh(("make --no-print-directory install LUA=%s DESTDIR=%s PREFIX=/usr"):format(lua, q(dest)))
      assert.are.equal(0, code, out)
      local files = lines("cd " .. q(dest) .. " && find . -type f")
      assert.are.same({
        "./usr/lib/lua/" .. v .. "/allawee/core.so",
        "./usr/share/allawee-lua/types/allawee.lua",
        "./usr/share/allawee-lua/types/allawee.openresty.lua",
        "./usr/share/lua/" .. v .. "/allawee.lua",
        "./usr/share/lua/" .. v .. "/allawee/openresty.lua",
      }, files)
      -- The installed copy loads from there alone (Debian's cjson beside it).
      local probe = ("package.path = %q; package.cpath = %q .. ';' .. package.cpath; " ..
                     "local a = require 'allawee'; print(a.version, package.loaded['allawee.core'] ~= nil)")
        :format(dest .. "/usr/share/lua/" .. v .. "/?.lua", dest .. "/usr/lib/lua/" .. v .. "/?.so")
      local loaded = net.capture(F.interpreter() .. " -e " .. q(probe))
      assert.truthy(loaded:find("^%d+%.%d+%.%d+\ttrue"), loaded)
      out, code = sh(("make --no-print-directory uninstall LUA=%s DESTDIR=%s PREFIX=/usr"):format(lua, q(dest)))
      assert.are.equal(0, code, out)
      assert.are.same({}, lines("cd " .. q(dest) .. " && find . -type f"))
      out, code = sh(("make --no-print-directory install-sandbox LUA=%s DESTDIR=%s PREFIX=/usr"):format(lua, q(dest)))
      assert.are.equal(0, code, out)
      assert.are.same({ "./usr/bin/allawee-sandbox", "./usr/share/lua/" .. v .. "/allawee/sandbox.lua" },
                      lines("cd " .. q(dest) .. " && find . -type f ! -path './usr/share/lua/*/allawee/sandbox/*'"))
      net.remove_temp_dir(dest)
    end)
  end)

  describe("missing build dependencies are named, with what to install", function()
    local function make(args, env)
      local tmp = net.temp_dir("mkerr")
      local out, code = sh(("%s make --no-print-directory BUILD=%s %s 2>&1")
        :format(env or "", q(tmp .. "/b"), args))
      net.remove_temp_dir(tmp)
      return out, code
    end

    it("an unknown Lua version", function()
      local out, code = make("LUA=5.9")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("Lua 5.9's development files were not found", 1, true), out)
    end)

    it("no Lua known to pkg-config", function()
      local out, code = make("LUA=5.4", "PKG_CONFIG_LIBDIR=/nonexistent")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("apt-get install liblua5.4-dev pkg-config", 1, true), out)
      assert.truthy(out:find("LUA_INCDIR=", 1, true), out)
    end)

    it("a LUA_INCDIR holding another Lua's lua.h", function()
      local out, code = make("LUA=5.4 LUA_INCDIR=/usr/include/lua5.1")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("is not Lua 5.4's (LUA_VERSION_NUM 501, expected 504)", 1, true), out)
    end)

    it("libcurl's development files", function()
      local out, code = make("LUA=5.4 LUA_INCDIR=/usr/include/lua5.4", "PKG_CONFIG_LIBDIR=/nonexistent")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("libcurl's development files were not found", 1, true), out)
      assert.truthy(out:find("apt-get install libcurl4-openssl-dev", 1, true), out)
      out, code = make("LUA=5.4 CURL_INCDIR=/nonexistent")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("no curl/curl.h under CURL_INCDIR=/nonexistent", 1, true), out)
    end)

    -- The headers really gone, for the compiler and for LuaRocks: a private
    -- mount namespace (root) with an empty directory over curl's.
    local curl_dir = (sh("printf '#include <curl/curl.h>\\n' | cc -M -x c - 2>/dev/null") or "")
      :match("(/%S+)/curl%.h")
    local can_hide = curl_dir and sh("id -u"):match("^0") and select(2, sh("unshare -m true")) == 0
    local function without_curl_headers(cmd)
      local empty = net.temp_dir("nocurl")
      local out, code = sh(("unshare -m sh -c %s 2>&1"):format(q(
        ("mount --bind %s %s && %s"):format(q(empty), q(curl_dir), cmd))))
      net.remove_temp_dir(empty)
      return out, code
    end

    local hidden_it = can_hide and it or function(name)
      pending(name .. " (needs root and a private mount namespace: unshare -m fails here, e.g. in a chroot)")
    end
    hidden_it("the compiler says what to install instead of 'curl/curl.h: No such file'", function()
      local out, code = without_curl_headers(
        "cc -std=c99 -D_DEFAULT_SOURCE $(pkg-config --cflags lua5.4) -c src/buffer.c -o /dev/null")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("libcurl's development headers (curl/curl.h) are not installed", 1, true), out)
      assert.truthy(out:find("apt-get install libcurl4-openssl-dev", 1, true), out)
      assert.is_nil(out:find("unknown type name", 1, true), "a cascade of errors follows: " .. out)
    end)

    hidden_it("so does luarocks make", function()
      local work = net.temp_dir("nocurlrock")
      net.run(("cp -r src lua rockspec docs types LICENSE %s/"):format(q(work)))
      local out, code = without_curl_headers(("cd %s && luarocks --lua-version=5.4 make --deps-mode=none " ..
        "--tree %s rockspec/allawee-scm-1.rockspec"):format(q(work), q(work .. "/tree")))
      net.remove_temp_dir(work)
      assert.are_not.equal(0, code)
      assert.truthy(out:find("apt-get install libcurl4-openssl-dev", 1, true), out)
    end)
  end)

  describe("tools/install-deps", function()
    it("--check lists what is missing, installs nothing, and fails", function()
      local out, code = sh("tools/install-deps --check lua5.4 allawee-no-such-package 2>&1")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("missing Debian packages (make check installs nothing): allawee-no-such-package",
                             1, true), out)
    end)

    it("takes alternatives: 'a|b' is satisfied by either", function()
      local out, code = sh("tools/install-deps --check 'allawee-no-such-package|lua5.4' 2>&1")
      assert.are.equal(0, code, out)
    end)

    -- Whichever LuaJIT pair this machine has, asking for the other one must
    -- stop before apt removes anything (apt's own simulation decides).
    local has_luajit2 = select(2, sh("dpkg-query -W -f='${Status}' luajit2 | grep -q 'install ok'")) == 0
    local has_luajit = select(2, sh("dpkg-query -W -f='${Status}' luajit | grep -q 'install ok'")) == 0
    local other = has_luajit2 and "luajit" or has_luajit and "luajit2" or nil
    local conflict_it = other and it or pending
    conflict_it("refuses a conflicting package (luajit vs luajit2) and explains", function()
      local out, code = sh("tools/install-deps --dry-run " .. other .. " 2>&1")
      assert.are_not.equal(0, code)
      assert.truthy(out:find("would REMOVE installed packages:", 1, true), out)
      assert.truthy(out:find(other == "luajit" and "luajit2" or "luajit", 1, true), out)
      assert.truthy(out:find("Debian has two LuaJIT packages that cannot be installed together", 1, true), out)
      assert.truthy(out:find("Nothing was changed", 1, true), out)
      -- and nothing was: the installed pair is still there
      assert.are.equal(0, select(2, sh("dpkg-query -W -f='${Status}' " ..
        (has_luajit2 and "luajit2" or "luajit") .. " | grep -q 'install ok'")))
    end)
  end)
end)
