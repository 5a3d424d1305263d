# allawee-lua. `make demo` and `make test` work on a fresh Debian 12 as root:
# they install what is missing (tools/install-deps), build, and run.
#
#   make [LUA=5.1|5.2|5.3|5.4|luajit]   build build/$(LUA)/allawee/core.so
#   make test        busted suite (5.4 and LuaJIT), rockspec check, C checks
#   make demo        start the sandbox, create a customer, print it
#   make clean

LUA ?= 5.4
ifeq ($(LUA),luajit)
  LUA_PC   := luajit
  LUA_BIN  := luajit
  LUA_DEB  := luajit2 libluajit2-5.1-dev lua-cjson
else
  LUA_PC   := lua$(LUA)
  LUA_BIN  := lua$(LUA)
  LUA_DEB  := lua$(LUA) liblua$(LUA)-dev lua-cjson
  ifeq ($(LUA),5.1)
    LUA_DEB := lua5.1 liblua5.1-0-dev lua-cjson
  endif
endif

BUILD    := build/$(LUA)
CC       ?= cc
WARN     := -std=c99 -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-function
OPT      ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(LUA_PC) libcurl 2>/dev/null)
CFLAGS_ALL = $(WARN) $(OPT) -fPIC -fvisibility=hidden -D_DEFAULT_SOURCE $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs libcurl 2>/dev/null) -lpthread -lm $(EXTRA_LDFLAGS)

SRCS     := src/buffer.c src/schema.c src/json_encode.c src/errors.c src/random.c \
            src/transport.c src/response.c src/request.c src/options.c src/client.c src/codec_api.c src/module.c \
            src/sha512.c src/webhooks.c
OBJS      = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
HDRS     := $(wildcard src/*.h)
MODULE    = $(BUILD)/allawee/core.so

BUILD_DEB := build-essential pkg-config libcurl4-openssl-dev
# luajit2 (OpenResty's LuaJIT branch), not Debian's luajit: lua-resty-core
# depends on it, and the two conflict. Same /usr/bin/luajit and 2.1 ABI.
TEST_DEB  := lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev lua5.2 liblua5.2-dev \
             lua5.1 liblua5.1-0-dev luajit2 libluajit2-5.1-dev lua-cjson lua-busted \
             lua-socket luarocks openssl nginx libnginx-mod-http-lua lua-resty-core \
             lua-resty-lrucache
# make test runs the suite under each of these (5.4 and LuaJIT first).
TEST_LUAS ?= 5.4 luajit 5.1 5.2 5.3
BUSTED    := busted --lua=$(LUA_BIN)

SHELL    := /bin/bash
LOGS     := build/test-logs

.PHONY: all deps deps-test demo test test-lua rockspec-check clean

all: $(MODULE)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(MODULE): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(OBJS) $(LDLIBS_ALL)

deps:
	@tools/install-deps $(BUILD_DEB) $(LUA_DEB) lua-socket

deps-test:
	@tools/install-deps $(BUILD_DEB) $(TEST_DEB)

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA_BIN) examples/demo.lua

# The suite for one Lua (LUA=...); its output is kept for the summary and
# for the check that no secret key was ever printed.
test-lua: all
	@mkdir -p $(LOGS)
	set -o pipefail; ALLAWEE_EXPECT_LUA=$(LUA) $(BUSTED) --run=$(LUA) 2>&1 | tee $(LOGS)/busted-$(LUA).log

# Extra checks register here (mk/*.mk add to TEST_CHECKS); `make test`
# records "check passed: <name>" or "check failed: <name>" for each.
TEST_CHECKS += lint rockspec-check asan valgrind fuzz-smoke tsan

test: deps-test
	@rm -rf $(LOGS); mkdir -p $(LOGS)
	@# Every build first: specs start nginx with the LuaJIT build and child
	@# processes with others, whichever Lua runs the suite.
	@for v in $(TEST_LUAS); do $(MAKE) --no-print-directory all LUA=$$v || exit 1; done
	@for v in $(TEST_LUAS); do \
	  $(MAKE) --no-print-directory test-lua LUA=$$v || echo "check failed: busted-$$v" >> $(LOGS)/failed.log; \
	done
	@for check in $(TEST_CHECKS); do \
	  set -o pipefail; \
	  if $(MAKE) --no-print-directory $$check 2>&1 | tee $(LOGS)/check-$$check.log; then \
	    echo "check passed: $$check" | tee -a $(LOGS)/check-$$check.log; \
	  else \
	    echo "check failed: $$check" | tee -a $(LOGS)/check-$$check.log; \
	  fi; \
	done
	@tools/test-summary $(LOGS)

# The scm rockspec, unchanged, installs a working module into a scratch tree
# for each PUC Lua (luarocks --lua-version), works, and uninstalls cleanly.
rockspec-check: all
	@for v in 5.1 5.2 5.3 5.4; do \
	  tools/rockspec-check rockspec/allawee-scm-1.rockspec $$v || exit 1; \
	done

clean:
	rm -rf build

# Further targets live in mk/*.mk, one concern each (sanitizers, lint, fuzz,
# bench, hosts, OpenResty, packaging), so the main file stays readable.
-include $(sort $(wildcard mk/*.mk))
