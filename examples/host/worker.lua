--[[
worker.lua: one thread's work in examples/host/threaded_host.c.

Every OS thread has its own lua_State, and so its own allawee client: a
client (like a lua_State) belongs to one thread. What the threads share is
process-wide: libcurl's global state, set up once by allawee.core.

    local worker = require "worker"
    local created, failed, first_error = worker.run(thread_id, count, base_url, tag)
]]

local allawee = require "allawee"

local worker = {}

local function customer(thread_id, n, tag)
  return {
    name = ("Thread %d customer %d"):format(thread_id, n),
    reference = ("thread-%s-%d-%d@example.com"):format(tag, thread_id, n),
    type = "individual",
    claims = {},
    verifications = { "tier-1" },
    metadata = { thread = thread_id, n = n },
  }
end

--- Creates `count` customers: the first half one after another with the
--- blocking create, the rest at once with create_async and client:wait(),
--- so both paths run under the thread checks. base_url nil: ALLAWEE_BASE_URL.
--- The key comes from ALLAWEE_SECRET_KEY.
function worker.run(thread_id, count, base_url, tag)
  local client = allawee.new{ base_url = base_url }
  local created, failed, first_error = 0, 0, nil
  local function record(params, data, err)
    if data and data.reference == params.reference then
      created = created + 1
    else
      failed = failed + 1
      first_error = first_error or tostring(err or "unexpected reference in the answer")
    end
  end
  local blocking = math.ceil(count / 2)
  for n = 1, blocking do
    local params = customer(thread_id, n, tag)
    record(params, client.customers.create(params))
  end
  for n = blocking + 1, count do
    local params = customer(thread_id, n, tag)
    client.customers.create_async(params, function(data, err) record(params, data, err) end)
  end
  client:wait()
  client:close()
  return created, failed, first_error
end

return worker
