# mk/asan.mk: the whole busted suite against a module built with
# AddressSanitizer + UndefinedBehaviorSanitizer (clang-14), under Lua 5.4.
#
#   make asan            build, then run the suite and tools/valgrind_script.lua
#   make asan-build      only build build/asan/allawee/core.so and build/asan/lua5.4
#
# The interpreter is build/asan/lua5.4 (fuzz/sanitized_lua.c against Debian's
# liblua5.4): it carries the ASan/UBSan runtimes, so the instrumented module
# loads into it without LD_PRELOAD, which every child of the suite (/bin/sh,
# make, cc, nginx, the sandbox) would inherit and run under ASan too.
# busted's --cpath is prepended to package.cpath and overrides the run's
# cpath from .busted, so the suite loads build/asan/allawee/core.so.
# version_spec's "is loaded from ./build/<that Lua>" is filtered out: here
# the module comes from build/asan on purpose.
#
# LeakSanitizer does not take thread-local storage as a root (use_tls=0):
# with it, LSan's own tracer crashes ("Tracer caught signal 11", a bogus
# DTLS block) in some of the re-entrancy specs' children, whose libraries
# use dynamic TLS. Without it, an object only TLS points to is reported as a
# leak: stricter, never hiding one, but for the dynamic linker's own TLS
# blocks (fuzz/lsan.supp).
#
# Every ASan, UBSan and LeakSanitizer report goes to
# build/asan/reports/report.<pid> (log_path); any report fails the target,
# whatever the suite's own result. UBSan stops at the first error
# (-fno-sanitize-recover=all, halt_on_error=1). No leak is suppressed.

ASAN_DIR     := build/asan
ASAN_CC      := clang-14
ASAN_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
ASAN_CFLAGS   = $(WARN) -O1 -g $(ASAN_SAN) -fPIC -fvisibility=hidden \
                -D_DEFAULT_SOURCE $(LUA54_CFLAGS) $(CURL_CFLAGS)
ASAN_MODULE  := $(ASAN_DIR)/allawee/core.so
ASAN_LUA     := $(ASAN_DIR)/lua5.4
ASAN_REPORTS := $(ASAN_DIR)/reports
ASAN_DEB     := clang-14 libclang-rt-14-dev pkg-config libcurl4-openssl-dev \
                lua5.4 liblua5.4-dev lua-cjson lua-busted lua-socket

ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1:log_path=$(CURDIR)/$(ASAN_REPORTS)/report \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(ASAN_REPORTS)/report \
  LSAN_OPTIONS=use_tls=0:print_suppressions=0:suppressions=$(CURDIR)/fuzz/lsan.supp

.PHONY: asan asan-build asan-deps

asan-deps:
	@tools/install-deps $(ASAN_DEB)

# The module's objects and core.so: the one compile rule (Makefile). No
# runtime in the .so: its __asan_*/__ubsan_* symbols come from the
# executable that loads it (build/asan/lua5.4).
$(eval $(call ax_build,$(ASAN_DIR),$$(ASAN_CC),$$(ASAN_CFLAGS),$$(ASAN_SAN)))

$(ASAN_LUA): fuzz/sanitized_lua.c
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(WARN) -O1 -g $(ASAN_SAN) $(LUA54_CFLAGS) \
	  -o $@ $< $(LUA54_LIBS) -lm -ldl

asan-build: asan-deps
	@$(MAKE) --no-print-directory $(ASAN_MODULE) $(ASAN_LUA)

# The suite's child processes (lua5.4 -e ..., the OpenResty worker) load
# the plain builds, as under `make test`.
asan: asan-build
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory all LUA=5.4
	@$(MAKE) --no-print-directory all LUA=luajit
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	@status=0; \
	$(ASAN_ENV) ALLAWEE_EXPECT_LUA=5.4 \
	  ./$(ASAN_LUA) $$(command -v busted) --run=5.4 --cpath='./$(ASAN_DIR)/?.so' \
	    --filter-out='is loaded from %./build/<that Lua>' || status=$$?; \
	$(ASAN_ENV) ./$(ASAN_LUA) tools/valgrind_script.lua './$(ASAN_DIR)/?.so' || status=$$?; \
	if [ -n "$$(ls -A $(ASAN_REPORTS))" ]; then \
	  for f in $(ASAN_REPORTS)/*; do echo "=== $$f"; cat "$$f"; done; \
	  echo "asan: FAILED: sanitizer reports above ($(ASAN_REPORTS))"; exit 1; \
	fi; \
	if [ $$status -ne 0 ]; then echo "asan: FAILED (exit $$status)"; exit $$status; fi; \
	echo "asan: suite and tools/valgrind_script.lua passed, no ASan/UBSan/LSan report"
