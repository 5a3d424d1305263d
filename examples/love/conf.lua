function love.conf(t)
  t.identity = "allawee-example"
  t.window.title = "allawee-lua in LÖVE"
end
