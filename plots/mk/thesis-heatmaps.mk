# thesis-heatmaps.mk - thesis Figs. 4.5-4.12 (heat maps of the time to
# epsilon-convergence over step size x batch size, with crashed and
# not-converged counts) and Table 4.3 (the fastest setting per algorithm and
# thread count) from the same runs. psgd run exits 1 when some runs crashed
# or timed out: those are data here (the crashed counts), so the target plots
# anyway; any other failure (2: invalid file, 130: interrupted) stops it.
FIGURES += thesis-heatmaps

.PHONY: thesis-heatmaps
thesis-heatmaps: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/thesis-heatmaps.cfg --scale $(SCALE) --db $(DB) || [ $$? -eq 1 ]
	gnuplot -c plots/thesis-heatmaps.gp "$(DB)" $(FIGDIR)
	sh plots/thesis-table4-3.sh "$(DB)" $(FIGDIR)
	@echo "thesis-heatmaps: wrote $(FIGDIR)/thesis-heatmaps.png, .pdf and $(FIGDIR)/thesis-table4-3.md"
