--- bench/callgrind.lua: instruction counts per request, which (unlike
-- times) repeat exactly from run to run, so they say where the client's
-- CPU goes: valgrind --tool=callgrind on a small run of the blocking row and
-- of the plain C loop, then callgrind_annotate --inclusive=yes, read for the
-- functions below and divided by the number of requests.
local callgrind = {}

-- Inclusive cost of these functions, per request, in this order.
callgrind.functions = {
  { "endpoint_call", "client.customers.create[_async]: the call into the engine " ..
    "(blocking: the whole create)" },
  { "client_wait", "the whole async loop: client:wait() (allawee create_async)" },
  { "curl_easy_perform", "libcurl: the HTTP exchange (easy interface)" },
  { "curl_multi_perform", "libcurl: the HTTP exchange (multi interface)" },
  { "ax_prepare", "arguments to what is sent: options, path, key, encode" },
  { "ax_encode", "encode + validate the table" },
  { "ax_transport_attempt", "easy-handle options for the attempt" },
  { "curl_easy_setopt", "every curl_easy_setopt call (in the above and elsewhere)" },
  { "ax_push_outcome", "the result: decode, data, meta table" },
  { "ax_decode_json", "decode the answer: UTF-8 scan, cjson.decode, integers" },
  { "ax_request_new", "the request object" },
}

local function annotate(file)
  local p = assert(io.popen("callgrind_annotate --inclusive=yes --threshold=100 " .. file .. " 2>/dev/null"))
  local text = p:read("*a")
  p:close()
  local total = tonumber((text:match("([%d,]+)%s+%(100%.0%%%)%s+PROGRAM TOTALS") or "0"):gsub(",", ""), 10)
  local costs = {}
  for line in text:gmatch("[^\n]+") do
    local n, where = line:match("^%s*([%d,]+) %b()%s+(%S+)")
    local name = where and where:match("([^:]+)$")
    -- the first line for a name is its largest; "name'2" lines are
    -- recursion levels, counted again, and are skipped
    if name and not name:find("'", 1, true) and not costs[name] then
      costs[name] = tonumber((n:gsub(",", "")), 10)
    end
  end
  return total, costs
end

--- Runs `command` (a shell command that performs `requests` creates) under
-- callgrind; returns { total = Ir per request, [function] = Ir per request }.
function callgrind.profile(prefix, command, requests, out_file)
  local cmd = string.format("%s valgrind --tool=callgrind --callgrind-out-file=%s %s >/dev/null 2>&1",
                            prefix, out_file, command)
  assert(os.execute(cmd), "callgrind run failed")
  local total, costs = annotate(out_file)
  local per = { total = total / requests }
  for _, f in ipairs(callgrind.functions) do
    if costs[f[1]] then per[f[1]] = costs[f[1]] / requests end
  end
  return per
end

--- For a program whose per-request work cannot be singled out by one C
-- function (a Lua loop): runs it with `requests` and with 0 requests and
-- takes the difference, so start-up is not counted.
function callgrind.profile_loop(prefix, command_for, requests, out_file)
  local base = callgrind.profile(prefix, command_for(0), 1, out_file .. ".0")
  local per = callgrind.profile(prefix, command_for(requests), requests, out_file)
  per.total = per.total - base.total / requests
  return per
end

return callgrind
