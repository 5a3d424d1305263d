--[[
allawee.sandbox.router: method + path -> route.

A route is { METHOD, "/cards/:id/block", handler, body = ..., secure = ... }:
`:name` matches one path segment (percent-decoded into params[i]).
`body` is "object" (a JSON object is required), "optional" (an empty body
counts as {}) or nil/"ignored" (not read). `secure` routes are the ones of
secure.allawee.com: the secure listener serves only those, the main
listener serves everything.
]]

local U = require "allawee.sandbox.util"

local Router = {}
Router.__index = Router

local function compile(path)
  local pattern = path:gsub("[%-%.%+%[%]%(%)%$%^%%%?%*]", "%%%0"):gsub(":[%w_]+", "([^/]+)")
  return "^" .. pattern .. "$"
end

-- modules: a list of tables with a `routes` list.
function Router.new(modules)
  local routes = {}
  for _, mod in ipairs(modules) do
    for _, r in ipairs(mod.routes) do
      routes[#routes + 1] = {
        method = r[1], path = r[2], handler = r[3], body = r.body, secure = r.secure == true,
        pattern = compile(r[2]),
      }
    end
  end
  return setmetatable({ routes = routes }, Router)
end

local function captures(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = U.url_decode((select(i, ...))) end
  return out
end

-- The route for method and path: route, params; or nil when none (the
-- caller answers 404).
function Router:match(method, path)
  for _, r in ipairs(self.routes) do
    if r.method == method then
      local first = path:match(r.pattern)
      if first then return r, captures(path:match(r.pattern)) end
    end
  end
  return nil
end

-- True when some route (any method) is a secure one for this path.
function Router:is_secure_path(path)
  for _, r in ipairs(self.routes) do
    if r.secure and path:match(r.pattern) then return true end
  end
  return false
end

return Router
