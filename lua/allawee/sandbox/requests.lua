--[[
allawee.sandbox.requests: Guaranteed Request Processing (GRP).

A request answered 202 by fault=accepted is kept under the x-request-id of
that answer. GET /requests/:id shows it, un-enveloped as the newer
reference shows:

    {"_id":"req_...","status":"pending","path":"/cards","method":"POST",
     "attempts":[{"statusCode":202,...}],"createdAt":...,"updatedAt":...}

Completing it (POST /_sandbox/grp/:id/complete, or the scenario key
complete_after=MS) runs the kept request through the routes as if it had
just arrived, adds that attempt, sets "completed" and sends
request.completed to the webhook receiver if one is configured.
]]

local J = require "allawee.sandbox.json"
local U = require "allawee.sandbox.util"
local W = require "allawee.sandbox.webhooks"

local R = {}

local KEYS = { "_id", "status", "path", "method", "attempts", "createdAt", "updatedAt" }
local ATTEMPT_KEYS = { "statusCode", "latency", "responseBody", "createdAt" }

local ACCEPTED_BODY = J.ordered({ "code", "message", "error" }, {
  code = "request-accepted", message = "Request accepted and will be processed asynchronously",
  error = J.ordered({ "code", "message" }, {
    code = "service-unavailable", message = "Service temporarily unavailable",
  }),
})

-- Keeps req (answered 202 with x-request-id `id`); `path` is the API path
-- (without any /_scenario prefix), `host` the listener it came in on.
function R.keep(store, id, req, path, host)
  local t = U.now()
  local now = U.iso_timestamp(t)
  local public = J.ordered(KEYS, {
    _id = id, status = "pending", path = path, method = req.method,
    attempts = J.array({ J.ordered(ATTEMPT_KEYS, {
      statusCode = 202, latency = 0, responseBody = ACCEPTED_BODY, createdAt = now,
    }) }),
    createdAt = now, updatedAt = now,
  })
  local query = req.target:match("%?[^#]*") or ""
  return store:add("request", {
    id = id, public = public, created = t, updated = t,
    req = {
      method = req.method, target = path .. query, headers = req.headers, body = req.body, version = req.version,
    },
    path = path, host = host,
  })
end

local function get(ctx)
  local rec = ctx.store:get("request", ctx.params[1])
  if not rec then return U.not_found("request", ctx.params[1]) end
  return U.json_reply(200, rec.public) -- not enveloped
end

-- Runs the kept request through `dispatch(req, path, host)` (which may wait
-- on the loop), records the attempt, and sends request.completed.
-- Returns the request object, or nil and a conflict reply.
function R.complete(rec, dispatch, hooks, spawn)
  local public = rec.public
  if public.status ~= "pending" or rec.running then
    return nil, U.conflict(("request %s is %s: only a pending request can be completed")
      :format(rec.id, rec.running and "being completed" or public.status))
  end
  rec.running = true -- no second completion while this one runs
  local started = U.now()
  local reply = dispatch(rec.req, rec.path, rec.host)
  local response = J.null
  if reply.secret then
    response = "[redacted: card secrets]"
  elseif reply.body then
    response = J.decode(reply.body) or reply.body
  end
  local attempts = public.attempts
  attempts[#attempts + 1] = J.ordered(ATTEMPT_KEYS, {
    statusCode = reply.status, latency = math.floor((U.now() - started) * 1000 + 0.5),
    responseBody = response, createdAt = U.iso_timestamp(),
  })
  public.status = "completed"
  rec.running = nil
  rec.updated = U.time_after(rec.updated)
  public.updatedAt = U.iso_timestamp(rec.updated)
  rec.req = nil -- the body (and its secrets, if any) is no longer needed
  local cfg = hooks.config
  if cfg then
    local ev = W.event("request.completed", public)
    spawn(function(wait) W.deliver_until_ok(hooks, cfg, { ev }, wait) end)
  end
  return public
end

function R.cancel(rec)
  local public = rec.public
  if public.status ~= "pending" or rec.running then
    return nil, U.conflict(("request %s is %s: only a pending request can be cancelled")
      :format(rec.id, rec.running and "being completed" or public.status))
  end
  public.status = "cancelled"
  rec.updated = U.time_after(rec.updated)
  public.updatedAt = U.iso_timestamp(rec.updated)
  rec.req = nil
  return public
end

R.routes = {
  { "GET", "/requests/:id", get },
}

return R
