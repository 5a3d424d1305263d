# mk/fuzz.mk: libFuzzer targets (clang-14, ASan + UBSan) for the encoder
# and the response mapping, with an embedded Lua 5.4 (Debian's liblua5.4)
# and the real lua/allawee.lua + lua-cjson. See fuzz/README.md.
#
#   make fuzz [FUZZ_SECONDS=60]   each target FUZZ_SECONDS seconds (the two
#                                 run side by side, one per core); new inputs
#                                 go to fuzz/corpus-work/<target> (ignored by
#                                 git); prints executions, exec/s and cov
#   make fuzz-smoke               CI: replay fuzz/corpus/<target> (seeds and
#                                 past crashes), then fuzz FUZZ_SMOKE_SECONDS
#                                 (10) more; fails on any crash
#   make fuzz-build               only build build/fuzz/<target>
#   make fuzz-coverage            line coverage of src/ reached by the corpus
#                                 (seeds + fuzz/corpus-work), llvm-cov report
#
# A crash leaves build/fuzz/crash-<target>-<sha1>; once fixed, copy it into
# fuzz/corpus/<target>/ so that fuzz-smoke replays it for ever.

FUZZ_DIR      := build/fuzz
FUZZ_CC       := clang-14
FUZZ_TARGETS  := fuzz_encode fuzz_response fuzz_http_head
FUZZ_SECONDS  ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_MAX_LEN  ?= 4096
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all \
                 -fno-omit-frame-pointer
FUZZ_CMOD      = $(shell $(PKG_CONFIG) --variable=INSTALL_CMOD lua5.4 2>/dev/null)
FUZZ_CFLAGS    = $(WARN) -O1 -g $(FUZZ_SAN) -D_DEFAULT_SOURCE $(LUA54_CFLAGS) $(CURL_CFLAGS)
FUZZ_LIBS      = $(LUA54_LIBS) $(CURL_LIBS) -lpthread -lm -ldl
FUZZ_DEB      := clang-14 libclang-rt-14-dev pkg-config libcurl4-openssl-dev \
                 liblua5.4-dev lua-cjson
# The module's sources, instrumented for coverage (fuzzer-no-link).
FUZZ_SRC_OBJS := $(call ax_objs,$(FUZZ_DIR))
FUZZ_LUA_OBJ  := $(FUZZ_DIR)/obj/fuzz_lua.o
# fuzz_response.c compiles transport.c in (its callbacks are static).
FUZZ_RESPONSE_OBJS := $(filter-out $(FUZZ_DIR)/obj/transport.o,$(FUZZ_SRC_OBJS))
# libFuzzer: ASan's leak check at exit; one input may not take 10 s.
FUZZ_FLAGS     = -max_len=$(FUZZ_MAX_LEN) -timeout=10 -rss_limit_mb=2048 \
                 -print_final_stats=1 -dict=fuzz/$(1).dict \
                 -artifact_prefix=$(FUZZ_DIR)/crash-$(1)-
FUZZ_ENV       = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps fuzz-coverage

fuzz-deps:
	@tools/install-deps $(FUZZ_DEB)

# The one compile rule (Makefile), with libFuzzer's coverage instrumentation.
$(eval $(call ax_build,$(FUZZ_DIR),$$(FUZZ_CC),$$(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,))

$(FUZZ_LUA_OBJ): fuzz/fuzz_lua.c fuzz/fuzz_lua.h src/allawee.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DAX_FUZZ_ROOT='"$(CURDIR)"' \
	  -DAX_FUZZ_CMOD='"$(FUZZ_CMOD)"' -c $< -o $@

$(FUZZ_DIR)/fuzz_encode: fuzz/fuzz_encode.c fuzz/fuzz_lua.h $(FUZZ_LUA_OBJ) $(FUZZ_SRC_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LUA_OBJ) \
	  $(FUZZ_SRC_OBJS) $(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_response: fuzz/fuzz_response.c fuzz/fuzz_lua.h src/transport.c \
                           $(FUZZ_LUA_OBJ) $(FUZZ_RESPONSE_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LUA_OBJ) \
	  $(FUZZ_RESPONSE_OBJS) $(FUZZ_LIBS)

# The head parser is plain C: no Lua state, only its own object.
$(FUZZ_DIR)/fuzz_http_head: fuzz/fuzz_http_head.c $(FUZZ_DIR)/obj/http_head.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/obj/http_head.o

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

# Runs every target side by side for $(1) seconds with work dirs $(2)/<t>,
# then prints each one's final numbers; fails if any target crashed.
define fuzz_run
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(2)/$$t; \
	  $(FUZZ_ENV) ./$(FUZZ_DIR)/$$t $(call FUZZ_FLAGS,$$t) -max_total_time=$(1) \
	    $(2)/$$t fuzz/corpus/$$t > $(FUZZ_DIR)/$$t.log 2>&1 & \
	  eval "pid_$$t=$$!"; \
	done; \
	for t in $(FUZZ_TARGETS); do \
	  eval "wait \$$pid_$$t" || failed="$$failed $$t"; \
	done; \
	for t in $(FUZZ_TARGETS); do \
	  echo "== $$t ($(FUZZ_DIR)/$$t.log)"; \
	  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' $(FUZZ_DIR)/$$t.log | sed 's/^/  /'; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
	    $(FUZZ_DIR)/$$t.log | sed 's/^/  /'; \
	  echo "  corpus: $$(ls $(2)/$$t | wc -l) work + $$(ls fuzz/corpus/$$t | wc -l) seed files"; \
	done; \
	if [ -n "$$failed" ]; then \
	  for t in $$failed; do echo "== $$t FAILED:"; grep -B2 -A40 -E 'ERROR|runtime error|fuzz: ' $(FUZZ_DIR)/$$t.log | head -80; done; \
	  ls $(FUZZ_DIR)/crash-* 2>/dev/null; exit 1; \
	fi
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS),fuzz/corpus-work)
	@echo "fuzz: no crash in $(FUZZ_SECONDS) s per target"

fuzz-smoke: fuzz-build
	@rm -rf $(FUZZ_DIR)/smoke
	$(call fuzz_run,$(FUZZ_SMOKE_SECONDS),$(FUZZ_DIR)/smoke)
	@echo "fuzz-smoke: corpus replayed and $(FUZZ_SMOKE_SECONDS) s fuzzed per target, no crash"

# Source coverage: the same harnesses without sanitizers, with clang's
# profile instrumentation, replaying the corpora once (-runs=0).
FUZZ_COV_DIR  := build/fuzz-cov
FUZZ_COV_FLAGS = $(WARN) -O1 -g -fprofile-instr-generate -fcoverage-mapping \
                 -D_DEFAULT_SOURCE $(LUA54_CFLAGS) $(CURL_CFLAGS) \
                 -DAX_FUZZ_ROOT='"$(CURDIR)"' -DAX_FUZZ_CMOD='"$(FUZZ_CMOD)"'
# Every module source through the one compile rule, and the harnesses' Lua.
$(eval $(call ax_build,$(FUZZ_COV_DIR),$$(FUZZ_CC),$$(FUZZ_COV_FLAGS),))
FUZZ_COV_OBJS := $(call ax_objs,$(FUZZ_COV_DIR))
FUZZ_COV_LUA  := $(FUZZ_COV_DIR)/fuzz_lua.o

$(FUZZ_COV_LUA): fuzz/fuzz_lua.c fuzz/fuzz_lua.h src/allawee.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_FLAGS) -c $< -o $@

$(FUZZ_COV_DIR)/fuzz_encode: fuzz/fuzz_encode.c fuzz/fuzz_lua.h $(FUZZ_COV_LUA) $(FUZZ_COV_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_COV_LUA) $(FUZZ_COV_OBJS) $(FUZZ_LIBS)

# fuzz_response.c compiles transport.c in (its callbacks are static).
$(FUZZ_COV_DIR)/fuzz_response: fuzz/fuzz_response.c fuzz/fuzz_lua.h src/transport.c $(FUZZ_COV_LUA) \
                               $(FUZZ_COV_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_COV_LUA) \
	  $(filter-out $(FUZZ_COV_DIR)/obj/transport.o,$(FUZZ_COV_OBJS)) $(FUZZ_LIBS)

$(FUZZ_COV_DIR)/fuzz_http_head: fuzz/fuzz_http_head.c $(FUZZ_COV_DIR)/obj/http_head.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COV_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_COV_DIR)/obj/http_head.o

fuzz-coverage: fuzz-deps
	@tools/install-deps llvm-14
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_COV_DIR)/%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus-work/$$t; rm -f $(FUZZ_COV_DIR)/$$t.profraw; \
	  LLVM_PROFILE_FILE=$(FUZZ_COV_DIR)/$$t.profraw ./$(FUZZ_COV_DIR)/$$t -runs=0 \
	    fuzz/corpus-work/$$t fuzz/corpus/$$t > $(FUZZ_COV_DIR)/$$t.log 2>&1 || exit 1; \
	  llvm-profdata-14 merge -sparse $(FUZZ_COV_DIR)/$$t.profraw -o $(FUZZ_COV_DIR)/$$t.profdata; \
	done
	@echo "== fuzz_encode: the encoder"
	@llvm-cov-14 report $(FUZZ_COV_DIR)/fuzz_encode -instr-profile=$(FUZZ_COV_DIR)/fuzz_encode.profdata \
	  src/json_encode.c src/schema.c src/buffer.c src/codec_api.c
	@echo "== fuzz_response: capture, decode, mapping"
	@llvm-cov-14 report $(FUZZ_COV_DIR)/fuzz_response -instr-profile=$(FUZZ_COV_DIR)/fuzz_response.profdata \
	  src/response.c src/errors.c src/transport.c src/codec_api.c
	@echo "== fuzz_http_head: answer heads for Lua transports"
	@llvm-cov-14 report $(FUZZ_COV_DIR)/fuzz_http_head -instr-profile=$(FUZZ_COV_DIR)/fuzz_http_head.profdata \
	  src/http_head.c
