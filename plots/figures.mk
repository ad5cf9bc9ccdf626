# figures.mk - figure targets (included by the top Makefile). Each figure or
# table has its own fragment plots/mk/NAME.mk that adds its target to FIGURES;
# each target runs (or resumes) its experiment into $(DB), then plots from
# $(DB) only.
SCALE ?= quick
DB    ?= results/results.db
FIGDIR := results/figures
FIGURES :=

include $(sort $(wildcard plots/mk/*.mk))

.PHONY: figures
figures: $(FIGURES)

# Every figure reads steps through the extension $(STEPS_EXT), and needs
# gnuplot and the sqlite3 shell: without those, one line
# naming the Debian packages, before any run starts.
.PHONY: figure-tools
figure-tools: $(DEPS_FIRST)
	@missing=; command -v gnuplot >/dev/null 2>&1 || missing="$$missing gnuplot-nox"; \
	command -v sqlite3 >/dev/null 2>&1 || missing="$$missing sqlite3"; \
	if [ -n "$$missing" ]; then echo "missing Debian package(s):$$missing: run \`make deps\`" >&2; exit 1; fi
$(FIGURES): $(STEPS_EXT) | figure-tools
