# mk/random.mk: every random source of src/random.c, built and tested here.
#
#   make random-check   builds the module (Lua 5.4) once per source with
#                       -DAX_RANDOM_SOURCE=..., and runs tools/random_check.lua
#                       on each: the source compiled in, distinct UUID v4 keys
#                       over many pool refills; as root, /dev/urandom made to
#                       read as empty in a private mount namespace: the
#                       urandom build refuses to send, getrandom is unaffected
#
# Debian 12's glibc 2.36 has all four (getrandom, getentropy, arc4random_buf,
# /dev/urandom), so the sources macOS and the BSDs use are compiled and run
# here too; only the choice by platform is untested off Linux.

RANDOM_SOURCES := getrandom arc4random getentropy urandom
random_macro = AX_RANDOM_$(shell echo $(1) | tr a-z A-Z)
RANDOM_CFLAGS = $(WARN) -O1 -g -fPIC -D_DEFAULT_SOURCE $(LUA54_CFLAGS) $(CURL_CFLAGS)

$(foreach s,$(RANDOM_SOURCES),$(eval $(call ax_build,build/random-$(s),$$(CC),\
  $$(RANDOM_CFLAGS) -DAX_RANDOM_SOURCE=$(call random_macro,$(s)),)))

.PHONY: random-check
random-check: $(RANDOM_SOURCES:%=build/random-%/allawee/core.so)
	@set -e; for s in $(RANDOM_SOURCES); do \
	  case $$s in arc4random) name=arc4random_buf;; urandom) name=/dev/urandom;; *) name=$$s;; esac; \
	  lua5.4 tools/random_check.lua build/random-$$s "$$name"; \
	done
	@if [ "$$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then \
	  unshare -m sh -c 'mount --bind /dev/null /dev/urandom && \
	    ALLAWEE_EXPECT_RANDOM_FAILURE=1 lua5.4 tools/random_check.lua build/random-urandom /dev/urandom && \
	    lua5.4 tools/random_check.lua build/random-getrandom getrandom'; \
	else echo "random-check: skipped the failing-source case: needs root and unshare -m (not in a chroot)"; fi
	@echo "random-check: every random source builds and gives distinct UUID v4 keys"

TEST_CHECKS += random-check
