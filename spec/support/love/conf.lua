-- The test game (spec/love_spec.lua): LÖVE with no window, graphics or audio,
-- so it runs headless; main.lua wraps examples/love/main.lua.
function love.conf(t)
  t.identity = "allawee-love-spec"
  t.window = false
  t.modules.window = false
  t.modules.graphics = false
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
end
