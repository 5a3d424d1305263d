-- Sandbox GRP (Guaranteed Request Processing): a 202 fault=accepted keeps the
-- request; GET /requests/:id; completing or cancelling it.
-- Run: busted --lua=lua5.4 --run=5.4 spec/sandbox_grp_spec.lua
local S = require "support.sandbox"
local net = require "support.net"

describe("sandbox GRP", function()
  local sb

  setup(function() sb = S.start() end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() sb:reset() end)

  local function accepted(reference, spec)
    local resp = sb:call("POST", "/_scenario/" .. (spec or "fault=accepted") .. "/customers",
      { name = "Later", reference = reference, type = "individual" })
    assert.equals(202, resp.status)
    local id = resp.headers["x-request-id"]
    assert.matches("^req_%w+$", id)
    return id
  end

  local function customers()
    local _, doc = sb:call("GET", "/customers")
    return doc.data
  end

  it("keeps the request under the 202's x-request-id, un-enveloped and pending", function()
    local id = accepted("grp-1")
    local resp, doc = sb:call("GET", "/requests/" .. id)
    assert.equals(200, resp.status)
    assert.matches('^{"_id":', resp.body)
    assert.equals(id, doc._id)
    assert.equals("pending", doc.status)
    assert.equals("/customers", doc.path) -- without the scenario prefix
    assert.equals("POST", doc.method)
    assert.equals(1, #doc.attempts)
    assert.equals(202, doc.attempts[1].statusCode)
    assert.equals("request-accepted", doc.attempts[1].responseBody.code)
    assert.is_nil(doc.code)
    assert.same({}, customers()) -- not processed yet
    assert.equals(id, sb:requests()[1].request_id)
  end)

  it("runs the request when completed, then refuses a second completion", function()
    local id = accepted("grp-2")
    local status, doc = sb:control_json("POST", "/_sandbox/grp/" .. id .. "/complete")
    assert.equals(200, status)
    assert.equals("completed", doc.status)
    assert.equals(2, #doc.attempts)
    assert.equals(201, doc.attempts[2].statusCode)
    assert.equals("grp-2", doc.attempts[2].responseBody.data.reference)
    local list = customers()
    assert.equals(1, #list)
    assert.equals("grp-2", list[1].reference)
    local _, again = sb:call("GET", "/requests/" .. id)
    assert.equals("completed", again.status)
    status, doc = sb:control_json("POST", "/_sandbox/grp/" .. id .. "/complete")
    assert.equals(409, status)
    assert.equals("conflict", doc.code)
  end)

  it("records the service's answer even when it is an error", function()
    sb:make_customer{ reference = "taken" }
    local id = accepted("taken")
    local _, doc = sb:control_json("POST", "/_sandbox/grp/" .. id .. "/complete")
    assert.equals("completed", doc.status)
    assert.equals(409, doc.attempts[2].statusCode)
    assert.equals("reference-conflict", doc.attempts[2].responseBody.code)
  end)

  it("cancels a pending request, which then never runs", function()
    local id = accepted("grp-3")
    local status, doc = sb:control_json("POST", "/_sandbox/grp/" .. id .. "/cancel")
    assert.equals(200, status)
    assert.equals("cancelled", doc.status)
    assert.equals(409, (sb:control_json("POST", "/_sandbox/grp/" .. id .. "/complete")))
    assert.same({}, customers())
  end)

  it("completes by itself with complete_after=MS", function()
    local id = accepted("grp-4", "fault=accepted,complete_after=30")
    local doc = net.wait_until(function()
      local _, d = sb:call("GET", "/requests/" .. id)
      return d.status == "completed" and d
    end, 10)
    assert.is_table(doc)
    assert.equals(201, doc.attempts[2].statusCode)
    assert.equals(1, #customers())
  end)

  it("answers 404 not-found for an unknown request", function()
    local resp, doc = sb:call("GET", "/requests/req_unknown")
    assert.equals(404, resp.status)
    assert.equals("not-found", doc.code)
    assert.equals(404, (sb:control_json("POST", "/_sandbox/grp/req_unknown/complete")))
    assert.equals(401, (sb:call("GET", "/requests/req_unknown", nil, { key = false })).status)
  end)

  it("is emptied by reset, and times= still lets the retry through", function()
    local id = accepted("grp-5", "fault=accepted,times=1")
    local resp = sb:call("POST", "/_scenario/fault=accepted,times=1/customers",
      { name = "Later", reference = "grp-5", type = "individual" })
    assert.equals(201, resp.status) -- the client's retry (same reference) is served
    sb:reset()
    assert.equals(404, (sb:call("GET", "/requests/" .. id)).status)
  end)
end)
