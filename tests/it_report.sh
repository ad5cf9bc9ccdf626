#!/bin/sh
# it_report.sh - `make report` (plots/report.sh) on a tiny database made by
# tiny real runs (synthetic data, stand-in experiment files named like the
# real ones): two figures made by their gnuplot scripts, then the report;
# every claim's verdict in claims.tsv is what its query (claims/ID.sql) gives
# on the database; a claim without runs is "not run"; a missing figure is
# shown as missing; bad input is a clear error and leaves the database as it
# was. Then the page in headless Chromium (plots/report-check.sh, over
# WebDriver): every image loaded, no console error, a screenshot (kept as
# $BUILD/tests/report-screenshot.png); and the same check fails on a page
# with a broken image and on one with a console error.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_report.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
. tests/lib_check.sh
out=$tmp/cmd.out
db=$tmp/t.db

common='dataset = "synthetic"; model = "mlp"; hidden = [16]; seed = 1; record_steps = true;
optimizer = "sgd"; lr = 0.05; eval = { every_s = 0.0; every_steps = 0; test_limit = 200; };'
cat > "$tmp/figure2.cfg" <<CFG
$common
algorithm = "interval"; threads = 4;
stop = { steps = 60; epochs = 0.0; };
sweep = { batch = [8, 32]; y0 = [1, 4, 16]; };
CFG
cat > "$tmp/figure3.cfg" <<CFG
$common
threads = 4; batch = 16;
stop = { steps = 100; epochs = 0.0; };
sweep = { y0 = [1, 4, 16]; };
variants = (
  { label = "IntAsync"; algorithm = "interval"; y_control = "const"; },
  { label = "Async"; algorithm = "async"; y0 = 4; },
  { label = "IntAsync y-decay"; algorithm = "interval"; y_control = "decay"; y0 = 8; y_decay_k = 10; }
);
CFG
for n in 2 3; do
  "$PSGD" run "$tmp/figure$n.cfg" --db "$db" > "$tmp/run$n.out" 2>&1
  check "figure${n}_runs" "$?" 0
done
mkdir -p "$tmp/fig"
for n in 2 3; do
  gnuplot -c plots/figure$n.gp "$db" "$tmp/fig" > "$tmp/gp$n.out" 2>&1
  check "figure${n}_png" "$(png "$tmp/fig/figure$n.png")" png
done

sum_db() { cksum < "$db"; }
before=$(sum_db)
check_run report_writes 0 'report: wrote .*index.html' sh plots/report.sh --db "$db" --figures "$tmp/fig" --out "$tmp/rep"
check report_pdf "$(pdf "$tmp/rep/report.pdf")" pdf
check report_db_unchanged "$(sum_db)" "$before"
check report_images_beside "$(ls "$tmp/rep/figures")" "$(printf 'figure2.png\nfigure3.png')"
check report_topology_beside "$(grep -c '<topology' "$tmp/rep/topology-1.xml")" 1

# every claim of the claims file is in claims.tsv, and each verdict is what
# its query gives now (the query the page shows, in claims/ID.sql)
ids=$(sed -n 's/^== \([A-Za-z0-9-]*\).*/\1/p' plots/report-claims.txt)
check claims_all_listed "$(cut -f1 "$tmp/rep/claims.tsv" | sed 1d | sort -u | tr '\n' ' ')" \
  "$(echo "$ids" | sort -u | tr '\n' ' ')"
sed -e '/^DROP VIEW/d' -e 's/^CREATE VIEW/CREATE TEMP VIEW/' plots/views.sql > "$tmp/views.sql"
mismatch=0
for id in $ids; do
  got=$(cat "$tmp/views.sql" "$tmp/rep/claims/$id.sql" | sqlite3 -readonly -batch -separator "$(printf '\t')" -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$db")
  want=$(awk -F '\t' -v id="$id" 'NR > 1 && $1 == id && $7 != "not run"' "$tmp/rep/claims.tsv" | cut -f3-)
  [ "$got" = "$want" ] || { mismatch=$((mismatch + 1)); echo "# $id: query gives '$got', claims.tsv has '$want'"; }
done
check claims_verdicts_from_queries "$mismatch" 0
# a claim with no runs in the database is "not run"; one with runs is decided
verdict() { awk -F '\t' -v id="$1" 'NR > 1 && $1 == id { print $7 }' "$tmp/rep/claims.tsv"; }
check claim_without_runs_not_run "$(verdict thesis-backoff) $(verdict table1-time-to-common) $(verdict fig1-interval)" \
  "not run not run not run"
check claim_tau_bound_holds "$(verdict fig3-tau-bound)" holds
n_acc=$(sqlite3 -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$db" "SELECT count(*) FROM steps s JOIN runs r USING (run_id) WHERE r.sync = 'interval'
  AND r.status = 'ok' AND s.accepted = 1 AND s.y > 0")
check claim_tau_bound_counts "$(awk -F '\t' '$1 == "fig3-tau-bound" { print $6 }' "$tmp/rep/claims.tsv")" \
  "$n_acc accepted steps: 0 with tau > y, 0 with tau > y - 1"
check claim_etau_decided "$(verdict fig3-etau-log | grep -c '^holds$\|^differs$')" 1
# the page: the claim's query is shown; a figure without image is "missing";
# one with an image but no runs in this database says so
check page_shows_query "$(grep -c '<pre>WITH r AS' "$tmp/rep/index.html")" "$(echo "$ids" | wc -l)"
check page_missing_figure "$(grep -c '<b>missing</b>: no .*figure1.png' "$tmp/rep/index.html")" 1
check page_not_run_runs "$(grep -c 'not run</b>: no runs of experiment <code>thesis-memory' "$tmp/rep/index.html")" 1
# an image older than the runs it draws is flagged
cp -r "$tmp/fig" "$tmp/fig_old"; touch -d 2000-01-01 "$tmp/fig_old/figure2.png"
sh plots/report.sh --db "$db" --figures "$tmp/fig_old" --out "$tmp/rep3" --no-pdf > /dev/null 2>&1
check page_stale_figure "$(grep -c 'is older than the newest run of <code>figure2' "$tmp/rep3/index.html")" 1

# the clock: runs of the virtual clock (runs.spec "clock": "virtual") get
# their own rows beside the real-clock ones, and the page names the step-time model
cp "$db" "$tmp/v.db"
mkdir -p "$tmp/v"
{ cat "$tmp/figure2.cfg"; echo 'clock = "virtual"; step_time = "lognormal:500,0.5";'; } > "$tmp/v/figure2.cfg"
"$PSGD" run "$tmp/v/figure2.cfg" --db "$tmp/v.db" > "$tmp/runv.out" 2>&1
check figure2_virtual_runs "$?" 0
sh plots/report.sh --db "$tmp/v.db" --figures "$tmp/fig" --out "$tmp/rep4" --no-pdf > /dev/null 2>&1
check claims_per_clock "$(awk -F '\t' '$1 == "fig2-rises-with-y" { print $4 "," $5 }' "$tmp/rep4/claims.tsv" | sort | tr '\n' ' ')" \
  "real,6 virtual,6 "
check page_step_time "$(grep -c 'clock [a-z, ]*virtual (step time lognormal:500,0.5)' "$tmp/rep4/index.html")" 1

# bad input: clear errors, nothing written over the good report
check_run report_no_db 1 'no such database' sh plots/report.sh --db "$tmp/none.db" --out "$tmp/rep2" --no-pdf
sqlite3 "$tmp/other.db" "CREATE TABLE x (a)"
check_run report_foreign_db 1 'not a psgd results database' sh plots/report.sh --db "$tmp/other.db" --out "$tmp/rep2" --no-pdf
printf '== c1\nfigure: figure2\nclaim: x\npaper: y\nsql:\nSELECT 1;\n' > "$tmp/bad1.txt"
check_run report_claim_without_rule 1 'bad1.txt:1: claim c1 has no "rule:" line' \
  sh plots/report.sh --db "$db" --claims "$tmp/bad1.txt" --out "$tmp/rep2" --no-pdf
printf '== c1\nfigure: figure2\nclaim: x\npaper: y\nrule: z\nsql:\nSELECT 1, 2, 3, 4, 5;\n' > "$tmp/bad2.txt"
check_run report_bad_verdict 1 'bad2.txt:1: claim c1: verdict "5" is none of' \
  sh plots/report.sh --db "$db" --claims "$tmp/bad2.txt" --out "$tmp/rep2" --no-pdf
printf '== c1\nfigure: figure2\nclaim: x\npaper: y\nrule: z\nsql:\nSELECT nosuchcolumn FROM runs;\n' > "$tmp/bad3.txt"
check_run report_bad_query 1 'bad3.txt:1: claim c1: the query failed: .*nosuchcolumn' \
  sh plots/report.sh --db "$db" --claims "$tmp/bad3.txt" --out "$tmp/rep2" --no-pdf
check report_db_unchanged_after_errors "$(sum_db)" "$before"

# the page in a real browser
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  echo "not ok browser (chromium / chromedriver not installed: make deps)"
  exit 0
fi
shot=${BUILD:-build}/tests/report-screenshot.png
mkdir -p "$(dirname "$shot")"
check_run browser_page_ok 0 'report-check: ok (2 images, no console errors)' \
  sh plots/report-check.sh "$tmp/rep/index.html" --shot "$shot"
check browser_screenshot "$(png "$shot")" png
# the check can fail: a broken image, a console error
cp -r "$tmp/rep" "$tmp/broken"
rm "$tmp/broken/figures/figure3.png"
check_run browser_broken_image 1 'image did not load: figures/figure3.png' sh plots/report-check.sh "$tmp/broken/index.html"
grep -q 'console SEVERE .*figure3.png' "$out"; check browser_broken_image_console $? 0
sed 's|</body>|<script>console.error("report test error")</script></body>|' "$tmp/rep/index.html" > "$tmp/rep/err.html"
check_run browser_console_error 1 'console SEVERE .*report test error' sh plots/report-check.sh "$tmp/rep/err.html"
