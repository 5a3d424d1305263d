--[[
allawee.openresty inside a real nginx (Debian's nginx + lua-nginx-module on
LuaJIT), driven over loopback HTTP from this busted process:

  busted (lua5.4) --HTTP--> nginx, 1 worker --cosocket--> allawee-sandbox
                                          \--TLS--> nginx TLS servers --proxy--> sandbox

The nginx side runs a small test app (APP below) whose locations create
customers and answer with { data, err, meta } as JSON. The spec also runs the
libcurl client (require "allawee") here, against the same sandbox scenarios,
to check that both clients give the same values and error kinds.
]]

local socket = require "socket"
local S = require "support.sandbox"
local N = require "support.nginx"
local C = require "support.canned"
local net = require "support.net"
local json = require("cjson").new()   -- private: never touch the shared cjson settings

local available, why = N.available()
if not available and os.getenv("ALLAWEE_REQUIRE_OPENRESTY") ~= "1" then
  describe("allawee.openresty", function()
    pending("skipped: " .. why .. " (`make test-openresty` installs and builds it)")
  end)
  return
end

local KEY = "sk.test.SECRET-openresty-canary-9876"
local TAG = ("%d%d"):format(os.time(), math.random(100000, 999999))

-- The customer both sides send: one source, loaded here and in nginx.
local CUSTOMER_SRC = [[
return function(ref)
  return {
    name = "Ciroma C Adekunle", reference = ref, type = "individual",
    claims = {
      individualInformation = { firstName = "Ciroma", lastName = "Adekunle",
        email = "ciroma@gmail.com", gender = "M", nationalityCode = "NG" },
      individualAddress = { city = "Yaba", state = "NG-LA", countryCode = "NG",
        addressLineOne = "100 herbert macaulay road" },
    },
    verifications = { "tier-2" },
    metadata = { userId = 2345 },
  }
end
]]
local customer = assert((loadstring or load)(CUSTOMER_SRC))()

local counter = 0
local function ref(prefix)
  counter = counter + 1
  return ("%s-%s-%d@example.com"):format(prefix or "or", TAG, counter)
end

-- The app nginx runs. T (test_config) holds the URLs and the key.
local APP = [==[
local cjson = require("cjson").new()
local T = require "test_config"
local customer = require "test_customer"
local A = {}

local function plain(err)
  if err == nil then return nil end
  local t = {}
  for k, v in pairs(err) do t[k] = v end
  t.text = tostring(err)
  return t
end

local function client_for(req)
  local o = {}
  for k, v in pairs(req.client or {}) do o[k] = v end
  if o.secret_key == nil then o.secret_key = T.key end
  if o.base_url == nil then
    o.base_url = req.scenario and (T.sandbox .. "/_scenario/" .. req.scenario) or T.sandbox
  end
  return require("allawee.openresty").new(o)
end

-- True when the key appears anywhere a walk of v (tables, keys, values,
-- metatables) can reach: what pairs(), a dump or a debugger would show.
local function shows_key(v, key, seen)
  seen = seen or {}
  if type(v) == "string" then return v:find(key, 1, true) ~= nil end
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  for k, x in pairs(v) do
    if shows_key(k, key, seen) or shows_key(x, key, seen) then return true end
  end
  return shows_key(getmetatable(v), key, seen)
end

local function run(req)
  local client = client_for(req)
  local out = {}
  for i, ref in ipairs(req.refs or { req.ref }) do
    local data, err, meta = client.customers.create(req.params or customer(ref), req.call)
    out[i] = { data = data, err = plain(err), meta = meta, phase = ngx.get_phase(),
               client_shows_key = shows_key(client, T.key) }
  end
  return out
end

local function read_req()
  ngx.req.read_body()
  return cjson.decode(ngx.req.get_body_data() or "{}")
end

-- With a Content-Length: the spec's raw HTTP reader does not de-chunk.
local function reply_text(s)
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #s
  ngx.print(s)
end

local function reply(v) reply_text(cjson.encode(v)) end

local function guarded(req)
  local ok, out = pcall(run, req)
  if ok then return out end
  return { raised = tostring(out) }
end

function A.create() reply(guarded(read_req())) end

-- The negative control: the blocking libcurl client inside the worker.
function A.blocking()
  local req = read_req()
  local c = require("allawee").new{ secret_key = T.key,
                                    base_url = T.sandbox .. "/_scenario/" .. req.scenario }
  local data, err = c.customers.create(customer(req.ref))
  c:close()
  reply({ { data = data, err = plain(err) } })
end

function A.access()
  local r = guarded(read_req())
  ngx.ctx.result = r
  if r[1] and r[1].err then
    ngx.header["X-Allawee-Error"] = r[1].err.kind
    return ngx.exit(r[1].err.status or 502)
  end
end

function A.access_content() reply(ngx.ctx.result) end

function A.timer()
  local req = read_req()
  local dict = ngx.shared.results
  local id = "timer:" .. tostring(req.ref)
  local ok, terr = ngx.timer.at(0, function(premature)
    if premature then return end
    dict:set(id, cjson.encode(guarded(req)))
  end)
  if not ok then return reply({ raised = "timer: " .. tostring(terr) }) end
  for _ = 1, 1000 do
    local v = dict:get(id)
    if v then
      dict:delete(id)
      return reply_text(v)
    end
    ngx.sleep(0.01)
  end
  reply({ raised = "the timer never finished" })
end

function A.parallel()
  local req = read_req()
  local client = client_for(req)
  local threads, out = {}, {}
  for i, ref in ipairs(req.refs) do
    threads[i] = ngx.thread.spawn(function()
      local data, err, meta = client.customers.create(customer(ref))
      return { data = data, err = plain(err), meta = meta }
    end)
  end
  for i, th in ipairs(threads) do
    local ok, r = ngx.thread.wait(th)
    out[i] = ok and r or { raised = tostring(r) }
  end
  reply(out)
end

local function refusal(what)
  local client = require("allawee.openresty").new{ secret_key = T.key, base_url = T.sandbox }
  local ok, msg = pcall(client.customers.create, customer(what .. "-" .. T.tag))
  return ok and "no error raised" or tostring(msg)
end

-- init_by_lua: the master, before the fork. No cosockets; blocking is fine.
function A.init()
  local dict = ngx.shared.results
  dict:set("init_refusal", refusal("init"))
  local blocking = require("allawee").new{ secret_key = T.key, base_url = T.sandbox }
  local data, err = blocking.customers.create(customer("init-blocking-" .. T.tag))
  blocking:close()
  dict:set("init_blocking", data and data.id or tostring(err))
end

-- init_worker_by_lua: no cosockets either; a zero-delay timer has them.
function A.init_worker()
  local dict = ngx.shared.results
  dict:set("init_worker_refusal", refusal("init-worker"))
  local client = require("allawee.openresty").new{ secret_key = T.key, base_url = T.sandbox }
  ngx.timer.at(0, function(premature)
    if premature then return end
    local data, err = client.customers.create(customer("init-worker-timer-" .. T.tag))
    dict:set("init_worker_timer", data and data.id or tostring(err))
  end)
end

function A.init_results()
  local dict = ngx.shared.results
  reply({
    init_refusal = dict:get("init_refusal"), init_blocking = dict:get("init_blocking"),
    init_worker_refusal = dict:get("init_worker_refusal"),
    init_worker_timer = dict:get("init_worker_timer"),
  })
end

function A.header_filter()
  ngx.header["X-Refusal"] = (refusal("header-filter"):gsub("[%c]", " "))
end

-- Answers shaped by hand, for what the sandbox does not send.
local ENVELOPE = { '{"code":"success","data":{"id":"cus.handmade",',
                   '"name":"Chunky","object":"customer"}}' }
function A.fake()
  ngx.req.read_body()
  local uri = ngx.var.uri
  if uri == "/fake/redirect/customers" then
    return ngx.redirect(T.sandbox .. "/customers", 302)
  end
  ngx.status = 201
  ngx.header["Content-Type"] = "application/json"
  ngx.header["X-Request-Id"] = "req_handmade"
  if uri == "/fake/big/customers" then
    ngx.status = 200
    ngx.print('{"code":"success","data":{"padding":"')
    for _ = 1, 100 do
      ngx.print(string.rep("a", 1000))
      ngx.flush(true)
    end
    return ngx.print('"}}')
  end
  ngx.print(ENVELOPE[1])        -- no Content-Length: chunked, or until close
  ngx.flush(true)
  ngx.print(ENVELOPE[2])
end

return A
]==]

-- Self-signed certificates: good (localhost) and other (other.test) are
-- trusted by nginx's lua_ssl_trusted_certificate; rogue (localhost) is not.
local function make_certs()
  local dir = net.temp_dir("certs")
  local out = {}
  for name, cn in pairs{ good = "localhost", other = "other.test", rogue = "localhost" } do
    net.run(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
             "-days 2 -subj /CN=%s -addext subjectAltName=DNS:%s -keyout %s/%s.key -out %s/%s.pem")
            :format(cn, cn, dir, name, dir, name))
    out[name .. ".pem"] = assert(net.read_file(dir .. "/" .. name .. ".pem"))
    out[name .. ".key"] = assert(net.read_file(dir .. "/" .. name .. ".key"))
  end
  net.remove_temp_dir(dir)
  return out
end

local sb, srv, tls_ports

local function post(path, req, timeout)
  local resp, err = S.request(srv.url, "POST", path, { ["Content-Type"] = "application/json" },
                              json.encode(req or {}), timeout or 30)
  assert(resp, "request to nginx failed: " .. tostring(err))
  return resp
end

-- POST /create and the decoded { data, err, meta, phase } list.
local function create(req, path)
  local resp = post(path or "/create", req)
  assert.are.equal(200, resp.status, resp.body)
  local out = json.decode(resp.body)
  assert.is_nil(out.raised, out.raised)
  return out
end

local function create_one(req)
  req.ref = req.ref or ref()
  return create(req)[1]
end

local function raised(req)
  req.ref = req.ref or ref()
  local out = json.decode(post("/create", req).body)
  return out.raised
end

local function records() return sb:requests() end

local function start_nginx()
  local certs = make_certs()
  local files = {
    ["lua/test_app.lua"] = APP,
    ["lua/test_customer.lua"] = CUSTOMER_SRC,
    ["certs/trusted.pem"] = certs["good.pem"] .. certs["other.pem"],
  }
  for name, text in pairs(certs) do files["certs/" .. name] = text end
  tls_ports = { good = net.free_port(), other = net.free_port(), rogue = net.free_port() }
  local port = net.free_port()
  files["lua/test_config.lua"] = ("return { sandbox = %q, key = %q, tag = %q, self = %q }")
    :format(sb.url, KEY, TAG, "http://127.0.0.1:" .. port)

  local tls_servers = {}
  for name, p in pairs(tls_ports) do
    tls_servers[#tls_servers + 1] = ([[
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate ${prefix}/certs/%s.pem;
    ssl_certificate_key ${prefix}/certs/%s.key;
    access_log ${prefix}/logs/tls_%s.log conn;
    location / { proxy_pass %s; }
  }]]):format(p, name, name, name, sb.url)
  end
  local h = "require('test_app')"
  srv = N.start{
    port = port,
    files = files,
    http = table.concat({
      "lua_shared_dict results 1m;",
      "lua_ssl_trusted_certificate ${prefix}/certs/trusted.pem;",
      "lua_ssl_verify_depth 2;",
      "log_format conn '$connection $connection_requests $request';",
      "init_by_lua_block { " .. h .. ".init() }",
      "init_worker_by_lua_block { " .. h .. ".init_worker() }",
      table.concat(tls_servers, "\n"),
    }, "\n"),
    server = table.concat({
      "location = /ping { content_by_lua_block {",
      "  ngx.header['Content-Length'] = 5; ngx.print('pong\\n') } }",
      "location = /create { content_by_lua_block { " .. h .. ".create() } }",
      "location = /blocking { content_by_lua_block { " .. h .. ".blocking() } }",
      "location = /parallel { content_by_lua_block { " .. h .. ".parallel() } }",
      "location = /timer { content_by_lua_block { " .. h .. ".timer() } }",
      "location = /init { content_by_lua_block { " .. h .. ".init_results() } }",
      "location = /access { access_by_lua_block { " .. h .. ".access() }",
      "  content_by_lua_block { " .. h .. ".access_content() } }",
      "location = /header-filter { content_by_lua_block { ngx.say('x') }",
      "  header_filter_by_lua_block { " .. h .. ".header_filter() } }",
      "location /fake/ { content_by_lua_block { " .. h .. ".fake() } }",
      "location /fake/close/ { chunked_transfer_encoding off;",
      "  content_by_lua_block { " .. h .. ".fake() } }",
    }, "\n"),
  }
end

local function scenario(spec) return S.scenario_url(sb, spec) end

describe("allawee.openresty in nginx", function()
  setup(function()
    sb = S.start()
    start_nginx()
  end)

  teardown(function()
    local logs = ""
    if srv then
      logs = srv:error_log() .. srv:access_log() .. srv:stdout_log()
      srv:stop(os.getenv("ALLAWEE_KEEP_NGINX") == "1")
    end
    if sb then sb:stop() end
    -- No secret key in any log nginx wrote.
    assert.is_nil(logs:find(KEY, 1, true), "the secret key leaked into nginx's logs")
  end)

  before_each(function() sb:reset() end)

  describe("loading", function()
    it("the LuaJIT build of allawee.core loads in the worker and nginx links LuaJIT", function()
      local ldd = net.capture("ldd /usr/lib/nginx/modules/ngx_http_lua_module.so")
      assert.truthy(ldd:find("libluajit-5.1.so.2", 1, true))
      local r = create_one{}
      assert.is_nil(r.err)
      assert.are.equal("content", r.phase)
    end)
  end)

  describe("content_by_lua", function()
    it("creates a customer and returns the customer JSON with meta", function()
      local r0 = ref("content")
      local r = create_one{ ref = r0 }
      assert.is_nil(r.err)
      assert.are.equal(r0, r.data.reference)
      assert.are.equal("customer", r.data.object)
      assert.truthy(r.data.id:match("^cus%."))
      assert.are.equal("tier-2", r.data.verifications[1].type)
      assert.are.equal(2345, r.data.metadata.userId)
      assert.are.equal(201, r.meta.status)
      assert.are.equal(1, r.meta.attempts)
      assert.truthy(r.meta.request_id:match("^req_"))
    end)

    it("sends the documented headers and the very body the libcurl client encodes", function()
      local r0 = ref("headers")
      local r = create_one{ ref = r0 }
      local rec = records()
      assert.are.equal(1, #rec)
      local h = rec[1].headers
      assert.are.equal("POST", rec[1].method)
      assert.are.equal("/customers", rec[1].path)
      assert.are.equal("1.1", rec[1].version)
      assert.are.equal("Bearer " .. KEY, h.authorization)
      assert.are.equal("application/json", h["content-type"])
      assert.are.equal("application/json", h.accept)
      assert.are.equal(sb.url:match("^http://(.*)$"), h.host)
      assert.is_nil(h.expect)
      assert.truthy(h["user-agent"]:match(
        "^allawee%-lua/%d+%.%d+%.%d+ ngx_lua/0%.10%.%d+ nginx/1%.%d+%.%d+ LuaJIT 2%.1"), h["user-agent"])
      assert.truthy(h["idempotency-key"]:match(
        "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"))
      assert.are.equal(h["idempotency-key"], r.meta.idempotency_key)
      local body = assert(require("allawee.core").encode(customer(r0)))
      assert.are.equal(body, rec[1].body)
      assert.are.equal(tostring(#body), h["content-length"])
    end)

    it("uses a fresh random idempotency key per create, or the caller's", function()
      local a = create_one{}
      local b = create_one{}
      assert.are_not.equal(a.meta.idempotency_key, b.meta.idempotency_key)
      local c = create_one{ call = { idempotency_key = "order-42-create" } }
      assert.are.equal("order-42-create", c.meta.idempotency_key)
      local rec = records()
      assert.are.equal("order-42-create", rec[#rec].headers["idempotency-key"])
    end)

    it("appends user_agent to the User-Agent", function()
      create_one{ client = { user_agent = "shop/1.2" } }
      assert.truthy(records()[1].headers["user-agent"]:match(" shop/1%.2$"))
    end)

    it("reuses one keep-alive connection across creates and nginx requests", function()
      create_one{}                                  -- warm the worker's pool
      sb:reset()
      local out = create{ refs = { ref(), ref() } }
      assert.is_nil(out[1].err)
      assert.is_nil(out[2].err)
      create_one{}
      local rec = records()
      assert.are.equal(3, #rec)
      assert.are.equal(rec[1].connection, rec[2].connection)
      assert.are.equal(rec[1].connection, rec[3].connection)
      assert.are.equal(0, sb:stats().connections)
    end)

    it("replaces a pooled connection the server closed (stale) without a new attempt", function()
      local first = create_one{ scenario = "fault=stale" }
      assert.is_nil(first.err)
      -- The hang-up reaches nginx while the connection sits in its pool (the
      -- back-to-back case is the next test): nginx's event loop sees it
      -- before it reads the next request we send.
      sb:settle()
      local r = create_one{}
      assert.is_nil(r.err)
      assert.are.equal(1, r.meta.attempts)
      local rec = records()
      assert.are.equal(2, #rec)
      assert.are_not.equal(rec[1].connection, rec[2].connection)
    end)

    it("replaces a stale pooled connection within one nginx request too", function()
      -- Back to back, nginx's event loop has no turn to notice the hang-up
      -- before the second create takes the connection from the pool.
      local out = create{ refs = { ref(), ref(), ref() }, scenario = "fault=stale" }
      for i = 1, 3 do
        assert.is_nil(out[i].err, out[i].err and out[i].err.text)
        -- a send on the dead connection, then one on a fresh one: both
        -- counted (every send is an attempt), the server saw one
        assert.is_true(out[i].meta.attempts == 1 or out[i].meta.attempts == 2)
      end
      assert.are.equal(3, #records())
    end)

    it("reads chunked answers", function()
      local raw = S.request(srv.url, "POST", "/fake/chunked/customers", nil, "{}")
      assert.are.equal("chunked", raw.headers["transfer-encoding"])
      local r = create_one{ client = { base_url = srv.url .. "/fake/chunked" } }
      assert.is_nil(r.err)
      assert.are.equal("cus.handmade", r.data.id)
      assert.are.equal("req_handmade", r.meta.request_id)
    end)

    it("reads answers that end when the server closes the connection", function()
      local raw = S.request(srv.url, "POST", "/fake/close/customers", nil, "{}")
      assert.is_nil(raw.headers["transfer-encoding"])
      assert.is_nil(raw.headers["content-length"])
      local r = create_one{ client = { base_url = srv.url .. "/fake/close" } }
      assert.is_nil(r.err)
      assert.are.equal("cus.handmade", r.data.id)
    end)

    it("does not follow redirects", function()
      local r = create_one{ client = { base_url = srv.url .. "/fake/redirect" } }
      assert.are.equal(302, r.err.status)
      assert.are.equal(1, r.err.attempts)
      assert.truthy(r.err.message:find("not followed", 1, true))
      assert.are.equal(0, #records())
    end)

    it("runs creates in parallel light threads on one worker", function()
      local refs = { ref(), ref(), ref(), ref() }
      local out = create({ refs = refs, scenario = "delay=500" }, "/parallel")
      for i = 1, 4 do
        assert.is_nil(out[i].err)
        assert.are.equal(refs[i], out[i].data.reference)
      end
      -- Four connections: one after the other, each create would have taken
      -- the previous one's connection back from the worker's pool.
      local rec, connections, distinct = records(), {}, 0
      assert.are.equal(4, #rec)
      for _, r in ipairs(rec) do
        if not connections[r.connection] then distinct = distinct + 1 end
        connections[r.connection] = true
      end
      assert.are.equal(4, distinct)
    end)
  end)

  describe("errors", function()
    it("a 409 is kind conflict, not retried", function()
      local r0 = ref("dup")
      assert.is_nil(create_one{ ref = r0 }.err)
      local r = create_one{ ref = r0 }
      assert.are.equal("conflict", r.err.kind)
      assert.are.equal("reference-conflict", r.err.code)
      assert.are.equal(409, r.err.status)
      assert.is_false(r.err.retryable)
      assert.are.equal(1, r.err.attempts)
      assert.truthy(r.err.request_id:match("^req_"))
      assert.truthy(r.err.idempotency_key)
      assert.truthy(r.err.text:match("^allawee conflict error: "))
      assert.are.equal(2, #records())
    end)

    it("a 202 is kind accepted and never retried", function()
      local r = create_one{ scenario = "fault=accepted" }
      assert.is_nil(r.data)
      assert.are.equal("accepted", r.err.kind)
      assert.are.equal("request-accepted", r.err.code)
      assert.are.equal(202, r.err.status)
      assert.is_false(r.err.retryable)
      assert.are.equal(1, r.err.attempts)
      assert.are.equal(1, #records())
    end)

    it("bad params are kind validation and nothing is sent", function()
      local r = create_one{ params = { name = 7, reference = "x", type = "individual",
                                       claims = {}, verifications = {}, metadata = {} } }
      assert.are.equal("validation", r.err.kind)
      assert.are.equal("name", r.err.field)
      assert.are.equal(0, r.err.attempts)
      assert.truthy(r.err.idempotency_key)
      assert.are.equal(0, #records())
    end)

    it("a chunk size that is not hexadecimal is a malformed answer, not a raise", function()
      local canned = C.start{ { raw = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n" ..
                                      "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n" } }
      local r = create_one{ client = { base_url = canned.url, max_retries = 0 } }
      canned.stop()
      assert.is_nil(r.data)
      assert.are.equal("connection", r.err.kind)
      assert.are.equal("CURLE_WEIRD_SERVER_REPLY", r.err.code)
      assert.are.equal(1, r.err.attempts)
    end)

    -- Heads are parsed in C (call:head); a head whose wanted fields repeat
    -- or whose lines fold goes through the Lua line reader. Both must give
    -- what the reader alone gave.
    describe("answer heads", function()
      local body = '{"code":"success","data":{"id":"cus.head"}}'
      local function head(lines, b)
        return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (b or body)
      end
      local ct, cl = "Content-Type: application/json", "Content-Length: " .. #body
      local cases = {
        { "plain", raw = head{ "HTTP/1.1 201 Created", ct, "X-Request-Id: req_plain", cl },
          id = "req_plain" },
        { "names in any case, whitespace around values",
          raw = head{ "HTTP/1.1 201 Created", "content-TYPE:application/json",
                      "x-REQUEST-id: \t req_case \t", "CONTENT-LENGTH:   " .. #body .. "  " },
          id = "req_case" },
        { "bare LF line ends",
          raw = ("HTTP/1.1 201 Created\n%s\nX-Request-Id: req_lf\n%s\n\n%s"):format(ct, cl, body),
          id = "req_lf" },
        { "a repeated wanted field is joined (line by line)",
          raw = head{ "HTTP/1.1 201 Created", ct, "X-Request-Id: req_1", "X-Request-Id: req_2", cl },
          id = "req_1, req_2" },
        { "a folded line (line by line)",
          raw = head{ "HTTP/1.1 201 Created", ct, "X-Request-Id: req_f", "  more", cl },
          id = "req_f more" },
        { "Content-Length: n, n",
          raw = head{ "HTTP/1.1 201 Created", ct, "X-Request-Id: req_nn",
                      "Content-Length: " .. #body .. ", " .. #body }, id = "req_nn" },
        { "a 100 Continue first",
          raw = "HTTP/1.1 100 Continue\r\nX-Request-Id: req_interim\r\n\r\n" ..
                head{ "HTTP/1.1 201 Created", ct, "X-Request-Id: req_final", cl },
          id = "req_final" },
        { "the head in pieces, split inside a line end and the empty line",
          pieces = { "HTTP/1.1 20", "1 Created\r\n" .. ct .. "\r",
                     "\nX-Request-Id: req_pieces\r\n" .. cl .. "\r\n", "\r", "\n" .. body },
          id = "req_pieces" },
        { "a 100 Continue, then the final head in pieces",
          pieces = { "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Cre", "ated\r\n" .. ct .. "\r\n",
                     "X-Request-Id: req_after_100\r\n" .. cl .. "\r\n\r\n" .. body },
          id = "req_after_100" },
        { "a bad status line", raw = head{ "HTTP/1.1 2x1 Created", ct, cl },
          code = "CURLE_WEIRD_SERVER_REPLY" },
        -- the server keeps the connection open: the bad line is enough (the
        -- timeout would say CURLE_OPERATION_TIMEDOUT)
        { "a bad line in an unfinished head, the connection held open",
          raw = "HTTP/1.1 201 Created\r\nbad\r\n", code = "CURLE_WEIRD_SERVER_REPLY" },
        { "not HTTP at all, the connection held open", raw = "SSH-2.0-OpenSSH_9.2\r\n",
          code = "CURLE_WEIRD_SERVER_REPLY" },
        { "a header line without a colon", raw = head{ "HTTP/1.1 201 Created", "Content-Type json", cl },
          code = "CURLE_WEIRD_SERVER_REPLY" },
        { "whitespace in a name", raw = head{ "HTTP/1.1 201 Created", "X Request-Id: a", ct, cl },
          code = "CURLE_WEIRD_SERVER_REPLY" },
        { "Content-Length: n, m", raw = head{ "HTTP/1.1 201 Created", ct, "Content-Length: 5, 6" },
          code = "CURLE_WEIRD_SERVER_REPLY" },
        { "a head over 64 KiB", raw = head{ "HTTP/1.1 201 Created", ct, "X-Big: " .. ("a"):rep(70000), cl },
          code = "response_header_too_large" },
        { "more than 200 header lines",
          raw = head((function()
            local t = { "HTTP/1.1 201 Created", ct, cl }
            for i = 1, 200 do t[#t + 1] = "X-N" .. i .. ": " .. i end
            return t
          end)()), code = "response_header_too_large" },
      }
      for _, case in ipairs(cases) do
        it(case[1], function()
          local canned = C.start{ { raw = case.raw, pieces = case.pieces } }
          local r = create_one{ client = { base_url = canned.url, max_retries = 0, timeout = 5 } }
          canned.stop()
          if case.id then
            assert.is_nil(r.err, r.err and r.err.message)
            assert.are.equal("cus.head", r.data.id)
            assert.are.equal(case.id, r.meta.request_id)
            assert.are.equal(1, r.meta.attempts)
          else
            assert.is_nil(r.data)
            assert.are.equal(case.code, r.err.code, r.err.message)
            assert.are.equal(1, r.err.attempts)
          end
        end)
      end
    end)

    it("caps the response body (Content-Length and chunked)", function()
      local r = create_one{ scenario = "fault=huge,size=100000",
                            client = { max_response_bytes = 2048 } }
      assert.are.equal("decode", r.err.kind)
      assert.are.equal("response_too_large", r.err.code)
      assert.is_false(r.err.retryable)
      r = create_one{ client = { base_url = srv.url .. "/fake/big", max_response_bytes = 2048 } }
      assert.are.equal("response_too_large", r.err.code)
      assert.are.equal(1, r.err.attempts)
    end)

    it("refusing the connection is kind connection, retried", function()
      local r = create_one{ client = { base_url = "http://127.0.0.1:" .. net.free_port(),
                                       max_retries = 1, backoff_base = 0.001 } }
      assert.are.equal("connection", r.err.kind)
      assert.are.equal("CURLE_COULDNT_CONNECT", r.err.code)
      assert.is_true(r.err.retryable)
      assert.are.equal(2, r.err.attempts)
    end)

    it("a slow answer is kind timeout after timeout, per attempt", function()
      local r = create_one{ scenario = "delay=2000", call = { timeout = 0.2, max_retries = 1 },
                            client = { backoff_base = 0.001 } }
      assert.are.equal("timeout", r.err.kind)
      assert.are.equal("CURLE_OPERATION_TIMEDOUT", r.err.code)
      assert.are.equal(2, r.err.attempts)
      assert.are.equal(2, #records())
    end)

    it("the deadline bounds all attempts", function()
      local r = create_one{ scenario = "delay=1000", call = { deadline = 0.3 } }
      assert.are.equal("timeout", r.err.kind)
      assert.are.equal(1, r.err.attempts)
    end)

    it("keeps the key out of the client table (pairs, dumps, debuggers)", function()
      local r = create_one{}
      assert.is_nil(r.err)
      assert.is_false(r.client_shows_key)
    end)

    it("bad options raise, as allawee.new does", function()
      assert.truthy(raised{ client = { timeout = "soon" } }:find("option 'timeout' must be a number", 1, true))
      assert.truthy(raised{ client = { colour = "red" } }:find("unknown option 'colour'", 1, true))
      assert.truthy(raised{ client = { base_url = "http://example.com" } }
        :find("only for loopback", 1, true))
      assert.truthy(raised{ client = { ca_file = "/x.pem" } }
        :find("lua_ssl_trusted_certificate", 1, true))
      assert.truthy(raised{ call = { max_retries = 1.5 } }:find("whole number", 1, true))
      assert.truthy(raised{ client = { user_agent = "a\r\nX-Evil: 1" } }
        :find("control character", 1, true))
      assert.are.equal(0, #records())
    end)
  end)

  describe("retries", function()
    it("retries 503 with backoff and the same Idempotency-Key and body", function()
      local r = create_one{ scenario = "status=503,times=2",
                            client = { backoff_base = 0.01, backoff_max = 0.02 } }
      assert.is_nil(r.err)
      assert.are.equal(3, r.meta.attempts)
      assert.are.equal(2, #r.meta.waits)
      assert.is_true(r.meta.waits[1] >= 0.005 and r.meta.waits[1] <= 0.01)
      assert.is_true(r.meta.waits[2] >= 0.01 and r.meta.waits[2] <= 0.02)
      local rec = records()
      assert.are.equal(3, #rec)
      for i = 2, 3 do
        assert.are.equal(rec[1].headers["idempotency-key"], rec[i].headers["idempotency-key"])
        assert.are.equal(rec[1].body, rec[i].body)
      end
    end)

    it("stops after max_retries with the last error", function()
      local r = create_one{ scenario = "status=500", call = { max_retries = 2 },
                            client = { backoff_base = 0.001 } }
      assert.are.equal("api", r.err.kind)
      assert.are.equal(500, r.err.status)
      assert.is_true(r.err.retryable)
      assert.are.equal(3, r.err.attempts)
      assert.are.equal(3, #records())
    end)

    it("honours Retry-After on 429 and 503, capped by max_retry_after", function()
      local r = create_one{ scenario = "status=503,retry_after=0.1,times=1" }
      assert.is_nil(r.err)
      assert.are.equal(0.1, r.meta.waits[1])
      r = create_one{ scenario = "status=429,retry_after=1,times=1",
                      client = { max_retry_after = 0.05 } }
      assert.is_nil(r.err)
      assert.are.equal(0.05, r.meta.waits[1])
      -- An HTTP-date, 30 s ahead: read as a date (a backoff would be 1 ms).
      local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30):gsub(",", "%%2C")
        :gsub(" ", "%%20")
      r = create_one{ scenario = "status=503,times=1,retry_after=" .. date,
                      client = { max_retry_after = 0.05, backoff_base = 0.001 } }
      assert.is_nil(r.err)
      assert.are.equal(0.05, r.meta.waits[1])
    end)

    it("never retries other 4xx", function()
      for _, status in ipairs{ 400, 401, 403, 404, 422 } do
        sb:reset()
        local r = create_one{ scenario = "status=" .. status, client = { backoff_base = 0.001 } }
        assert.are.equal(status, r.err.status)
        assert.are.equal(1, r.err.attempts)
        assert.are.equal(1, #records())
      end
    end)
  end)

  describe("https through cosockets", function()
    local function tls_url(name) return "https://localhost:" .. tls_ports[name] end

    it("verifies the server and creates over TLS, reusing the connection", function()
      local out = create{ refs = { ref(), ref() }, client = { base_url = tls_url("good") } }
      assert.is_nil(out[1].err)
      assert.is_nil(out[2].err)
      assert.truthy(out[2].data.id:match("^cus%."))
      assert.are.equal(2, #records())
      -- The TLS server logged "$connection $connection_requests": one connection.
      local log = assert(net.read_file(srv.prefix .. "/logs/tls_good.log"))
      local conns = {}
      for c in log:gmatch("(%d+) %d+ POST") do conns[#conns + 1] = c end
      assert.are.equal(2, #conns)
      assert.are.equal(conns[1], conns[2])
    end)

    it("refuses a certificate for another name", function()
      local r = create_one{ client = { base_url = tls_url("other") } }
      assert.are.equal("connection", r.err.kind)
      assert.are.equal("CURLE_PEER_FAILED_VERIFICATION", r.err.code)
      assert.is_false(r.err.retryable)
      assert.are.equal(1, r.err.attempts)
      assert.are.equal(0, #records())
    end)

    it("refuses a certificate nginx does not trust", function()
      local r = create_one{ client = { base_url = tls_url("rogue") } }
      assert.are.equal("CURLE_PEER_FAILED_VERIFICATION", r.err.code)
      assert.are.equal(1, r.err.attempts)
      assert.are.equal(0, #records())
    end)
  end)

  describe("phases", function()
    it("works in access_by_lua", function()
      local r0 = ref("access")
      local resp = post("/access", { ref = r0 })
      assert.are.equal(200, resp.status)
      local out = json.decode(resp.body)
      assert.are.equal(r0, out[1].data.reference)
      assert.are.equal("access", out[1].phase)
      resp = post("/access", { ref = r0 })           -- the same reference again
      assert.are.equal(409, resp.status)
      assert.are.equal("conflict", resp.headers["x-allawee-error"])
    end)

    it("works in an ngx.timer handler", function()
      local r0 = ref("timer")
      local out = create({ ref = r0 }, "/timer")
      assert.is_nil(out[1].err)
      assert.are.equal(r0, out[1].data.reference)
      assert.are.equal("timer", out[1].phase)
    end)

    it("refuses clearly where nginx has no cosockets; init uses the libcurl client", function()
      local res
      for _ = 1, 250 do                          -- the init_worker timer runs at start
        res = json.decode(S.request(srv.url, "GET", "/init").body)
        if res.init_worker_timer then break end
        socket.sleep(0.02)
      end
      assert.truthy(res.init_refusal:find("cannot run in the init phase", 1, true), res.init_refusal)
      assert.truthy(res.init_worker_refusal:find("cannot run in the init_worker phase", 1, true))
      assert.truthy(res.init_worker_refusal:find("ngx.timer.at(0, fn)", 1, true))
      assert.truthy(res.init_blocking:match("^cus%."), res.init_blocking)
      assert.truthy(res.init_worker_timer:match("^cus%."), res.init_worker_timer)
      local hf = S.request(srv.url, "GET", "/header-filter")
      assert.truthy(hf.headers["x-refusal"]:find("cannot run in the header_filter phase", 1, true))
    end)
  end)

  describe("the worker is never blocked", function()
    -- Starts POST `path` (a create the sandbox delays by 2 s), waits until
    -- the sandbox holds it, then sends GET /ping to the same single worker,
    -- up to five times in the first 0.8 s. For each ping: how long it took,
    -- and whether the create's answer had come before the pong (the order
    -- is what the specs assert; the times are printed).
    local function ping_during(path)
      local slow = assert(S.connect(srv.url, 10))
      local t0 = socket.gettime()
      local body = json.encode{ ref = ref("slow"), scenario = "delay=2000" }
      S.send_request(slow, "POST", path, { Host = "127.0.0.1", Connection = "close",
                                           ["Content-Type"] = "application/json" }, body)
      assert(net.wait_until(function() return sb:stats().requests >= 1 end, 5,
                            function() socket.sleep(0.005) end),
             "the create never reached the sandbox")
      local pings, after_create = {}, {}
      for i = 1, 5 do
        local t = socket.gettime()
        local resp = assert(S.request(srv.url, "GET", "/ping", nil, nil, 10))
        pings[i] = socket.gettime() - t
        after_create[i] = socket.select({ slow }, nil, 0)[slow] ~= nil
        assert.are.equal("pong\n", resp.body)
        if socket.gettime() - t0 > 0.8 then break end
        socket.sleep(0.05)
      end
      local resp = assert(S.read_response(slow))
      slow:close()
      return pings, after_create, socket.gettime() - t0, json.decode(resp.body)[1]
    end

    it("answers other requests while a create waits 2 s", function()
      local pings, after_create, total, result = ping_during("/create")
      assert.is_nil(result.err)
      assert.truthy(result.data.id:match("^cus%."))
      assert.is_true(total >= 2.0)                  -- the create really waited
      local worst = 0
      for _, p in ipairs(pings) do worst = math.max(worst, p) end
      print(("\n  [openresty] /ping during a 2 s create: %d pings, worst %.1f ms, " ..
             "first %.1f ms; create answered after %.0f ms")
            :format(#pings, worst * 1000, pings[1] * 1000, total * 1000))
      for i = 1, #pings do
        assert.is_false(after_create[i], ("ping %d was answered after the create (%.0f ms)")
          :format(i, pings[i] * 1000))
      end
    end)

    it("(control) the blocking libcurl client would stall the same ping", function()
      local pings, after_create, total, result = ping_during("/blocking")
      assert.is_nil(result.err)
      print(("\n  [openresty] control, libcurl client in the worker: first ping %.0f ms " ..
             "(create %.0f ms)"):format(pings[1] * 1000, total * 1000))
      -- the one worker finished the create, and wrote its answer, first
      assert.is_true(after_create[1])
    end)
  end)

  describe("examples/openresty/nginx.conf", function()
    it("runs as documented (-p <checkout>, key and URL from env) and creates customers", function()
      local port = net.free_port()
      local conf = assert(net.read_file(N.repo .. "/examples/openresty/nginx.conf"))
        :gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
        :gsub("\npid [^;]+;", "\npid ${prefix}/logs/nginx.pid;")
      local ex = N.start{ conf = conf, port = port, nginx_prefix = N.repo,
                          env = { ALLAWEE_SECRET_KEY = KEY, ALLAWEE_BASE_URL = sb.url } }
      local ok, problem = pcall(function()
        -- support.sandbox's reader leaves a chunked body as it came.
        local function dechunk(raw)
          local out, pos = {}, 1
          while true do
            local size, after = raw:match("^(%x+)[^\r\n]*\r\n()", pos)
            size = tonumber(size, 16)
            if not size or size == 0 then return table.concat(out) end
            out[#out + 1] = raw:sub(after, after + size - 1)
            pos = after + size + 2
          end
        end
        local function send(method, path, body)
          local resp = assert(S.request(ex.url, method, path,
                                        { ["Content-Type"] = "application/json" }, body, 30))
          if resp.headers["transfer-encoding"] == "chunked" then resp.body = dechunk(resp.body) end
          return resp
        end
        local r0 = ref("example")
        local resp = send("POST", "/customers", json.encode(customer(r0)))
        assert.are.equal(201, resp.status, resp.body)
        assert.are.equal(r0, json.decode(resp.body).data.reference)
        resp = send("POST", "/customers", json.encode(customer(r0)))
        assert.are.equal(409, resp.status)
        assert.are.equal("conflict", json.decode(resp.body).error.kind)
        local bad = customer(ref())
        bad.type = "robot"
        resp = send("POST", "/customers", json.encode(bad))
        assert.are.equal(422, resp.status)
        assert.are.equal("type", json.decode(resp.body).error.field)
        assert.are.equal(405, send("GET", "/customers").status)
        local r1 = ref("background")
        resp = send("POST", "/customers/background", json.encode(customer(r1)))
        assert.are.equal(202, resp.status)
        local seen
        for _ = 1, 250 do
          for _, rec in ipairs(records()) do
            if rec.body:find(r1, 1, true) then seen = rec end
          end
          if seen then break end
          socket.sleep(0.02)
        end
        assert.truthy(seen, "the background create never reached the sandbox")
        assert.are.equal("Bearer " .. KEY, seen.headers.authorization)
        assert.are.equal("ok\n", send("GET", "/healthz").body)
      end)
      local log = ex:stdout_log()
      ex:stop()
      assert(ok, tostring(problem) .. "\nnginx said:\n" .. log)
      assert.is_nil(log:find(KEY, 1, true), "the secret key leaked into nginx's log")
    end)
  end)

  describe("the same outcome as the libcurl client", function()
    local F = require "support.fixtures"
    local cases = {
      "status=409", "status=401", "status=403,code=kyc-locked,message=No%2C%20not%20now",
      "status=400,shape=statusCode,message=Incorrect%20format", "status=500,shape=html",
      "status=503", "status=429", "fault=accepted", "fault=nonjson", "fault=empty",
      "fault=html502", "fault=envelope_error", "fault=bad_utf8", "fault=close",
      "fault=truncate", "status=503,fault=close_mid_body", "fault=huge,size=100000",
      "fault=deep,depth=100", "fault=no_request_id", "fault=slow_body,interval=1",
    }
    local common = { max_retries = 1, backoff_base = 0.001, backoff_max = 0.001,
                     max_response_bytes = 4096 }

    for _, spec in ipairs(cases) do
      it(spec, function()
        local curl_client = F.new_client(KEY, scenario(spec), common)
        local cdata, cerr, cmeta = curl_client.customers.create(customer(ref()))
        curl_client:close()
        local r = create_one{ scenario = spec, client = common }
        if cdata then
          assert.is_nil(r.err, r.err and r.err.text)
          assert.are.equal(cmeta.attempts, r.meta.attempts)
          assert.are.equal(cmeta.status, r.meta.status)
          assert.are.equal(cmeta.request_id ~= nil, r.meta.request_id ~= nil)
          return
        end
        assert.truthy(r.err, "the openresty client succeeded where libcurl's failed: " ..
                      tostring(cerr))
        assert.are.same({ cerr.kind, cerr.code, cerr.status, cerr.retryable, cerr.attempts,
                          cerr.request_id ~= nil },
                        { r.err.kind, r.err.code, r.err.status, r.err.retryable, r.err.attempts,
                          r.err.request_id ~= nil })
        if cerr.kind ~= "connection" and cerr.kind ~= "timeout" then
          assert.are.equal(cerr.message, r.err.message)
          if not (cerr.body or ""):find('"createdAt"', 1, true) then   -- no per-request data
            assert.are.equal(cerr.body, r.err.body)
          end
        end
      end)
    end
  end)
end)
