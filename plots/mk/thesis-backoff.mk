# thesis-backoff.mk - thesis Figs. 4.22-4.23: time to epsilon-convergence and
# store contention with linear, exponential, random and no backoff. As in
# thesis-heatmaps.mk, crashed or timed-out runs (psgd run exit 1) are counted
# in the figure, not a reason to stop.
FIGURES += thesis-backoff

.PHONY: thesis-backoff
thesis-backoff: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/thesis-backoff.cfg --scale $(SCALE) --db $(DB) || [ $$? -eq 1 ]
	gnuplot -c plots/thesis-backoff.gp "$(DB)" $(FIGDIR)
	@echo "thesis-backoff: wrote $(FIGDIR)/thesis-backoff.png and $(FIGDIR)/thesis-backoff.pdf"
