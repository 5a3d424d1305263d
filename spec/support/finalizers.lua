--- spec/support/finalizers.lua: Lua code run inside one of the module's C
-- functions, the way a finalizer does it in production (at any allocation).
local M = {}

-- Makes the collector eager and tries, up to 200000 times, a fresh
-- `setup()` then `fn(state)`, with a finalizer that runs `act(state)` once
-- when the C function `inside` is the one allocating. Returns the state
-- it acted on and fn's pcall results, or nil when it never fired (the
-- collector decides when finalizers run: callers mark that pending).
function M.inside(inside, setup, act, fn)
  local acted, current = false, nil
  local mt = { __gc = function()
    local info = debug.getinfo(2, "f")
    if info and info.func == inside and current and not acted then
      acted = true
      act(current)
    end
  end }
  if not pcall(collectgarbage, "incremental", 0, 100) then   -- 5.1, 5.2, LuaJIT
    collectgarbage("setpause", 0)
    collectgarbage("setstepmul", 100)
  end
  local results
  for _ = 1, 200000 do
    current = setup()
    if newproxy then   -- 5.1 and LuaJIT: only userdata have finalizers
      getmetatable(newproxy(true)).__gc = mt.__gc
    else
      setmetatable({}, mt)
    end
    results = { pcall(fn, current) }
    if acted then break end
    current = nil
  end
  collectgarbage("restart")
  if not pcall(collectgarbage, "incremental", 200, 100) then
    collectgarbage("setpause", 200)
    collectgarbage("setstepmul", 200)
  end
  if not acted then return nil end
  return current, results
end

return M
