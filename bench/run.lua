--- bench/run.lua: the whole benchmark in one run (what `make bench` calls).
--
--   lua5.4 bench/run.lua BUILD_DIR
--
-- BUILD_DIR holds 5.4/allawee/core.so, luajit/allawee/core.so and
-- bin/{c_sequential,c_multi,c_hmac} (mk/bench.mk builds them). It starts the
-- double, one nginx (bench/nginx.conf.in) on 127.0.0.1 with free ports,
-- pinned to core 0, and the OpenResty rows' client nginx
-- (bench/openresty.conf.in, lua-nginx-module) pinned to core 1; runs every
-- row pinned to core 1, the RSS row, the callgrind profiles, the
-- micro-benchmarks and webhooks.verify against OpenSSL (bench/webhooks.lua),
-- stops both nginx, prints the figures and targets, and writes
-- bench/RESULTS.md.
--
-- Environment: BENCH_ROUNDS (default 5: each row runs that many times,
-- interleaved, and the median is reported), BENCH_SCALE (default 1:
-- multiplies every request count; 0.1 for a quick smoke run),
-- BENCH_RESULTS (default bench/RESULTS.md), BENCH_ONLY (Lua patterns,
-- comma-separated: only the rows whose id matches one, printed, no RESULTS.md), BENCH_PART=
-- callgrind (only the instruction counts, printed: make bench-callgrind;
-- callgrind-openresty: only the OpenResty clients'; hold: start both
-- servers, print their URLs, stop when standard input closes),
-- BENCH_JITP (a jit.p mode such as "Fl": the OpenResty rows run under
-- LuaJIT's sampling profiler, its report written to
-- /tmp/allawee-jitp-<client>-<inflight>.txt), BENCH_VALGRIND_FLAGS (added
-- to callgrind's command line for the OpenResty worker, e.g.
-- "--cache-sim=yes --branch-sim=yes": cache misses and mispredicted
-- branches per create, in the files copied to /tmp/allawee-callgrind.or.*).
package.path = "./?.lua;./lua/?.lua;" .. package.path
local build = assert(arg[1], "usage: lua5.4 bench/run.lua BUILD_DIR")
package.cpath = build .. "/5.4/?.so;" .. package.cpath

local socket = require "socket"
local sample = require "bench.sample"
local report = require "bench.report"
local core = require "allawee.core"

local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "5")
local scale = tonumber(os.getenv("BENCH_SCALE") or "1")
local results_path = os.getenv("BENCH_RESULTS") or "bench/RESULTS.md"
local only = os.getenv("BENCH_ONLY")
local part = os.getenv("BENCH_PART")
if only == "" then only = nil end
local CLIENT_CORE, SERVER_CORE = 1, 0

local function count(n) return math.max(1, math.floor(n * scale + 0.5)) end

-- ------------------------------------------------------------ shell helpers

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

local function must(cmd)
  local out, ok = capture(cmd)
  if not ok then error("command failed: " .. cmd .. "\n" .. out, 0) end
  return out
end

local function write_file(path, text, mode)
  local f = assert(io.open(path, mode or "wb"))
  f:write(text)
  f:close()
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- ------------------------------------------------------------ the scene

local tmp = must("mktemp -d /tmp/allawee-bench.XXXXXX"):gsub("%s+$", "")
-- The nginx workers run as nobody: they read the list pages and the body
-- file here (the key file stays 0600; the client nginx gets the key from
-- its environment).
os.execute("chmod 755 " .. q(tmp))
local body_file = tmp .. "/body.json"
local card_body_file = tmp .. "/card.json"
local key_file = tmp .. "/secret_key"

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local port, tls_port, or_port = free_port(), free_port(), free_port()
while tls_port == port do tls_port = free_port() end
while or_port == port or or_port == tls_port do or_port = free_port() end
local http_url = "http://127.0.0.1:" .. port
local openresty_url = "http://127.0.0.1:" .. or_port
local https_url = "https://127.0.0.1:" .. tls_port
local ca_file = tmp .. "/ca.crt"

-- A throw-away key: the double does not check it. It reaches the clients
-- through a file and the environment, never a command line or the output.
local function random_hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
os.execute("umask 077 && : > " .. q(key_file))
local secret_key = "sk.test.bench" .. random_hex(12)
write_file(key_file, secret_key)

-- The exact bytes allawee sends, for the C programs, wrk and the
-- hand-written cosocket client: what the engine itself would put on the
-- wire (the call API prepares a call without sending it).
local function wire_body(endpoint, params)
  local cfg = core.config { secret_key = secret_key, base_url = http_url }
  local what, _, body = cfg:call(endpoint, params):next(cfg)
  cfg:close()
  return (assert(what == "send" and body, endpoint .. " was not prepared"))
end
write_file(body_file, assert(core.encode(sample.params(), true)))
assert(read_file(body_file) == wire_body("customers.create", sample.params()))
write_file(card_body_file, wire_body("cards.create", sample.card_params()))

local env = table.concat({
  "ALLAWEE_SECRET_KEY=\"$(cat " .. q(key_file) .. ")\"",
  "LUA_PATH=" .. q("./?.lua;./lua/?.lua;;"),
  "BENCH_BODY_FILE=" .. q(body_file),
}, " ")
local lua54_cpath = "LUA_CPATH=" .. q(build .. "/5.4/?.so;;")
local lua51_cpath = "LUA_CPATH=" .. q(";;")

-- ------------------------------------------------------------ nginx

local nginx = {}

function nginx.start()
  must("bench/make-certs.sh " .. q(tmp))
  local conf = read_file("bench/nginx.conf.in")
  local subst = {
    PREFIX = tmp, PORT = tostring(port), TLS_PORT = tostring(tls_port),
    REQUEST_ID = sample.request_id, BODY = sample.success_body,
    CARD_BODY = sample.card_body, CUSTOMER_ID = sample.customer_id,
    LIST_LIMIT = tostring(sample.list_limit),
  }
  conf = conf:gsub("@([A-Z_]+)@", function(k) return assert(subst[k], k) end)
  write_file(tmp .. "/nginx.conf", conf)
  for _, d in ipairs { "client_body", "proxy", "fastcgi", "uwsgi", "scgi", "lists" } do
    os.execute("mkdir -p " .. q(tmp .. "/" .. d))
  end
  for p = 0, sample.list_pages - 1 do
    write_file(string.format("%s/lists/customers-page-%d.json", tmp, p), sample.list_page(p))
  end
  os.execute("chmod -R a+rX " .. q(tmp .. "/lists") .. " " .. q(body_file))
  nginx.master = tonumber(must(string.format(
    "taskset -c %d nginx -p %s -c %s -e %s >%s 2>&1 & echo $!", SERVER_CORE,
    q(tmp), q(tmp .. "/nginx.conf"), q(tmp .. "/error.log"), q(tmp .. "/nginx.out"))))
  for _ = 1, 100 do
    local a = socket.connect("127.0.0.1", port)
    local b = a and socket.connect("127.0.0.1", tls_port)
    if a then a:close() end
    if b then b:close() end
    if a and b then
      nginx.worker = tonumber(capture("ps -o pid= --ppid " .. nginx.master):match("%d+"))
      if nginx.worker then return end
    end
    socket.sleep(0.05)
  end
  error("nginx did not start: " .. (read_file(tmp .. "/error.log") or ""), 0)
end

function nginx.stop()
  if not nginx.master then return end
  os.execute("kill -TERM " .. nginx.master .. " 2>/dev/null")
  for _ = 1, 100 do
    if not read_file("/proc/" .. nginx.master .. "/stat") then break end
    socket.sleep(0.05)
  end
  nginx.master = nil
end

-- CPU seconds (user+sys) the worker has used so far.
function nginx.cpu()
  local stat = read_file("/proc/" .. nginx.worker .. "/stat") or ""
  local fields = {}
  for f in stat:gsub("^.*%) ", ""):gmatch("%S+") do fields[#fields + 1] = f end
  -- after "pid (comm) ", utime and stime are the 12th and 13th fields
  return ((tonumber(fields[12]) or 0) + (tonumber(fields[13]) or 0)) / report.clock_ticks
end

-- ------------------------------------------------------------ the client nginx

-- The OpenResty rows' nginx: lua-nginx-module on LuaJIT, one worker, on the
-- client core; its Lua (bench/openresty_client.lua) loads the LuaJIT build.
local openresty = {
  clients = { "allawee", "hand", "hand_cjson" },   -- bench/openresty_client.lua's
}

function openresty.start()
  local conf = read_file("bench/openresty.conf.in")
  local repo = must("pwd"):gsub("%s+$", "")
  local cpath = build:sub(1, 1) == "/" and build or (repo .. "/" .. build)
  local subst = { PREFIX = tmp, PORT = tostring(or_port), REPO = repo,
                  CPATH = cpath .. "/luajit" }
  conf = conf:gsub("@([A-Z_]+)@", function(k) return assert(subst[k], k) end)
  write_file(tmp .. "/openresty.conf", conf)
  openresty.master = tonumber(must(string.format(
    "%s BENCH_TARGET=%s taskset -c %d nginx -p %s -c %s -e %s >%s 2>&1 & echo $!",
    env, q(http_url), CLIENT_CORE, q(tmp), q(tmp .. "/openresty.conf"),
    q(tmp .. "/openresty-error.log"), q(tmp .. "/openresty.out"))))
  for _ = 1, 100 do
    local a = socket.connect("127.0.0.1", or_port)
    if a then
      a:close()
      return
    end
    socket.sleep(0.05)
  end
  error("the OpenResty nginx did not start: " .. (read_file(tmp .. "/openresty-error.log") or "") ..
        (read_file(tmp .. "/openresty.out") or ""), 0)
end

-- Instructions per create inside the worker: the client nginx with no
-- master (the one process is the worker) under callgrind, once with `few`
-- and once with `few + n` measured creates; the difference over n, so
-- start-up, JIT warm-up and shutdown cancel. LuaJIT's machine code runs
-- under valgrind too (--smc-check: it writes and patches its own code).
function openresty.instructions(client, n, inflight)
  local vg_port = free_port()
  local conf = read_file(tmp .. "/openresty.conf")
    :gsub("master_process on;", "master_process off;")
    :gsub("listen 127%.0%.0%.1:%d+;", "listen 127.0.0.1:" .. vg_port .. ";")
    :gsub("openresty%.pid", "openresty-vg.pid")
  write_file(tmp .. "/openresty-vg.conf", conf)
  local few = 100
  local function total(creates)
    local out_file = string.format("%s/callgrind.or.%s.%d", tmp, client, creates)
    local pid = tonumber(must(string.format(
      "%s BENCH_TARGET=%s valgrind --tool=callgrind --smc-check=all-non-file %s " ..
      "--callgrind-out-file=%s nginx -p %s -c %s -e %s >%s 2>&1 & echo $!",
      env, q(http_url), os.getenv("BENCH_VALGRIND_FLAGS") or "", q(out_file), q(tmp), q(tmp .. "/openresty-vg.conf"),
      q(tmp .. "/openresty-vg-error.log"), q(tmp .. "/openresty-vg.out"))))
    local up = false
    for _ = 1, 600 do
      local c = socket.connect("127.0.0.1", vg_port)
      if c then c:close() up = true break end
      socket.sleep(0.1)
    end
    local out = up and capture(string.format("curl -sS %s", q(string.format(
      "http://127.0.0.1:%d/run?client=%s&n=%d&warmup=200&inflight=%d",
      vg_port, client, creates, inflight)))) or ""
    os.execute("kill -QUIT " .. pid .. " 2>/dev/null")
    for _ = 1, 600 do
      if not read_file("/proc/" .. pid .. "/stat") then break end
      socket.sleep(0.1)
    end
    if not out:match("RESULT") then
      error("callgrind of the OpenResty " .. client .. " client failed:\n" .. out ..
            (read_file(tmp .. "/openresty-vg-error.log") or ""), 0)
    end
    -- every event recorded (Ir alone unless BENCH_VALGRIND_FLAGS adds the
    -- cache or branch simulation): name -> count
    local text = capture("callgrind_annotate " .. q(out_file) .. " 2>/dev/null")
    local names = text:match("Events shown:%s*([^\n]+)") or "Ir"
    local totals = text:match("([^\n]*)PROGRAM TOTALS") or ""
    local counts, i = {}, 0
    totals = totals:gsub("%b()", "")
    local values = {}
    for v in totals:gmatch("[%d,]+") do values[#values + 1] = tonumber((v:gsub(",", ""))) end
    for name in names:gmatch("%S+") do
      i = i + 1
      counts[name] = values[i] or 0
    end
    return counts
  end
  local a, b = total(few), total(few + n)
  local per = {}
  for name, v in pairs(b) do per[name] = (v - (a[name] or 0)) / n end
  return per.Ir, per
end

function openresty.stop()
  if not openresty.master then return end
  os.execute("kill -TERM " .. openresty.master .. " 2>/dev/null")
  for _ = 1, 100 do
    if not read_file("/proc/" .. openresty.master .. "/stat") then break end
    socket.sleep(0.05)
  end
  openresty.master = nil
end

-- ------------------------------------------------------------ one row

local function parse_result(out)
  local line = out:match("RESULT[^\n]*")
  if not line then return nil end
  local r = {}
  for k, v in line:gmatch("(%S+)=(%S+)") do r[k] = tonumber(v) or v end
  return r
end

local function parse_wrk(out)
  local r = {}
  r.requests = tonumber(out:match("(%d+) requests in"))
  local dur, unit = out:match("requests in ([%d%.]+)(m?s)")
  r.seconds = tonumber(dur) and (unit == "ms" and tonumber(dur) / 1000 or tonumber(dur))
  if out:match("Non%-2xx") or out:match("Socket errors") then
    error("wrk saw errors:\n" .. out, 0)
  end
  -- wrk's CPU: the shell that waited for it reads its own cutime + cstime
  local stat = out:match("\n(%d+ %b() .-)\n?$") or ""
  local fields = {}
  for f in stat:gsub("^.*%) ", ""):gmatch("%S+") do fields[#fields + 1] = f end
  r.cpu_seconds = ((tonumber(fields[14]) or 0) + (tonumber(fields[15]) or 0)) /
                  report.clock_ticks
  return r
end

-- Steal time of the two cores (the hypervisor ran another guest there):
-- jiffies stolen and jiffies in all, from /proc/stat's "cpu" line.
local function steal_jiffies()
  local line = (read_file("/proc/stat") or ""):match("^cpu%s+([^\n]*)") or ""
  local f, total = {}, 0
  for n in line:gmatch("%d+") do
    f[#f + 1] = tonumber(n)
    total = total + tonumber(n)
  end
  return f[8] or 0, total - (f[9] or 0) - (f[10] or 0)   -- guest time is in user already
end

local function run_row(row)
  local server0 = nginx.cpu()
  local steal0, all0 = steal_jiffies()
  local cmd = string.format("%s taskset -c %d %s 2>%s", env, CLIENT_CORE, row.command,
                            q(tmp .. "/stderr"))
  local out, ok = capture(cmd)
  local server = nginx.cpu() - server0
  local steal1, all1 = steal_jiffies()
  local r = row.wrk and parse_wrk(out) or parse_result(out)
  if not ok or not r or not r.requests then
    error(row.name .. " failed:\n" .. out .. (read_file(tmp .. "/stderr") or ""), 0)
  end
  r.server_cpu_seconds = server
  r.steal = all1 > all0 and (steal1 - steal0) / (all1 - all0) or 0
  return r
end

-- ------------------------------------------------------------ the rows

local bin = build .. "/bin/"
local function lua54(script, ...)
  return table.concat({ "env", lua54_cpath, "lua5.4", script, ... }, " ")
end
-- The engine before the rebuild, as mk/bench.mk's bench-pre builds it
-- (git archive of report.baseline.commit): its own module, lua/ and bench
-- scripts, run from its tree, against the same server in the same rounds.
local pre_dir = build .. "/pre-" .. report.baseline.commit
local pre_built = io.open(pre_dir .. "/build/5.4/allawee/core.so", "rb")
if pre_built then pre_built:close() end
local function pre54(script, ...)
  return string.format("sh -c %s", q(table.concat({
    "cd", q(pre_dir), "&&", "exec env", "LUA_CPATH=" .. q("build/5.4/?.so;;"), "lua5.4", script,
    ... }, " ")))
end
local function lua51(script, ...)
  return table.concat({ "env", lua51_cpath, "lua5.1", script, ... }, " ")
end
local function wrk(connections)
  return {
    wrk = true,
    command = string.format("sh -c %s", q(string.format(
      "wrk -t1 -c%d -d%ss -s bench/wrk_post.lua %s/customers; cat /proc/$$/stat",
      connections, math.max(1, math.floor(3 * scale + 0.5)), http_url))),
  }
end

local n_seq, n_async, n_reconnect = count(40000), count(80000), count(8000)
local n_tls_seq, n_tls_handshake = count(30000), count(1500)
local rows = {
  { id = "allawee_seq", name = "1. allawee create, sequential (validate = true)",
    command = lua54("bench/allawee_blocking.lua", http_url, n_seq, 500) },
  { id = "c_seq", name = "2. plain C libcurl, sequential (one easy handle)",
    command = table.concat({ bin .. "c_sequential", http_url .. "/customers",
                             q(body_file), n_seq, 500 }, " ") },
  { id = "luasocket", name = "3a. luasocket http.request + cjson (reconnects)",
    command = lua54("bench/luasocket_cjson.lua", http_url, n_reconnect, 200) },
  { id = "luacurl", name = "3b. lua-curl 0.3 + cjson, Lua 5.1 (one handle)",
    command = lua51("bench/luacurl_cjson.lua", http_url, n_seq, 500) },
  { id = "allawee_async", name = "4a. allawee create_async, 32 in flight",
    command = lua54("bench/allawee_async.lua", http_url, n_async, 32) },
  { id = "c_multi", name = "4b. plain C libcurl multi, 32 in flight",
    command = table.concat({ bin .. "c_multi", http_url .. "/customers",
                             q(body_file), n_async, 32 }, " ") },
  { id = "pre_seq", name = "4c. pre-rebuild engine (" .. report.baseline.commit ..
                          ") create, sequential (validate = true)",
    command = pre54("bench/allawee_blocking.lua", http_url, n_seq, 500) },
  { id = "pre_async", name = "4d. pre-rebuild engine (" .. report.baseline.commit ..
                            ") create_async, 32 in flight",
    command = pre54("bench/allawee_async.lua", http_url, n_async, 32) },
  { id = "wrk1", name = "5a. wrk, 1 connection (server ceiling)" },
  { id = "wrk32", name = "5b. wrk, 32 connections (server ceiling)" },
  { id = "tls_allawee_seq", name = "6a. TLS allawee create, sequential (keep-alive)",
    command = lua54("bench/allawee_blocking.lua", https_url, n_tls_seq, 200, q(ca_file)) },
  { id = "tls_c_seq", name = "6b. TLS plain C libcurl, sequential (keep-alive)",
    command = table.concat({ bin .. "c_sequential", https_url .. "/customers",
                             q(body_file), n_tls_seq, 200, q(ca_file) }, " ") },
  { id = "tls_luasocket", name = "6c. TLS luasocket/luasec + cjson (handshake per call)",
    command = lua54("bench/luasocket_cjson.lua", https_url, n_tls_handshake, 50, q(ca_file)) },
}
local function row_by_id(id)
  for _, r in ipairs(rows) do if r.id == id then return r end end
end
for k, v in pairs(wrk(1)) do row_by_id("wrk1")[k] = v end
for k, v in pairs(wrk(32)) do row_by_id("wrk32")[k] = v end
if not pre_built then   -- no pre-rebuild build (see pre54): no anchor rows
  for i = #rows, 1, -1 do
    if rows[i].id:match("^pre_") then table.remove(rows, i) end
  end
end

-- The other routes, each against the C loop making the same requests.
local n_each = count(4000)   -- iterations: 3 GETs each
local pages = {}
for p = 0, sample.list_pages - 1 do pages[#pages + 1] = http_url .. "/customers" .. sample.list_query(p) end
local function c_seq(flags, urls, file, n, warmup)
  return table.concat({ bin .. "c_sequential", flags, q(urls), file, n, warmup }, " ")
end
local more = {
  { id = "get", name = "7a. allawee customers.get, sequential",
    command = lua54("bench/allawee_routes.lua", "get", http_url, n_seq, 500) },
  { id = "c_get", name = "7b. plain C libcurl, the same GET",
    command = c_seq("-g", http_url .. "/customers/" .. sample.customer_id, "-", n_seq, 500) },
  { id = "each", name = string.format("8a. allawee customers.each, %d pages of %d (per GET)",
                                      sample.list_pages, sample.list_limit),
    command = lua54("bench/allawee_routes.lua", "each", http_url, n_each, 100) },
  { id = "c_each", name = string.format("8b. plain C libcurl, the same %d GETs (per GET)",
                                        sample.list_pages),
    command = c_seq("-g", table.concat(pages, "|"), "-", n_each, 100) },
  { id = "cards", name = "9a. allawee cards.create, sequential",
    command = lua54("bench/allawee_routes.lua", "cards.create", http_url, n_seq, 500) },
  { id = "c_cards", name = "9b. plain C libcurl, the same POST /cards",
    command = c_seq("", http_url .. "/cards", q(card_body_file), n_seq, 500) },
}

-- OpenResty: both clients in the client nginx's worker, driven from here.
local jitp = os.getenv("BENCH_JITP")
local function openresty_row(client, n, warmup, inflight)
  local url = string.format("%s/run?client=%s&n=%d&warmup=%d&inflight=%d",
                            openresty_url, client, n, warmup, inflight)
  if jitp and jitp ~= "" then
    url = url .. string.format("&jitp=%s&jitp_out=/tmp/allawee-jitp-%s-%d.txt", jitp, client, inflight)
  end
  return string.format("curl -sS %s", q(url))
end
local n_or_async = count(80000)
for _, r in ipairs {
  { id = "or_allawee", name = "10a. OpenResty: allawee create, sequential",
    command = openresty_row("allawee", n_seq, 1000, 1) },
  { id = "or_hand", name = "10b. OpenResty: hand-written cosocket + cjson, sequential",
    command = openresty_row("hand", n_seq, 1000, 1) },
  { id = "or_allawee32", name = "10c. OpenResty: allawee create, 32 in flight",
    command = openresty_row("allawee", n_or_async, 1000, 32) },
  { id = "or_hand32", name = "10d. OpenResty: hand-written cosocket + cjson, 32 in flight",
    command = openresty_row("hand", n_or_async, 1000, 32) },
  { id = "or_hand_cjson32",
    name = "10e. OpenResty: hand-written, cjson.encode per call, 32 in flight",
    command = openresty_row("hand_cjson", n_or_async, 1000, 32) },
} do more[#more + 1] = r end
for _, r in ipairs(more) do rows[#rows + 1] = r end

if only then
  local kept = {}
  for _, r in ipairs(rows) do
    for pattern in only:gmatch("[^,]+") do
      if r.id:match(pattern) then
        kept[#kept + 1] = r
        break
      end
    end
  end
  rows = kept
end

-- ------------------------------------------------------------ main

-- Instructions per request (callgrind): the blocking create, the async
-- create (client:wait, which runs every transfer and callback), the C loop
-- and lua-curl. Exact from run to run, unlike times.
local function profiles()
  local cg = require "bench.callgrind"
  local n_prof = count(2000)
  local profile = { requests = n_prof }
  profile.allawee = cg.profile(env .. " " .. lua54_cpath, "--toggle-collect=endpoint_call " ..
    table.concat({ "lua5.4", "bench/allawee_blocking.lua", http_url, n_prof, 0 }, " "),
    n_prof, q(tmp .. "/callgrind.allawee"))
  -- wait() runs the warm-up round (32) and the measured requests
  profile.async = cg.profile(env .. " " .. lua54_cpath, "--toggle-collect=client_wait " ..
    table.concat({ "lua5.4", "bench/allawee_async.lua", http_url, n_prof, 32 }, " "),
    n_prof + 32, q(tmp .. "/callgrind.async"))
  profile.c = cg.profile(env, "--toggle-collect=curl_easy_perform " ..
    table.concat({ bin .. "c_sequential", http_url .. "/customers", q(body_file), n_prof, 0 }, " "),
    n_prof, q(tmp .. "/callgrind.c"))
  profile.luacurl = cg.profile_loop(env .. " " .. lua51_cpath, function(n)
    return table.concat({ "lua5.1", "bench/luacurl_cjson.lua", http_url, n, 0 }, " ")
  end, n_prof, tmp .. "/callgrind.luacurl")
  -- OpenResty: per create in the worker, 32 in flight
  profile.openresty = { requests = n_prof }
  for _, client in ipairs(openresty.clients) do
    profile.openresty[client] = openresty.instructions(client, n_prof, 32)
  end
  return profile
end

local function main()
  local started = socket.gettime()
  nginx.start()
  print(string.format("nginx %d (worker %d) on core %d: %s and %s; clients on core %d",
                      nginx.master, nginx.worker, SERVER_CORE, http_url, https_url,
                      CLIENT_CORE))
  openresty.start()   -- writes openresty.conf, which the profiles reuse
  if part == "callgrind-openresty" then
    -- Only the OpenResty clients' instructions per create (32 in flight);
    -- the callgrind files are copied to /tmp/allawee-callgrind.or.* for
    -- callgrind_annotate.
    openresty.stop()
    local n_prof = count(2000)
    for _, client in ipairs(openresty.clients) do
      local ir, per = openresty.instructions(client, n_prof, 32)
      local extra = {}
      for _, name in ipairs { "I1mr", "D1mr", "D1mw", "Bcm", "Bim" } do
        if per[name] then extra[#extra + 1] = string.format("%s %.0f", name, per[name]) end
      end
      print(string.format("%-10s %9.0f instructions per create%s", client, ir,
                          #extra > 0 and " (" .. table.concat(extra, ", ") .. ")" or ""))
    end
    os.execute("for f in " .. q(tmp) .. "/callgrind.or.*; do cp \"$f\" \"/tmp/allawee-${f##*/}\"; done")
    return
  end
  if part == "hold" then
    -- Both servers up for looking at them by hand (strace -c -p, perf):
    -- the URLs, then nothing until standard input closes.
    print(string.format("hold: target %s, OpenResty client %s (master %d); " ..
                        "GET %s/run?client=allawee&n=N&warmup=W&inflight=K",
                        http_url, openresty_url, openresty.master, openresty_url))
    io.stdout:flush()
    io.read("a")
    openresty.stop()
    return
  end
  if part == "callgrind" then
    openresty.stop()
    print("callgrind: instructions per request on a small run ...")
    io.write(report.profile_console(profiles()), "\n")
    return
  end
  print(string.format("OpenResty client nginx %d on core %d: %s", openresty.master,
                      CLIENT_CORE, openresty_url))
  print(string.format("%d round(s), scale %s; the median of the rounds is reported",
                      rounds, tostring(scale)))
  if not pre_built then
    print(string.format("no pre-rebuild anchor rows: %s was not built (make bench-pre; " ..
                        "needs commit %s in this clone)", pre_dir, report.baseline.commit))
  end
  local samples = {}
  for round = 1, rounds do
    for _, row in ipairs(rows) do
      local r = run_row(row)
      samples[row.id] = samples[row.id] or {}
      table.insert(samples[row.id], r)
      print(report.progress_line(round, row, r))
    end
  end
  openresty.stop()
  local summary = {}
  for _, row in ipairs(rows) do summary[row.id] = report.median(samples[row.id]) end
  if only then
    io.write("\n", report.rows_console(rows, summary, samples), "\n")
    return
  end

  print("rss: 100 000 blocking creates in one process ...")
  local rss = run_row { name = "rss", command = lua54("bench/rss_growth.lua", http_url) }

  print("callgrind: instructions per request on a small run ...")
  local profile = profiles()
  nginx.stop()

  print("micro-benchmarks ...")
  local micro = {}
  local out = must(string.format("%s %s taskset -c %d lua5.4 bench/micro.lua %d 15",
                                 env, lua54_cpath, CLIENT_CORE, count(20000)))
  for line in out:gmatch("RESULT[^\n]*") do
    local r = parse_result(line)
    micro[r.name] = r
  end

  print("webhooks.verify against OpenSSL's HMAC-SHA512 ...")
  out = must(string.format("%s %s taskset -c %d lua5.4 bench/webhooks.lua %s %d 15",
                           env, lua54_cpath, CLIENT_CORE, q(bin .. "c_hmac"), count(20000)))
  for line in out:gmatch("RESULT[^\n]*") do
    local r = parse_result(line)
    micro[r.name] = r
  end

  local doc = report.build {
    rows = rows, summary = summary, samples = samples, rss = rss, micro = micro,
    rounds = rounds, profile = profile,
    scale = scale, client_core = CLIENT_CORE, server_core = SERVER_CORE,
    seconds = socket.gettime() - started,
  }
  io.write("\n", doc.console, "\n")
  write_file(results_path, doc.markdown)
  print("wrote " .. results_path)
end

local ok, err = xpcall(main, debug.traceback)
openresty.stop()
nginx.stop()
os.execute("rm -rf " .. q(tmp))
if not ok then
  io.stderr:write("bench failed: ", tostring(err), "\n")
  os.exit(1)
end
