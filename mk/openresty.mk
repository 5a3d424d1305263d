# make test-openresty: allawee.openresty inside a real nginx (Debian 12's
# nginx + libnginx-mod-http-lua 0.10.23), driven from busted under Lua 5.4
# (spec/openresty_spec.lua, spec/support/nginx.lua). See docs/openresty.md.
#
# Debian's lua-resty-core depends on libluajit2-5.1-2 (OpenResty's LuaJIT
# branch), which conflicts with the stock `luajit`/`libluajit-5.1-dev`; the
# luajit2 packages give the same /usr/bin/luajit, luajit.pc and LuaJIT 2.1
# ABI, so `make LUA=luajit` builds the module nginx loads.

OPENRESTY_DEB := nginx libnginx-mod-http-lua lua-resty-core lua-resty-lrucache \
                 luajit2 libluajit2-5.1-dev openssl \
                 build-essential pkg-config libcurl4-openssl-dev \
                 lua5.4 liblua5.4-dev lua-cjson lua-busted lua-socket

.PHONY: deps-openresty test-openresty

deps-openresty:
	@tools/install-deps $(OPENRESTY_DEB)

# The LuaJIT build is what nginx loads; the 5.4 build runs the libcurl
# client in the spec itself, for the side-by-side comparisons.
test-openresty: deps-openresty
	@$(MAKE) --no-print-directory all LUA=luajit
	@$(MAKE) --no-print-directory all LUA=5.4
	ALLAWEE_REQUIRE_OPENRESTY=1 busted --lua=lua5.4 --run=5.4 spec/openresty_spec.lua \
	  spec/webhooks_openresty_spec.lua spec/openresty_resources_spec.lua
