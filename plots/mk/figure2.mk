# figure2.mk - paper Fig. 2 (IntAsync acceptance rate vs interval size y, one line
# per batch size).
FIGURES += figure2

.PHONY: figure2
figure2: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/figure2.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/figure2.gp "$(DB)" $(FIGDIR)
	@echo "figure2: wrote $(FIGDIR)/figure2.png and $(FIGDIR)/figure2.pdf"
