-- The README's examples that are marked for it (an HTML comment naming this
-- spec right above the code block) are run as written:
--   - the Lua block about a client's life, under Lua 5.4: every `print(...)`
--     line's output must be what its `--> ` comment says;
--   - every Lua block marked "runs this block against a sandbox" (customers,
--     client:request), under every Lua, with ALLAWEE_SECRET_KEY and
--     ALLAWEE_BASE_URL naming a fresh sandbox: the same `-->` rule;
--   - the complete C host: compiled with the command in its comment, then run
--     against the sandbox, it must create a customer.
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local ROOT = net.repo_root()
local q = net.shell_quote
local README = assert(net.read_file(ROOT .. "/README.md"))

-- The code block (```<lang> ... ```) right after a marker comment.
local function marked_block(marker, lang)
  local at = README:find(marker, 1, true)
  assert(at, "README.md has no block marked " .. marker)
  local code = README:match("^[^\n]*\n```" .. lang .. "\n(.-)\n```", at)
  assert(code, "no ```" .. lang .. " block right after " .. marker)
  return code
end

-- Every code block right after a marker comment.
local function marked_blocks(marker, lang)
  local out, at = {}, 1
  while true do
    at = README:find(marker, at, true)
    if not at then return out end
    local code = README:match("^[^\n]*\n```" .. lang .. "\n(.-)\n```", at)
    assert(code, "no ```" .. lang .. " block right after " .. marker)
    out[#out + 1] = code
    at = at + #marker
  end
end

-- What each `print(...)` line of a block says it prints.
local function expected_prints(code)
  local expected = {}
  for line in (code .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^%s*print%(") then
      expected[#expected + 1] = assert(line:match("%-%-> (.*)$"), "a print without -->: " .. line)
    end
  end
  return expected
end

local function lines(out)
  local got = {}
  for line in out:gmatch("[^\n]+") do got[#got + 1] = line end
  return got
end

local on_54 = F.build() == "5.4"

describe("README.md", function()
  local lua_it = on_54 and it or pending
  lua_it("the client's life (print(client), close, <close>) prints what it says", function()
    local code = marked_block("<!-- spec/readme_spec.lua runs this block and checks each", "lua")
    local expected = expected_prints(code)
    assert.is_true(#expected >= 4)
    local out = F.run_lua("local allawee = require 'allawee'\nlocal key = 'sk.test.canary-readme'\n" .. code)
    assert.are.same(expected, lines(out))
  end)

  it("the blocks run against a sandbox (customers, client:request) print what they say", function()
    local blocks = marked_blocks("<!-- spec/readme_spec.lua runs this block against a sandbox", "lua")
    assert.is_true(#blocks >= 2)
    local sb = S.start()
    local ok, problem = pcall(function()
      for _, code in ipairs(blocks) do
        local expected = expected_prints(code)
        assert.is_true(#expected >= 2)
        local out = F.run_lua("local allawee = require 'allawee'\n" .. code,
                              { ALLAWEE_SECRET_KEY = F.KEY, ALLAWEE_BASE_URL = sb.url })
        assert.are.same(expected, lines(out), out)
      end
    end)
    sb:stop()
    assert(ok, tostring(problem))
  end)

  local c_it = on_54 and it or pending
  c_it("the complete C host builds with its documented command and creates a customer", function()
    local code = marked_block("<!-- spec/readme_spec.lua compiles this program", "c")
    local cmd = code:match("host%.c:%s+(cc host%.c.-%-o host)\n")
    assert(cmd, "no `cc host.c ... -o host` command in the program's comment")
    cmd = cmd:gsub("\\\n%s*%*?%s*", " ")
    local out, code_ = net.capture(("cd %s && make --no-print-directory LUA=5.4 " ..
      "build/static-5.4/liballawee.a build/static-5.4/allawee.h"):format(q(ROOT)))
    assert.are.equal(0, code_, out)
    local dir = net.temp_dir("readme-host")
    net.write_file(dir .. "/host.c", code)
    local command = cmd:gsub("^cc host%.c", "cc " .. q(dir .. "/host.c"))
                       :gsub("%-o host$", "-o " .. q(dir .. "/host"))
    out, code_ = net.capture(("cd %s && %s"):format(q(ROOT), command))
    assert.are.equal(0, code_, command .. "\n" .. out)
    local sb = S.start()
    out, code_ = net.capture(("cd %s && env ALLAWEE_LUA_DIR=%s ALLAWEE_SECRET_KEY=%s ALLAWEE_BASE_URL=%s ./host")
      :format(q(dir), q(ROOT .. "/lua"), q(F.KEY), q(sb.url)))
    sb:stop()
    net.remove_temp_dir(dir)
    assert.are.equal(0, code_, out)
    assert.truthy(out:match("^created cus%.%w+\n$"), out)
  end)
end)
