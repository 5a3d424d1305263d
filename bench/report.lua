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

--- The figures before the engine was rebuilt for any route: bench/RESULTS.md
-- as written at commit 2aca3e7 (the create-only engine), the baseline the
-- issue holds the engine to ("within 5%"). The CPU ratios are of the
-- medians (58.7 / 33.8 us and 45.2 / 27.9 us), as the issue's 1.74x is.
report.baseline = {
  commit = "2aca3e7",
  blocking_cpu_ratio = 1.74,        -- allawee create / plain C sequential, CPU per request
  blocking_cpu_ratio_paired = 1.83, -- the same, median of the per-round ratios
  async_cpu_ratio = 1.62,           -- create_async / plain C multi, CPU per request
  async_rps_ratio_paired = 0.55,    -- create_async / plain C multi, req/s, per-round median
  blocking_instructions = 222264,   -- callgrind, per blocking create
  c_instructions = 98170,           -- callgrind, per curl_easy_perform of the C loop
  -- not in that file: the 2aca3e7 tree built and measured the way
  -- profiles() does (toggle client_wait, 2000 + 32 requests), 2026-12-02
  async_instructions = 226413,
  tolerance = 0.05,
}

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
  local line = string.format("  [%d] %-52s %9.0f req/s %8.1f us/req client %7.1f us/req server",
                             round, row.name, f.rps, f.cpu_us, f.server_us)
  if r.system_seconds and r.requests then   -- the OpenResty rows: the client's kernel share
    line = line .. string.format(" (client kernel %.1f us/req)", r.system_seconds / r.requests * 1e6)
  end
  return line
end

-- ------------------------------------------------------------ machine

local function first_line(s) return (s:match("[^\n]*")) end

local function machine()
  local cpu = sh("grep -m1 'model name' /proc/cpuinfo"):match(":%s*(.*)") or "?"
  local pkgs = {}
  for _, p in ipairs { "lua5.4", "lua5.1", "libcurl4", "lua-cjson", "lua-socket",
                       "lua-sec", "lua-curl", "nginx-light", "libnginx-mod-http-lua",
                       "lua-resty-core", "libluajit2-5.1-2", "wrk", "openssl",
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
    { "LuaJIT (OpenResty rows)", first_line(sh("luajit -v")) },
    { "wrk", (first_line(sh("wrk -v")):match("wrk %S+") or "wrk") },
    { "OpenSSL", sh("openssl version") },
    { "allawee", core.version .. " (built -O2 -g, build/bench)" },
    { "Debian packages", table.concat(pkgs, ", ") },
  }
end

-- ------------------------------------------------------------ targets

--- A ratio between two rows, judged the way the rows were measured: the
-- two rows of each round ran one after the other, so their ratio is taken
-- per round and the median of those is reported (a round disturbed by
-- another process moves both sides, or is outvoted).
local function paired(samples, a, b, key)
  if not (samples[a] and samples[b]) then return nil, "" end
  local ratios = {}
  for r = 1, math.min(#samples[a], #samples[b]) do
    ratios[#ratios + 1] = figures(samples[a][r])[key] / figures(samples[b][r])[key]
  end
  local m = median(ratios)   -- sorts
  return m, string.format("%.2f–%.2f", ratios[1], ratios[#ratios])
end

local function targets(samples, summary, micro, rss)
  local rss_delta = rss.rss_100k_kib - rss.rss_1k_kib
  local base = report.baseline
  -- optional: a row left out when its anchor did not run (the pre-rebuild
  -- rows need that commit in the clone)
  local function row(name, op, limit, value, range, optional)
    return { name, value, op, limit, range or "", optional = optional }
  end
  -- the ratio of the medians, as the baseline's figures are
  local function of_medians(a, b, key)
    local sa, sb = summary[a], summary[b]
    local _, range = paired(samples, a, b, key)
    return sa and sb and sa[key] / sb[key] or nil, range
  end
  local ab_seq, ab_seq_range = paired(samples, "allawee_seq", "pre_seq", "cpu_us")
  local ab_async, ab_async_range = paired(samples, "allawee_async", "pre_async", "cpu_us")
  local list = {
    row("blocking create req/s >= 0.9x plain C sequential", ">=", 0.9,
        paired(samples, "allawee_seq", "c_seq", "rps")),
    row("blocking create CPU/req <= 1.15x plain C sequential", "<=", 1.15,
        paired(samples, "allawee_seq", "c_seq", "cpu_us")),
    row(string.format("**engine:** blocking create CPU/req ratio to plain C within 5%% of the " ..
                      "pre-rebuild %.2fx measured on 2026-11-28 (<= %.2fx; ratio of the medians)",
                      base.blocking_cpu_ratio, base.blocking_cpu_ratio * (1 + base.tolerance)),
        "<=", base.blocking_cpu_ratio * (1 + base.tolerance),
        of_medians("allawee_seq", "c_seq", "cpu_us")),
    row(string.format("**engine, same rounds:** blocking create CPU/req <= 1.05x the " ..
                      "pre-rebuild engine's (%s built here, row 4c; median of the per-round " ..
                      "ratios)", base.commit), "<=", 1 + base.tolerance,
        ab_seq, ab_seq_range, true),
    row("create_async (32 in flight) req/s >= 0.9x plain C multi", ">=", 0.9,
        paired(samples, "allawee_async", "c_multi", "rps")),
    row(string.format("**engine:** create_async CPU/req ratio to plain C multi within 5%% of the " ..
                      "pre-rebuild %.2fx measured on 2026-11-28 (<= %.2fx; ratio of the medians)",
                      base.async_cpu_ratio, base.async_cpu_ratio * (1 + base.tolerance)),
        "<=", base.async_cpu_ratio * (1 + base.tolerance),
        of_medians("allawee_async", "c_multi", "cpu_us")),
    row(string.format("**engine, same rounds:** create_async CPU/req <= 1.05x the " ..
                      "pre-rebuild engine's (%s built here, row 4d; median of the per-round " ..
                      "ratios)", base.commit), "<=", 1 + base.tolerance,
        ab_async, ab_async_range, true),
    row("blocking create req/s >= 1.5x luasocket + cjson", ">=", 1.5,
        paired(samples, "allawee_seq", "luasocket", "rps")),
    row("OpenResty create req/s >= 0.9x hand-written cosocket + cjson, sequential", ">=", 0.9,
        paired(samples, "or_allawee", "or_hand", "rps")),
    row("OpenResty create req/s >= 0.9x hand-written cosocket + cjson, 32 in flight", ">=", 0.9,
        paired(samples, "or_allawee32", "or_hand32", "rps")),
    row("encode time <= 1.0x cjson.encode", "<=", 1.0,
        tonumber(micro.encode and micro.encode.ratio)),
    row("decode time <= 1.25x cjson.decode", "<=", 1.25,
        tonumber(micro.decode and micro.decode.ratio)),
    row("RSS after 100 000 creates within 1 MiB of after 1 000 (KiB)", "abs<=", 1024,
        rss_delta),
  }
  for i = #list, 1, -1 do
    if list[i].optional and list[i][2] == nil then table.remove(list, i) end
  end
  return list
end

--- The rows without a target: each against the row that makes the same
-- requests its own way (allawee / the anchor).
report.comparisons = {
  { "customers.get / plain C GET", "get", "c_get" },
  { "customers.each, 3 pages / plain C, the same 3 GETs", "each", "c_each" },
  { "cards.create / plain C POST /cards", "cards", "c_cards" },
  { "customers.create / plain C POST /customers (rows 1 and 2, for reference)",
    "allawee_seq", "c_seq" },
  { "OpenResty allawee / hand-written, sequential", "or_allawee", "or_hand" },
  { "OpenResty allawee / hand-written, 32 in flight", "or_allawee32", "or_hand32" },
  { "TLS create / plain C TLS", "tls_allawee_seq", "tls_c_seq" },
  { "pre-rebuild engine create / plain C POST /customers (rows 4c and 2)", "pre_seq", "c_seq" },
  { "pre-rebuild engine create_async / plain C multi (rows 4d and 4b)", "pre_async", "c_multi" },
  { "create / pre-rebuild engine create (rows 1 and 4c)", "allawee_seq", "pre_seq" },
  { "create_async / pre-rebuild engine create_async (rows 4a and 4d)", "allawee_async",
    "pre_async" },
}

local function comparison_table(samples, summary)
  local t = {
    "| allawee row / anchor row | req/s ratio | range | CPU/req ratio | range | CPU/req, medians |",
    "|---|---:|---:|---:|---:|---:|",
  }
  for _, c in ipairs(report.comparisons) do
    local a, b = c[2], c[3]
    if samples[a] and samples[b] then
      local rps, rps_range = paired(samples, a, b, "rps")
      local cpu, cpu_range = paired(samples, a, b, "cpu_us")
      t[#t + 1] = string.format("| %s | %.2fx | %s | %.2fx | %s | %.1f / %.1f µs |", c[1], rps,
                                rps_range, cpu, cpu_range, summary[a].cpu_us, summary[b].cpu_us)
    end
  end
  return table.concat(t, "\n")
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
    t[#t + 1] = string.format("| %s | %.0f | %s | %s | %s | %s |", row.name, f.requests,
                              fmt(f.rps, "%.0f"), fmt(f.cpu_us, "%.1f"),
                              fmt(f.server_us, "%.1f"),
                              row.wrk and "—" or fmt(f.rss_mib, "%.1f"))
  end
  return table.concat(t, "\n")
end

local function spread(rows, s, samples)
  local t = {}
  for _, row in ipairs(rows) do
    local parts, steal = {}, {}
    for i, v in ipairs(s[row.id].all_rps) do
      parts[#parts + 1] = string.format("%.0f", v)
      steal[#steal + 1] = string.format("%.0f", 100 * (samples[row.id][i].steal or 0))
    end
    t[#t + 1] = string.format("- %s: %s (steal %%: %s)", row.name, table.concat(parts, ", "),
                              table.concat(steal, ", "))
  end
  return table.concat(t, "\n")
end

local function profile_table(profile)
  local cg = require "bench.callgrind"
  local l = profile.luacurl or {}
  local y = profile.async or {}
  local t = {
    "| function (inclusive) | what | allawee blocking | allawee async | plain C | " ..
      "lua-curl + cjson (5.1) |",
    "|---|---|---:|---:|---:|---:|",
    string.format("| per request | allawee blocking: the create call; async: wait(), per " ..
                  "request; C: curl_easy_perform; lua-curl: the whole loop, start-up " ..
                  "subtracted | %.0f | %s | %.0f | %s |",
                  profile.allawee.total, fmt(y.total, "%.0f"), profile.c.total,
                  fmt(l.total, "%.0f")),
  }
  for _, f in ipairs(cg.functions) do
    local a, ay, c, lc = profile.allawee[f[1]], y[f[1]], profile.c[f[1]], l[f[1]]
    if a or ay or c or lc then
      t[#t + 1] = string.format("| `%s` | %s | %s | %s | %s | %s |", f[1], f[2],
                                fmt(a, "%.0f"), fmt(ay, "%.0f"), fmt(c, "%.0f"), fmt(lc, "%.0f"))
    end
  end
  return table.concat(t, "\n")
end

--- The instruction counts alone, for make bench-callgrind.
function report.profile_console(profile)
  local cg = require "bench.callgrind"
  local lines = { string.format("%-22s %12s %12s %12s %12s", "Ir per request", "blocking",
                                "async", "plain C", "lua-curl") }
  local function row(name, key)
    local function v(p) return p and p[key] and string.format("%.0f", p[key]) or "-" end
    lines[#lines + 1] = string.format("%-22s %12s %12s %12s %12s", name, v(profile.allawee),
                                      v(profile.async), v(profile.c), v(profile.luacurl))
  end
  row("total", "total")
  for _, f in ipairs(cg.functions) do row(f[1], f[1]) end
  local o = profile.openresty
  if o and o.allawee then
    lines[#lines + 1] = string.format("OpenResty, per create in the worker (32 in flight): " ..
      "allawee %.0f, hand-written %.0f, hand-written + cjson.encode %.0f", o.allawee, o.hand,
      o.hand_cjson)
  end
  lines[#lines + 1] = string.format("pre-rebuild (%s): %d per blocking create, %d per C request",
                                    report.baseline.commit, report.baseline.blocking_instructions,
                                    report.baseline.c_instructions)
  return table.concat(lines, "\n")
end

--- The rows alone (BENCH_ONLY runs).
function report.rows_console(rows, s, samples)
  local con = { string.format("%-60s %9s %10s %10s %8s", "row (median)", "req/s", "client us",
                              "server us", "RSS MiB") }
  for _, row in ipairs(rows) do
    local f = s[row.id]
    con[#con + 1] = string.format("%-60s %9.0f %10.1f %10.1f %8s", row.name, f.rps, f.cpu_us,
                                  f.server_us,
                                  row.wrk and "-" or string.format("%.1f", f.rss_mib or 0))
  end
  for _, c in ipairs(report.comparisons) do
    if samples[c[2]] and samples[c[3]] then
      local rps, rr = paired(samples, c[2], c[3], "rps")
      local cpu, cr = paired(samples, c[2], c[3], "cpu_us")
      con[#con + 1] = string.format("%-60s req/s %.2fx (%s)  CPU %.2fx (%s)", c[1], rps, rr,
                                    cpu, cr)
    end
  end
  return table.concat(con, "\n")
end

--- The analysis of what bounds each target, with this run's numbers.
local function bounds(s, samples, micro, profile)
  local lines = {}
  local function add(fmt_, ...) lines[#lines + 1] = string.format(fmt_, ...) end
  local base = report.baseline
  local enc_ns = micro.encode and micro.encode.allawee_ns or 0
  local dec_ns = micro.decode and micro.decode.allawee_ns or 0
  local cjson_dec_ns = micro.decode and micro.decode.cjson_ns or 0
  local blocking_ratio = s.allawee_seq.cpu_us / s.c_seq.cpu_us
  local async_ratio = s.allawee_async.cpu_us / s.c_multi.cpu_us
  add("- **The engine against its pre-rebuild figures** (RESULTS.md at %s, the create-only " ..
    "engine). CPU per request, ratio of the medians: blocking create %.2fx the C loop " ..
    "(%.1f against %.1f µs; before: %.2fx), create_async %.2fx the C multi program (%.1f " ..
    "against %.1f µs; before: %.2fx). Per-round ratios (median, range) are in the Targets " ..
    "table; on this shared machine a round's ratio moves by tens of percent, so the " ..
    "instruction counts below are the sharper test.",
    base.commit, blocking_ratio, s.allawee_seq.cpu_us, s.c_seq.cpu_us, base.blocking_cpu_ratio,
    async_ratio, s.allawee_async.cpu_us, s.c_multi.cpu_us, base.async_cpu_ratio)
  if s.pre_seq and s.pre_async then
    add("- **The engine against the pre-rebuild engine in the same rounds** (%s built from git, " ..
      "rows 4c and 4d): today the old engine itself measures %.2fx the C loop (blocking) and " ..
      "%.2fx the C multi program (async), where RESULTS.md at %s said %.2fx and %.2fx; the " ..
      "machine moved, not the code. Per round, the new engine's CPU per request is %.2fx " ..
      "the old one's blocking and %.2fx async (medians of the per-round ratios; target <= %.2fx).",
      base.commit, s.pre_seq.cpu_us / s.c_seq.cpu_us, s.pre_async.cpu_us / s.c_multi.cpu_us,
      base.commit, base.blocking_cpu_ratio, base.async_cpu_ratio,
      paired(samples, "allawee_seq", "pre_seq", "cpu_us"),
      paired(samples, "allawee_async", "pre_async", "cpu_us"), 1 + base.tolerance)
  end
  if profile then
    local a, c = profile.allawee, profile.c
    local total, floor_c = a.total, c.total
    local curl = a.curl_multi_perform or 0
    local enc, dec = a.ax_encode or 0, a.ax_decode_json or 0
    local rest = total - curl - enc - dec
    add("- **Where a create's instructions go** (callgrind, exact from run to run): " ..
      "%.0f per blocking create against %.0f for the C loop (%.2fx; before the rebuild: " ..
      "%d against %d, %.2fx, so the engine for any route costs %+.1f%% instructions per " ..
      "create). libcurl's exchange is the same in both (%.0f). The difference is the work " ..
      "the C loop does not do: encoding and validating the table (%.0f), decoding the " ..
      "answer into Lua tables (%.0f, nearly all of it inside cjson.decode), and allawee's " ..
      "own bookkeeping (%.0f: the Lua call, arguments and options, path, idempotency key, " ..
      "request object, easy-handle options, outcome and meta table; %.0f%% of the total).",
      total, floor_c, total / floor_c, base.blocking_instructions, base.c_instructions,
      base.blocking_instructions / base.c_instructions,
      100 * (total / base.blocking_instructions - 1), curl, enc, dec, rest, 100 * rest / total)
    if profile.async and profile.async.total then
      add("- **create_async** costs %.0f instructions per request inside `client:wait()` " ..
        "(transfers, outcomes, callbacks and the next submit; before the rebuild %d, " ..
        "%+.1f%%), about the same as a blocking create (%.0f): the engine adds nothing " ..
        "per request for keeping 32 in flight.", profile.async.total,
        base.async_instructions, 100 * (profile.async.total / base.async_instructions - 1),
        total)
    end
    add("- **CPU per request (1.15x target).** Any client that hands back Lua tables " ..
      "must do the C loop's work plus encode and decode: %.0f + %.0f + %.0f = %.0f " ..
      "instructions, **%.2fx the C loop before any bookkeeping**. Decoding alone " ..
      "(cjson 2.1.0, the architecture's decoder) is %.0f%% of the whole C exchange, so " ..
      "1.15x is out of reach by construction.",
      floor_c, enc, dec, floor_c + enc + dec, (floor_c + enc + dec) / floor_c,
      100 * dec / floor_c)
  end
  if profile and profile.luacurl then
    add("- **Against the naive loop.** Debian's lua-curl with cjson under Lua 5.1 (no " ..
      "validation, no integer fix-up, no idempotency key, no meta table, libcurl-gnutls) " ..
      "costs %.0f instructions per request, allawee %.0f (%.2fx); in CPU time lua-curl " ..
      "measured %.1f µs against allawee's %.1f.",
      profile.luacurl.total, profile.allawee.total,
      profile.allawee.total / profile.luacurl.total, s.luacurl.cpu_us, s.allawee_seq.cpu_us)
  end
  add("- **Sequential req/s (0.9x target).** One request at a time alternates between " ..
    "the client's core and the server's, so wall time per request is client CPU plus " ..
    "server time plus two wake-ups: %.1f µs for C (%.1f client CPU), %.1f µs for " ..
    "allawee (%.1f client CPU). The extra client CPU above is the whole difference.",
    1e6 / s.c_seq.rps, s.c_seq.cpu_us, 1e6 / s.allawee_seq.rps, s.allawee_seq.cpu_us)
  add("- **create_async, 32 in flight (0.9x target)** saturates the client's core (the " ..
    "server's core has room: wrk with 32 connections gets %.0f req/s from it), so req/s " ..
    "is 1 / client CPU per request: C multi %.1f µs -> %.0f req/s, allawee %.1f µs -> " ..
    "%.0f req/s. The same encode/decode work bounds it.",
    s.wrk32.rps, s.c_multi.cpu_us, s.c_multi.rps, s.allawee_async.cpu_us, s.allawee_async.rps)
  if s.get and s.c_get and s.each and s.c_each and s.cards and s.c_cards then
    add("- **Other routes against the C loop doing the same requests.** customers.get: " ..
      "%.1f against %.1f µs CPU per request (%.2fx); cards.create: %.1f against %.1f " ..
      "(%.2fx); a 3-page customers.each: %.1f against %.1f per GET (%.2fx). They follow " ..
      "what there is to decode, as the create does: a get decodes the same customer " ..
      "(about 1 KiB) and encodes nothing; a card's answer is about half a customer's; " ..
      "each page of the list is %d customers (7.5 KiB of JSON, about 8 times a create's " ..
      "answer), all of it turned into Lua tables, where the C loop only keeps the bytes.",
      s.get.cpu_us, s.c_get.cpu_us, s.get.cpu_us / s.c_get.cpu_us,
      s.cards.cpu_us, s.c_cards.cpu_us, s.cards.cpu_us / s.c_cards.cpu_us,
      s.each.cpu_us, s.c_each.cpu_us, s.each.cpu_us / s.c_each.cpu_us,
      require("bench.sample").list_limit)
  end
  if s.or_allawee and s.or_hand and s.or_allawee32 and s.or_hand32 then
    local o = profile and profile.openresty
    local ratio32 = (paired(samples, "or_allawee32", "or_hand32", "rps"))
    add("- **OpenResty.** Sequential (one create at a time, as a request handler makes " ..
      "them): allawee %.0f req/s, the hand-written client %.0f (%.2fx, median of the " ..
      "rounds' ratios). 32 in flight the worker's core is saturated and req/s is 1 / CPU " ..
      "per create: allawee %.1f µs, hand-written %.1f µs (%.2fx req/s)%s. The " ..
      "hand-written client sends bytes encoded once, before the run; allawee validates " ..
      "and encodes the table on every call, and turns the answer into a checked outcome " ..
      "(UTF-8, integers, envelope, meta).%s",
      s.or_allawee.rps, s.or_hand.rps, (paired(samples, "or_allawee", "or_hand", "rps")),
      s.or_allawee32.cpu_us, s.or_hand32.cpu_us, ratio32,
      s.or_hand_cjson32 and string.format("; encoding the table with cjson.encode on " ..
        "every call, as a real client of the caller's table must, the hand-written client " ..
        "takes %.1f µs (allawee %.2fx its req/s)", s.or_hand_cjson32.cpu_us,
        (paired(samples, "or_allawee32", "or_hand_cjson32", "rps"))) or "",
      o and o.allawee and string.format(" Instructions per create in the worker " ..
        "(callgrind, 32 in flight): allawee %.0f, hand-written %.0f (%.2fx), hand-written " ..
        "with cjson.encode %.0f (allawee %.2fx that).%s", o.allawee, o.hand,
        o.allawee / o.hand, o.hand_cjson, o.allawee / o.hand_cjson,
        -- what to make of a clock ratio under 1 (none to explain above it)
        ratio32 >= 1 and "" or
        o.allawee <= o.hand and " With no more instructions than the hand-written " ..
          "client, the clock difference is in cache misses and mispredicted branches " ..
          "(BENCH_VALGRIND_FLAGS=\"--cache-sim=yes --branch-sim=yes\" make " ..
          "bench-callgrind-openresty; docs/openresty.md, Speed)." or
          " That extra work is the difference.") or "")
  end
  add("- **Against luasocket + cjson (1.5x target).** luasocket opens and closes a TCP " ..
    "connection for every call (%.1f µs client CPU and %.1f µs server CPU per request, " ..
    "against allawee's %.1f and %.1f). allawee's lead is that connection cost, which " ..
    "keep-alive saves, so the ratio follows how expensive a loopback connect and accept " ..
    "are on the host at the time; this run's rounds are in the Targets table.",
    s.luasocket.cpu_us, s.luasocket.server_us, s.allawee_seq.cpu_us, s.allawee_seq.server_us)
  add("- **Encode and decode in isolation** (hot caches, one operation in a loop): " ..
    "allawee's encoder with validation %.0f ns against cjson.encode's %.0f; decode %.0f " ..
    "ns against cjson.decode's %.0f (the difference: UTF-8 check of the body, locating " ..
    "and converting integral numbers, the envelope check). In the request loop the same " ..
    "code runs with colder caches, which is why the instruction counts above, not these " ..
    "times, are the better guide to a create's cost.",
    enc_ns, micro.encode and micro.encode.cjson_ns or 0, dec_ns, cjson_dec_ns)
  return table.concat(lines, "\n")
end

function report.build(d)
  local s, micro, rss = d.summary, d.micro, d.rss
  local ts = targets(d.samples, s, micro, rss)
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
  local wh = micro.webhooks_verify
  if wh then
    con[#con + 1] = string.format("webhooks.verify, %s-byte body: allawee %s ns/op, OpenSSL " ..
                                  "%s ns/op (EVP_MAC %s, HMAC() %s), ratio %s (rounds %s)",
                                  wh.body_bytes, wh.allawee_ns, wh.openssl_ns, wh.openssl_evp_ns,
                                  wh.openssl_hmac_ns, wh.ratio, wh.ratio_range)
  end
  con[#con + 1] = string.format("RSS: %d KiB after 1 000 creates, %d KiB after 100 000 (%+d KiB)",
                                rss.rss_1k_kib, rss.rss_100k_kib,
                                rss.rss_100k_kib - rss.rss_1k_kib)
  for _, t in ipairs(ts) do
    con[#con + 1] = string.format("%s  %-62s %-8s %s", verdict(t), t[1], shown(t),
                                  t[5] ~= "" and "(rounds " .. t[5] .. ")" or "")
  end

  -- markdown
  md[#md + 1] = "# allawee-lua benchmark results"
  md[#md + 1] = ""
  md[#md + 1] = string.format("Written by `make bench` (bench/run.lua) on %s UTC in %.0f s; " ..
    "regenerate rather than edit.", os.date("!%Y-%m-%d %H:%M"), d.seconds)
  md[#md + 1] = ""
  md[#md + 1] = "## Targets"
  md[#md + 1] = ""
  md[#md + 1] = string.format("Ratios between rows are the median over the %d rounds of " ..
    "the ratio within each round (the two rows ran one after the other).", d.rounds)
  md[#md + 1] = ""
  md[#md + 1] = "| target | measured | range over the rounds | verdict |"
  md[#md + 1] = "|---|---:|---:|---|"
  for _, t in ipairs(ts) do
    md[#md + 1] = string.format("| %s | %s | %s | **%s** |", t[1], shown(t), t[5], verdict(t))
  end
  md[#md + 1] = ""
  md[#md + 1] = string.format("## Rows (median of %d rounds)", d.rounds)
  md[#md + 1] = ""
  md[#md + 1] = row_table(d.rows, s)
  md[#md + 1] = ""
  md[#md + 1] = "Rows 7 to 10 (the other routes, OpenResty) against the row that makes the " ..
    "same requests its own way; ratios are allawee / anchor, the median over the rounds of " ..
    "the ratio within each round (no target unless the Targets table has one):"
  md[#md + 1] = ""
  md[#md + 1] = comparison_table(d.samples, s)
  md[#md + 1] = ""
  md[#md + 1] = "req/s of every round, to show the spread, and the share of the two " ..
    "cores' time the hypervisor gave to other guests while the row ran (steal, " ..
    "/proc/stat; the machine is a shared VM, so a round can also lose cache and memory " ..
    "bandwidth to neighbours that steal does not show):"
  md[#md + 1] = ""
  md[#md + 1] = spread(d.rows, s, d.samples)
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
  md[#md + 1] = string.format("ns/op: the fastest of %s rounds of %s calls per side, CPU " ..
    "time (os.clock); ratio: the median over the rounds of allawee/cjson, the two sides " ..
    "of a round run back to back. `interpret` includes the UTF-8 check, the integer " ..
    "normalisation (Debian's cjson 2.1.0 returns 2345 as 2345.0) and the envelope check.",
    micro.encode and micro.encode.rounds or "?", micro.encode and micro.encode.iterations or "?")
  md[#md + 1] = ""
  if wh then
    md[#md + 1] = "## Webhooks: signature check against OpenSSL"
    md[#md + 1] = ""
    md[#md + 1] = "| operation | allawee ns/op | OpenSSL ns/op | ratio | range over the rounds |"
    md[#md + 1] = "|---|---:|---:|---:|---:|"
    md[#md + 1] = string.format("| `allawee.webhooks.verify(body, header, key)`, %s-byte body, " ..
      "vs the same check in C on libcrypto | %s | %s | %s | %s |", wh.body_bytes,
      wh.allawee_ns, wh.openssl_ns, wh.ratio, wh.ratio_range)
    md[#md + 1] = ""
    md[#md + 1] = string.format("Both sides decode the 128 hex digits of the header, compute " ..
      "HMAC-SHA512 of the body under the key and compare in constant time. allawee: the call " ..
      "from Lua 5.4 into src/webhooks.c and the portable C99 SHA-512 of src/sha512.c. OpenSSL " ..
      "(bench/c_hmac.c): the faster of an EVP_MAC context re-keyed per check (%s ns) and the " ..
      "one-shot HMAC() (%s ns), on OpenSSL's assembly SHA-512. ns/op: the fastest of %s " ..
      "rounds of %s checks per side, CPU time; ratio: the median over the rounds of " ..
      "allawee/OpenSSL, the two sides of a round run back to back.",
      wh.openssl_evp_ns, wh.openssl_hmac_ns, wh.rounds, wh.iterations)
    md[#md + 1] = ""
  end
  md[#md + 1] = "## What bounds the figures"
  md[#md + 1] = ""
  md[#md + 1] = bounds(s, d.samples, micro, d.profile)
  if d.profile then
    md[#md + 1] = ""
    md[#md + 1] = string.format("Instructions per request (callgrind, %d requests on one " ..
      "kept-alive connection, Ir inclusive of callees):", d.profile.requests)
    md[#md + 1] = ""
    md[#md + 1] = profile_table(d.profile)
    local o = d.profile.openresty
    if o and o.allawee then
      md[#md + 1] = ""
      md[#md + 1] = string.format("OpenResty, instructions per customers.create inside the " ..
        "nginx worker (callgrind on the worker, no master; %d creates, 32 in flight; the run " ..
        "with 100 more minus the run with 100, so start-up and JIT warm-up cancel): allawee " ..
        "%.0f, hand-written cosocket + cjson %.0f (allawee %.2fx), hand-written encoding " ..
        "with cjson.encode per call %.0f (allawee %.2fx).", o.requests, o.allawee, o.hand,
        o.allawee / o.hand, o.hand_cjson, o.allawee / o.hand_cjson)
    end
  end
  md[#md + 1] = ""
  md[#md + 1] = "## Method"
  md[#md + 1] = ""
  md[#md + 1] = table.concat({
    string.format("- Server: nginx from Debian, generated config (bench/nginx.conf.in) in a " ..
      "temp dir, 127.0.0.1 on free ports, `worker_processes 1`, pinned with `taskset -c %d`; " ..
      "`POST /customers` answers `return 201` with the documented success body, " ..
      "`GET /customers/:id` the same customer (200), `GET /customers?limit=10&page=0..2` " ..
      "a page of 10 customers each (static files made from that body with their own ids, " ..
      "`metadata.hasMore` true on pages 0 and 1; any other page or limit is a 404), " ..
      "`POST /cards` a card object like the sandbox's (201); " ..
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
      "with cjson.encode and decode with cjson.decode, as their users would. Debian's " ..
      "lua-curl (module `curl`, shipped for Lua 5.1 and 5.2 only) is linked against " ..
      "libcurl-gnutls; everything else uses libcurl with OpenSSL.",
    "- Other routes: `customers.get(id)`, `for c in customers.each{ limit = 10 }` (3 " ..
      "pages, 30 customers, counted and checked), `cards.create(params)` with spending " ..
      "controls and metadata; the C loop (bench/c_sequential.c) makes the same requests " ..
      "with the same header lines (a GET has no body and no idempotency key, as allawee's) " ..
      "and the body bytes allawee's engine prepared for the call; the each rows count " ..
      "HTTP requests (3 per loop).",
    "- OpenResty: a second nginx (bench/openresty.conf.in, lua-nginx-module 0.10.23 on " ..
      "LuaJIT 2.1, the module built for LuaJIT), one worker pinned to the client core; " ..
      "bench/openresty_client.lua runs the creates inside it, one after another or in 32 " ..
      "light threads (ngx.thread), against the same double, and reports wall time and the " ..
      "worker's CPU time over the measured creates. allawee: `require(\"allawee.openresty\")" ..
      ".new{...}.customers.create(params)`, `validate = true`, `max_retries = 0`. " ..
      "Hand-written: the same request bytes (allawee's body, prepared once; the same header " ..
      "lines, User-Agent included, checked equal to the engine's own head), a fresh UUID v4 " ..
      "idempotency key per request from OpenSSL's RAND_bytes through the FFI, " ..
      "`sock:send` of a table, status line and headers by `receive(\"*l\")`, the body by " ..
      "Content-Length, `setkeepalive`, `cjson.decode` and the envelope check. Row 10e is " ..
      "the same client encoding the table with `cjson.encode` on every call.",
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
  md[#md + 1] = string.format("- pinning: the double, nginx (master and its one worker), on " ..
    "core %d; each client on core %d (`taskset`), the OpenResty client nginx too",
    d.server_core, d.client_core)
  md[#md + 1] = ""
  return { console = table.concat(con, "\n"), markdown = table.concat(md, "\n") }
end

return report
