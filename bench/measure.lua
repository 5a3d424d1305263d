--- What every Lua benchmark row measures, the same way:
--   wall time   socket.gettime() (luasocket), around the measured loop only
--   client CPU  os.clock(): clock(3), i.e. CPU time of this process, user+sys
--   peak RSS    VmHWM from /proc/self/status (kB), current RSS from VmRSS
-- and how it reports: one line "RESULT key=value ...", read by bench/run.lua.
local socket = require "socket"

local measure = {}

function measure.wall() return socket.gettime() end
function measure.cpu() return os.clock() end

local function status_kib(field)
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)")) or 0
end

function measure.peak_rss_kib() return status_kib("VmHWM") end
function measure.rss_kib() return status_kib("VmRSS") end

--- Runs `call(i)` n times (after `warmup` unmeasured calls) and reports
-- requests per second, client CPU per request and peak RSS.
function measure.loop(n, warmup, call)
  for i = 1, warmup do call(i) end
  collectgarbage("collect")
  local wall0, cpu0 = measure.wall(), measure.cpu()
  for i = 1, n do call(i) end
  local wall, cpu = measure.wall() - wall0, measure.cpu() - cpu0
  return { requests = n, seconds = wall, cpu_seconds = cpu }
end

--- Prints the result line; extra fields are passed through as they are.
function measure.report(r)
  local parts = { "RESULT" }
  local keys = {}
  r.peak_rss_kib = r.peak_rss_kib or measure.peak_rss_kib()
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    parts[#parts + 1] = string.format("%s=%s", k, tostring(r[k]))
  end
  io.write(table.concat(parts, " "), "\n")
  io.flush()
end

--- A failed request ends the row: a benchmark of errors measures nothing.
function measure.fail(what, detail)
  io.stderr:write("bench: ", what, ": ", tostring(detail), "\n")
  os.exit(1)
end

return measure
