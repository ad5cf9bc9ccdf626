#!/bin/sh
# it_run_summary.sh - tests/run.sh's summary: skipped cmocka cases and skipped
# script checks are counted as skipped, and under CI (CI=true) they count as
# failures. Runs tests/run.sh on a fake tree (one cmocka-like binary, one
# script), never on the suite itself.
. tests/lib_check.sh
runner=$(pwd)/tests/run.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/b/tests" "$tmp/top/tests"
cat > "$tmp/b/tests/test_fake" <<'X'
#!/bin/sh
echo "dataset-fashion-mnist not installed: skipped"
echo "[  PASSED  ] 2 test(s)."
echo "[  SKIPPED ] 1 test(s), listed below:"
echo "[  SKIPPED ] test_x"
X
chmod +x "$tmp/b/tests/test_fake"
printf 'echo "ok a"\necho "skip b (one PU only)"\n' > "$tmp/top/tests/it_fake.sh"
cd "$tmp/top" || exit 1
out=$(env -u CI -u PSGD_NO_SKIP BUILD="$tmp/b" sh "$runner" 2>&1); rc=$?
check summary_counts_skips "$rc $(echo "$out" | tail -1)" "0 3 passed, 0 failed, 2 skipped"
out=$(CI=true BUILD="$tmp/b" sh "$runner" 2>&1); rc=$?
check ci_skip_is_failure "$rc $(echo "$out" | tail -1)" "1 3 passed, 2 failed, 0 skipped"
check ci_names_skip_reason "$(echo "$out" | grep -c 'one PU only\|not installed: skipped')" 4
out=$(CI=false BUILD="$tmp/b" sh "$runner" 2>&1); rc=$?
check ci_false_is_lenient "$rc" 0
