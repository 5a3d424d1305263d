--- bench/report.lua: from measured samples to figures, ratios, PASS/MISS
-- targets, the machine description, the console summary and RESULTS.md.
local report = {}

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1", "r")
  if not p then return "" end
  local out = p:read("*a") or ""
  p:close()
  return (out:gsub("%s+$", ""))
end

report.clock_ticks = tonumber(sh("getconf CLK_TCK")) or 100

-- ------------------------------------------------------------ figures

--- Per-sample figures: requests/s, client and server CPU µs per request,
-- peak RSS in MiB.
local function figures(r)
  return {
    requests = r.requests,
    rps = r.requests / r.seconds,
    cpu_us = r.cpu_seconds / r.requests * 1e6,
    server_us = (r.server_cpu_seconds or 0) / r.requests * 1e6,
    rss_mib = r.peak_rss_kib and r.peak_rss_kib / 1024 or nil,
  }
end

local function median(values)
  table.sort(values)
  local n = #values
  if n == 0 then return nil end
  if n % 2 == 1 then return values[(n + 1) // 2] end
  return (values[n // 2] + values[n // 2 + 1]) / 2
end

--- The median of each figure over the rounds (per figure, not per round).
function report.median(samples)
  local out = { rounds = #samples, all_rps = {} }
  for _, key in ipairs { "requests", "rps", "cpu_us", "server_us", "rss_mib" } do
    local values = {}
    for _, s in ipairs(samples) do values[#values + 1] = figures(s)[key] end
    out[key] = median(values)
  end
  for _, s in ipairs(samples) do out.all_rps[#out.all_rps + 1] = figures(s).rps end
  return out
end

function report.progress_line(round, row, r)
  local f = figures(r)
  return string.format("  [%d] %-52s %9.0f req/s %8.1f us/req client %7.1f us/req server",
                       round, row.name, f.rps, f.cpu_us, f.server_us)
end

-- ------------------------------------------------------------ machine

local function first_line(s) return (s:match("[^\n]*")) end

local function machine()
  local cpu = sh("grep -m1 'model name' /proc/cpuinfo"):match(":%s*(.*)") or "?"
  local pkgs = {}
  for _, p in ipairs { "lua5.4", "lua5.1", "libcurl4", "lua-cjson", "lua-socket",
                       "lua-sec", "lua-curl", "nginx-light", "wrk", "openssl",
                       "valgrind" } do
    pkgs[#pkgs + 1] = p .. " " .. sh("dpkg-query -W -f='${Version}' " .. p)
  end
  local core = require "allawee.core"
  return {
    { "cores (nproc)", sh("nproc") },
    { "CPU", cpu },
    { "memory", sh("free -h | awk '/^Mem:/ {print $2}'") },
    { "kernel", sh("uname -sr") },
    { "OS", "Debian " .. sh("cat /etc/debian_version") },
    { "Lua", first_line(sh("lua5.4 -v")) .. "; " .. first_line(sh("lua5.1 -v")) },
    { "libcurl", core.curl_version .. " (" .. sh("curl-config --ssl-backends") .. ")" },
    { "nginx", first_line(sh("nginx -v")):gsub("^nginx version: ", "") },
    { "wrk", (first_line(sh("wrk -v")):match("wrk %S+") or "wrk") },
    { "OpenSSL", sh("openssl version") },
    { "allawee", core.version .. " (built -O2 -g, build/bench)" },
    { "Debian packages", table.concat(pkgs, ", ") },
  }
end

-- ------------------------------------------------------------ targets

local function targets(s, micro, rss)
  local function ratio(a, b) return a and b and b ~= 0 and a / b or nil end
  local rss_delta = rss.rss_100k_kib - rss.rss_1k_kib
  return {
    { "blocking create req/s >= 0.9x plain C sequential",
      ratio(s.allawee_seq.rps, s.c_seq.rps), ">=", 0.9 },
    { "blocking create CPU/req <= 1.15x plain C sequential",
      ratio(s.allawee_seq.cpu_us, s.c_seq.cpu_us), "<=", 1.15 },
    { "create_async (32 in flight) req/s >= 0.9x plain C multi",
      ratio(s.allawee_async.rps, s.c_multi.rps), ">=", 0.9 },
    { "blocking create req/s >= 1.5x luasocket + cjson",
      ratio(s.allawee_seq.rps, s.luasocket.rps), ">=", 1.5 },
    { "encode time <= 1.0x cjson.encode",
      tonumber(micro.encode and micro.encode.ratio), "<=", 1.0 },
    { "decode time <= 1.25x cjson.decode",
      tonumber(micro.decode and micro.decode.ratio), "<=", 1.25 },
    { "RSS after 100 000 creates within 1 MiB of after 1 000 (KiB)",
      rss_delta, "abs<=", 1024 },
  }
end

local function verdict(t)
  local v, op, limit = t[2], t[3], t[4]
  if v == nil then return "MISS" end
  local ok = (op == ">=" and v >= limit) or (op == "<=" and v <= limit) or
             (op == "abs<=" and math.abs(v) <= limit)
  return ok and "PASS" or "MISS"
end

local function shown(t)
  if t[3] == "abs<=" then return string.format("%+d KiB", t[2]) end
  return t[2] and string.format("%.2fx", t[2]) or "n/a"
end

-- ------------------------------------------------------------ documents

local function fmt(x, pattern) return x and string.format(pattern, x) or "—" end

local function row_table(rows, s)
  local t = {
    "| row | requests | req/s | client CPU µs/req | server CPU µs/req | peak RSS MiB |",
    "|---|---:|---:|---:|---:|---:|",
  }
  for _, row in ipairs(rows) do
    local f = s[row.id]
    t[#t + 1] = string.format("| %s | %d | %s | %s | %s | %s |", row.name, f.requests,
                              fmt(f.rps, "%.0f"), fmt(f.cpu_us, "%.1f"),
                              fmt(f.server_us, "%.1f"),
                              row.wrk and "—" or fmt(f.rss_mib, "%.1f"))
  end
  return table.concat(t, "\n")
end

local function spread(rows, s)
  local t = {}
  for _, row in ipairs(rows) do
    local parts = {}
    for _, v in ipairs(s[row.id].all_rps) do parts[#parts + 1] = string.format("%.0f", v) end
    t[#t + 1] = string.format("- %s: %s", row.name, table.concat(parts, ", "))
  end
  return table.concat(t, "\n")
end

local function profile_table(profile)
  local cg = require "bench.callgrind"
  local t = {
    "| function (inclusive) | what | allawee blocking | plain C |",
    "|---|---|---:|---:|",
    string.format("| all collected | the create call / curl_easy_perform | %.0f | %.0f |",
                  profile.allawee.total, profile.c.total),
  }
  for _, f in ipairs(cg.functions) do
    local a, c = profile.allawee[f[1]], profile.c[f[1]]
    if a or c then
      t[#t + 1] = string.format("| `%s` | %s | %s | %s |", f[1], f[2],
                                fmt(a, "%.0f"), fmt(c, "%.0f"))
    end
  end
  return table.concat(t, "\n")
end

--- The analysis of what bounds each target, with this run's numbers.
local function bounds(s, micro, profile)
  local enc = micro.encode and micro.encode.allawee_ns / 1000 or 0
  local dec = micro.decode and micro.decode.allawee_ns / 1000 or 0
  local cjson_dec = micro.decode and micro.decode.cjson_ns / 1000 or 0
  local floor_us = s.c_seq.cpu_us + enc + dec
  local lines = {
    string.format("- **What a create must do that the C floor does not.** The plain C loop " ..
      "sends pre-encoded bytes and never parses the answer. allawee encodes and " ..
      "validates the table (%.1f µs in-process, micro-benchmark) and decodes the answer " ..
      "into Lua tables (%.1f µs, of which cjson.decode alone is %.1f µs). On top of the " ..
      "C loop's %.1f µs that is a floor of **%.1f µs CPU per request (%.2fx C)** for any " ..
      "client that returns Lua tables, before any per-call bookkeeping; allawee measured " ..
      "%.1f µs, so %.1f µs is the client's own machinery (Lua call, options, request " ..
      "object, headers, idempotency key, meta table, GC).",
      enc, dec, cjson_dec, s.c_seq.cpu_us, floor_us, floor_us / s.c_seq.cpu_us,
      s.allawee_seq.cpu_us, s.allawee_seq.cpu_us - floor_us),
    string.format("- **Sequential req/s** is client CPU plus the server's time plus two " ..
      "wake-ups per request; with the client's CPU bounded as above, the best " ..
      "sequential rate is about 1 / (wall per C request + %.1f µs) = %.0f req/s " ..
      "(%.2fx C); measured %.0f.",
      enc + dec, 1e6 / (1e6 / s.c_seq.rps + enc + dec),
      (1e6 / (1e6 / s.c_seq.rps + enc + dec)) / s.c_seq.rps, s.allawee_seq.rps),
    string.format("- **create_async, 32 in flight** is bound by client CPU (core 1 is " ..
      "saturated; the server's core is not): C multi needs %.1f µs per request, so the " ..
      "best Lua-table-returning client runs at most 1e6 / (%.1f + %.1f) = %.0f req/s " ..
      "(%.2fx C multi); measured %.0f at %.1f µs per request.",
      s.c_multi.cpu_us, s.c_multi.cpu_us, enc + dec,
      1e6 / (s.c_multi.cpu_us + enc + dec),
      (1e6 / (s.c_multi.cpu_us + enc + dec)) / s.c_multi.rps,
      s.allawee_async.rps, s.allawee_async.cpu_us),
  }
  if profile then
    lines[#lines + 1] = string.format("- **Instruction counts** (callgrind, exact across runs): " ..
      "%.0f instructions per blocking create against %.0f for the C loop (%.2fx); " ..
      "libcurl's exchange costs the same in both. The per-function table below " ..
      "shows where the rest goes.",
      profile.allawee.total, profile.c.total, profile.allawee.total / profile.c.total)
  end
  return table.concat(lines, "\n")
end

function report.build(d)
  local s, micro, rss = d.summary, d.micro, d.rss
  local ts = targets(s, micro, rss)
  local md, con = {}, {}

  -- console
  con[#con + 1] = string.format("%-56s %9s %10s %10s %8s", "row (median)", "req/s",
                                "client us", "server us", "RSS MiB")
  for _, row in ipairs(d.rows) do
    local f = s[row.id]
    con[#con + 1] = string.format("%-56s %9.0f %10.1f %10.1f %8s", row.name, f.rps,
                                  f.cpu_us, f.server_us,
                                  row.wrk and "-" or string.format("%.1f", f.rss_mib))
  end
  for _, name in ipairs { "encode", "decode" } do
    local m = micro[name]
    if m then
      con[#con + 1] = string.format("micro %s: allawee %s ns/op, cjson %s ns/op, ratio %s",
                                    name, m.allawee_ns, m.cjson_ns, m.ratio)
    end
  end
  con[#con + 1] = string.format("RSS: %d KiB after 1 000 creates, %d KiB after 100 000 (%+d KiB)",
                                rss.rss_1k_kib, rss.rss_100k_kib,
                                rss.rss_100k_kib - rss.rss_1k_kib)
  for _, t in ipairs(ts) do
    con[#con + 1] = string.format("%s  %-62s %s", verdict(t), t[1], shown(t))
  end

  -- markdown
  md[#md + 1] = "# allawee-lua benchmark results"
  md[#md + 1] = ""
  md[#md + 1] = string.format("Written by `make bench` (bench/run.lua) on %s UTC in %.0f s; " ..
    "regenerate rather than edit.", os.date("!%Y-%m-%d %H:%M"), d.seconds)
  md[#md + 1] = ""
  md[#md + 1] = "## Targets"
  md[#md + 1] = ""
  md[#md + 1] = "| target | measured | verdict |"
  md[#md + 1] = "|---|---:|---|"
  for _, t in ipairs(ts) do
    md[#md + 1] = string.format("| %s | %s | **%s** |", t[1], shown(t), verdict(t))
  end
  md[#md + 1] = ""
  md[#md + 1] = string.format("## Rows (median of %d rounds)", d.rounds)
  md[#md + 1] = ""
  md[#md + 1] = row_table(d.rows, s)
  md[#md + 1] = ""
  md[#md + 1] = "req/s of every round, to show the spread:"
  md[#md + 1] = ""
  md[#md + 1] = spread(d.rows, s)
  md[#md + 1] = ""
  md[#md + 1] = "## Memory"
  md[#md + 1] = ""
  md[#md + 1] = string.format("One Lua 5.4 process, 100 000 blocking creates (%.1f s): VmRSS " ..
    "%d KiB after 1 000 and %d KiB after 100 000 (%+d KiB), each read after a full GC; " ..
    "Lua heap %s KiB and %s KiB.", rss.seconds, rss.rss_1k_kib, rss.rss_100k_kib,
    rss.rss_100k_kib - rss.rss_1k_kib, rss.lua_heap_1k_kib, rss.lua_heap_100k_kib)
  md[#md + 1] = ""
  md[#md + 1] = "## Micro-benchmarks (in process, Lua 5.4, documented individual sample)"
  md[#md + 1] = ""
  md[#md + 1] = "| operation | allawee ns/op | cjson ns/op | ratio |"
  md[#md + 1] = "|---|---:|---:|---:|"
  if micro.encode then
    md[#md + 1] = string.format("| encode: `core.encode(t)` (validating) vs `cjson.encode(t)` " ..
      "| %s | %s | %s |", micro.encode.allawee_ns, micro.encode.cjson_ns, micro.encode.ratio)
  end
  if micro.decode then
    md[#md + 1] = string.format("| decode: `core.interpret(201, body)` vs `cjson.decode(body)` " ..
      "| %s | %s | %s |", micro.decode.allawee_ns, micro.decode.cjson_ns, micro.decode.ratio)
  end
  md[#md + 1] = ""
  md[#md + 1] = string.format("Fastest of %s rounds of %s calls each, interleaved; CPU time " ..
    "(os.clock). `interpret` includes the UTF-8 check, the integer normalisation (cjson " ..
    "2.1.0 returns 2345 as 2345.0) and the envelope check.",
    micro.encode and micro.encode.rounds or "?", micro.encode and micro.encode.iterations or "?")
  md[#md + 1] = ""
  md[#md + 1] = "## What bounds the figures"
  md[#md + 1] = ""
  md[#md + 1] = bounds(s, micro, d.profile)
  if d.profile then
    md[#md + 1] = ""
    md[#md + 1] = string.format("Instructions per request (callgrind, %d requests after " ..
      "warm-up, Ir inclusive of callees):", d.profile.requests)
    md[#md + 1] = ""
    md[#md + 1] = profile_table(d.profile)
  end
  md[#md + 1] = ""
  md[#md + 1] = "## Method"
  md[#md + 1] = ""
  md[#md + 1] = table.concat({
    string.format("- Server: nginx from Debian, generated config (bench/nginx.conf.in) in a " ..
      "temp dir, 127.0.0.1 on free ports, `worker_processes 1`, pinned with `taskset -c %d`; " ..
      "`POST /customers` answers `return 201` with the documented success body, " ..
      "`default_type application/json`, `x-request-id`; `keepalive_requests 1000000`; " ..
      "access log off. One worker because the server has exactly one core: a second " ..
      "worker on it would add switches, not capacity. The TLS server uses a P-256 " ..
      "CA and server certificate made at bench time with openssl (clients use `ca_file`); " ..
      "no TLS session cache, so the handshake row pays full handshakes.", d.server_core),
    string.format("- Clients: every row is its own process pinned with `taskset -c %d`; " ..
      "client CPU is user+sys of that process over the measured loop only " ..
      "(getrusage in C, os.clock in Lua), after a warm-up; server CPU is the nginx " ..
      "worker's utime+stime (/proc) over the row; peak RSS is VmHWM. wrk's CPU is its " ..
      "whole run (cutime/cstime of the shell that waited for it).", d.client_core),
    "- Same bytes everywhere: the C programs and wrk send the body that " ..
      "`allawee.core.encode` produced and allawee's header lines (C: a fresh UUID " ..
      "idempotency key per request, like allawee). luasocket and lua-curl rows encode " ..
      "with cjson.encode and decode with cjson.decode, as their users would.",
    "- allawee rows: `validate = true`, `max_retries = 0`, one client; async keeps 32 " ..
      "requests in flight with `max_connections = 32`, submitting the next from each " ..
      "callback, driven by `client:wait()`. C multi keeps 32 easy handles on one multi " ..
      "handle with the same perform / info_read / poll loop.",
    string.format("- Rows run in %d interleaved rounds; the tables show per-figure medians. " ..
      "Request counts are fixed (scale %s). Timings are never asserted by tests; " ..
      "this file is the record.", d.rounds, tostring(d.scale)),
  }, "\n")
  md[#md + 1] = ""
  md[#md + 1] = "## Machine"
  md[#md + 1] = ""
  for _, kv in ipairs(machine()) do
    md[#md + 1] = string.format("- %s: %s", kv[1], kv[2])
  end
  md[#md + 1] = string.format("- pinning: nginx (master and its one worker) on core %d, each " ..
    "client on core %d (`taskset`)", d.server_core, d.client_core)
  md[#md + 1] = ""
  return { console = table.concat(con, "\n"), markdown = table.concat(md, "\n") }
end

return report
