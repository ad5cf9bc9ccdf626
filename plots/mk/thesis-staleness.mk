# thesis-staleness.mk - thesis Figs. 4.13-4.18 (staleness distribution of
# accepted updates vs batch size, per synchronization method and thread count).
FIGURES += thesis-staleness

.PHONY: thesis-staleness
thesis-staleness: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/thesis-staleness.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/thesis-staleness.gp "$(DB)" $(FIGDIR) $(SCALE)
	@echo "thesis-staleness: wrote $(FIGDIR)/thesis-staleness.png and $(FIGDIR)/thesis-staleness.pdf"
