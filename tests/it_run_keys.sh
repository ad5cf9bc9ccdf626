#!/bin/sh
# it_run_keys.sh - the run keys of every experiment file, at every scale
# (quick, paper, quick-real) and at 2 and 64 cores ("<f>x" thread counts),
# are those in tests/run_keys.golden (file scale cores index key), recorded
# with the code from before the table of run settings (core/setting.c).
# A run key is a hash of the spec's JSON: a changed key means finished runs
# in results.db would be run again. Regenerate the golden file
# (`sh tests/it_run_keys.sh --update`) only for a deliberate change of an
# experiment file or of the JSON, and state its migration.
PSGD=${PSGD:-build/psgd}
tmp=$(mktemp -d /tmp/psgd_it_keys.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
. tests/lib_check.sh

for cores in 2 64; do
  for f in experiments/*.cfg; do
    for s in quick paper quick-real; do
      PSGD_CORES=$cores "$PSGD" list "$f" --scale "$s" --db "$tmp/none.db" 2>/dev/null |
        awk -v f="$f" -v s="$s" -v c="$cores" '/^ *[0-9]+  [0-9a-f]+ /{print f, s, c, $1, $2}'
    done
  done
done >"$tmp/keys"
if [ "$1" = "--update" ]; then
  cp "$tmp/keys" tests/run_keys.golden
  echo "updated tests/run_keys.golden ($(wc -l <"$tmp/keys") runs)"
  exit 0
fi
n=$(wc -l <"$tmp/keys" | tr -d ' ')
check run_keys_count "$n" "$(wc -l <tests/run_keys.golden | tr -d ' ')"
if cmp -s "$tmp/keys" tests/run_keys.golden; then
  echo "ok run_keys_unchanged"
else
  echo "not ok run_keys_unchanged (< golden, > now)"
  diff tests/run_keys.golden "$tmp/keys" | head -20 | sed 's/^/    /'
fi
