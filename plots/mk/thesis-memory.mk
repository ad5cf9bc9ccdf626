# thesis-memory.mk - thesis Figs. 4.2-4.4 (UMA vs NUMA placement). At quick
# scale on a one-NUMA-node machine NUMA runs as its nearest equivalent and the
# figure says so; SCALE=paper is for a real 2-socket machine.
FIGURES += thesis-memory

.PHONY: thesis-memory
thesis-memory: $(PSGD)
	@mkdir -p $(FIGDIR)
	$(PSGD) run experiments/thesis-memory.cfg --scale $(SCALE) --db $(DB)
	gnuplot -c plots/thesis-memory.gp "$(DB)" $(FIGDIR)
	@echo "thesis-memory: wrote $(FIGDIR)/thesis-memory.png and $(FIGDIR)/thesis-memory.pdf"
