# mk/alloc.mk: the failing-allocator sweep (fuzz/alloc_sweep.c and
# fuzz/alloc_sweep.lua): every entry point of the SDK, run again and again
# with the Nth allocation failing, a hostile finalizer at the Nth GC point,
# or a hostile debug hook at the Nth call, N = 1, 2, ... until it completes
# with nothing injected; each N in its own child process and lua_State,
# under ASan + UBSan + LeakSanitizer (clang-14, Debian's liblua5.4), against
# the sandbox. See the head of fuzz/alloc_sweep.lua for the verdicts.
#
#   make alloc-sweep                 the default sweep (make test runs it)
#   make alloc-sweep-build           only build build/alloc/alloc_sweep
#   make alloc-sweep ALLOC_SWEEP_SCENARIOS=create,async_poll ALLOC_SWEEP_MODES=alloc
#   make alloc-sweep ALLOC_SWEEP_DOMAINS=lua,module,curl ALLOC_SWEEP_FAIL=all
#
# Knobs (environment or make variables): ALLOC_SWEEP_SCENARIOS, _MODES
# (alloc,gc,hook), _GC_ACTIONS, _HOOK_ACTIONS, _DOMAINS (lua,module[,curl]),
# _FAIL (once|all), _MAX_N, _STRIDE, _MAX_FAILURES, _TIMEOUT (s per child),
# _ALLOW_MISSING=1 (an entry point the module lacks is not a failure).
# The module's objects are linked in with -Wl,--wrap=malloc,realloc,calloc so
# that their own allocations are counted (and failed) too.

ALLOC_DIR      := build/alloc
ALLOC_CC       := clang-14
ALLOC_SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ALLOC_CMOD      = $(shell pkg-config --variable=INSTALL_CMOD lua5.4 2>/dev/null)
ALLOC_CFLAGS    = $(WARN) -O1 -g $(ALLOC_SAN) -D_DEFAULT_SOURCE \
                  $(shell pkg-config --cflags lua5.4 libcurl 2>/dev/null)
ALLOC_LIBS      = $(shell pkg-config --libs lua5.4 libcurl 2>/dev/null) -lpthread -lm -ldl
ALLOC_WRAP     := -Wl,--wrap=malloc,--wrap=realloc,--wrap=calloc
ALLOC_OBJS     := $(SRCS:src/%.c=$(ALLOC_DIR)/obj/%.o)
ALLOC_BIN      := $(ALLOC_DIR)/alloc_sweep
ALLOC_DEB      := clang-14 libclang-rt-14-dev pkg-config libcurl4-openssl-dev \
                  lua5.4 liblua5.4-dev lua-cjson lua-socket

# The default sweep: every scenario, alloc mode over the Lua and module
# allocations, the hostile finalizer and hook with every action. Bounded
# by MAX_FAILURES per scenario/action and by the per-child timeout.
ALLOC_SWEEP_TIMEOUT      ?= 10
ALLOC_SWEEP_MAX_FAILURES ?= 3
ALLOC_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:log_path=$(CURDIR)/$(ALLOC_DIR)/reports/report \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(ALLOC_DIR)/reports/report \
  ALLOC_SWEEP_DIR=$(CURDIR)/$(ALLOC_DIR) ALLOC_SWEEP_TIMEOUT=$(ALLOC_SWEEP_TIMEOUT) \
  ALLOC_SWEEP_MAX_FAILURES=$(ALLOC_SWEEP_MAX_FAILURES) \
  $(foreach v,SCENARIOS MODES GC_ACTIONS HOOK_ACTIONS DOMAINS FAIL MAX_N STRIDE ALLOW_MISSING,\
    $(if $(ALLOC_SWEEP_$(v)),ALLOC_SWEEP_$(v)=$(ALLOC_SWEEP_$(v))))

.PHONY: alloc-sweep alloc-sweep-build alloc-deps

alloc-deps:
	@tools/install-deps $(ALLOC_DEB)

$(ALLOC_DIR)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(ALLOC_CC) $(ALLOC_CFLAGS) -c $< -o $@

$(ALLOC_BIN): fuzz/alloc_sweep.c src/allawee.h $(ALLOC_OBJS)
	@mkdir -p $(dir $@)
	$(ALLOC_CC) $(ALLOC_CFLAGS) -DAX_SWEEP_ROOT='"$(CURDIR)"' -DAX_SWEEP_CMOD='"$(ALLOC_CMOD)"' \
	  -o $@ $< $(ALLOC_OBJS) $(ALLOC_WRAP) $(ALLOC_LIBS)

alloc-sweep-build: alloc-deps
	@$(MAKE) --no-print-directory $(ALLOC_BIN)

# ALLOC_SWEEP_JOBS shards side by side (each its own sandbox and child
# log), their outputs printed in order; fails if any shard failed.
ALLOC_SWEEP_JOBS ?= 2

alloc-sweep: alloc-sweep-build
	@rm -rf $(ALLOC_DIR)/reports $(ALLOC_DIR)/shard-* && mkdir -p $(ALLOC_DIR)/reports
	@status=0; pids=""; \
	for i in $$(seq 0 $$(($(ALLOC_SWEEP_JOBS) - 1))); do \
	  mkdir -p $(ALLOC_DIR)/shard-$$i; \
	  $(ALLOC_ENV) ALLOC_SWEEP_SHARD=$$i/$(ALLOC_SWEEP_JOBS) ALLOC_SWEEP_DIR=$(CURDIR)/$(ALLOC_DIR)/shard-$$i \
	    ALLOC_SWEEP_REPORTS=$(CURDIR)/$(ALLOC_DIR)/reports \
	    ./$(ALLOC_BIN) > $(ALLOC_DIR)/shard-$$i.log 2>&1 & pids="$$pids $$!"; \
	done; \
	for p in $$pids; do wait $$p || status=1; done; \
	cat $(ALLOC_DIR)/shard-*.log; \
	if [ $$status -ne 0 ]; then echo "alloc-sweep: FAILED (see above; reports in $(ALLOC_DIR)/reports)"; exit 1; fi; \
	echo "alloc-sweep: passed: no crash, leak, hang, duplicate or late send in any sweep"

TEST_CHECKS += alloc-sweep
