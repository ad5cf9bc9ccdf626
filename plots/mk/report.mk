# report.mk - `make report`: one static page with every figure, table and
# claim of the paper and the thesis, our numbers (one query each) and a
# verdict, from $(DB) and the images in $(FIGDIR) only: writes
# $(REPORT_DIR)/index.html (with its data beside it) and report.pdf (printed
# by headless Chromium). Runs nothing: a figure not made or a claim without
# runs is shown as missing / not run. Not part of `make figures`.
REPORT_DIR ?= results/report

.PHONY: report
# the steps extension: report.sh reads steps through it (sqlite3 .load)
report: $(STEPS_EXT)
	sh plots/report.sh --db "$(DB)" --figures $(FIGDIR) --out $(REPORT_DIR)
