-- .luacheckrc: what `make lint` (mk/lint.mk) asks of the Lua code, with
-- Debian's luacheck (lua-check). Zero warnings is the bar.

-- The library and its tests run on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT, and
-- feature-test what they use (math.type, utf8, jit, table.unpack): "max"
-- is the union of those standard libraries.
std = "max"
codes = true          -- show the warning codes, for precise inline ignores
max_line_length = 120

-- busted's describe/it/assert/spy/... in the specs.
files["spec/"] = { std = "max+busted" }

-- Runs inside nginx (OpenResty): the ngx API is a global there.
files["lua/allawee/openresty.lua"] = { std = "max+ngx_lua" }

-- Everything that is not ours or not Lua source.
exclude_files = { "build/", "dist/", ".git/" }

-- A wrk(1) script: wrk hands it the `wrk` table to fill in.
files["bench/wrk_post.lua"] = { globals = { "wrk" } }

-- LuaLS annotation stubs (---@meta): bodiless functions over declared
-- classes, never run; their doc lines may be long.
files["types/"] = { ignore = { "212", "241" }, max_line_length = false }

-- LÖVE games: the `love` table is theirs to fill in.
files["examples/love/"] = { globals = { "love" } }
files["spec/support/love/"] = { globals = { "love" } }
