# figure5.mk - paper Fig. 5 (test accuracy and loss over time per algorithm
# and thread count). Drawn from the runs of Fig. 4: the target runs (or
# resumes) experiments/figure4.cfg, so after `make figure4` it only plots.
FIGURES += figure5

.PHONY: figure5
figure5: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/figure4.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/figure5.gp "$(DB)" $(FIGDIR)
	@echo "figure5: wrote $(FIGDIR)/figure5.png and $(FIGDIR)/figure5.pdf"
