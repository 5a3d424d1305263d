-- allawee-sandbox: a local double of the Allawee API for tests and demos
-- (lua/allawee/sandbox*.lua, bin/allawee-sandbox), on luasocket. Its own
-- rock so that the library rock (allawee) ships no test server. README.md,
-- LICENSE and CHANGELOG.md go to the rock's doc/ (LuaRocks' default).
--
--   luarocks --lua-version=5.4 make rockspec/allawee-sandbox-scm-1.rockspec
--   allawee-sandbox --port 8080
rockspec_format = "3.0"
package = "allawee-sandbox"
version = "scm-1"

source = {
  url = "git+https://github.com/allawee/allawee-lua.git",
}

description = {
  summary = "A local Allawee API double (customers, faults on demand) for tests",
  detailed = [[
Listens on 127.0.0.1, speaks HTTP/1.1 with keep-alive, validates bodies like
the service, answers 401/400/409/201 like it, and misbehaves on request
(status codes, delays, truncated or huge bodies, dropped connections) for
testing clients. Start it with `allawee-sandbox --port 0`.
]],
  homepage = "https://github.com/allawee/allawee-lua",
  license = "MIT",
  labels = { "testing", "mock", "http" },
}

supported_platforms = { "linux", "macosx", "bsd" }

dependencies = {
  "lua >= 5.1",
  "luasocket",
  "lua-cjson",
}

build = {
  type = "builtin",
  modules = {
    ["allawee.sandbox"] = "lua/allawee/sandbox.lua",
    ["allawee.sandbox.accounts"] = "lua/allawee/sandbox/accounts.lua",
    ["allawee.sandbox.authorizations"] = "lua/allawee/sandbox/authorizations.lua",
    ["allawee.sandbox.cards"] = "lua/allawee/sandbox/cards.lua",
    ["allawee.sandbox.customers"] = "lua/allawee/sandbox/customers.lua",
    ["allawee.sandbox.json"] = "lua/allawee/sandbox/json.lua",
    ["allawee.sandbox.lists"] = "lua/allawee/sandbox/lists.lua",
    ["allawee.sandbox.programs"] = "lua/allawee/sandbox/programs.lua",
    ["allawee.sandbox.requests"] = "lua/allawee/sandbox/requests.lua",
    ["allawee.sandbox.router"] = "lua/allawee/sandbox/router.lua",
    ["allawee.sandbox.sha512"] = "lua/allawee/sandbox/sha512.lua",
    ["allawee.sandbox.sha512_53"] = "lua/allawee/sandbox/sha512_53.lua",
    ["allawee.sandbox.store"] = "lua/allawee/sandbox/store.lua",
    ["allawee.sandbox.util"] = "lua/allawee/sandbox/util.lua",
    ["allawee.sandbox.webhooks"] = "lua/allawee/sandbox/webhooks.lua",
  },
  install = {
    bin = { ["allawee-sandbox"] = "bin/allawee-sandbox" },
  },
}
