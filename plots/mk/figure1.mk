# figure1.mk - paper Fig. 1 (one interval of a real IntAsync run, y = m = 4: each
# worker's steps, accepted vs rejected). The plot picks the interval from the
# run's steps table; pass FIG1_INTERVAL=K to draw interval K instead.
FIGURES += figure1

.PHONY: figure1
figure1: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/figure1.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/figure1.gp "$(DB)" $(FIGDIR) $(FIG1_INTERVAL)
	@echo "figure1: wrote $(FIGDIR)/figure1.png and $(FIGDIR)/figure1.pdf"
