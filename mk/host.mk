# mk/host.mk: the SDK as a static library for C/C++ hosts, the example
# hosts in examples/host, and their thread checks. docs/embedding.md says
# how a host links and registers the library.
#
#   make static [LUA=v]   build/static-$(LUA)/liballawee.a and allawee.h
#   make hosts            build/host/game_host and threaded_host (Lua 5.4)
#   make run-hosts        both hosts against a local sandbox (game: delay=300)
#   make tsan             threaded host built with -fsanitize=thread, run
#   make helgrind         threaded host under valgrind --tool=helgrind

# ------------------------------------------------------------ static library
# The same objects as core.so, in their own directory so a static build never
# races a module build. -fvisibility=hidden stays: it only trims the dynamic
# symbol table, so a static link resolves every ax_* symbol as usual, while a
# host that puts the archive inside a shared object of its own exports only
# luaopen_allawee_core (marked visibility("default") in module.c). -fPIC
# stays too: Debian links executables as PIE.
STATIC      := build/static-$(LUA)

.PHONY: static deps-host hosts run-hosts tsan deps-tsan helgrind deps-helgrind

static: deps
	@$(MAKE) --no-print-directory $(STATIC)/liballawee.a $(STATIC)/allawee.h

# The one compile rule (Makefile): objects and liballawee.a.
$(eval $(call ax_build,$(STATIC),$$(CC),$$(CFLAGS_ALL),))

$(STATIC)/allawee.h: src/allawee.h
	@mkdir -p $(dir $@)
	cp $< $@

# ------------------------------------------------------------- example hosts
# The hosts embed Lua 5.4 and link build/static-5.4/liballawee.a. The source
# tree's lua/ and examples/host/ are compiled in as the script directories
# (ALLAWEE_LUA_DIR and HOST_SCRIPT_DIR override them at run time).
HOST_LUA    := 5.4
HOST_BUILD  := build/host
HOST_STATIC := build/static-$(HOST_LUA)
HOST_DIRS    = -DHOST_LUA_DIR='"$(CURDIR)/lua"' -DHOST_SCRIPT_DIR='"$(CURDIR)/examples/host"'
HOST_CFLAGS  = $(WARN) $(OPT) -D_DEFAULT_SOURCE -I$(HOST_STATIC) \
               $(LUA54_CFLAGS) $(CURL_CFLAGS) $(HOST_DIRS)
HOST_LIBS    = -L$(HOST_STATIC) -lallawee $(CURL_LIBS) $(LUA54_LIBS) -lm -lpthread
HOST_HDRS   := examples/host/host_lua.h
HOST_RUN    := examples/host/with-sandbox.sh

deps-host:
	@tools/install-deps $(BUILD_DEB) lua$(HOST_LUA) liblua$(HOST_LUA)-dev lua-cjson lua-socket

hosts: deps-host
	@$(MAKE) --no-print-directory LUA=$(HOST_LUA) $(HOST_STATIC)/liballawee.a \
	  $(HOST_STATIC)/allawee.h $(HOST_BUILD)/game_host $(HOST_BUILD)/threaded_host

# Only meaningful with LUA=$(HOST_LUA); `make hosts` sees to that.
$(HOST_BUILD)/%: examples/host/%.c $(HOST_HDRS) $(HOST_STATIC)/liballawee.a $(HOST_STATIC)/allawee.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $< -o $@ $(HOST_LIBS)

run-hosts: hosts
	$(HOST_RUN) --scenario delay=300 $(HOST_BUILD)/game_host
	THREADED_HOST_THREADS=4 THREADED_HOST_CREATES=25 $(HOST_RUN) $(HOST_BUILD)/threaded_host

# ------------------------------------------------------------ thread checks
# TSan needs every project file instrumented: the module's sources are
# compiled again with clang -fsanitize=thread into build/tsan (never mixed
# with the normal objects) and linked statically into the threaded host.
# Lua, libcurl and lua-cjson are Debian's uninstrumented builds: TSan sees
# their locks and allocations through its interceptors, not their loads and
# stores, so a report can only point at our code.
TSAN         := build/tsan
TSAN_CC      := clang
TSAN_CFLAGS   = $(WARN) -O1 -g -fno-omit-frame-pointer -fsanitize=thread -D_DEFAULT_SOURCE \
                $(LUA54_CFLAGS) $(CURL_CFLAGS)
TSAN_THREADS ?= 4
TSAN_CREATES ?= 25
# halt_on_error: the first report fails the run (exit 66), never a log to skim.
TSAN_ENV      = TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 \
                suppressions=$(CURDIR)/examples/host/tsan.supp"

deps-tsan: deps-host
	@tools/install-deps clang libclang-rt-14-dev

# The one compile rule (Makefile): instrumented objects and liballawee.a.
$(eval $(call ax_build,$(TSAN),$$(TSAN_CC),$$(TSAN_CFLAGS),))

$(TSAN)/threaded_host: examples/host/threaded_host.c $(HOST_HDRS) $(TSAN)/liballawee.a
	$(TSAN_CC) $(TSAN_CFLAGS) -Isrc $(HOST_DIRS) $< -o $@ -L$(TSAN) -lallawee \
	  $(CURL_LIBS) $(LUA54_LIBS) -lm -lpthread

tsan: deps-tsan
	@$(MAKE) --no-print-directory $(TSAN)/threaded_host
	$(TSAN_ENV) THREADED_HOST_THREADS=$(TSAN_THREADS) THREADED_HOST_CREATES=$(TSAN_CREATES) \
	  $(HOST_RUN) $(TSAN)/threaded_host
	@echo "tsan: no ThreadSanitizer reports"

# Helgrind runs the normal (uninstrumented) threaded host. Its suppressions
# cover only libraries outside this project, each with its reason.
HELGRIND_THREADS ?= 4
HELGRIND_CREATES ?= 5

deps-helgrind: deps-host
	@tools/install-deps valgrind

helgrind: deps-helgrind hosts
	THREADED_HOST_THREADS=$(HELGRIND_THREADS) THREADED_HOST_CREATES=$(HELGRIND_CREATES) \
	  $(HOST_RUN) valgrind --tool=helgrind --error-exitcode=67 \
	  --suppressions=examples/host/helgrind.supp $(HOST_BUILD)/threaded_host
