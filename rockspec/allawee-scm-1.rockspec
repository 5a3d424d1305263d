-- allawee-lua: the Lua SDK for the Allawee banking and card-issuing API.
-- `luarocks make rockspec/allawee-scm-1.rockspec` from a checkout builds the
-- C module (allawee.core) with the builtin backend and installs the Lua files.
rockspec_format = "3.0"
package = "allawee"
version = "scm-1"

source = {
  url = "git+https://github.com/allawee/allawee-lua.git",
}

description = {
  summary = "Allawee API client: customers.create in C on libcurl",
  detailed = [[
Creates Allawee customers from Lua tables. The request body is encoded and
validated in C (exact 64-bit integers, deterministic output), the HTTP call
runs on libcurl's multi interface (blocking or non-blocking), and responses
are decoded with lua-cjson into Lua tables with clear error kinds.
]],
  homepage = "https://github.com/allawee/allawee-lua",
  license = "MIT",
}

dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}

external_dependencies = {
  CURL = { library = "curl" },
}

build = {
  type = "builtin",
  modules = {
    ["allawee"] = "lua/allawee.lua",
    ["allawee.sandbox"] = "lua/allawee/sandbox.lua",
    ["allawee.sandbox.json"] = "lua/allawee/sandbox/json.lua",
    ["allawee.sandbox.util"] = "lua/allawee/sandbox/util.lua",
    ["allawee.sandbox.store"] = "lua/allawee/sandbox/store.lua",
    ["allawee.sandbox.lists"] = "lua/allawee/sandbox/lists.lua",
    ["allawee.sandbox.router"] = "lua/allawee/sandbox/router.lua",
    ["allawee.sandbox.customers"] = "lua/allawee/sandbox/customers.lua",
    ["allawee.sandbox.accounts"] = "lua/allawee/sandbox/accounts.lua",
    ["allawee.sandbox.programs"] = "lua/allawee/sandbox/programs.lua",
    ["allawee.sandbox.cards"] = "lua/allawee/sandbox/cards.lua",
    ["allawee.sandbox.authorizations"] = "lua/allawee/sandbox/authorizations.lua",
    ["allawee.sandbox.requests"] = "lua/allawee/sandbox/requests.lua",
    ["allawee.sandbox.webhooks"] = "lua/allawee/sandbox/webhooks.lua",
    ["allawee.sandbox.sha512"] = "lua/allawee/sandbox/sha512.lua",
    ["allawee.sandbox.sha512_53"] = "lua/allawee/sandbox/sha512_53.lua",
    ["allawee.openresty"] = "lua/allawee/openresty.lua",
    ["allawee.core"] = {
      sources = {
        "src/buffer.c", "src/schema.c", "src/json_encode.c", "src/errors.c",
        "src/random.c", "src/transport.c", "src/response.c", "src/request.c",
        "src/options.c", "src/client.c", "src/codec_api.c", "src/module.c",
        "src/sha512.c", "src/webhooks.c",
      },
      defines = { "_DEFAULT_SOURCE" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl", "pthread", "m" },
    },
  },
  install = {
    bin = { ["allawee-sandbox"] = "bin/allawee-sandbox" },
  },
}
