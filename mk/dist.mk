# mk/dist.mk: the release files, and the proof that users can install them.
#
#   make dist      dist/: what a release uploads (VERSION from src/internal.h)
#     allawee-lua-$(VERSION).tar.gz           the whole source (GitHub release asset)
#     allawee-$(VERSION).tar.gz               the library rock's source (no sandbox)
#     allawee-$(VERSION)-1.rockspec, .src.rock
#     allawee-sandbox-$(VERSION).tar.gz       the sandbox rock's source
#     allawee-sandbox-$(VERSION)-1.rockspec, .src.rock
#   make rocks-install-check [ROCKS_LUAS="5.1 5.2 5.3 5.4"]
#                  serves dist/ from a throwaway rocks server on 127.0.0.1 and
#                  runs `luarocks --lua-version=<v> install allawee` (and
#                  allawee-sandbox) into fresh trees, creates a customer through
#                  each installed copy, checks the exported symbols, removes
#                  both and checks the tree is empty (tools/rocks-install-check)
#
# Each rock gets its own source archive because LuaRocks' builtin backend
# copies the whole lua/ directory of its source into the tree, whatever the
# rockspec lists: from the full source the library rock would carry the
# sandbox, and the sandbox rock the library. The release rockspecs are
# generated from rockspec/*-scm-1.rockspec (tools/release-rockspec), so the
# module lists live in one file per rock.
#
# Release: upload the three archives to the GitHub release v$(VERSION) (the
# rockspecs' source.url), then `luarocks upload dist/<rock>-$(VERSION)-1.rockspec`
# for both rocks.

VERSION  := $(shell sed -n 's/^\#define AX_VERSION "\(.*\)"/\1/p' src/internal.h)
DIST     := dist
RELEASE_URL := https://github.com/allawee/allawee-lua/releases/download/v$(VERSION)
# Reproducible archives: sorted names, no owner, the last commit's time.
TAR_FLAGS = --owner=0 --group=0 --numeric-owner --sort=name \
            --mtime=@$(shell git log -1 --format=%ct 2>/dev/null || echo 0)

# What each rock's archive holds (the working tree's files).
LIB_ROCK_FILES     = LICENSE README.md CHANGELOG.md $(SRCS) $(HDRS) $(LIB_LUA) \
                     $(sort $(wildcard docs/*.md)) $(sort $(wildcard types/*.lua)) \
                     rockspec/allawee-scm-1.rockspec
SANDBOX_ROCK_FILES = LICENSE README.md CHANGELOG.md $(SANDBOX_LUA) bin/allawee-sandbox \
                     docs/sandbox.md rockspec/allawee-sandbox-scm-1.rockspec

DIST_FILES = $(DIST)/allawee-lua-$(VERSION).tar.gz \
             $(DIST)/allawee-$(VERSION)-1.src.rock $(DIST)/allawee-$(VERSION)-1.rockspec \
             $(DIST)/allawee-sandbox-$(VERSION)-1.src.rock $(DIST)/allawee-sandbox-$(VERSION)-1.rockspec

.PHONY: dist dist-check rocks-install-check fresh-check

dist:
	@rm -rf $(DIST) && mkdir -p $(DIST)/stage
	@# The whole source, from git's tracked files.
	git ls-files -z | tar --null -T - --transform 's,^,allawee-lua-$(VERSION)/,' \
	  $(TAR_FLAGS) -czf $(DIST)/allawee-lua-$(VERSION).tar.gz
	$(call dist_rock,allawee,$(LIB_ROCK_FILES))
	$(call dist_rock,allawee-sandbox,$(SANDBOX_ROCK_FILES))
	@rm -rf $(DIST)/stage
	@for f in $(DIST_FILES); do echo "dist: $$f ($$(wc -c < $$f) bytes)"; done

# $(call dist_rock,NAME,FILES): NAME-$(VERSION).tar.gz of FILES, the release
# rockspec pointing at it, and the .src.rock (a zip of both, as `luarocks
# pack` makes it; `luarocks pack` itself would download source.url).
define dist_rock
	tar $(TAR_FLAGS) --transform 's,^,$(1)-$(VERSION)/,' \
	  -czf $(DIST)/$(1)-$(VERSION).tar.gz $(2)
	tools/release-rockspec rockspec/$(1)-scm-1.rockspec $(VERSION) \
	  $(RELEASE_URL)/$(1)-$(VERSION).tar.gz $(1)-$(VERSION) > $(DIST)/$(1)-$(VERSION)-1.rockspec
	luarocks lint $(DIST)/$(1)-$(VERSION)-1.rockspec
	cp $(DIST)/$(1)-$(VERSION)-1.rockspec $(DIST)/$(1)-$(VERSION).tar.gz $(DIST)/stage/
	cd $(DIST)/stage && zip -q -X ../$(1)-$(VERSION)-1.src.rock \
	  $(1)-$(VERSION)-1.rockspec $(1)-$(VERSION).tar.gz
endef

ROCKS_LUAS ?= 5.1 5.2 5.3 5.4
rocks-install-check: dist
	tools/rocks-install-check $(DIST) $(ROCKS_LUAS)

# The old name: the release archive's rock installs a working module.
dist-check: rocks-install-check

TEST_CHECKS += rocks-install-check

# The README's two commands in a fresh minimal Debian 12 chroot (needs root
# and a package mirror; about 6 minutes). Not part of make test: it installs
# a whole system.
fresh-check:
	tools/fresh-debian-check
