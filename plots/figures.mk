# figures.mk - figure targets (included by the top Makefile). Every plots/NAME.gp
# but the helpers (style.gp, db.gp) is a figure, and `make NAME` runs one rule:
# run (or resume) the experiment it draws into $(DB), then plot from $(DB) only:
#   $(PSGD) run experiments/EXP.cfg --scale $(SCALE) --db "$(DB)"
#   gnuplot -c plots/NAME.gp "$(DB)" $(FIGDIR) ARGS
# A figure whose defaults do not fit sets, in plots/mk/NAME.mk:
#   FIG_EXP_NAME     EXP, the experiment (default NAME)
#   FIG_ARGS_NAME    ARGS, the script's arguments after DB and OUTDIR (default none)
#   FIG_RUN_OK_NAME  1: psgd run's exit status 1 (some runs crashed or timed
#                    out) is data here, not a reason to stop
#   FIG_CHECK_NAME   a shell command run first (it stops the target by failing)
#   FIG_AFTER_NAME   a shell command run after the plot
#   FIG_WROTE_NAME   what the last line says was written (default NAME.png and .pdf)
SCALE ?= quick
DB    ?= results/results.db
FIGDIR := results/figures
FIG_HELPERS := style db
FIGURES := $(filter-out $(FIG_HELPERS),$(basename $(notdir $(wildcard plots/*.gp))))

include $(sort $(wildcard plots/mk/*.mk))

.PHONY: figures $(FIGURES)
figures: $(FIGURES)

# Every figure reads steps through the extension $(STEPS_EXT), and needs
# gnuplot and the sqlite3 shell: without those, one line
# naming the Debian packages, before any run starts.
.PHONY: figure-tools
figure-tools: $(DEPS_FIRST)
	@missing=; command -v gnuplot >/dev/null 2>&1 || missing="$$missing gnuplot-nox"; \
	command -v sqlite3 >/dev/null 2>&1 || missing="$$missing sqlite3"; \
	if [ -n "$$missing" ]; then echo "missing Debian package(s):$$missing: run \`make deps\`" >&2; exit 1; fi

$(FIGURES): %: $(PSGD) $(STEPS_EXT) | figure-tools
	@$(FIG_CHECK_$*)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/$(or $(FIG_EXP_$*),$*).cfg --scale $(SCALE) --db "$(DB)"$(if $(FIG_RUN_OK_$*), || [ $$? -eq 1 ])
	gnuplot -c plots/$*.gp "$(DB)" $(FIGDIR) $(FIG_ARGS_$*)
	$(FIG_AFTER_$*)
	@echo "$*: wrote $(or $(FIG_WROTE_$*),$(FIGDIR)/$*.png and $(FIGDIR)/$*.pdf)"
