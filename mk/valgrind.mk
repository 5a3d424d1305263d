# mk/valgrind.mk: valgrind memcheck over the module.
#
#   make valgrind         tools/valgrind_script.lua under memcheck: every
#                         outcome, retries, async, cancel, close, GC
#                         (about 10 s)
#   make valgrind-suite   the whole busted suite under memcheck (minutes)
#
# The module is built without sanitizers (memcheck and ASan do not mix),
# -O1 -g for exact stacks, into build/valgrind so no other build races it.
# Zero errors and zero bytes definitely or indirectly lost are required;
# "still reachable" (libcurl's and OpenSSL's global state, never torn down
# on purpose: see module.c) is not an error. tools/valgrind.supp holds the
# suppressions for what is not ours, one comment each.

VG_DIR     := build/valgrind
VG_CFLAGS   = $(WARN) -O1 -g -fno-omit-frame-pointer -fPIC -fvisibility=hidden \
              -D_DEFAULT_SOURCE $(LUA54_CFLAGS) $(CURL_CFLAGS)
VG_MODULE  := $(VG_DIR)/allawee/core.so
VG_DEB     := valgrind build-essential pkg-config libcurl4-openssl-dev lua5.4 \
              liblua5.4-dev lua-cjson lua-socket lua-busted
VG_SUPP    := tools/valgrind.supp
VALGRIND   := valgrind --tool=memcheck --leak-check=full \
              --errors-for-leak-kinds=definite,indirect \
              --show-leak-kinds=definite,indirect --error-exitcode=1 \
              --num-callers=40 --suppressions=$(VG_SUPP)

.PHONY: valgrind valgrind-suite valgrind-build valgrind-deps

valgrind-deps:
	@tools/install-deps $(VG_DEB)

# The one compile rule (Makefile): objects and core.so in build/valgrind.
$(eval $(call ax_build,$(VG_DIR),$$(CC),$$(VG_CFLAGS),))

valgrind-build: valgrind-deps
	@$(MAKE) --no-print-directory $(VG_MODULE)

# --track-origins: an uninitialised read names the allocation it came from.
valgrind: valgrind-build
	$(VALGRIND) --track-origins=yes lua5.4 tools/valgrind_script.lua './$(VG_DIR)/?.so'
	@echo "valgrind: no memcheck error, nothing of the module lost"

# The suite's busted runs straight under lua5.4 (no --lua re-exec through
# /bin/sh); children (the sandbox, shells) are not traced, and load the
# plain builds, as under `make test`. version_spec's
# "is loaded from ./build/<that Lua>" is filtered out: here the module is
# build/valgrind's on purpose.
valgrind-suite: valgrind-build
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory all LUA=5.4
	@$(MAKE) --no-print-directory all LUA=luajit
	ALLAWEE_EXPECT_LUA=5.4 $(VALGRIND) lua5.4 $$(command -v busted) --run=5.4 \
	  --cpath='./$(VG_DIR)/?.so' --filter-out='is loaded from %./build/<that Lua>'
	@echo "valgrind-suite: the suite passed under memcheck with no error and no leak"
