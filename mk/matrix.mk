# mk/matrix.mk: the whole busted suite under every supported Lua.
#
#   make test-all                 5.1, 5.2, 5.3, 5.4 and LuaJIT, one after another
#   make test-all MATRIX="5.1 luajit"
#
# Each version builds its own build/<v>/allawee/core.so (a module built
# against one Lua's headers does not load in another) and runs the suite
# through the main Makefile's test-lua. A failing version does not stop the
# others: the summary at the end names every version that failed, and the
# target fails if any did.

MATRIX ?= 5.1 5.2 5.3 5.4 luajit

# LuaJIT is OpenResty's luajit2, as in the main Makefile (Debian's luajit
# conflicts with it, and lua-resty-core needs luajit2).
MATRIX_LUAJIT_DEB := luajit2 libluajit2-5.1-dev
MATRIX_DEB := $(BUILD_DEB) lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev \
              lua5.3 liblua5.3-dev lua5.4 liblua5.4-dev $(MATRIX_LUAJIT_DEB) \
              lua-cjson lua-socket lua-busted

.PHONY: test-all deps-matrix

deps-matrix:
	@tools/install-deps $(MATRIX_DEB)

test-all: deps-matrix
	@failed=""; \
	for v in $(MATRIX); do \
	  echo "=== Lua $$v ==="; \
	  $(MAKE) --no-print-directory test-lua LUA=$$v || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-all: FAILED under:$$failed"; exit 1; fi; \
	echo "test-all: passed under $(MATRIX)"
