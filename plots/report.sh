#!/bin/sh
# report.sh - one static page with every figure, table and paper claim of the
# suite, our numbers and a verdict, from results.db only.
#
#   sh plots/report.sh [--db PATH] [--figures DIR] [--out DIR] [--claims FILE] [--no-pdf]
#
# Writes OUT/index.html (opens from the file system: no server, no script),
# beside it figures/*.png (copies of DIR's images), claims/ID.sql (each
# claim's query), claims.tsv (every claim's result), runs.tsv (every run
# without its bulky columns), topology-N.xml (the recorded hwloc topologies),
# and OUT/report.pdf (the page printed by headless Chromium; --no-pdf skips it).
# Defaults: --db results/results.db --figures results/figures
# --out results/report --claims plots/report-claims.txt.
#
# The claims and their queries are in plots/report-claims.txt (format in its
# header). Each query runs read-only on the database, with this checkout's
# plots/views.sql loaded as temporary views (so an older database is read
# with the current definitions); it returns one row per scale and clock, or
# none: then the claim is "not run". The database is never written.
# Exit status: 0 written, 1 an error (named with the file and line), 2 usage.
set -u
db=results/results.db
figdir=results/figures
out=results/report
claims=plots/report-claims.txt
pdf=1
while [ $# -gt 0 ]; do
  case "$1" in
    --db) db=${2:?--db needs a path}; shift 2 ;;
    --figures) figdir=${2:?--figures needs a directory}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --claims) claims=${2:?--claims needs a file}; shift 2 ;;
    --no-pdf) pdf=0; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "report.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
views=$here/views.sql

die() { echo "report.sh: $*" >&2; exit 1; }
[ -f "$db" ] || die "$db: no such database (make a figure first, e.g. make figure4)"
[ -f "$claims" ] || die "$claims: no such claims file"
[ -f "$views" ] || die "$views: missing"
command -v sqlite3 >/dev/null || die "sqlite3 not found (make deps)"
tab=$(printf '\t')
# steps is a view over compressed chunks, read through psgd's SQLite extension
steps_ext=${PSGD_STEPS_EXT:-$here/../build/psgd_steps}
tmp=$(mktemp -d /tmp/psgd_report.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Temporary copies of the views: CREATE TEMP VIEW works on a read-only
# connection, and temp names are looked up before the database's own.
sed -e '/^DROP VIEW/d' -e 's/^CREATE VIEW/CREATE TEMP VIEW/' "$views" > "$tmp/views.sql"

# q SQL: runs SQL (on stdin if SQL is "-") read-only, tab-separated, no header.
q() {
  if [ "$1" = - ]; then cat "$tmp/views.sql" - > "$tmp/q.sql"
  else { cat "$tmp/views.sql"; printf '%s\n' "$1"; } > "$tmp/q.sql"; fi
  PSGD_STEPS_EXT=$steps_ext sh "$here/db.sh" -steps -bail -sep "$tab" "$db" < "$tmp/q.sql"
}
# qhtml SQL: the same as an HTML table body (sqlite3 escapes the cells).
qhtml() {
  { cat "$tmp/views.sql"; printf '%s\n' "$1"; } > "$tmp/q.sql"
  PSGD_STEPS_EXT=$steps_ext sh "$here/db.sh" -steps -bail -html "$db" < "$tmp/q.sql"
}
esc() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
e() { printf '%s' "$1" | esc; }

# The database must be psgd's: a runs table with the columns used here.
kind=$(q "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name IN ('runs', 'steps', 'evals', 'events');" 2>"$tmp/err") ||
  die "$db: cannot read: $(cat "$tmp/err")"
[ "$kind" -ge 4 ] || die "$db: not a psgd results database (no runs/steps/evals/events tables)"

mkdir -p "$out/figures" "$out/claims" || die "$out: cannot create"
rm -f "$out"/figures/*.png "$out"/claims/*.sql "$out"/topology-*.xml

# ---------------------------------------------------------------------------
# Claims: split the file into $tmp/c/ID.meta (key<TAB>value lines) and
# $tmp/c/ID.sql, in file order ($tmp/c/order), checking the format.
mkdir -p "$tmp/c"
awk -v dir="$tmp/c" -v file="$claims" '
  function fail(msg) { printf "%s:%d: %s\n", file, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
  function close_claim() {
    if (id == "") return
    for (k in need) if (!(k in seen)) { NR = start; fail("claim " id " has no \"" k ":\" line") }
    if (nsql == 0) { NR = start; fail("claim " id " has an empty sql: part") }
  }
  BEGIN { need["figure"]; need["claim"]; need["paper"]; need["rule"]; need["sql"] }
  /^== / {
    close_claim()
    id = $2; start = NR; insql = 0; nsql = 0; delete seen
    if (id !~ /^[A-Za-z0-9-]+$/) fail("bad claim id \"" id "\" (letters, digits, -)")
    if (id in ids) fail("claim id " id " used twice")
    ids[id]; print id >> (dir "/order")
    printf "line\t%d\n", NR > (dir "/" id ".meta")
    next
  }
  insql { print > (dir "/" id ".sql"); if ($0 !~ /^[ \t]*$/) nsql++; next }
  /^#/ || /^[ \t]*$/ { next }
  id == "" { fail("text before the first \"== ID\" line") }
  /^sql:[ \t]*$/ { insql = 1; seen["sql"]; next }
  /^[a-z]+: / {
    k = $0; sub(/:.*/, "", k); v = $0; sub(/^[a-z]+: /, "", v)
    if (!(k in need)) fail("unknown key \"" k ":\" (figure, claim, paper, rule, sql)")
    seen[k]; printf "%s\t%s\n", k, v > (dir "/" id ".meta"); next
  }
  { fail("expected \"key: value\", \"sql:\" or \"== ID\"") }
  END { if (!bad) close_claim() }
' "$claims" || exit 1
[ -s "$tmp/c/order" ] || die "$claims: no claims"
meta() { sed -n "s/^$2$tab//p" "$tmp/c/$1.meta"; }

# Run every claim's query; rows: scale, clock, runs, ours, verdict.
: > "$tmp/claims.rows"
printf 'id\tfigure\tscale\tclock\truns\tours\tverdict\n' > "$out/claims.tsv"
for id in $(cat "$tmp/c/order"); do
  line=$(meta "$id" line)
  cp "$tmp/c/$id.sql" "$out/claims/$id.sql"
  if ! q - < "$tmp/c/$id.sql" > "$tmp/c/$id.out" 2> "$tmp/err"; then
    die "$claims:$line: claim $id: the query failed: $(tr '\n' ' ' < "$tmp/err")"
  fi
  awk -F '\t' -v w="$claims:$line: claim $id" '
    NF != 5 { printf "%s: the query returned %d columns, want 5 (scale, clock, runs, ours, verdict)\n", w, NF > "/dev/stderr"; exit 1 }
    $5 != "holds" && $5 != "differs" && $5 != "not run at this scale" {
      printf "%s: verdict \"%s\" is none of holds, differs, not run at this scale\n", w, $5 > "/dev/stderr"; exit 1 }
  ' "$tmp/c/$id.out" || exit 1
  fig=$(meta "$id" figure)
  if [ -s "$tmp/c/$id.out" ]; then
    sed "s/^/$id$tab$fig$tab/" "$tmp/c/$id.out" >> "$out/claims.tsv"
  else
    printf '%s\t%s\t\t\t0\tno finished runs\tnot run\n' "$id" "$fig" >> "$out/claims.tsv"
  fi
done

n_claims=$(wc -l < "$tmp/c/order")
count_v() { awk -F '\t' -v v="$1" 'NR > 1 && $7 == v' "$out/claims.tsv" | wc -l; }
n_holds=$(count_v holds); n_differs=$(count_v differs)
n_scale=$(count_v 'not run at this scale'); n_notrun=$(count_v 'not run')

# ---------------------------------------------------------------------------
# Figures: name | experiment whose runs it draws | caption.
cat > "$tmp/figures" <<'EOF'
figure1|figure1|Paper Fig. 1: one interval of a real Interval-Asynchronous run (y = m = 4): one row per worker, each step from its start to its end, a circle if accepted, a cross if rejected, the interval shaded.
figure2|figure2|Paper Fig. 2: acceptance rate of the interval dispatcher vs the interval size y, one line per batch size.
figure3|figure3|Paper Fig. 3: (a) mean staleness tau of accepted steps vs y against Async's, (b) the distribution of tau per y, (c) tau quartiles over time under y-decay.
figure4|figure4|Paper Fig. 4: best test accuracy vs threads (top) and time to a threshold accuracy vs threads (bottom), Async vs ElAsync vs Interval-Async with y-decay and y-probing.
figure5|figure4|Paper Fig. 5: test accuracy and test loss over training time for every algorithm and thread count of Fig. 4 (the same runs).
table1|figure4|Paper Table 1: best and average accuracy per algorithm, best and average time to the common accuracy (the runs of Fig. 4).
thesis-memory|thesis-memory|Thesis Figs. 4.2-4.4: UMA vs NUMA placement: time to epsilon, epoch time, epochs, per-thread staleness.
thesis-heatmaps|thesis-heatmaps|Thesis Figs. 4.5-4.12 and Table 4.3: time to epsilon over step size x batch size, crashed and non-converged runs, per algorithm and thread count.
thesis-staleness|thesis-staleness|Thesis Figs. 4.13-4.18: staleness distribution of accepted updates vs batch size per synchronization method.
thesis-compare|thesis-compare|Thesis Figs. 4.19-4.21: time to epsilon-convergence per synchronization method and thread count, epoch time and epochs to epsilon.
thesis-backoff|thesis-backoff|Thesis Figs. 4.22-4.23: time to epsilon with linear, exponential, random and no backoff, and the contention each leaves.
EOF

# md2html FILE: a Markdown pipe table (and plain lines) as HTML.
md2html() {
  awk '
    function h(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
    /^\|/ {
      if ($0 ~ /^\|[ :|-]+\|[ \t]*$/) next
      n = split($0, c, "|"); row = ""
      for (i = 2; i < n; i++) { x = c[i]; gsub(/^ +| +$/, "", x); row = row "<" (t ? "td" : "th") ">" h(x) "</" (t ? "td" : "th") ">" }
      if (!t) print "<table class=\"md\">"
      print "<tr>" row "</tr>"; t = 1; next
    }
    { if (t) { print "</table>"; t = 0 } if ($0 != "") print "<p>" h($0) "</p>" }
    END { if (t) print "</table>" }
  ' "$1"
}

# ---------------------------------------------------------------------------
# The page.
html=$tmp/index.html
now=$(date -u '+%Y-%m-%d %H:%M UTC')
suite_commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
n_runs=$(q "SELECT count(*) FROM runs;")
{
cat <<EOF
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>psgd report: claims, figures, runs</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ccc; padding: .25em .45em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; } table.claims td.v { white-space: nowrap; font-weight: bold; }
.holds { background: #d9f2d9; } .differs { background: #f9e0c7; } .notrun, .scale { background: #e6e6e6; }
.missing { background: #fbe3e3; padding: .5em; border: 1px solid #e0a0a0; }
details pre, pre { background: #f7f7f7; padding: .5em; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-style: italic; margin: .3em 0; } .small { font-size: 12px; color: #555; }
p.rule { font-size: 12px; color: #333; margin: .3em 0; }
@media print { body { max-width: none; font-size: 11px; } table.claims td.v { white-space: normal; } figure { break-inside: avoid; } h2 { break-before: auto; } }
</style></head><body>
<h1>psgd: what the paper and the thesis claim, and what this database says</h1>
<p class="small">Generated $(e "$now") by plots/report.sh (suite commit $(e "$suite_commit")) from
<code>$(e "$db")</code>: $n_runs runs. Every number below is a query on that database; figures are
the PNGs in <code>$(e "$figdir")</code>. Data beside this page: <a href="claims.tsv">claims.tsv</a>,
<a href="runs.tsv">runs.tsv</a>, <a href="claims/">claims/*.sql</a>, topology-*.xml.</p>
<p>Papers: Garby &amp; Tsigas, <i>Interval-Asynchrony</i>, Euro-Par 2025 ("paper"); Ek, fine-grained
synchronization in asynchronous parallel SGD, thesis 2021 ("thesis").
Claims: $n_claims; verdicts: <span class="holds">&nbsp;holds $n_holds&nbsp;</span>
<span class="differs">&nbsp;differs $n_differs&nbsp;</span>
<span class="scale">&nbsp;not run at this scale $n_scale&nbsp;</span>
<span class="notrun">&nbsp;not run $n_notrun&nbsp;</span> (one verdict per claim and scale).</p>
<p class="small">Verdicts: <b>holds</b> / <b>differs</b>: the claim's rule (under each claim; its
query on demand, and in claims/ID.sql) applied to the query's result; <b>not run at this scale</b>: runs exist but not the ones
the rule needs (e.g. one NUMA node, a single thread count); <b>not run</b>: no finished run in the
database addresses the claim. Scale: the dataset and thread counts of the runs the query used;
clock: real (wall-clock) or virtual (the runs' spec key "clock"; real when absent).</p>

<h2 id="claims">Claims</h2>
<table class="claims"><tr><th>claim</th><th>paper / thesis</th><th>ours</th><th>verdict</th><th>scale</th><th>clock</th><th>runs</th></tr>
EOF
for id in $(cat "$tmp/c/order"); do
  fig=$(meta "$id" figure)
  nrow=$(awk -F '\t' -v id="$id" 'NR > 1 && $1 == id' "$out/claims.tsv" | wc -l)
  first=1
  # empty fields as "-": read with IFS=tab would merge adjacent tabs
  awk -F "\t" -v OFS="\t" -v id="$id" 'NR > 1 && $1 == id { for (i = 1; i <= NF; i++) if ($i == "") $i = "-"; print }' \
    "$out/claims.tsv" > "$tmp/rows"
  while IFS="$tab" read -r _id _fig scale clock runs ours verdict; do
    case $verdict in holds) cls=holds ;; differs) cls=differs ;; "not run") cls=notrun ;; *) cls=scale ;; esac
    echo "<tr>"
    if [ "$first" = 1 ]; then
      cat <<EOF
<td rowspan="$nrow" id="claim-$id"><b>$(e "$(meta "$id" claim)")</b><br><span class="small">$id, <a href="#fig-$fig">$(e "$fig")</a></span>
<p class="rule"><b>Rule:</b> $(e "$(meta "$id" rule)")</p>
<details><summary>query</summary><pre>$(esc < "$tmp/c/$id.sql")</pre>
<p class="small">also in <a href="claims/$id.sql">claims/$id.sql</a></p></details></td>
<td rowspan="$nrow">$(e "$(meta "$id" paper)")</td>
EOF
      first=0
    fi
    echo "<td>$(e "$ours")</td><td class=\"v $cls\">$(e "$verdict")</td><td>$(e "$scale")</td><td>$(e "$clock")</td><td>$(e "$runs")</td></tr>"
  done < "$tmp/rows"
done
echo "</table>"

# ---------------------------------------------------------------------------
echo '<h2 id="figures">Figures and tables</h2>'
while IFS='|' read -r name exp caption; do
  n_exp=$(q "SELECT count(*) FROM runs WHERE experiment = '$exp';")
  echo "<section id=\"fig-$name\"><h3>$name</h3>"
  if [ -f "$figdir/$name.png" ]; then
    cp "$figdir/$name.png" "$out/figures/$name.png" || die "cannot copy $figdir/$name.png"
    echo "<figure><img src=\"figures/$name.png\" alt=\"$name\"><figcaption>$(e "$caption")</figcaption></figure>"
    # An image older than the newest run it draws was not made from these runs
    # (e.g. the committed quick-scale PNG of a fresh clone).
    img_t=$(date -u -r "$figdir/$name.png" '+%Y-%m-%dT%H:%M:%SZ')
    last_t=$(q "SELECT coalesce(max(coalesce(ended_at, started_at)), '') FROM runs WHERE experiment = '$exp';")
    if [ "$n_exp" = 0 ]; then
      echo "<p class=\"missing\">This database has no runs of experiment <code>$exp</code>: the image above was not made from it.</p>"
    elif [ -n "$last_t" ] && [ "$(q "SELECT '$img_t' < '${last_t%.*}';")" = 1 ]; then
      echo "<p class=\"missing\">The image ($img_t) is older than the newest run of <code>$exp</code> ($(e "$last_t")): it does not show all of these runs; re-plot with <code>make $name</code>.</p>"
    fi
  else
    echo "<p class=\"missing\"><b>missing</b>: no $(e "$figdir/$name.png"); make it with <code>make $name</code>.</p><p><i>$(e "$caption")</i></p>"
  fi
  for md in "$figdir/$name.md" "$figdir/thesis-table4-3.md"; do
    case $md in */thesis-table4-3.md) [ "$name" = thesis-heatmaps ] || continue ;; esac
    [ -f "$md" ] && { echo "<p class=\"small\">$(e "$(basename "$md")"):</p>"; md2html "$md"; }
  done
  if [ "$n_exp" = 0 ]; then
    echo "<p>Runs: <b>not run</b>: no runs of experiment <code>$exp</code> in the database.</p>"
  else
    echo "<p>Runs of experiment <code>$exp</code>: $(q "SELECT group_concat(n || ' ' || status, ', ') FROM (SELECT status, count(*) AS n FROM runs WHERE experiment = '$exp' GROUP BY status ORDER BY status);");
datasets $(q "SELECT group_concat(DISTINCT dataset) FROM runs WHERE experiment = '$exp';"), threads $(q "SELECT min(threads) || '-' || max(threads) FROM runs WHERE experiment = '$exp';"),
clock $(e "$(q "SELECT group_concat(DISTINCT coalesce(json_extract(spec, '\$.clock'), 'real') || coalesce(' (step time ' || json_extract(spec, '\$.step_time') || ')', '')) FROM runs WHERE experiment = '$exp';")"),
started $(q "SELECT min(started_at) || ' to ' || max(started_at) FROM runs WHERE experiment = '$exp';").</p>"
    # where the runs ran: host and CPU, hwloc topology (objects counted in the
    # recorded XML), commits, library versions (the engine key aside)
    echo "<p class=\"small\">Machine: $(e "$(q "WITH t AS (SELECT host, cpu_model, topology_xml AS x, git_commit, versions FROM runs WHERE experiment = '$exp'),
      c AS (SELECT DISTINCT host || ' (' || coalesce(cpu_model, '?') || '): ' ||
              ((length(x) - length(replace(x, 'type=\"Package\"', ''))) / 14) || ' package(s), ' ||
              ((length(x) - length(replace(x, 'type=\"NUMANode\"', ''))) / 15) || ' NUMA node(s), ' ||
              ((length(x) - length(replace(x, 'type=\"Core\"', ''))) / 11) || ' cores, ' ||
              ((length(x) - length(replace(x, 'type=\"PU\"', ''))) / 9) || ' PUs' AS m FROM t)
      SELECT coalesce((SELECT group_concat(m, '; ') FROM c), 'no topology recorded') || '. Commit(s): ' ||
             (SELECT group_concat(DISTINCT substr(coalesce(git_commit, '?'), 1, 12)) FROM t) || '. Versions: ' ||
             (SELECT group_concat(DISTINCT coalesce(json_remove(versions, '\$.engine'), '?')) FROM t) || '.';")")</p>"
    n_bad=$(q "SELECT count(*) FROM runs WHERE experiment = '$exp' AND status NOT IN ('ok', 'converged', 'diverged');")
    if [ "$n_bad" != 0 ]; then
      echo "<p>Failed or unfinished runs ($n_bad):</p><table>"
      qhtml "SELECT run_id, label, threads, batch, status, replace(coalesce(why, ''), char(10), ' ') AS why FROM runs WHERE experiment = '$exp' AND status NOT IN ('ok', 'converged', 'diverged') ORDER BY run_id LIMIT 50;"
      echo "</table>"
    else
      echo "<p>Failed runs: none.</p>"
    fi
  fi
  claims_here=$(awk -F '\t' -v f="$name" 'NR > 1 && $2 == f { print $1 }' "$out/claims.tsv" | sort -u)
  if [ -n "$claims_here" ]; then
    printf '<p>Claims: '; for c in $claims_here; do printf '<a href="#claim-%s">%s</a> ' "$c" "$c"; done; echo '</p>'
  fi
  echo "</section>"
done < "$tmp/figures"

# ---------------------------------------------------------------------------
echo '<h2 id="runs">All runs, per experiment</h2><table>'
qhtml "SELECT experiment, count(*) AS runs, group_concat(DISTINCT status) AS statuses,
  sum(status IN ('ok', 'converged', 'diverged')) AS finished, sum(status NOT IN ('ok', 'converged', 'diverged')) AS failed,
  group_concat(DISTINCT dataset) AS datasets, min(threads) || '-' || max(threads) AS threads,
  group_concat(DISTINCT coalesce(json_extract(spec, '\$.clock'), 'real') || coalesce(' (step time ' || json_extract(spec, '\$.step_time') || ')', '')) AS clock,
  min(started_at) AS first, max(started_at) AS last
  FROM runs GROUP BY experiment ORDER BY experiment;"
echo '</table>'

echo '<h2 id="machine">Machine, versions, commits</h2><table>'
qhtml "SELECT host, cpu_model, count(*) AS runs, min(started_at) AS first, max(started_at) AS last FROM runs GROUP BY host, cpu_model ORDER BY runs DESC;"
echo '</table><table>'
qhtml "SELECT coalesce(git_commit, '') AS git_commit, count(*) AS runs, min(started_at) AS first, max(started_at) AS last FROM runs GROUP BY git_commit ORDER BY first;"
echo '</table><table>'
qhtml "SELECT coalesce(versions, '') AS versions, count(*) AS runs FROM runs GROUP BY versions ORDER BY runs DESC;"
echo '</table>'

echo '<h3>hwloc topology</h3>'
# One topology per distinct XML (the latest run's), summarized and, when
# lstopo can read it, drawn as text.
q "SELECT max(run_id) FROM runs WHERE topology_xml IS NOT NULL AND topology_xml != '' GROUP BY topology_xml ORDER BY max(run_id);" > "$tmp/topo_ids"
i=0
while read -r rid; do
  i=$((i + 1))
  q "SELECT topology_xml FROM runs WHERE run_id = $rid;" > "$out/topology-$i.xml"
  used=$(q "SELECT count(*) || ' runs on ' || group_concat(DISTINCT host) FROM runs WHERE topology_xml = (SELECT topology_xml FROM runs WHERE run_id = $rid);")
  cnt() { grep -c "type=\"$1\"" "$out/topology-$i.xml"; }
  echo "<p><a href=\"topology-$i.xml\">topology-$i.xml</a> ($(e "$used")): $(cnt Package) package(s), $(cnt NUMANode) NUMA node(s), $(cnt Core) core(s), $(cnt PU) PU(s), $(cnt L3Cache) L3 cache(s).</p>"
  if command -v lstopo-no-graphics >/dev/null && lstopo-no-graphics -i "$out/topology-$i.xml" --of console > "$tmp/lstopo" 2>/dev/null; then
    echo "<details><summary>lstopo</summary><pre>$(esc < "$tmp/lstopo")</pre></details>"
  fi
done < "$tmp/topo_ids"
[ "$i" = 0 ] && echo "<p class=\"missing\">No run recorded a topology.</p>"
echo "</body></html>"
} > "$html" || die "writing the page failed"

# runs.tsv: every run without spec and topology_xml.
q "SELECT 'run_id', 'experiment', 'label', 'status', 'why', 'algorithm', 'threads', 'dataset', 'batch', 'lr', 'y0', 'seed', 'repetition', 'started_at', 'wall_s', 'steps_accepted', 'best_test_acc', 'host', 'git_commit', 'clock';
   SELECT run_id, experiment, label, status, replace(replace(coalesce(why, ''), char(9), ' '), char(10), ' '), algorithm, threads, dataset,
          batch, lr, y0, seed, repetition, started_at, wall_s, steps_accepted, best_test_acc, host, git_commit,
          coalesce(json_extract(spec, '\$.clock'), 'real') FROM runs ORDER BY run_id;" > "$out/runs.tsv" || die "writing runs.tsv failed"
mv "$html" "$out/index.html" || die "cannot write $out/index.html"
echo "report: wrote $out/index.html ($n_claims claims: $n_holds holds, $n_differs differ, $n_scale not run at this scale, $n_notrun not run)"

if [ "$pdf" = 1 ]; then
  chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
    die "chromium not found: the PDF needs it (make deps installs it; --no-pdf skips the PDF)"
  abs=$(cd "$out" && pwd)
  rm -f "$abs/report.pdf"
  # --no-sandbox: Chromium refuses to start as root with its sandbox (CI and
  # this machine run as root); the page is our own static file.
  "$chrome" --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
    --print-to-pdf="$abs/report.pdf" "file://$abs/index.html" > "$tmp/chrome.log" 2>&1
  if [ ! -s "$abs/report.pdf" ] || [ "$(head -c 5 "$abs/report.pdf")" != "%PDF-" ]; then
    sed 's/^/  /' "$tmp/chrome.log" >&2
    die "chromium did not write $out/report.pdf"
  fi
  echo "report: wrote $out/report.pdf"
fi
