# make bench: the benchmark that proves the speed (bench/run.lua). It
# installs what it needs, builds the module (for Lua 5.4, and for LuaJIT:
# the OpenResty rows run allawee.openresty inside nginx) and the C baselines
# in their own directory (build/bench, so it never races the ordinary
# build), starts and stops its own nginx (the double, and the OpenResty
# client nginx), and writes bench/RESULTS.md. About 12 minutes on 2 cores.
#
#   make bench                        the full run
#   make bench BENCH_SCALE=0.1 BENCH_ROUNDS=1   a quick smoke run
#   make bench BENCH_ONLY='^or_'      only the rows whose id matches (printed;
#                                     RESULTS.md is not written)
#   make bench-callgrind              only the instruction counts per request
#   make bench-callgrind-openresty    only the OpenResty clients' (32 in flight);
#                                     the callgrind files stay in /tmp/allawee-callgrind.or.*
#   make bench BENCH_ONLY='^or_' BENCH_JITP=Fl   the OpenResty rows under jit.p
#   make bench-webhooks               only the webhooks.verify row

BENCH_BUILD := build/bench
BENCH_BIN   := $(BENCH_BUILD)/bin
BENCH_DEB   := build-essential pkg-config libcurl4-openssl-dev lua5.4 liblua5.4-dev \
               lua5.1 lua-cjson lua-socket lua-sec lua-curl nginx-light wrk openssl \
               valgrind procps util-linux libssl-dev curl \
               libnginx-mod-http-lua lua-resty-core lua-resty-lrucache \
               luajit2 libluajit2-5.1-dev
BENCH_CC     = $(CC) $(WARN) -O2 -g -D_DEFAULT_SOURCE

.PHONY: bench bench-deps bench-build bench-webhooks bench-callgrind bench-callgrind-openresty

bench-deps:
	@tools/install-deps $(BENCH_DEB)

$(BENCH_BIN)/%: bench/%.c bench/c_common.h
	@mkdir -p $(BENCH_BIN)
	$(BENCH_CC) $(CURL_CFLAGS) $< -o $@ $(CURL_LIBS)

# The webhooks.verify baseline links OpenSSL's libcrypto, not libcurl.
$(BENCH_BIN)/c_hmac: bench/c_hmac.c
	@mkdir -p $(BENCH_BIN)
	$(BENCH_CC) $< -o $@ $(shell pkg-config --cflags --libs libcrypto)

bench-build: bench-deps
	@$(MAKE) --no-print-directory all LUA=5.4 BUILD=$(BENCH_BUILD)/5.4
	@$(MAKE) --no-print-directory all LUA=luajit BUILD=$(BENCH_BUILD)/luajit
	@$(MAKE) --no-print-directory $(BENCH_BIN)/c_sequential $(BENCH_BIN)/c_multi $(BENCH_BIN)/c_hmac
	@$(MAKE) --no-print-directory bench-pre

# The engine before it was rebuilt for any route (the create-only engine the
# issue holds the new one to), built from git into $(BENCH_PRE) with its own
# lua/ and bench scripts, so make bench runs it as an anchor in the same
# rounds as today's engine: a ratio to a figure from another day's run mixes
# the engine with the machine (the same code measured 1.62x the C multi
# program on 2026-11-28 and 1.95x on 2026-12-02). Without that commit (a
# shallow clone, a tarball) the rows are left out and the report says so.
BENCH_PRE_COMMIT := 2aca3e7
BENCH_PRE        := $(BENCH_BUILD)/pre-$(BENCH_PRE_COMMIT)

.PHONY: bench-pre
bench-pre:
	@if [ -f $(BENCH_PRE)/build/5.4/allawee/core.so ]; then :; \
	elif git rev-parse -q --verify '$(BENCH_PRE_COMMIT)^{commit}' >/dev/null 2>&1; then \
	  rm -rf $(BENCH_PRE) && mkdir -p $(BENCH_PRE) && \
	  git archive $(BENCH_PRE_COMMIT) | tar -x -C $(BENCH_PRE) && \
	  $(MAKE) --no-print-directory -C $(BENCH_PRE) all LUA=5.4 BUILD=build/5.4 >$(BENCH_PRE).log 2>&1 || \
	  { cat $(BENCH_PRE).log; rm -rf $(BENCH_PRE); exit 1; }; \
	else echo "bench: commit $(BENCH_PRE_COMMIT) is not in this clone: no pre-rebuild anchor rows"; fi

# The webhooks.verify row alone (bench/webhooks.lua), pinned like make bench.
bench-webhooks: bench-build
	LUA_PATH='./?.lua;./lua/?.lua;;' LUA_CPATH='$(BENCH_BUILD)/5.4/?.so;;' taskset -c 1 \
	  lua5.4 bench/webhooks.lua $(BENCH_BIN)/c_hmac \
	  $$(awk 'BEGIN { n = int(20000 * $(or $(BENCH_SCALE),1) + 0.5); print n < 1 ? 1 : n }') 15

bench: bench-build
	BENCH_SCALE=$(or $(BENCH_SCALE),1) BENCH_ROUNDS=$(or $(BENCH_ROUNDS),5) \
	  BENCH_ONLY='$(BENCH_ONLY)' lua5.4 bench/run.lua $(BENCH_BUILD)

# Instructions per request (callgrind: exact, unlike times) of the blocking
# and async creates, the C loop and lua-curl; printed, nothing written.
bench-callgrind: bench-build
	BENCH_SCALE=$(or $(BENCH_SCALE),1) BENCH_PART=callgrind lua5.4 bench/run.lua $(BENCH_BUILD)

bench-callgrind-openresty: bench-build
	BENCH_SCALE=$(or $(BENCH_SCALE),1) BENCH_PART=callgrind-openresty lua5.4 bench/run.lua $(BENCH_BUILD)

# Callback delivery is linear in the number of finished requests: one poll
# delivering N and 4N callbacks, counted in instructions inside client_poll
# by callgrind (repeatable whatever the machine is doing, unlike a clock).
# A linear delivery costs 4x; the quadratic one it replaced cost 13x.
DELIVER_N ?= 2000

.PHONY: deliver-scaling
deliver-scaling: all
	@for n in $(DELIVER_N) $$(( $(DELIVER_N) * 4 )); do \
	  valgrind --tool=callgrind --toggle-collect=client_poll \
	    --callgrind-out-file=$(BUILD)/deliver.$$n lua5.4 bench/deliver_scaling.lua $$n \
	    2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' > $(BUILD)/deliver.$$n.count || exit 1; \
	done; \
	a=$$(cat $(BUILD)/deliver.$(DELIVER_N).count); b=$$(cat $(BUILD)/deliver.$$(( $(DELIVER_N) * 4 )).count); \
	echo "deliver-scaling: $(DELIVER_N) callbacks $$a instructions, 4x as many $$b"; \
	awk -v a=$$a -v b=$$b 'BEGIN { r = b / a; printf "deliver-scaling: ratio %.2f (linear: 4, limit 5)\n", r; exit !(r < 5) }'

TEST_CHECKS += deliver-scaling
