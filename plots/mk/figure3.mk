# figure3.mk - paper Fig. 3a-c (mean tau vs y against Async; tau distributions per
# y; tau quartiles over time under y-decay).
FIGURES += figure3

.PHONY: figure3
figure3: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/figure3.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/figure3.gp "$(DB)" $(FIGDIR)
	@echo "figure3: wrote $(FIGDIR)/figure3.png and $(FIGDIR)/figure3.pdf"
