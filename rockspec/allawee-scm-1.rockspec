-- allawee-lua: the Lua SDK for the Allawee banking and card-issuing API.
--
--   luarocks --lua-version=5.4 make rockspec/allawee-scm-1.rockspec   (a checkout)
--   make dist      dist/allawee-<v>-1.rockspec and .src.rock, made from this file
--
-- The C module (allawee.core) is a builtin build; the Lua files install as
-- they are. The local test double is its own rock (allawee-sandbox-scm-1).
-- The lists below are explicit (LuaRocks needs them): spec/packaging_spec.lua
-- fails when they differ from src/*.c and lua/**.lua.
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
are decoded with lua-cjson into Lua tables with clear error kinds. Lua 5.1,
LuaJIT, 5.2, 5.3, 5.4; OpenResty through cosockets. LuaLS annotations ship
in the rock's types/ directory.
]],
  homepage = "https://github.com/allawee/allawee-lua",
  license = "MIT",
  labels = { "api", "http", "libcurl", "payments", "openresty" },
}

-- POSIX only (pthreads; a random source from getrandom, arc4random_buf or
-- /dev/urandom). Tested on Linux; macOS and the BSDs are expected to work.
supported_platforms = { "linux", "macosx", "bsd" }

dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}

-- Found by its library. Missing development headers stop the compile with
-- what to install (src/internal.h); the header cannot be listed here, as
-- LuaRocks does not search multiarch include directories
-- (/usr/include/x86_64-linux-gnu/curl on Debian).
external_dependencies = {
  CURL = { library = "curl" },
}

build = {
  type = "builtin",
  modules = {
    ["allawee"] = "lua/allawee.lua",
    ["allawee.openresty"] = "lua/allawee/openresty.lua",
    ["allawee.core"] = {
      sources = {
        "src/boxed.c", "src/buffer.c", "src/call_api.c", "src/client.c",
        "src/codec_api.c", "src/config.c", "src/endpoints.c", "src/errors.c",
        "src/http_head.c", "src/json_decode.c", "src/json_encode.c", "src/module.c",
        "src/outcome.c", "src/policy.c", "src/prepare.c", "src/query.c",
        "src/random.c", "src/request.c", "src/response.c", "src/schema.c",
        "src/sha512.c", "src/transport.c", "src/url.c", "src/webhooks.c",
      },
      defines = { "_DEFAULT_SOURCE" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl", "pthread", "m" },
    },
  },
  -- docs/ for `luarocks doc allawee`, types/ for LuaLS (README, "Editor
  -- support"); the licence sits in the rock's conf/ directory.
  copy_directories = { "docs", "types" },
  install = {
    conf = { ["LICENSE"] = "LICENSE" },
  },
}
