# thesis-heatmaps.mk - thesis Figs. 4.5-4.12 (heat maps of the time to
# epsilon-convergence over step size x batch size, with crashed and
# not-converged counts) and Table 4.3 (the fastest setting per algorithm and
# thread count) from the same runs. psgd run exits 1 when some runs crashed
# or timed out: those are data here (the crashed counts), so the target plots
# anyway; any other failure (2: invalid file, 130: interrupted) stops it.
FIG_RUN_OK_thesis-heatmaps = 1
FIG_AFTER_thesis-heatmaps = sh plots/thesis-table4-3.sh "$(DB)" $(FIGDIR)
FIG_WROTE_thesis-heatmaps = $(FIGDIR)/thesis-heatmaps.png, .pdf and $(FIGDIR)/thesis-table4-3.md
