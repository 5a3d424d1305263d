-- The fault matrix: one row per way a network or a server can fail, each
-- run for real against the sandbox (or a refused port, or an unresolvable
-- name). Every row asserts the outcome (err.ambiguous and meta.recovered
-- included), the attempts the server saw (exactly-once lookups included),
-- the attempts the client made (libcurl's own resends included), and
-- whether the customer exists afterwards (never twice). docs/fault-matrix.md
-- and the README show the same table; the last tests check that the pages
-- and this table agree, row by row.
local S = require "support.sandbox"
local F = require "support.fixtures"
local net = require "support.net"

local KEY = "sk.test.canary-matrix-41f7"

-- Fields: fault (the row's name), scenario (sandbox spec, or a function of
-- nothing giving a base_url), shown (how the doc shows the scenario),
-- waits (meta.waits, when fixed),
-- outcome ("ok" or err.kind), ambiguous (err.ambiguous), recovered
-- (meta.recovered), code (err.code, when it is fixed), status, retryable
-- (err.retryable, when it is not "retried"),
-- server (requests the sandbox saw), attempts (client attempts), created
-- (the customer exists afterwards), opts (client options), prime (one
-- create on the same client before the measured one; a table: that
-- create's per-call options), lookups (of the server's requests, how many
-- were exactly-once lookups by reference).
local ROWS = {
  { fault = "connection refused", scenario = function() return "http://127.0.0.1:" .. net.free_port() end,
    shown = "base_url on a closed port", outcome = "connection", code = "CURLE_COULDNT_CONNECT",
    server = 0, attempts = 3, created = false },
  { fault = "DNS failure", scenario = function() return "https://api.allawee.invalid" end,
    shown = "base_url `https://api.allawee.invalid`", outcome = "connection",
    code = "CURLE_COULDNT_RESOLVE_HOST", server = 0, attempts = 3, created = false },
  { fault = "closed before answering", scenario = "fault=close", outcome = "connection", ambiguous = true,
    code = "CURLE_GOT_NOTHING", server = 3, attempts = 3, created = false },
  { fault = "closed mid-body", scenario = "fault=close_mid_body", outcome = "connection", ambiguous = true,
    code = "CURLE_PARTIAL_FILE", status = 201, server = 3, attempts = 3, created = false },
  { fault = "truncated body", scenario = "fault=truncate", outcome = "connection", ambiguous = true,
    code = "CURLE_PARTIAL_FILE", status = 201, server = 3, attempts = 3, created = false },
  { fault = "HTML 502 from a proxy", scenario = "fault=html502", outcome = "api", status = 502, ambiguous = true,
    server = 3, attempts = 3, created = false },
  { fault = "HTML 500", scenario = "status=500,shape=html", outcome = "api", status = 500, ambiguous = true,
    code = "application-error", server = 3, attempts = 3, created = false },
  { fault = "non-JSON 2xx", scenario = "fault=nonjson", outcome = "decode", ambiguous = true, code = "invalid_json",
    status = 200, server = 1, attempts = 1, created = false },
  { fault = "empty 2xx", scenario = "fault=empty", outcome = "decode", ambiguous = true, code = "invalid_json",
    status = 200, server = 1, attempts = 1, created = false },
  { fault = "2xx with code \"error\"", scenario = "fault=envelope_error", outcome = "api",
    code = "error", status = 200, server = 1, attempts = 1, created = false },
  { fault = "401", scenario = "status=401", outcome = "authentication", code = "unauthorized",
    status = 401, server = 1, attempts = 1, created = false },
  { fault = "403", scenario = "status=403", outcome = "permission", code = "forbidden",
    status = 403, server = 1, attempts = 1, created = false },
  { fault = "404", scenario = "status=404", outcome = "not_found", code = "not-found",
    status = 404, server = 1, attempts = 1, created = false },
  { fault = "409", scenario = "status=409", outcome = "conflict", code = "reference-conflict",
    status = 409, server = 1, attempts = 1, created = false },
  { fault = "400 {code, message}", scenario = "status=400", outcome = "invalid_request",
    code = "bad-request", status = 400, server = 1, attempts = 1, created = false },
  { fault = "400 {statusCode, message}", scenario = "status=400,shape=statusCode",
    outcome = "invalid_request", code = "bad-request", status = 400, server = 1, attempts = 1,
    created = false },
  { fault = "429 without Retry-After", scenario = "status=429", outcome = "rate_limit",
    code = "too-many-requests", status = 429, server = 3, attempts = 3, created = false },
  { fault = "429 with Retry-After, once", scenario = "status=429,retry_after=0,times=1",
    outcome = "ok", status = 201, server = 2, attempts = 2, created = true, waits = { 0 } },
  { fault = "503 twice, then 201", scenario = "status=503,times=2", outcome = "ok",
    status = 201, server = 3, attempts = 3, created = true },
  { fault = "202 request-accepted", scenario = "fault=accepted", outcome = "accepted",
    code = "request-accepted", status = 202, server = 1, attempts = 1, created = false },
  { fault = "slow headers", scenario = "fault=slow_headers,interval=100", opts = { timeout = 0.2 },
    shown = "`fault=slow_headers,interval=100`, timeout 0.2", outcome = "timeout", ambiguous = true,
    code = "CURLE_OPERATION_TIMEDOUT", server = 3, attempts = 3, created = true },
  { fault = "slow body", scenario = "fault=slow_body,interval=100", opts = { timeout = 1 },
    shown = "`fault=slow_body,interval=100`, timeout 1", outcome = "timeout", ambiguous = true,
    -- 409: the first attempt created the customer, the retries' answers
    -- (sent as slowly) are the service's conflict; the error keeps the last.
    code = "CURLE_OPERATION_TIMEDOUT", status = 409, server = 3, attempts = 3, created = true },
  { fault = "64 MiB body", scenario = "fault=huge", outcome = "decode", ambiguous = true, code = "response_too_large",
    status = 200, server = 1, attempts = 1, created = false },
  { fault = "invalid UTF-8", scenario = "fault=bad_utf8", outcome = "decode", ambiguous = true, code = "invalid_json",
    status = 201, server = 1, attempts = 1, created = false },
  { fault = "deeply nested JSON", scenario = "fault=deep", outcome = "decode", ambiguous = true, code = "invalid_json",
    status = 201, server = 1, attempts = 1, created = false },
  { fault = "stale keep-alive", scenario = "fault=stale", prime = true,
    shown = "`fault=stale`, second create on the client", outcome = "ok",
    status = 201, server = 1, attempts = 1, created = true },
  -- libcurl's own resend: the server read the create on a reused
  -- connection and hung up without a byte; libcurl sends it again on a new
  -- one. Counted, and allowed only where a retry would be.
  { fault = "hidden resend (allowed)", scenario = "fault=close,times=1", prime = { max_retries = 2 },
    shown = "`fault=close,times=1`, second create on the client", outcome = "ok",
    status = 201, server = 2, attempts = 2, created = true },
  { fault = "hidden resend (refused)", scenario = "fault=close,times=1", prime = { max_retries = 2 },
    opts = { max_retries = 0 }, shown = "`fault=close,times=1`, second create on the client, max_retries 0",
    outcome = "connection", ambiguous = true, code = "CURLE_GOT_NOTHING", server = 1, attempts = 1,
    retryable = true, created = false },
  -- exactly once: the create is done, then its answer is lost; the retry
  -- gets 409 reference-conflict and the customer is looked up by reference
  -- (the scenario, times=1, drops the first lookup too: a GET has no key)
  { fault = "created, then the connection closed", scenario = "commit=1,fault=close,times=1",
    outcome = "ok", recovered = true, status = 200, server = 4, attempts = 4, lookups = 2, created = true },
  { fault = "created, then 503", scenario = "commit=1,status=503,times=1",
    outcome = "ok", recovered = true, status = 200, server = 4, attempts = 4, lookups = 2, created = true },
  { fault = "created, answer too late", scenario = "commit=1,delay=3000,times=1", opts = { timeout = 1 },
    shown = "`commit=1,delay=3000,times=1`, timeout 1", outcome = "ok", recovered = true,
    status = 200, server = 4, attempts = 4, lookups = 2, created = true },
  { fault = "created, then closed, no retry", scenario = "commit=1,fault=close", opts = { max_retries = 0 },
    shown = "`commit=1,fault=close`, max_retries 0", outcome = "connection", ambiguous = true,
    code = "CURLE_GOT_NOTHING", server = 1, attempts = 1, retryable = true, created = true },
}

local sb

local function base_url(row)
  if type(row.scenario) == "function" then return row.scenario() end
  return S.scenario_url(sb, row.scenario)
end

local function retried(row) return row.attempts > 1 and "yes" or "no" end
local function shown(row) return row.shown or ("`" .. row.scenario .. "`") end

local function outcome(row)
  return row.outcome .. (row.ambiguous and ", ambiguous" or "") .. (row.recovered and ", recovered" or "")
end

-- The doc's line for a row.
local function doc_line(row)
  return ("| %s | %s | %s | %s | %s | %s | %d | %d | %s |"):format(
    row.fault, shown(row), outcome(row), row.code and ("`" .. row.code .. "`") or "-",
    row.status or "-", retried(row), row.server, row.attempts, row.created and "once" or "no")
end

-- Whether `ref` exists on the sandbox: a create of it on the plain URL
-- answers 409 when it does (and creates it when it does not, which is fine:
-- each row has its own reference).
local function exists(ref)
  local probe = F.new_client(KEY, sb.url, { max_retries = 0 })
  local _, err = probe.customers.create(F.minimal{ reference = ref })
  probe:close()
  if err == nil then return false end
  assert.equals(409, err.status, "probe: " .. tostring(err.message))
  return true
end

setup(function() sb = S.start() end)
teardown(function() sb:stop() end)

describe("the fault matrix", function()
  for _, row in ipairs(ROWS) do
    it(row.fault .. " -> " .. outcome(row), function()
      sb:reset()
      local c = F.new_client(KEY, base_url(row), { backoff_base = 0.01, backoff_max = 0.02,
                                                   max_retries = 2, deadline = 20 }, row.opts)
      if row.prime then
        local _, err = c.customers.create(F.minimal(), type(row.prime) == "table" and row.prime or nil)
        assert.is_nil(err)
      end
      local ref = F.reference("matrix")
      local server, data, err, meta = sb:requests_during(c.customers.create, F.minimal{ reference = ref })
      c:close()

      if row.outcome == "ok" then
        assert.is_nil(err, err and tostring(err.message))
        assert.equals(ref, data.reference)
        assert.equals(row.status, meta.status)
        assert.equals(row.attempts, meta.attempts)
        assert.equals(row.recovered == true, meta.recovered == true)
        if row.waits then assert.same(row.waits, meta.waits) end
      else
        assert.is_nil(data)
        assert.equals(row.outcome, err.kind)
        if row.code then assert.equals(row.code, err.code) end
        assert.equals(row.status, err.status)
        assert.equals(row.attempts, err.attempts)
        -- retryable: of a kind a retry could fix (the retry class decides whether one was made)
        if row.retryable ~= nil then assert.equals(row.retryable, err.retryable)
        else assert.equals(row.attempts > 1, err.retryable) end
        assert.equals(row.ambiguous == true, err.ambiguous)
      end
      assert.equals(row.server, server)

      -- Every attempt the server saw was this create, under one key (a
      -- retry is the same request again, never a new one), or a lookup of
      -- its reference.
      local records = sb:requests()
      local keys, posts, lookups = {}, 0, 0
      for i = #records - server + 1, #records do
        if records[i].method == "GET" then
          assert.truthy(records[i].path:find("/customers?filter=reference%7C%7CEQ%7C%7C", 1, true),
                        records[i].path)
          assert.truthy(records[i].path:find("&limit=1", 1, true), records[i].path)
          lookups = lookups + 1
        else
          local body = assert(F.decode(records[i].body))
          assert.equals(ref, body.reference)
          keys[records[i].headers["idempotency-key"]] = true
          posts = posts + 1
        end
      end
      assert.equals(row.lookups or 0, lookups)
      local distinct = 0
      for _ in pairs(keys) do distinct = distinct + 1 end
      assert.equals(posts > 0 and 1 or 0, distinct)

      -- Created once or not at all: the sandbox never creates a reference
      -- twice, so the probe's 409 means exactly one customer.
      assert.equals(row.created, exists(ref))
    end)
  end

  for _, page in ipairs { "docs/fault-matrix.md", "README.md" } do
    it("is the table " .. page .. " shows", function()
      local doc = assert(net.read_file(page))
      for _, row in ipairs(ROWS) do
        assert.is_truthy(doc:find(doc_line(row), 1, true), "missing or different: " .. doc_line(row))
      end
    end)
  end
end)
