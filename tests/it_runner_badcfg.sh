#!/bin/sh
# it_runner_badcfg.sh - issue 6, must show 1: every file of the bad-file
# corpus (tests/bad_cfg, expected message on its first line) makes `psgd run`
# and `psgd list` fail before anything runs: its own "file:line: message",
# exit status 2, and the database byte-identical (or, when it did not exist,
# still absent).
PSGD=${PSGD:-build/psgd}
tmp=$(mktemp -d /tmp/psgd_it_badcfg.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

sqlite3 "$tmp/ref.db" "CREATE TABLE runs(run_id INTEGER PRIMARY KEY, key TEXT UNIQUE, status TEXT);
                       INSERT INTO runs VALUES (1, 'feedfacefeedface', 'ok');" || exit 1
# {algorithms} in an expectation: the registries' list, as psgd train --help shows it
algs=$("$PSGD" train --help | sed -n 's/^  --algorithm NAME *//p' | sed 's/ (default [^)]*)$//; s/ | /|/g')
n=0
for f in tests/bad_cfg/*.cfg; do
  n=$((n + 1))
  name=$(basename "$f" .cfg)
  exp=$(head -n 1 "$f" | sed 's/^# expect: //; s/{algorithms}/'"$algs"'/')
  case "$exp" in
    [0-9]*) want="psgd: $f:$exp" ;;
    *) want="psgd: tests/bad_cfg/$exp" ;;
  esac
  cp "$tmp/ref.db" "$tmp/db"
  got=$("$PSGD" run "$f" --db "$tmp/db" 2>&1 >/dev/null); rc=$?
  got_list=$("$PSGD" list "$f" --db "$tmp/db" 2>&1 >/dev/null); rc_list=$?
  got_new=$("$PSGD" run "$f" --db "$tmp/new/results.db" 2>&1 >/dev/null); rc_new=$?
  if [ "$rc" = 2 ] && [ "$got" = "$want" ] && [ "$rc_list" = 2 ] && [ "$got_list" = "$want" ] &&
     [ "$rc_new" = 2 ] && [ "$got_new" = "$want" ] && cmp -s "$tmp/ref.db" "$tmp/db" &&
     [ ! -e "$tmp/db-wal" ] && [ ! -e "$tmp/db-journal" ] && [ ! -e "$tmp/new" ]; then
    echo "ok badcfg_$name"
  else
    echo "not ok badcfg_$name"
    echo "#   want: $want"
    echo "#   run:  $got (exit $rc)"
    echo "#   list: $got_list (exit $rc_list)"
    echo "#   new db: $got_new (exit $rc_new)"
    cmp "$tmp/ref.db" "$tmp/db" | sed 's/^/#   /'
    ls "$tmp" | sed 's/^/#   in tmp: /'
  fi
  rm -rf "$tmp/new"
done
if [ "$n" -ge 20 ]; then echo "ok badcfg_corpus_size ($n files)"; else echo "not ok badcfg_corpus_size ($n < 20)"; fi

# Usage errors are exit status 2 as well, also before the database is touched.
cp "$tmp/ref.db" "$tmp/db"
"$PSGD" run tests/bad_cfg/inc/good_base.cfg --db "$tmp/db" --only 'thraeds=2' >/dev/null 2>&1; rc1=$?
"$PSGD" run tests/bad_cfg/inc/good_base.cfg --db "$tmp/db" --scale nosuch >/dev/null 2>&1; rc2=$?
"$PSGD" run tests/bad_cfg/inc/good_base.cfg --db "$tmp/db" --timeout -3 >/dev/null 2>&1; rc3=$?
"$PSGD" run >/dev/null 2>&1; rc4=$?
if [ "$rc1$rc2$rc3$rc4" = 2222 ] && cmp -s "$tmp/ref.db" "$tmp/db"; then echo "ok badcfg_usage_errors"
else echo "not ok badcfg_usage_errors (exit $rc1 $rc2 $rc3 $rc4)"; fi
