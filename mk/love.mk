# make test-love: examples/love in real LÖVE 11 (Debian's `love`), headless
# (spec/support/love/conf.lua: no window, graphics or audio), against the
# sandbox; spec/love_spec.lua also runs it with a stand-in `love` table under
# every Lua of the suite. LÖVE runs LuaJIT, so it loads the LuaJIT build.
LOVE_DEB := love lua5.4 lua-busted lua-socket lua-cjson

.PHONY: test-love
test-love:
	@tools/install-deps $(LOVE_DEB)
	@$(MAKE) --no-print-directory all LUA=luajit
	@$(MAKE) --no-print-directory all LUA=5.4
	busted --lua=lua5.4 --run=5.4 spec/love_spec.lua

TEST_CHECKS += test-love
