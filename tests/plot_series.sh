#!/bin/sh
# tests/plot_series.sh SCRIPT.gp DB OUTDIR [ARGS...] - runs a figure script
# (from the repository top, as `gnuplot -c SCRIPT.gp DB OUTDIR ARGS...`) with
# its PNG terminal replaced by gnuplot's svg terminal (same size and font) and
# its PDF pass sent to the `unknown` terminal (a script that opens its files
# through plots/db.gp's fig_output: by FIG_PNG_TERM/FIG_PDF_TERM; one that
# sets its terminals itself: by rewriting them), then checks every SVG written
# into OUTDIR with tests/plot_series.awk: every series that has a key entry
# must have at least one drawn element (a line of two distinct points, a
# point, a box, a label) outside its own key sample. Prints the awk's lines;
# exits 0 only if the script ran, wrote at least one SVG, and every keyed
# series of every SVG was drawn. OUTDIR should be empty (every SVG in it is
# checked). PLOT_OVERLAP=1 in the environment also fails on points of two
# series drawn on the same spot (one hiding the other).
[ $# -ge 3 ] || { echo "usage: tests/plot_series.sh SCRIPT.gp DB OUTDIR [ARGS...]" >&2; exit 2; }
script=$1
shift
outdir=$2
# the copy sits beside the script, so that paths relative to the script's
# own directory (ARG0) resolve as they do for the script itself
gp=$(mktemp "$(dirname "$script")/.plot_series.XXXXXX") || exit 1
trap 'rm -f "$gp" "$gp.log"' EXIT
sed -e 's/set terminal pngcairo/set terminal svg/' \
    -e 's/set terminal pdfcairo[^;]*;/set terminal unknown;/' "$script" > "$gp"
if ! grep -q 'set terminal svg\|fig_output(' "$gp"; then
  echo "not ok $script: no 'set terminal pngcairo' or fig_output to replace"
  exit 1
fi
mkdir -p "$outdir"
if ! gnuplot -e 'FIG_PNG_TERM = "svg"; FIG_PDF_TERM = "unknown"' -c "$gp" "$@" > "$gp.log" 2>&1; then
  echo "not ok $script: gnuplot failed"
  sed 's/^/    /' "$gp.log"
  rm -f "$gp.log"
  exit 1
fi
rm -f "$gp.log"
n=0 bad=0
for f in "$outdir"/*; do
  [ -f "$f" ] && head -c 200 "$f" | grep -q '<svg' || continue
  n=$((n + 1))
  echo "svg $(basename "$f")"
  awk -v overlap="${PLOT_OVERLAP:-0}" -f tests/plot_series.awk "$f" || bad=1
done
[ "$n" -gt 0 ] || { echo "not ok $script: wrote no SVG into $outdir"; exit 1; }
exit $bad
