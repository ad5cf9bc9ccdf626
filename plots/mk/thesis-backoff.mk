# thesis-backoff.mk - thesis Figs. 4.22-4.23: time to epsilon-convergence and
# store contention with linear, exponential, random and no backoff. As in
# thesis-heatmaps.mk, crashed or timed-out runs (psgd run exit 1) are counted
# in the figure, not a reason to stop.
FIG_RUN_OK_thesis-backoff = 1
