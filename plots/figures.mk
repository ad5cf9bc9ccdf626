# figures.mk - figure targets (included by the top Makefile). Each target runs
# (or resumes) its experiment into $(DB), then plots from $(DB) only.
SCALE ?= quick
DB    ?= results/results.db
FIGDIR := results/figures
# Fig. 4's threshold accuracy: the paper uses 45% (CIFAR-10); at quick scale
# (Fashion-MNIST MLP, seconds-long runs) 87%: lower ones are reached at the
# first evaluation by every run and tell nothing apart.
FIG4_THR_quick := 0.87
FIG4_THR_paper := 0.45

.PHONY: figure4 figures
figure4: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/figure4.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/figure4.gp $(DB) $(FIGDIR) $(FIG4_THR_$(SCALE))
	@echo "figure4: wrote $(FIGDIR)/figure4.png and $(FIGDIR)/figure4.pdf"

figures: figure4
