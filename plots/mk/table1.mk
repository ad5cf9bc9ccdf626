# table1.mk - paper Table 1 (best/avg. accuracy, best/avg. time to the
# highest accuracy every algorithm reached), as markdown and as a figure.
# Computed from the runs of Fig. 4: the target runs (or resumes)
# experiments/figure4.cfg, so after `make figure4` it only computes and plots.
FIG_EXP_table1 = figure4
FIG_WROTE_table1 = $(FIGDIR)/table1.md, $(FIGDIR)/table1.png and $(FIGDIR)/table1.pdf
