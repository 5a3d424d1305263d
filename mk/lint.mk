# mk/lint.mk: static checks. Zero findings is the bar; each tool fails the
# target on its first finding.
#
#   make lint            all of the below (about 15 s on 2 cores)
#   make lint-tidy       clang-tidy 14 on src/*.c, checks in .clang-tidy
#   make lint-cppcheck   cppcheck on src/ (warning, style, performance,
#                        portability; inline suppressions with a reason)
#   make lint-lua        luacheck on lua/, spec/, fuzz/, tools/, bench/, types/,
#                        examples/ and bin/allawee-sandbox, config in .luacheckrc
#
# A false positive is silenced where it occurs, with the reason:
#   C (clang-tidy):  /* NOLINTNEXTLINE(check): why */ or NOLINTBEGIN/END
#   C (cppcheck):    /* cppcheck-suppress id ; why */ on the line before
#   Lua:             -- luacheck: ignore 211 (why)

LINT_TIDY     := clang-tidy-14
LINT_DEB      := clang-tidy-14 cppcheck lua-check pkg-config libcurl4-openssl-dev \
                 liblua5.4-dev
LINT_C_FLAGS   = -std=c99 -D_DEFAULT_SOURCE $(LUA54_CFLAGS) $(CURL_CFLAGS)
LINT_JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
LINT_LUA_PATHS := lua spec fuzz tools bench examples types bin/allawee-sandbox \
                  tools/static-http-server tools/release-rockspec

.PHONY: lint lint-deps lint-tidy lint-cppcheck lint-lua

lint-deps:
	@tools/install-deps $(LINT_DEB)

# One clang-tidy per file, $(LINT_JOBS) at a time; xargs fails if any did.
# clang's "N warnings generated." counts what the header filter dropped
# (system headers): it is filtered out of the output, not out of the result.
lint-tidy: lint-deps
	@printf '%s\n' $(SRCS) | xargs -P $(LINT_JOBS) -I{} sh -c \
	  'out=$$($(LINT_TIDY) --quiet "$$0" -- $(LINT_C_FLAGS) 2>&1); rc=$$?; \
	   [ -z "$$out" ] || printf "%s\n" "$$out" | grep -v "warnings\? generated\.$$" || :; \
	   exit $$rc' {} \
	  || { echo "lint-tidy: FAILED (findings above)"; exit 1; }
	@echo "lint-tidy: no finding in $(words $(SRCS)) files"

# Without the system headers (cppcheck does not need them and trips over
# luaconf.h's checks); cppcheck then tries each #if configuration itself.
lint-cppcheck: lint-deps
	@cppcheck --enable=warning,style,performance,portability --error-exitcode=1 \
	  --inline-suppr --std=c99 --quiet -Isrc src/ \
	  || { echo "lint-cppcheck: FAILED (findings above)"; exit 1; }
	@echo "lint-cppcheck: no finding in src/"

lint-lua: lint-deps
	@luacheck --quiet --formatter plain $(LINT_LUA_PATHS) \
	  || { echo "lint-lua: FAILED (findings above)"; exit 1; }
	@echo "lint-lua: no finding in $(LINT_LUA_PATHS)"

lint: lint-tidy lint-cppcheck lint-lua
	@echo "lint: clang-tidy, cppcheck and luacheck found nothing"
