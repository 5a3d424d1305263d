-- call:head, the engine's parser of an answer's head for transports written
-- in Lua (allawee.openresty hands it the bytes its cosocket read; before,
-- it split the head into lines and fields in Lua). On every Lua, through
-- real HTTP against the sandbox (luasocket moves the bytes), and on crafted
-- heads for what a lying server sends. spec/openresty_spec.lua ("answer
-- heads") runs the same cases through nginx.
require "allawee"   -- registers the decoder the engine uses
local core = require "allawee.core"
local socket = require "socket"
local S = require "support.sandbox"
local F = require "support.fixtures"
local finalizers = require "support.finalizers"

local KEY = "sk.test.canary-call-head"
local MAX_HEAD, MAX_FIELDS = 65536, 200

describe("call:head", function()
  local sb, cfg

  setup(function()
    sb = S.start()
    cfg = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 0 }, "call_head_spec",
                      "allawee-lua/test")
  end)
  teardown(function()
    cfg:close()
    sb:stop()
  end)
  before_each(function() sb:reset() end)

  -- A call whose send is waiting for its answer, and what to send.
  local function sent_call()
    local call = assert(cfg:call("customers.create", F.minimal()))
    local what, request = call:next(cfg)
    assert.are.equal("send", what)
    return call, request
  end

  it("reads a real answer given a byte at a time, and call:answer uses what it kept", function()
    local call, request = sent_call()
    local conn = assert(socket.connect("127.0.0.1", tonumber(sb.url:match(":(%d+)$"))))
    conn:settimeout(5)
    assert(conn:send(table.concat(request)))
    local raw = {}
    repeat
      local line = assert(conn:receive("*l"))
      raw[#raw + 1] = line .. "\r\n"
    until line == ""
    local head = table.concat(raw)
    local request_id = head:match("\n[Xx]%-[Rr]equest%-[Ii]d: ([^\r\n]+)")
    assert.truthy(request_id, head)
    -- fed as a transport that reads one byte at a time would: "more" until
    -- the empty line is in, resuming where it stopped
    local scanned, mores = 0, 0
    local what, status, version, next_pos, te, cl, conn_value, ra
    for i = 1, #head do
      local buf = head:sub(1, i)
      what, status, version, next_pos, te, cl, conn_value, ra =
        call:head(buf, 1, scanned, MAX_HEAD, MAX_FIELDS)
      if what ~= "more" then break end
      mores = mores + 1
      assert.is_true(status <= #buf, "scanned never passes what is there")
      scanned = status
    end
    assert.are.equal("head", what)
    assert.are.equal(#head - 1, mores)
    assert.are.equal(201, status)
    assert.are.equal(11, version)
    assert.are.equal(#head + 1, next_pos)
    assert.is_nil(te)
    assert.is_nil(ra)
    local body = assert(conn:receive(tonumber(cl)))
    conn:close()
    assert.is_true(conn_value == nil or type(conn_value) == "string")
    call:answer(status, nil, body)
    local done, data, err, meta = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(err)
    assert.truthy(data.id)
    assert.are.equal(request_id, meta.request_id)
    assert.are.equal(201, meta.status)
  end)

  it("returns the framing fields, trimmed, whatever the names' case", function()
    local call = sent_call()
    local head = "xx" .. "HTTP/1.0 503 Busy\r\ntransfer-ENCODING:  chunked \r\n" ..
                 "Content-Length:\t12\r\nCONNECTION: Keep-Alive\r\nRetry-After: 7\r\n" ..
                 "X-Request-Id: req_kept\r\nContent-Type: application/json\r\n\r\nbody"
    local what, status, version, next_pos, te, cl, conn, ra = call:head(head, 3, 0, MAX_HEAD,
                                                                        MAX_FIELDS)
    assert.are.same({ "head", 503, 10, #head - 3, "chunked", "12", "Keep-Alive", "7" },
                    { what, status, version, next_pos, te, cl, conn, ra })
    assert.are.equal("body", head:sub(next_pos))
    -- the kept fields reach the outcome: request id, and Retry-After when
    -- the transport passes no seconds of its own
    call:answer(503, nil, '{"code":"error","message":"busy"}')
    local done, data, err = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(data)
    assert.are.equal("req_kept", err.request_id)
    assert.are.equal(503, err.status)
  end)

  it("accepts bare LF line ends and a CR before the last LF", function()
    local call = sent_call()
    assert.are.equal("head", (call:head("HTTP/1.1 200 OK\nA: b\n\n", 1, 0, MAX_HEAD, MAX_FIELDS)))
    assert.are.equal("head", (call:head("HTTP/1.1 200 OK\r\nA: b\n\r\n", 1, 0, MAX_HEAD,
                                        MAX_FIELDS)))
    local what, _, _, next_pos = call:head("HTTP/1.1 204 No\n\nrest", 1, 0, MAX_HEAD, MAX_FIELDS)
    assert.are.equal("head", what)
    assert.are.equal(18, next_pos)
  end)

  it("hands repeated wanted fields and folded lines to the line reader", function()
    local call = sent_call()
    assert.are.equal("lines", (call:head("HTTP/1.1 200 OK\r\nX-Request-Id: a\r\nx-request-id: b\r\n\r\n",
                                         1, 0, MAX_HEAD, MAX_FIELDS)))
    assert.are.equal("lines", (call:head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n",
                                         1, 0, MAX_HEAD, MAX_FIELDS)))
    -- a field nobody reads may repeat
    assert.are.equal("head", (call:head("HTTP/1.1 200 OK\r\nVia: a\r\nVia: b\r\n\r\n", 1, 0,
                                        MAX_HEAD, MAX_FIELDS)))
  end)

  it("says what is wrong with a bad head", function()
    local call = sent_call()
    local function bad(head, max_fields)
      local what, why = call:head(head, 1, 0, MAX_HEAD, max_fields or MAX_FIELDS)
      assert.are.equal("bad", what, head)
      return why
    end
    assert.are.equal("bad status line", bad("HTTP/1.1 20 OK\r\n\r\n"))
    assert.are.equal("bad status line", bad("HTTP/1.1  200 OK\r\n\r\n"))
    assert.are.equal("bad status line", bad("http/1.1 200 OK\r\n\r\n"))
    assert.are.equal("bad status line", bad("\r\n\r\n"))
    assert.are.equal("bad header line", bad("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"))
    assert.are.equal("bad header line", bad("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n"))
    assert.are.equal("bad header line", bad("HTTP/1.1 200 OK\r\nX Y: space in the name\r\n\r\n"))
    assert.are.equal("bad header line", bad("HTTP/1.1 200 OK\r\n folded first: x\r\n\r\n"))
    assert.are.equal("too large", bad("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2))
    assert.are.equal("head", (call:head("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", 1, 0,
                                        MAX_HEAD, 2)))
  end)

  it("bounds the head: over max_head bytes is too large, found or not", function()
    local call = sent_call()
    local long = "HTTP/1.1 200 OK\r\nX: " .. ("a"):rep(100) .. "\r\n\r\n"
    assert.are.same({ "bad", "too large" }, { call:head(long, 1, 0, 64, MAX_FIELDS) })
    assert.are.same({ "bad", "too large" }, { call:head(long:sub(1, 80), 1, 0, 64, MAX_FIELDS) })
    assert.are.same({ "more", 17 }, { call:head(long:sub(1, 64), 1, 0, 64, MAX_FIELDS) })
    assert.are.equal("head", (call:head(long, 1, 0, #long, MAX_FIELDS)))
  end)

  it("raises for programmer errors, and refuses when no send is waiting", function()
    local call = sent_call()
    local head = "HTTP/1.1 200 OK\r\n\r\n"
    assert.has_error(function() call:head(head, 0, 0, MAX_HEAD, MAX_FIELDS) end)
    assert.has_error(function() call:head(head, #head + 2, 0, MAX_HEAD, MAX_FIELDS) end)
    assert.has_error(function() call:head(head, 1, -1, MAX_HEAD, MAX_FIELDS) end)
    assert.has_error(function() call:head(head, 1, 0, 0, MAX_FIELDS) end)
    assert.has_error(function() call:head(head, 1, 0, MAX_HEAD, 0) end)
    assert.has_error(function() call:head({}, 1, 0, MAX_HEAD, MAX_FIELDS) end)
    -- an empty buffer at its end is "more", not an error
    assert.are.same({ "more", 0 }, { call:head(head, #head + 1, 0, MAX_HEAD, MAX_FIELDS) })
    local fresh = assert(cfg:call("customers.create", F.minimal()))
    local ok, err = pcall(fresh.head, fresh, head, 1, 0, MAX_HEAD, MAX_FIELDS)
    assert.is_false(ok)
    assert.matches("no send is waiting", err)
  end)

  it("checks the lines already in: a bad head fails before its end arrives", function()
    local call = sent_call()
    assert.are.same({ "bad", "bad status line" },
                    { call:head("SSH-2.0-OpenSSH\r\n", 1, 0, MAX_HEAD, MAX_FIELDS) })
    assert.are.same({ "bad", "bad header line" },
                    { call:head("HTTP/1.1 201 Created\r\nbad\r\nX-Partial", 1, 0, MAX_HEAD,
                                MAX_FIELDS) })
    -- resumed: what was checked is not checked again, what comes next is
    local head = "HTTP/1.1 201 Created\r\nA: 1\r\n"
    local what, scanned = call:head(head, 1, 0, MAX_HEAD, MAX_FIELDS)
    assert.are.same({ "more", #head }, { what, scanned })
    assert.are.same({ "bad", "bad header line" },
                    { call:head(head .. "B 2\r\n", 1, scanned, MAX_HEAD, MAX_FIELDS) })
    assert.are.same({ "more", #head + 6 },
                    { call:head(head .. "B: 2\r\n", 1, scanned, MAX_HEAD, MAX_FIELDS) })
    -- a folded line in an unfinished head is fine (the line reader joins it)
    assert.are.equal("more", (call:head(head .. " more\r\n", 1, scanned, MAX_HEAD, MAX_FIELDS)))
    -- more lines than max_fields: too large, counted across calls
    local many = "HTTP/1.1 201 Created\r\nA: 1\r\nB: 2\r\n"
    what, scanned = call:head(many, 1, 0, MAX_HEAD, 3)
    assert.are.equal("more", what)
    assert.are.same({ "bad", "too large" },
                    { call:head(many .. "C: 3\r\nD: 4\r\n", 1, scanned, MAX_HEAD, 3) })
  end)

  it("reads a head that follows a 1xx in the same buffer, resumed", function()
    local call = sent_call()
    local interim = "HTTP/1.1 100 Continue\r\n\r\n"
    local final = "HTTP/1.1 201 Created\r\nX-Request-Id: req_after\r\nContent-Length: 2\r\n\r\n{}"
    local buf = interim .. final:sub(1, 30)
    local what, status, _, next_pos = call:head(buf, 1, 0, MAX_HEAD, MAX_FIELDS)
    assert.are.same({ "head", 100, #interim + 1 }, { what, status, next_pos })
    local scanned
    what, scanned = call:head(buf, next_pos, 0, MAX_HEAD, MAX_FIELDS)
    assert.are.equal("more", what)
    -- the transport moves what is left to the front and reads more
    buf = final
    what, status, _, next_pos = call:head(buf, 1, scanned, MAX_HEAD, MAX_FIELDS)
    assert.are.same({ "head", 201, #final - 1 }, { what, status, next_pos })
    call:answer(201, nil, buf:sub(next_pos))
    local done, _, err, meta = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(err)
    assert.are.equal("req_after", meta.request_id)
  end)

  it("keeps nothing when a finalizer answers the call while call:head works", function()
    local retrying = core.config({ secret_key = KEY, base_url = sb.url, max_retries = 1,
                                   backoff_base = 0.001, backoff_max = 0.001 },
                                 "call_head_spec", "allawee-lua/test")
    local call = assert(retrying:call("customers.create", F.minimal()))
    assert.are.equal("send", (call:next(retrying)))
    local head = "HTTP/1.1 201 Created\r\nX-Request-Id: stale\r\nTransfer-Encoding: chunked-" ..
                 ("x"):rep(50) .. "\r\nContent-Length: 5\r\nConnection: close\r\n" ..
                 "Retry-After: 1\r\n\r\n"
    local acted = finalizers.inside(call.head, function() return call end, function()
      call:answer(503, {}, '{"code":"error","message":"busy"}', 0)
    end, function()
      return call:head(head, 1, 0, MAX_HEAD, MAX_FIELDS)
    end)
    if not acted then
      pending("no finalizer ran inside call:head on this Lua in 200000 tries")
      return
    end
    -- the 503 was retryable: a wait, the next send, then a failure with
    -- nothing of the head call:head was reading when the finalizer answered
    local what, seconds = call:next(retrying)
    if what == "wait" then
      socket.sleep(seconds)
      what = call:next(retrying)
    end
    assert.are.equal("send", what)
    call:failed("receive", "closed", true)
    local done, data, err = call:next(retrying)
    retrying:close()
    assert.are.equal("done", done)
    assert.is_nil(data)
    assert.is_nil(err.request_id)
  end)

  it("keeps nothing from an earlier head: a failed exchange after it has its own request id",
     function()
    local call = sent_call()
    assert.are.equal("head", (call:head("HTTP/1.1 100 Continue\r\nX-Request-Id: interim\r\n\r\n",
                                        1, 0, MAX_HEAD, MAX_FIELDS)))
    assert.are.equal("more", (call:head("HTTP/1.1 201 Cre", 1, 0, MAX_HEAD, MAX_FIELDS)))
    call:failed("receive", "closed", true)
    local done, data, err = call:next(cfg)
    assert.are.equal("done", done)
    assert.is_nil(data)
    assert.is_nil(err.request_id)
    assert.is_true(err.ambiguous)
  end)
end)
