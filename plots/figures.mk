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
