-- Sandbox faults for the request engine's specs: commit-then-fail, the
-- hidden-resend detector, fault=close on a reused connection, huge headers,
-- chunked answers (good and bad), and keeping live keys out of the records.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_faults_spec.lua
local socket = require "socket"
local S = require "support.sandbox"
local json = require("cjson").new()

describe("sandbox faults", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function customer_body(reference)
    return json.encode({ name = "Faulty", reference = reference, type = "individual" })
  end

  local function customer_refs()
    local _, doc = sb:call("GET", "/customers")
    local out = {}
    for i, c in ipairs(doc.data) do out[i] = c.reference end
    return out
  end

  -- The raw answer to one request on a fresh connection: status line and
  -- header lines as received, then every byte until the server closes.
  local function raw_exchange(path, body, headers)
    local sock = assert(S.connect(sb.url, 10))
    local h = { Authorization = "Bearer " .. S.TEST_KEY, Connection = "close" }
    for k, v in pairs(headers or {}) do h[k] = v end
    S.send_request(sock, "POST", path, h, body)
    local head = {}
    while true do
      local line, err = sock:receive("*l")
      if not line then
        sock:close()
        return nil, err, head
      end
      if line == "" then break end
      head[#head + 1] = line
    end
    local rest, err, partial = sock:receive("*a")
    sock:close()
    return head, rest or partial, err
  end

  describe("commit=1: the request takes effect, then the answer fails", function()
    it("fault=close: created, no answer at all", function()
      local resp, err, partial = S.request(sb.url, "POST", "/_scenario/commit=1,fault=close/customers",
        { Authorization = "Bearer " .. S.TEST_KEY }, customer_body("c-close"))
      assert.is_nil(resp)
      assert.equals("closed", err)
      assert.equals("", partial)
      assert.same({ "c-close" }, customer_refs())
      local again, doc = sb:call("POST", "/customers", customer_body("c-close"))
      assert.equals(409, again.status)
      assert.equals("reference-conflict", doc.code)
    end)

    it("status=503: created, answered 503", function()
      local resp, doc = sb:call("POST", "/_scenario/commit=1,status=503/customers", customer_body("c-503"))
      assert.equals(503, resp.status)
      assert.equals("service-unavailable", doc.code)
      assert.same({ "c-503" }, customer_refs())
    end)

    it("delay=MS: created before the client's timeout expires", function()
      local resp, err = S.request(sb.url, "POST", "/_scenario/commit=1,delay=1500/customers",
        { Authorization = "Bearer " .. S.TEST_KEY }, customer_body("c-slow"), 0.2)
      assert.is_nil(resp)
      assert.equals("timeout", err)
      assert.same({ "c-slow" }, customer_refs())
    end)

    it("works on any create: a card's reference is taken too", function()
      local program, customer = sb:make_program(), sb:make_customer()
      local body = { program = program.id, customer = customer.id, amount = 0, reference = "card-commit" }
      local resp = sb:call("POST", "/_scenario/commit=1,status=500,fault=html502/cards", body)
      assert.equals(500, resp.status)
      assert.matches("^<!DOCTYPE html>", resp.body)
      local again, doc = sb:call("POST", "/cards", body)
      assert.equals(409, again.status)
      assert.equals("reference-conflict", doc.code)
    end)

    it("with times=1 per Idempotency-Key: the retry finds the first attempt's reference (409)", function()
      local headers = { ["Idempotency-Key"] = "idem-1" }
      local path = "/_scenario/commit=1,fault=close,times=1/customers"
      local ok, err = pcall(sb.call, sb, "POST", path, customer_body("c-retry"), { headers = headers })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("closed", 1, true))
      local resp, doc = sb:call("POST", path, customer_body("c-retry"), { headers = headers })
      assert.equals(409, resp.status)
      assert.equals("reference-conflict", doc.code)
      assert.equals(2, sb:posts_for("c-retry"))
    end)

    it("without commit=1 nothing is created", function()
      sb:call("POST", "/_scenario/status=503/customers", customer_body("c-none"))
      pcall(sb.call, sb, "POST", "/_scenario/fault=close/customers", customer_body("c-none"))
      assert.same({}, customer_refs())
    end)
  end)

  describe("hidden-resend detector", function()
    it("counts every POST per body reference, answered or not", function()
      pcall(sb.call, sb, "POST", "/_scenario/fault=close/customers", customer_body("r-1"))
      sb:call("POST", "/customers", customer_body("r-1"))
      sb:call("POST", "/customers", customer_body("r-1")) -- 409
      sb:call("POST", "/_scenario/status=400/customers", customer_body("r-2"))
      sb:call("PUT", "/customers/cus.x", customer_body("r-3")) -- not a POST
      sb:call("GET", "/customers")
      assert.equals(3, sb:posts_for("r-1"))
      assert.equals(1, sb:posts_for("r-2"))
      assert.equals(0, sb:posts_for("r-3"))
      local _, all = sb:control_json("GET", "/_sandbox/posts_by_reference")
      assert.same({ ["r-1"] = 3, ["r-2"] = 1 }, all)
      sb:reset()
      assert.equals(0, sb:posts_for("r-1"))
    end)
  end)

  describe("fault=close on a reused keep-alive connection", function()
    it("reads the whole request, then closes without sending a byte", function()
      local sock = assert(S.connect(sb.url, 10))
      S.send_request(sock, "POST", "/customers", { Authorization = "Bearer " .. S.TEST_KEY }, customer_body("k-1"))
      local first = assert(S.read_response(sock))
      assert.equals(201, first.status)
      assert.equals("keep-alive", first.headers["connection"])
      -- the second request's body arrives in two parts, after a pause
      local body = customer_body("k-2")
      sock:send(("POST /_scenario/fault=close/customers HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
        .. "Content-Length: %d\r\n\r\n%s"):format(S.TEST_KEY, #body, body:sub(1, 10)))
      socket.sleep(0.2)
      sock:send(body:sub(11))
      local data, err, partial = sock:receive(1)
      sock:close()
      assert.is_nil(data)
      assert.equals("closed", err)
      assert.equals("", partial)
      local records = sb:requests()
      assert.equals(2, #records)
      assert.equals(records[1].connection, records[2].connection)
      assert.equals(body, records[2].body)
      assert.equals(1, sb:posts_for("k-2"))
      assert.same({ "k-1" }, customer_refs())
    end)
  end)

  describe("huge_header", function()
    it("adds an X-Sandbox-Padding header of size= bytes (default 256 KiB), serving normally", function()
      local resp = assert(S.request(sb.url, "POST", "/_scenario/fault=huge_header,size=200000/customers",
        { Authorization = "Bearer " .. S.TEST_KEY }, customer_body("h-1")))
      assert.equals(201, resp.status)
      assert.equals(200000, #resp.headers["x-sandbox-padding"])
      assert.matches("^a+$", resp.headers["x-sandbox-padding"])
      resp = assert(S.request(sb.url, "POST", "/_scenario/fault=huge_header/customers",
        { Authorization = "Bearer " .. S.TEST_KEY }, customer_body("h-2")))
      assert.equals(256 * 1024, #resp.headers["x-sandbox-padding"])
      assert.same({ "h-2", "h-1" }, customer_refs())
    end)
  end)

  describe("chunked answers", function()
    it("fault=chunked sends a valid chunked body in two chunks", function()
      local head, raw = raw_exchange("/_scenario/fault=chunked/customers", customer_body("ch-1"))
      assert.equals("HTTP/1.1 201 Created", head[1])
      local text = table.concat(head, "\n")
      assert.truthy(text:find("Transfer-Encoding: chunked", 1, true))
      assert.falsy(text:find("Content-Length", 1, true))
      local parts, pos = {}, 1
      while true do
        local size_hex, stop = raw:match("^(%x+)\r\n()", pos)
        assert.is_string(size_hex, "chunk size at " .. pos)
        local size = tonumber(size_hex, 16)
        if size == 0 then
          assert.equals("\r\n", raw:sub(stop))
          break
        end
        parts[#parts + 1] = raw:sub(stop, stop + size - 1)
        assert.equals("\r\n", raw:sub(stop + size, stop + size + 1))
        pos = stop + size + 2
      end
      assert.equals(2, #parts)
      local doc = json.decode(table.concat(parts))
      assert.equals("ch-1", doc.data.reference)
    end)

    it("fault=bad_chunked breaks the framing after the first chunk, then closes", function()
      local head, raw = raw_exchange("/_scenario/fault=bad_chunked/customers", customer_body("ch-2"))
      assert.equals("HTTP/1.1 201 Created", head[1])
      local size_hex, stop = raw:match("^(%x+)\r\n()")
      local size = tonumber(size_hex, 16)
      assert.is_true(size > 0)
      assert.equals("\r\nxyz\r\n", raw:sub(stop + size, stop + size + 6))
      assert.falsy(raw:find("\r\n0\r\n\r\n", 1, true))
    end)
  end)

  describe("scenario checks", function()
    it("refuses combinations that make no sense", function()
      for _, spec in ipairs({ "commit=2", "commit=1,fault=accepted", "complete_after=10", "size=10",
        "fault=chunked+truncate", "pagination=3" }) do
        local resp, doc = sb:call("POST", "/_scenario/" .. spec .. "/customers", customer_body("x"))
        assert.equals(400, resp.status, spec)
        assert.equals("sandbox-invalid-scenario", doc.code, spec)
      end
    end)
  end)

  describe("secret keys", function()
    it("records a test key, and only a marker for any other Authorization", function()
      local live = "sk.live.canary-sandbox-faults-3b9e"
      local resp = sb:call("POST", "/customers", customer_body("key-1"), { key = live })
      assert.equals(401, resp.status)
      sb:call("POST", "/customers", customer_body("key-2"))
      S.request(sb.url, "GET", "/customers", { Authorization = "Basic dXNlcjpwYXNz" })
      local text = S.request(sb.url, "GET", "/_sandbox/requests").body
      assert.falsy(text:find("canary-sandbox-faults", 1, true))
      assert.falsy(text:find("dXNlcjpwYXNz", 1, true))
      local records = json.decode(text)
      assert.equals("[redacted: not a test key]", records[1].headers.authorization)
      assert.equals("Bearer " .. S.TEST_KEY, records[2].headers.authorization)
      assert.equals("[redacted: not a test key]", records[3].headers.authorization)
    end)
  end)
end)
