# figure5.mk - paper Fig. 5 (test accuracy and loss over time per algorithm
# and thread count). Drawn from the runs of Fig. 4: the target runs (or
# resumes) experiments/figure4.cfg, so after `make figure4` it only plots.
FIG_EXP_figure5 = figure4
