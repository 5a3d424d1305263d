# Packaging: the source archive the versioned rockspec points to.
#   make dist        dist/allawee-lua-$(VERSION).tar.gz from the tracked files
#   make dist-check  unpack it and prove its rockspec installs a working module
VERSION := $(shell sed -n 's/^\#define AX_VERSION "\(.*\)"/\1/p' src/internal.h)
DIST    := dist/allawee-lua-$(VERSION).tar.gz

.PHONY: dist dist-check

dist:
	@mkdir -p dist
	git ls-files -z | tar --null -T - --transform 's,^,allawee-lua-$(VERSION)/,' \
	  --owner=0 --group=0 --numeric-owner --sort=name -czf $(DIST)
	@echo "dist: $(DIST) ($$(wc -c < $(DIST)) bytes)"

dist-check: dist
	@rm -rf build/dist-check && mkdir -p build/dist-check
	tar -xzf $(DIST) -C build/dist-check
	cd build/dist-check/allawee-lua-$(VERSION) && \
	  tools/rockspec-check rockspec/allawee-$(VERSION)-1.rockspec 5.4

TEST_CHECKS += dist-check

# The README's two commands in a fresh minimal Debian 12 chroot (needs root
# and a package mirror; about 6 minutes). Not part of make test: it installs
# a whole system.
.PHONY: fresh-check
fresh-check:
	tools/fresh-debian-check
