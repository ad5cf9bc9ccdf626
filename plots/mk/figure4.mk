# figure4.mk - paper Fig. 4 (best accuracy and time to threshold vs threads).
# Fig. 4's threshold accuracy: the paper uses 45% (CIFAR-10); at the
# real-clock quick scale (Fashion-MNIST MLP, seconds-long runs) 87%: lower
# ones are reached at the first evaluation by every run and tell nothing
# apart. At the (virtual-clock) quick scale 86%, reached by most runs within the 0.2
# virtual seconds (EXPERIMENTS.md,
# "Simulated quick scale"). A scale without a threshold here is refused.
FIG4_THR_quick := 0.86
FIG4_THR_quick-real := 0.87
FIG4_THR_paper := 0.45
FIG_CHECK_figure4 = [ -n "$(FIG4_THR_$(SCALE))" ] || { echo "figure4: no threshold accuracy for scale '$(SCALE)' (FIG4_THR_$(SCALE) in plots/mk/figure4.mk)" >&2; exit 2; }
FIG_ARGS_figure4 = $(FIG4_THR_$(SCALE))
