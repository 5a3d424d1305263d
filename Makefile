# allawee-lua. `make demo` and `make test` work on a fresh Debian 12 as root:
# they install what is missing (tools/install-deps), build, and run.
#
#   make [LUA=5.1|5.2|5.3|5.4|luajit]   build build/$(LUA)/allawee/core.so
#   make install [PREFIX=/usr/local] [DESTDIR=]   the library, as its rock installs it
#   make uninstall                      removes what make install put there
#   make check       installs nothing: the suite for $(LUA) and the packaging checks
#   make test        installs what is missing, then everything (every Lua, C checks)
#   make demo        start the sandbox; customer, account, card, a verified authorization
#   make clean
#
# Finding Lua and libcurl: pkg-config (lua5.4, lua-5.4, lua54 or luajit; libcurl),
# or say where they are: LUA_INCDIR (the directory with lua.h), LUA_LIBDIR
# (only the C hosts link liblua), CURL_INCDIR, CURL_LIBDIR. A missing one stops
# the build with what to install. Conventional CC, CFLAGS, CPPFLAGS, LDFLAGS.

LUA ?= 5.4
ifeq ($(LUA),luajit)
  LUA_BIN  := luajit
  LUA_V    := 5.1
  # Either LuaJIT pair builds the module (same ABI); luajit2 is the one
  # Debian's nginx Lua module needs (tools/install-deps takes a|b).
  LUA_DEB  := 'luajit2|luajit' 'libluajit2-5.1-dev|libluajit-5.1-dev' lua-cjson
else
  LUA_BIN  := lua$(LUA)
  LUA_V    := $(LUA)
  LUA_DEB  := lua$(LUA) liblua$(LUA)-dev lua-cjson
  ifeq ($(LUA),5.1)
    LUA_DEB := lua5.1 liblua5.1-0-dev lua-cjson
  endif
endif

BUILD    := build/$(LUA)
CC       ?= cc
PKG_CONFIG ?= pkg-config
WARN     := -std=c99 -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes
OPT      ?= -O2 -g
CFLAGS   ?= $(OPT)

# The one source list: every C file of src/ (mk/*.mk and tools reuse it).
SRCS     := $(sort $(wildcard src/*.c))
HDRS     := $(wildcard src/*.h)
# The library's Lua modules (what its rock installs); the sandbox has its own rock.
LIB_LUA  := $(sort $(filter-out lua/allawee/sandbox.lua lua/allawee/sandbox/%,\
              $(shell find lua -name '*.lua')))
SANDBOX_LUA := $(sort $(filter lua/allawee/sandbox.lua lua/allawee/sandbox/%,\
              $(shell find lua -name '*.lua')))

# ------------------------------------------------------- Lua and libcurl
# Looked up when a compile needs them (recursive variables, cached on first
# use), so `make clean`, `make deps` and `make demo` work before the
# packages are there. A failure stops make with what to do.
ax_cache = $(eval $(1) := $(2))$($(1))
lua_pc_names = $(if $(filter luajit,$(1)),luajit,lua$(1) lua-$(1) lua$(subst .,,$(1)))
lua_pc = $(firstword $(foreach p,$(call lua_pc_names,$(1)),\
           $(shell $(PKG_CONFIG) --exists '$(p)' 2>/dev/null && echo '$(p)')))
lua_num = $(if $(filter luajit,$(1)),501,$(subst .,0,$(1)))
lua_deb = $(if $(filter luajit,$(1)),libluajit2-5.1-dev (or libluajit-5.1-dev),$(if $(filter 5.1,$(1)),liblua5.1-0-dev,liblua$(1)-dev))
# LUA_VERSION_NUM of the lua.h that flags $(1) find ("\043" is a hash sign).
lua_h_num = $(lastword $(shell printf '\043include <lua.h>\nLUA_VERSION_NUM\n' | \
              $(CC) -E -P $(1) - 2>/dev/null))
lua_missing = Lua $(1)'s development files were not found: pkg-config knows none of \
  $(call lua_pc_names,$(1))$(if $(shell command -v $(PKG_CONFIG)),, (and $(PKG_CONFIG) is not installed)). \
  Debian/Ubuntu: apt-get install $(call lua_deb,$(1)) pkg-config. Elsewhere: make LUA_INCDIR=<directory of lua.h>
lua_wrong = the lua.h found with '$(2)' is not Lua $(1)'s (LUA_VERSION_NUM $(or $(3),unreadable), \
  expected $(call lua_num,$(1))). Set LUA_INCDIR to the directory of Lua $(1)'s lua.h
lua_checked = $(if $(filter $(call lua_num,$(1)),$(call lua_h_num,$(2))),$(2),\
                $(error $(call lua_wrong,$(1),$(2),$(call lua_h_num,$(2)))))
# $(call lua_flags,VERSION,INCDIR): -I flags for that Lua's headers, checked.
lua_flags = $(call lua_checked,$(1),$(if $(2),-I$(2),\
              $(if $(call lua_pc,$(1)),$(shell $(PKG_CONFIG) --cflags $(call lua_pc,$(1))),\
                $(error $(call lua_missing,$(1))))))

LUA_CFLAGS = $(call ax_cache,LUA_CFLAGS,$(call lua_flags,$(LUA),$(LUA_INCDIR)))
# Lua 5.4's, for the 5.4-only builds of mk/*.mk (sanitizers, fuzzing, hosts).
LUA54_CFLAGS = $(call ax_cache,LUA54_CFLAGS,$(call lua_flags,5.4,$(if $(filter 5.4,$(LUA)),$(LUA_INCDIR))))
LUA54_LIBS = $(if $(LUA_LIBDIR),-L$(LUA_LIBDIR)) -llua5.4

curl_missing = libcurl's development files were not found \
  ($(if $(CURL_INCDIR),no curl/curl.h under CURL_INCDIR=$(CURL_INCDIR),pkg-config does not know libcurl)). \
  Debian/Ubuntu: apt-get install libcurl4-openssl-dev pkg-config; Fedora: libcurl-devel; \
  macOS: xcode-select --install. Elsewhere: make CURL_INCDIR=<dir> CURL_LIBDIR=<dir>
curl_pc = $(shell $(PKG_CONFIG) --exists libcurl 2>/dev/null && echo yes)
CURL_CFLAGS = $(call ax_cache,CURL_CFLAGS,$(if $(CURL_INCDIR),\
                $(if $(wildcard $(CURL_INCDIR)/curl/curl.h),-I$(CURL_INCDIR),$(error $(curl_missing))),\
                $(if $(curl_pc),$(shell $(PKG_CONFIG) --cflags libcurl),$(error $(curl_missing)))))
CURL_LIBS = $(call ax_cache,CURL_LIBS,$(if $(CURL_LIBDIR),-L$(CURL_LIBDIR) -lcurl,\
              $(if $(curl_pc),$(shell $(PKG_CONFIG) --libs libcurl),-lcurl)))

# macOS loads modules as bundles whose Lua symbols come from the host.
ifeq ($(shell uname -s),Darwin)
  LIBFLAG ?= -bundle -undefined dynamic_lookup
else
  LIBFLAG ?= -shared
endif

CFLAGS_ALL = $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -D_DEFAULT_SOURCE $(CPPFLAGS) \
             $(LUA_CFLAGS) $(CURL_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS_ALL = $(LDFLAGS) $(CURL_LIBS) -lpthread -lm $(EXTRA_LDFLAGS)

# ----------------------------------------------------- the one compile rule
# $(call ax_build,DIR,CC,CFLAGS,LINK): every src/*.c compiled with CC and
# CFLAGS into DIR/obj/, then DIR/allawee/core.so (linked with LINK before the
# objects, e.g. sanitizer flags) and DIR/liballawee.a. Every build of the
# module (this file, mk/*.mk: static, asan, valgrind, fuzz, tsan, coverage)
# is one call; pass variables as $$(NAME) so they expand when used.
ax_objs = $(SRCS:src/%.c=$(1)/obj/%.o)
define ax_build
$(1)/obj/%.o: src/%.c $$(HDRS)
	@mkdir -p $$(@D)
	$(2) $(3) -c $$< -o $$@

$(1)/allawee/core.so: $$(call ax_objs,$(1))
	@mkdir -p $$(@D)
	$(2) $$(LIBFLAG) $(4) -o $$@ $$(call ax_objs,$(1)) $$(LDLIBS_ALL)

$(1)/liballawee.a: $$(call ax_objs,$(1))
	@rm -f $$@
	$$(AR) rcs $$@ $$(call ax_objs,$(1))
endef

OBJS      = $(call ax_objs,$(BUILD))
MODULE    = $(BUILD)/allawee/core.so
$(eval $(call ax_build,$(BUILD),$$(CC),$$(CFLAGS_ALL),))

# --------------------------------------------------------------- packages
BUILD_DEB := build-essential pkg-config libcurl4-openssl-dev
# luajit2 (OpenResty's LuaJIT branch), not Debian's luajit: lua-resty-core
# depends on it, and the two conflict (tools/install-deps stops and explains
# rather than let apt remove one). Same /usr/bin/luajit and 2.1 ABI.
TEST_DEB  := lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev lua5.2 liblua5.2-dev \
             lua5.1 liblua5.1-0-dev luajit2 libluajit2-5.1-dev lua-cjson lua-busted \
             lua-socket luarocks openssl nginx libnginx-mod-http-lua lua-resty-core \
             lua-resty-lrucache binutils zip unzip
# make test runs the suite under each of these (5.4 and LuaJIT first).
TEST_LUAS ?= 5.4 luajit 5.1 5.2 5.3
BUSTED    := busted --lua=$(LUA_BIN)

SHELL    := /bin/bash
LOGS     := build/test-logs

.PHONY: all deps deps-test demo test test-lua check rockspec-check install uninstall \
        install-sandbox uninstall-sandbox clean

all: $(MODULE)

deps:
	@tools/install-deps $(BUILD_DEB) $(LUA_DEB) lua-socket

deps-test:
	@tools/install-deps $(BUILD_DEB) $(TEST_DEB)

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA_BIN) examples/demo.lua

# --------------------------------------------------------------- install
# The same files as `luarocks make` installs, in the layout Lua searches by
# default under PREFIX (package.path/cpath of Debian's and upstream Lua both
# cover /usr/local/share/lua/<v> and /usr/local/lib/lua/<v>).
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LUA_CMOD ?= $(PREFIX)/lib/lua/$(LUA_V)
LUA_LMOD ?= $(PREFIX)/share/lua/$(LUA_V)
TYPESDIR ?= $(PREFIX)/share/allawee-lua/types
INSTALL  ?= install

install: all
	$(INSTALL) -d $(DESTDIR)$(LUA_CMOD)/allawee $(DESTDIR)$(TYPESDIR)
	$(INSTALL) -m 755 $(MODULE) $(DESTDIR)$(LUA_CMOD)/allawee/core.so
	@set -e; for f in $(LIB_LUA:lua/%=%); do \
	  echo "$(INSTALL) -m 644 lua/$$f $(DESTDIR)$(LUA_LMOD)/$$f"; \
	  $(INSTALL) -d $(DESTDIR)$(LUA_LMOD)/$$(dirname $$f); \
	  $(INSTALL) -m 644 lua/$$f $(DESTDIR)$(LUA_LMOD)/$$f; \
	done
	$(INSTALL) -m 644 types/*.lua $(DESTDIR)$(TYPESDIR)/

uninstall:
	rm -f $(DESTDIR)$(LUA_CMOD)/allawee/core.so $(addprefix $(DESTDIR)$(LUA_LMOD)/,$(LIB_LUA:lua/%=%))
	rm -rf $(DESTDIR)$(TYPESDIR)
	-rmdir $(DESTDIR)$(LUA_CMOD)/allawee $(DESTDIR)$(LUA_LMOD)/allawee $(dir $(DESTDIR)$(TYPESDIR)) 2>/dev/null

# The sandbox (luasocket), as the allawee-sandbox rock installs it.
install-sandbox:
	@set -e; for f in $(SANDBOX_LUA:lua/%=%); do \
	  echo "$(INSTALL) -m 644 lua/$$f $(DESTDIR)$(LUA_LMOD)/$$f"; \
	  $(INSTALL) -d $(DESTDIR)$(LUA_LMOD)/$$(dirname $$f); \
	  $(INSTALL) -m 644 lua/$$f $(DESTDIR)$(LUA_LMOD)/$$f; \
	done
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	sed '1s,.*,#!/usr/bin/env $(LUA_BIN),' bin/allawee-sandbox > $(DESTDIR)$(BINDIR)/allawee-sandbox
	chmod 755 $(DESTDIR)$(BINDIR)/allawee-sandbox

uninstall-sandbox:
	rm -f $(DESTDIR)$(BINDIR)/allawee-sandbox $(addprefix $(DESTDIR)$(LUA_LMOD)/,$(SANDBOX_LUA:lua/%=%))
	-rmdir $(DESTDIR)$(LUA_LMOD)/allawee/sandbox 2>/dev/null

# ------------------------------------------------------------------ tests
# The suite for one Lua (LUA=...); its output is kept for the summary and
# for the check that no secret key was ever printed.
test-lua: all
	@mkdir -p $(LOGS)
	set -o pipefail; ALLAWEE_EXPECT_LUA=$(LUA) $(BUSTED) --run=$(LUA) 2>&1 | tee $(LOGS)/busted-$(LUA).log

# make check: installs nothing (tools/install-deps --check only lists what is
# missing); the suite for $(LUA) (packaging, rockspec lists, exported
# symbols and LuaLS annotations are specs too) and `luarocks install` of the
# release rock for that Lua from a loopback rocks server.
CHECK_DEB := $(BUILD_DEB) $(LUA_DEB) lua5.4 lua-busted lua-socket luarocks binutils zip unzip
check:
	@tools/install-deps --check $(CHECK_DEB)
	@$(MAKE) --no-print-directory test-lua
	@$(MAKE) --no-print-directory rocks-install-check ROCKS_LUAS=$(if $(filter luajit,$(LUA)),5.1,$(LUA))

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

# The README's `luarocks --lua-version=5.4 make`: the scm rockspec, unchanged,
# builds from this checkout into a scratch tree, exports one symbol, works,
# and uninstalls cleanly (the release rock's `luarocks install` for every
# Lua: rocks-install-check in mk/dist.mk).
ROCKSPEC_LUAS ?= 5.4
rockspec-check: all
	@for v in $(ROCKSPEC_LUAS); do \
	  tools/rockspec-check rockspec/allawee-scm-1.rockspec $$v || exit 1; \
	done

clean:
	rm -rf build dist

# Further targets live in mk/*.mk, one concern each (sanitizers, lint, fuzz,
# bench, hosts, OpenResty, packaging), so the main file stays readable.
-include $(sort $(wildcard mk/*.mk))
