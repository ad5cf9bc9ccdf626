# thesis-compare.mk - thesis Figs. 4.19-4.21 (time to epsilon-convergence box
# plots per synchronization method and thread count; epoch time; epochs).
# The fractions of the initial loss: the thesis's 10/5/2 % at paper scale
# (MNIST, 60 s); 30/20/15 % at quick scale, where Fashion-MNIST's loss falls
# far more slowly (see experiments/thesis-compare.cfg). The smallest one must
# equal the experiment's stop.epsilon at that scale.
THCMP_EPS_quick := 0.30 0.20 0.15
# quick-real: the thesis experiments have no virtual form; the same as quick
THCMP_EPS_quick-real := $(THCMP_EPS_quick)
THCMP_EPS_paper := 0.10 0.05 0.02
FIG_ARGS_thesis-compare = $(THCMP_EPS_$(SCALE)) $(SCALE)
