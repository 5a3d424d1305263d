--[[
Test helper: runs bin/allawee-sandbox as a child process.

    local S = require "support.sandbox"
    local sb = S.start()                 -- or S.start{ lua = "lua5.1" }
    -- sb.url, sb.pid
    sb:stats()      --> { connections = N, requests = N, open_connections = N }
    sb:requests()   --> array of recorded requests (method, path, headers, body, connection, time)
    sb:reset()
    sb:stop()       -- POST /_sandbox/shutdown, then make sure the process is gone
    sb:requests_during(f, ...)  --> how many requests arrived while f(...) ran, then f's results
    S.scenario_url(sb, "status=503,times=1")  --> sb.url .. "/_scenario/status=503,times=1"

    local sb = S.start{ secure = true }  -- also a secure listener: sb.secure_url
    local sb = S.start{ log = path }     -- --verbose, its stderr (one line per request) to path
    sb:posts_for(reference)       --> POSTs with this body reference that arrived (answered or not)
    sb:call(method, path, body, opts) --> resp, decoded body (nil if not JSON): one API request
                                  -- with a test key; body a table (JSON-encoded) or a string;
                                  -- opts: headers, url (e.g. sb.secure_url), key (false: none)
    sb:control_json(method, path, body) --> status, decoded body (any /_sandbox/ route)
    sb:webhooks(cfg)              -- POST /_sandbox/webhooks {url, signing_key, ...}
    sb:deliveries(at_least)       --> GET /_sandbox/webhooks/deliveries; with at_least, once
                                  -- the log holds that many (or after 10 s)
    sb:make_customer(t), sb:make_account(t), sb:make_program(t), sb:make_card(t),
    sb:make_active_card(t)        --> the created object (`data`); t overrides the defaults

It also offers a tiny raw HTTP/1.1 client (S.request, S.send_request,
S.read_response) on plain luasocket, for tests that need byte-level control.
]]

local socket = require "socket"
local json = require("cjson").new() -- private: never touch the shared cjson settings
local net = require "support.net"

local S = {}

local Sandbox = {}
Sandbox.__index = Sandbox

local function split_url(url)
  local host, port = url:match("^http://([^/:]+):(%d+)")
  return host, tonumber(port)
end

---------------------------------------------------------------------------
-- A minimal HTTP/1.1 client
---------------------------------------------------------------------------

-- Writes one request on a connected socket. headers: { name = value };
-- Content-Length is added for a body unless given.
function S.send_request(sock, method, path, headers, body)
  local lines = { ("%s %s HTTP/1.1"):format(method, path) }
  local has_length = false
  for name, value in pairs(headers or {}) do
    lines[#lines + 1] = name .. ": " .. value
    if name:lower() == "content-length" then has_length = true end
  end
  if body and not has_length then lines[#lines + 1] = "Content-Length: " .. #body end
  return sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
end

-- Reads one response. Returns { status, headers (lowercased names), body,
-- raw_head }, or nil, error, partial (what arrived before the error).
function S.read_response(sock)
  local status_line, err = sock:receive("*l")
  if not status_line then return nil, err, "" end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
  if not status then return nil, "bad status line: " .. status_line, status_line end
  local headers, head = {}, { status_line }
  while true do
    local line
    line, err = sock:receive("*l")
    if not line then return nil, err, table.concat(head, "\n") end
    if line == "" then break end
    head[#head + 1] = line
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  local body, partial
  local length = tonumber(headers["content-length"] or "")
  if length == 0 then
    body = "" -- luasocket's receive(0) would still wait for a byte
  elseif length then
    body, err, partial = sock:receive(length)
  else
    body, err, partial = sock:receive("*a")
  end
  if not body then return nil, err, partial end
  return { status = status, headers = headers, body = body, raw_head = table.concat(head, "\r\n") }
end

function S.connect(url, timeout)
  local host, port = split_url(url)
  local sock = socket.tcp()
  sock:settimeout(timeout or 10)
  local ok, err = sock:connect(host, port)
  if not ok then return nil, err end
  return sock
end

-- One request on a fresh connection (Connection: close; timeout in seconds,
-- default 10), e.g.
-- S.request(sb.url, "POST", "/customers", { Authorization = "Bearer sk.test.x" }, body)
function S.request(url, method, path, headers, body, timeout)
  local sock, err = S.connect(url, timeout)
  if not sock then return nil, err end
  local h = { ["Connection"] = "close", ["Host"] = url:match("^http://([^/]+)") }
  for k, v in pairs(headers or {}) do h[k] = v end
  S.send_request(sock, method, path, h, body)
  local resp, rerr, partial = S.read_response(sock)
  sock:close()
  return resp, rerr, partial
end

---------------------------------------------------------------------------
-- The sandbox process
---------------------------------------------------------------------------

function Sandbox:control(method, path)
  local resp, err = S.request(self.url, method, path, nil, method == "POST" and "" or nil)
  if not resp then error("sandbox control " .. method .. " " .. path .. " failed: " .. tostring(err), 2) end
  if resp.status ~= 200 then error("sandbox control " .. path .. " answered " .. resp.status, 2) end
  return json.decode(resp.body)
end

S.TEST_KEY = "sk.test.sandbox-spec-4f1c"
-- The sandbox's test card: the same PAN, CVV and expiry on every card.
S.TEST_CARD = require("allawee.sandbox.cards").TEST_CARD

-- One JSON request with a body (table or string) and a test key.
function Sandbox:call(method, path, body, opts)
  opts = opts or {}
  local headers = { ["Content-Type"] = "application/json" }
  if opts.key ~= false then headers["Authorization"] = "Bearer " .. (opts.key or S.TEST_KEY) end
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  if type(body) == "table" then body = json.encode(body) end
  local resp, err = S.request(opts.url or self.url, method, path, headers, body, opts.timeout)
  if not resp then error(("%s %s failed: %s"):format(method, path, tostring(err)), 2) end
  local ok, doc = pcall(json.decode, resp.body)
  return resp, ok and doc or nil
end

-- Any control route; the status and the decoded answer.
function Sandbox:control_json(method, path, body)
  if type(body) == "table" then body = json.encode(body) end
  local resp, err = S.request(self.url, method, path, nil, body or (method == "GET" and nil or ""))
  if not resp then error("sandbox control " .. method .. " " .. path .. " failed: " .. tostring(err), 2) end
  local ok, doc = pcall(json.decode, resp.body)
  return resp.status, ok and doc or nil
end

function Sandbox:posts_for(reference)
  return self:control("GET", "/_sandbox/posts_by_reference")[reference] or 0
end

function Sandbox:webhooks(cfg)
  local status, doc = self:control_json("POST", "/_sandbox/webhooks", cfg)
  if status ~= 200 then
    error("POST /_sandbox/webhooks answered " .. status .. ": " .. tostring(doc and doc.message), 2)
  end
  return doc
end

-- The sandbox logs a delivery once it has read the receiver's answer, and
-- a receiver may record a delivery before it answers: a test that has seen
-- the receiver's record waits for the log with at_least.
function Sandbox:deliveries(at_least)
  local log
  net.wait_until(function()
    log = self:control("GET", "/_sandbox/webhooks/deliveries")
    return #log >= (at_least or 0)
  end, 10)
  return log
end

---------------------------------------------------------------------------
-- Building data (each asserts the create answered 201 and returns `data`)
---------------------------------------------------------------------------

local uniq = 0
function S.unique(prefix)
  uniq = uniq + 1
  return ("%s-%d-%d"):format(prefix or "ref", os.time(), uniq)
end

local function merged(defaults, overrides)
  for k, v in pairs(overrides or {}) do defaults[k] = v end
  return defaults
end

function Sandbox:create(path, body)
  local resp, doc = self:call("POST", path, body)
  if resp.status ~= 201 then error(("POST %s answered %d: %s"):format(path, resp.status, resp.body), 2) end
  return doc.data
end

function Sandbox:make_customer(overrides)
  return self:create("/customers", merged({ name = "Ciroma Adekunle", reference = S.unique("cus"),
    type = "individual" }, overrides))
end

function Sandbox:make_account(overrides)
  return self:create("/accounts", merged({ name = "Funding account", currency = "NGN", type = "main" }, overrides))
end

function Sandbox:make_program(overrides)
  return self:create("/card-programs", merged({ name = S.unique("program"), network = "verve", type = "virtual",
    currency = "NGN" }, overrides))
end

-- A card (inactive); a customer and a virtual program are made unless given.
function Sandbox:make_card(overrides)
  overrides = overrides or {}
  local body = merged({ amount = 0, reference = S.unique("card") }, overrides)
  body.program = body.program or self:make_program().id
  body.customer = body.customer or self:make_customer().id
  return self:create("/cards", body)
end

-- An activated card, through the main port's secure routes.
function Sandbox:make_active_card(overrides)
  local card = self:make_card(overrides)
  local resp = self:call("POST", "/cards/" .. card.id .. "/activate", { cvv = S.TEST_CARD.cvv, pin = S.TEST_CARD.pin })
  if resp.status ~= 200 then error("activate answered " .. resp.status .. ": " .. resp.body, 2) end
  return card
end

function Sandbox:stats() return self:control("GET", "/_sandbox/stats") end
function Sandbox:requests() return self:control("GET", "/_sandbox/requests") end
function Sandbox:reset() self:control("POST", "/_sandbox/reset") end

-- A round trip to the sandbox, for a test that needs the server's earlier
-- hang-ups to have reached the client. The sandbox runs one loop and a
-- connection hangs up (fault=stale, close...) in the same turn as it writes
-- its last byte, so once a later request is answered, each of those FINs
-- is already in the client's socket: libcurl's check before reuse and
-- nginx's pooled-connection handler see it. A sleep only makes that likely
-- (on a busy machine the sandbox may not run for a while).
function Sandbox:settle() self:stats() end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

function Sandbox:requests_during(f, ...)
  local before = self:stats().requests
  local results = pack(f(...))
  return self:stats().requests - before, unpack(results, 1, results.n)
end

function Sandbox:stop()
  if self.stopped then return end
  self.stopped = true
  pcall(S.request, self.url, "POST", "/_sandbox/shutdown", nil, "", 2)
  if not net.wait_gone(self.pid, 3) then
    os.execute("kill -9 " .. self.pid .. " 2>/dev/null") -- last resort, by pid only
    net.wait_gone(self.pid, 2)
  end
  self.proc:close() -- reaps the child (io.popen's close waits for it)
end

-- opts: lua (interpreter, default $ALLAWEE_SANDBOX_LUA or "lua5.4"), host,
-- port, secure (true: a secure listener on a free port; or a port number),
-- log (a file: the sandbox runs with --verbose and its stderr goes there).
function S.start(opts)
  opts = opts or {}
  local lua = opts.lua or os.getenv("ALLAWEE_SANDBOX_LUA") or "lua5.4"
  local cmd = ("exec %s %s --exit-with-parent --host %s --port %d"):format(
    lua, net.shell_quote(net.repo_root() .. "/bin/allawee-sandbox"),
    net.shell_quote(opts.host or "127.0.0.1"), opts.port or 0)
  if opts.secure then cmd = cmd .. " --secure-port " .. (opts.secure == true and 0 or opts.secure) end
  if opts.log then cmd = cmd .. " --verbose 2>" .. net.shell_quote(opts.log) end
  local proc = assert(io.popen(cmd, "r"))
  local line = proc:read("*l")
  local url, pid, rest = (line or ""):match("^allawee%-sandbox (%S+) pid=(%d+)(.*)$")
  local secure_url = rest and rest:match("^ secure=(%S+)$")
  if not url or (rest ~= "" and not secure_url) then
    proc:close()
    error("allawee-sandbox did not start (first line: " .. tostring(line) .. ")", 2)
  end
  return setmetatable({ url = url, secure_url = secure_url, pid = tonumber(pid), proc = proc }, Sandbox)
end

function S.scenario_url(sb, spec)
  return sb.url .. "/_scenario/" .. spec
end

return S
