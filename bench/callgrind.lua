--- bench/callgrind.lua: instruction counts per request, which (unlike
-- times) repeat exactly from run to run, so they say where the client's
-- CPU goes: valgrind --tool=callgrind on a small run of the blocking row and
-- of the plain C loop, then callgrind_annotate --inclusive=yes, read for the
-- functions below and divided by the number of requests.
local callgrind = {}

-- Inclusive cost of these functions, per request, in this order.
callgrind.functions = {
  { "customers_create", "whole create call (allawee)" },
  { "ax_encode_customer", "encode + validate the table" },
  { "ax_request_submit", "submit: key, encode, headers, first attempt" },
  { "ax_transport_prepare", "easy handle set-up per attempt" },
  { "curl_multi_perform", "libcurl: the HTTP exchange (multi)" },
  { "curl_easy_perform", "libcurl: the HTTP exchange (easy)" },
  { "ax_response_outcome", "response -> value (decode, checks)" },
  { "normalise_numbers", "integer normalisation walk" },
  { "ax_utf8_valid", "UTF-8 check of the body" },
}

local function annotate(file)
  local p = assert(io.popen("callgrind_annotate --inclusive=yes " .. file .. " 2>/dev/null"))
  local text = p:read("*a")
  p:close()
  local total = tonumber((text:match("([%d,]+)%s+%(100%.0%%%)%s+PROGRAM TOTALS") or "0"):gsub(",", ""), 10)
  local costs = {}
  for line in text:gmatch("[^\n]+") do
    local n, name = line:match("^%s*([%d,]+) %([^)]*%)%s+%S-:([%w_]+) ")
    if n and not costs[name] then   -- first hit: the non-recursive entry
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

return callgrind
