--[[
What docs/openresty.md, the README's OpenResty section and examples/openresty
tell nginx users, checked against Debian's nginx (lua-nginx-module on
OpenResty's LuaJIT):

- a module built for Lua 5.1 by LuaRocks (`luarocks --lua-version=5.1
  install allawee`, into /usr/local) loads and works with no
  lua_package_path/lua_package_cpath at all;
- Debian's /etc/nginx/nginx.conf already loads the ndk and lua modules:
  with examples/openresty/allawee.conf it passes `nginx -t`, and the
  load_module lines of a standalone config break it;
- cosockets resolve names with `resolver` only: a create by host name works
  with the resolver naming a DNS server, and fails naming the directive
  without one; README, docs and examples give the same resolver line;
- a cosocket timeout is an [error] line in error.log unless
  `lua_socket_log_errors off` (the create returns the same err either way);
- examples/openresty/nginx.conf prints large integers as digits;
- types/allawee.openresty.lua names what the module has in nginx, both ways.
]]
local S = require "support.sandbox"
local N = require "support.nginx"
local net = require "support.net"
local L = require "support.luals"
local json = require("cjson").new()   -- private: never touch the shared cjson settings

local available, why = N.available()
if not available and os.getenv("ALLAWEE_REQUIRE_OPENRESTY") ~= "1" then
  describe("OpenResty docs", function()
    pending("skipped: " .. why .. " (`make test-openresty` installs and builds it)")
  end)
  return
end

local KEY = "sk.test.SECRET-ordocs-canary-5678"
local ROOT = N.repo
local q = net.shell_quote
local counter = 0
local function ref()
  counter = counter + 1
  return ("ordocs-%d-%d-%d@example.com"):format(os.time(), math.random(1e6), counter)
end

local function read(path) return assert(net.read_file(ROOT .. "/" .. path)) end

local is_root = net.capture("id -u"):match("^0") ~= nil
local can_unshare = is_root and select(2, net.capture("unshare -m true")) == 0

-- One create from a content_by_lua location, answered as JSON.
local CREATE_LOCATION = [[
    location = /create {
      %s
      content_by_lua_block {
        local allawee = require "allawee.openresty"
        local args = ngx.req.get_uri_args()
        local client = allawee.new{ secret_key = "%s", base_url = args.base_url,
                                    timeout = tonumber(args.timeout) or 5, max_retries = 0 }
        local data, err = client.customers.create{ name = "Docs", reference = args.ref,
          type = "individual", claims = {}, verifications = { "tier-1" }, metadata = {} }
        local core_file = package.searchpath("allawee.core", package.cpath)
        ngx.say(require("cjson").encode{ id = data and data.id, kind = err and err.kind,
          code = err and err.code, message = err and err.message, core = core_file,
          path = package.path, cpath = package.cpath })
      }
    }
]]

-- support.sandbox's reader leaves a chunked body as it came.
local function dechunk(resp)
  if resp.headers["transfer-encoding"] ~= "chunked" then return resp.body end
  local out, pos = {}, 1
  while true do
    local size, after = resp.body:match("^(%x+)[^\r\n]*\r\n()", pos)
    size = tonumber(size, 16)
    if not size or size == 0 then return table.concat(out) end
    out[#out + 1] = resp.body:sub(after, after + size - 1)
    pos = after + size + 2
  end
end

local function get(srv, path)
  local resp = assert(S.request(srv.url, "GET", path, nil, nil, 30))
  local body = dechunk(resp)
  assert.are.equal(200, resp.status, body)
  return json.decode(body)
end

local function urlencode(s)
  return (s:gsub("[^%w%-_.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

describe("OpenResty docs, verified in Debian's nginx", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)

  local root_it = can_unshare and it or function(name)
    pending(name .. " (needs root and a private mount namespace: unshare -m fails here, e.g. in a chroot)")
  end
  root_it("a LuaRocks Lua 5.1 build in /usr/local loads and works with no path directives", function()
    -- luarocks --lua-version=5.1 make, from a copy of the sources, into a
    -- tree laid out like /usr/local (LuaRocks' system tree)...
    local work = net.temp_dir("or51")
    net.run(("cp -r %s/src %s/lua %s/rockspec %s/docs %s/types %s/LICENSE %s/"):format(
      q(ROOT), q(ROOT), q(ROOT), q(ROOT), q(ROOT), q(ROOT), q(work)))
    local out, code = net.capture(("cd %s && luarocks --lua-version=5.1 make --deps-mode=none " ..
      "--tree %s rockspec/allawee-scm-1.rockspec"):format(q(work), q(work .. "/tree")))
    assert.are.equal(0, code, out)
    net.run("chmod -R a+rX " .. q(work))          -- the worker runs as nobody
    -- ...mounted over /usr/local in nginx's own mount namespace only.
    local port = net.free_port()
    local srv = N.start{
      port = port,
      -- (cd /: nginx's default cpath starts with ./?.so)
      wrap = ("unshare -m sh -c %s"):format(q(("mount --bind %s /usr/local && cd / && exec \"$0\" \"$@\"")
        :format(q(work .. "/tree")))),
      conf = table.concat({
        "load_module /usr/lib/nginx/modules/ndk_http_module.so;",
        "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;",
        "daemon off; master_process on; worker_processes 1;",
        "error_log ${prefix}/logs/error.log info; pid ${prefix}/logs/nginx.pid;",
        "events { worker_connections 64; }",
        "http {",
        "  access_log off; client_body_temp_path ${prefix}/tmp/body;",
        "  server {",
        "    listen 127.0.0.1:" .. port .. ";",
        CREATE_LOCATION:format("", KEY),
        "  }",
        "}",
      }, "\n"),
    }
    local ok, problem = pcall(function()
      local r = get(srv, "/create?base_url=" .. urlencode(sb.url) .. "&ref=" .. urlencode(ref()))
      assert.is_nil(r.kind, r.message)
      assert.truthy(r.id:match("^cus%."))
      assert.are.equal("/usr/local/lib/lua/5.1/allawee/core.so", r.core)
      assert.truthy(r.path:find("/usr/local/share/lua/5.1/?.lua", 1, true), r.path)
      assert.truthy(r.cpath:find("/usr/local/lib/lua/5.1/?.so", 1, true), r.cpath)
    end)
    local log = srv:error_log()
    srv:stop()
    net.remove_temp_dir(work)
    assert(ok, tostring(problem) .. "\n" .. log)
  end)

  it("Debian's nginx.conf takes examples/openresty/allawee.conf; load_module lines there break it", function()
    local debian = assert(net.read_file("/etc/nginx/nginx.conf"))
    if not debian:find("include /etc/nginx/modules%-enabled/%*%.conf;") then
      return pending("this /etc/nginx/nginx.conf does not include modules-enabled")
    end
    local dir = net.temp_dir("debconf")
    local function conf(extra_main)
      local text = ("%senv ALLAWEE_SECRET_KEY;\n"):format(extra_main) ..
        debian:gsub("include /etc/nginx/conf%.d/%*%.conf;",
          ('lua_package_path "%s/lua/?.lua;;"; lua_package_cpath "%s/build/luajit/?.so;;"; ' ..
           "include %s/examples/openresty/allawee.conf;"):format(ROOT, ROOT, ROOT))
          :gsub("include /etc/nginx/sites%-enabled/%*;", "")
      net.write_file(dir .. "/nginx.conf", text)
      return net.capture(("env ALLAWEE_SECRET_KEY=%s nginx -t -c %s 2>&1"):format(q(KEY), q(dir .. "/nginx.conf")))
    end
    local out, code = conf("")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("test is successful", 1, true), out)
    -- The standalone example's two lines, added to Debian's configuration:
    local example = read("examples/openresty/nginx.conf")
    local lines = {}
    for line in example:gmatch("\n(load_module [^\n]+)") do lines[#lines + 1] = line end
    assert.are.equal(2, #lines)
    out, code = conf(table.concat(lines, "\n") .. "\n")
    net.remove_temp_dir(dir)
    assert.are_not.equal(0, code)
    assert.truthy(out:find('module "ndk_http_module" is already loaded', 1, true), out)
  end)

  it("README, docs/openresty.md and both examples give the same resolver advice", function()
    local line = "resolver 192.0.2.53 ipv6=off;"
    for _, file in ipairs{ "README.md", "docs/openresty.md", "examples/openresty/nginx.conf",
                           "examples/openresty/allawee.conf" } do
      local text = read(file)
      assert.truthy(text:find(line, 1, true), file .. " lacks `" .. line .. "`")
      assert.truthy(text:find("/etc/resolv.conf", 1, true), file .. " does not say where the server is")
      for other in text:gmatch("resolver ([%d%.:]+)") do
        assert.are.equal("192.0.2.53", other, file .. " names another resolver")
      end
    end
  end)

  it("cosockets resolve names through `resolver` only: with it a create by name works", function()
    -- A CA, a certificate for api.allawee.test, a TLS server in front of the
    -- sandbox, and a DNS server on loopback that knows allawee.test.
    local pki = net.temp_dir("orpki")
    local function ssl(cmd) net.run("cd " .. q(pki) .. " && openssl " .. cmd) end
    ssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key " ..
        "-out ca.crt -days 2 -subj /CN=docs-ca -addext basicConstraints=critical,CA:TRUE " ..
        "-addext keyUsage=critical,keyCertSign,cRLSign")
    net.write_file(pki .. "/ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" ..
                   "subjectAltName=DNS:api.allawee.test\n")
    ssl("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr " ..
        "-subj /CN=api.allawee.test")
    ssl("x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext")
    net.run("chmod -R a+rX " .. q(pki))
    local dns_log = pki .. "/dns.log"
    local dns_pid, dns_proc = net.spawn(("lua5.4 %s/spec/support/dns_server.lua allawee.test 127.0.0.1 0 2>%s")
      :format(q(ROOT), q(dns_log)))
    local dns_port = (dns_proc:read("*l") or ""):match("^dns%-server 127%.0%.0%.1:(%d+)")
    assert(dns_port, "the DNS server did not start")
    local tls_port = net.free_port()
    local srv = N.start{
      http = ("lua_ssl_trusted_certificate %s/ca.crt;\n"):format(pki) ..
        ("server { listen 127.0.0.1:%d ssl; ssl_certificate %s/srv.crt; ssl_certificate_key %s/srv.key;\n" ..
         "  location / { proxy_pass %s; } }"):format(tls_port, pki, pki, sb.url),
      server = CREATE_LOCATION:format(("resolver 127.0.0.1:%s ipv6=off;"):format(dns_port), KEY) ..
        CREATE_LOCATION:gsub("location = /create", "location = /create-no-resolver"):format("", KEY),
    }
    local ok, problem = pcall(function()
      local base = urlencode(("https://api.allawee.test:%d"):format(tls_port))
      -- Without a resolver first: afterwards a pooled connection would be
      -- reused, and the pool is looked up before any name is resolved.
      local r = get(srv, "/create-no-resolver?base_url=" .. base .. "&ref=" .. urlencode(ref()))
      assert.are.equal("connection", r.kind)
      assert.are.equal("CURLE_COULDNT_RESOLVE_HOST", r.code)
      assert.truthy(r.message:find("resolver", 1, true), r.message)
      assert.are.equal("", net.read_file(dns_log), "asked a DNS server without a resolver")
      r = get(srv, "/create?base_url=" .. base .. "&ref=" .. urlencode(ref()))
      assert.is_nil(r.kind, r.message)
      assert.truthy(r.id:match("^cus%."))
      assert.truthy(assert(net.read_file(dns_log)):find("1 api.allawee.test", 1, true),
                    "nginx did not ask the resolver")
    end)
    local log = srv:error_log()
    srv:stop()
    os.execute("kill " .. dns_pid .. " 2>/dev/null")
    dns_proc:close()
    net.remove_temp_dir(pki)
    assert(ok, tostring(problem) .. "\n" .. log)
  end)

  it("a timeout is an [error] line unless lua_socket_log_errors off; the create's err is the same", function()
    local srv = N.start{
      server = CREATE_LOCATION:format("", KEY) ..
        CREATE_LOCATION:gsub("location = /create", "location = /create-quiet")
          :format("lua_socket_log_errors off;", KEY),
    }
    local ok, problem = pcall(function()
      local slow = urlencode(S.scenario_url(sb, "delay=2000"))
      local function timeouts() return select(2, srv:error_log():gsub("%[error%][^\n]*timed out", "")) end
      local r = get(srv, "/create?timeout=0.2&base_url=" .. slow .. "&ref=" .. urlencode(ref()))
      assert.are.equal("timeout", r.kind)
      local after_default = timeouts()
      assert.is_true(after_default >= 1, "no [error] line for the timeout")
      r = get(srv, "/create-quiet?timeout=0.2&base_url=" .. slow .. "&ref=" .. urlencode(ref()))
      assert.are.equal("timeout", r.kind)
      assert.are.equal("CURLE_OPERATION_TIMEDOUT", r.code)
      assert.are.equal(after_default, timeouts(), "lua_socket_log_errors off still logged it")
    end)
    local log = srv:error_log()
    srv:stop()
    assert(ok, tostring(problem) .. "\n" .. log)
    assert.is_nil(log:find(KEY, 1, true))
  end)

  it("examples/openresty/nginx.conf answers with large integers as digits", function()
    local port = net.free_port()
    local conf = read("examples/openresty/nginx.conf")
      :gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
      :gsub("\npid [^;]+;", "\npid ${prefix}/logs/nginx.pid;")
    local ex = N.start{ conf = conf, port = port, nginx_prefix = ROOT,
                        env = { ALLAWEE_SECRET_KEY = KEY, ALLAWEE_BASE_URL = sb.url } }
    local ok, problem = pcall(function()
      -- Written by hand: this Lua's cjson would send 1.2345678901235e+15 itself.
      local body = ('{"name":"Big","reference":"%s","type":"individual","claims":{},' ..
                    '"verifications":["tier-1"],"metadata":{"userId":1234567890123456,' ..
                    '"limit":9007199254740992}}'):format(ref())
      local resp = assert(S.request(ex.url, "POST", "/customers",
                                    { ["Content-Type"] = "application/json" }, body, 30))
      local text = dechunk(resp)
      assert.are.equal(201, resp.status, text)
      assert.truthy(text:find('"userId":1234567890123456', 1, true), text)
      assert.truthy(text:find('"limit":9007199254740992', 1, true), text)
      assert.is_nil(text:find("e+15", 1, true), text)
    end)
    local log = ex:stdout_log()
    ex:stop()
    assert(ok, tostring(problem) .. "\n" .. log)
  end)

  it("types/allawee.openresty.lua names what the module has in nginx, both ways", function()
    local classes = L.parse{ ROOT .. "/types/allawee.lua", ROOT .. "/types/allawee.openresty.lua" }
    -- In the worker: the module's names; the client's methods (its
    -- metatable) and resource tables, every resource of the endpoint table
    -- touched first; each resource's functions; the webhooks table; and
    -- the meta and err of real calls (a create, a list, a 409).
    local srv = N.start{ server = ([[
    location = /names {
      content_by_lua_block {
        local M = require "allawee.openresty"
        local core = require "allawee.core"
        local args = ngx.req.get_uri_args()
        local client = M.new{ secret_key = "%s", base_url = args.base_url, max_retries = 0 }
        local function keys(t)
          local o = {}
          for k in pairs(t) do if type(k) == "string" then o[#o + 1] = k end end
          return o
        end
        local function is_resource(v)
          if type(v) ~= "table" or next(v) == nil then return false end
          for _, f in pairs(v) do if type(f) ~= "function" then return false end end
          return true
        end
        local names, resources, wanted = {}, {}, {}
        for name in pairs(core.endpoints()) do
          local r = name:match("^([%%w_]+)%%.")
          wanted[r] = true
          local _ = client[r]
        end
        for k, v in pairs(getmetatable(client).__index) do
          if type(v) == "function" and not k:match("^__") then names[#names + 1] = k end
        end
        for k, v in pairs(client) do
          if is_resource(v) then names[#names + 1] = k; resources[k] = keys(v) end
        end
        local metas, errs = {}, {}
        local ref = "ortypes-" .. ngx.now() .. "-" .. math.random(1e9)
        local p = { name = "Types", reference = ref, type = "individual" }
        local _, err, meta = client.customers.create(p)
        metas[#metas + 1] = meta and keys(meta)
        _, err, meta = client.customers.list{ limit = 1, page = 0 }
        metas[#metas + 1] = meta and keys(meta)
        _, err = client.customers.create(p)
        errs[#errs + 1] = err and keys(err)
        ngx.say(require("cjson").encode{ module = keys(M), client = names, resources = resources,
          webhooks = keys(M.webhooks), wanted = keys(wanted), metas = metas, errs = errs,
          conflict = err and err.kind })
      }
    }]]):format(KEY) }
    local ok, problem = pcall(function()
      local r = get(srv, "/names?base_url=" .. urlencode(sb.url))
      local function diff(live, class, what)
        local p = L.diff(live, classes[class], what)
        assert(p == nil, p)
      end
      diff(r.module, "allawee.openresty", "require 'allawee.openresty'")
      diff(r.client, "allawee.openresty.Client", "a client (methods and resources)")
      diff(r.webhooks, "allawee.Webhooks", "require('allawee.openresty').webhooks")
      local n = 0
      for _, resource in ipairs(r.wanted) do
        local field = classes["allawee.openresty.Client"].members[resource]
        assert(field, "allawee.openresty.Client has no ---@field " .. resource)
        diff(r.resources[resource], field.type, "client." .. resource)
        n = n + 1
      end
      assert.is_true(n >= 5)
      -- meta and err of real calls in nginx: every field annotated
      assert.are.equal("conflict", r.conflict)
      for _, pair in ipairs{ { r.metas, "allawee.Meta" }, { r.errs, "allawee.Error" } } do
        assert.are.equal(pair[1] == r.metas and 2 or 1, #pair[1])
        for _, live in ipairs(pair[1]) do
          for _, name in ipairs(live) do
            assert(classes[pair[2]].members[name], pair[2] .. " does not annotate " .. name ..
                   ", which a call in nginx returned")
          end
        end
      end
    end)
    srv:stop()
    assert(ok, tostring(problem))
  end)
end)
