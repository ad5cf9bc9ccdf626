#!/bin/sh
# it_faults.sh - the fault and bad-input corpus that needs files made at run
# time (FIFOs, devices, directories, symlink loops, corrupt datasets, huge
# topologies, bad databases, bad arguments). Each case runs psgd on a copy
# of a reference database holding finished runs and checks: the exit status,
# the message, that it ended within 10 s, and afterwards the database's
# PRAGMA integrity_check and contents (unchanged). The text corpus of bad
# experiment files is tests/bad_cfg (tests/it_runner_badcfg.sh). Prints the
# number of cases per class at the end.
PSGD=${PSGD:-build/psgd}
tmp=$(mktemp -d /tmp/psgd_it_faults.XXXXXX) || exit 1
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
. tests/lib_check.sh
out=$tmp/out
ref=$tmp/ref.db
db=$tmp/db.db
counts=$tmp/counts

# the reference database: two finished runs of a tiny sweep
cat > "$tmp/ok.cfg" <<'CFG'
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = 1;
stop = { seconds = 0.3; epochs = 0.0; };
sweep = { batch = [4, 8]; };
CFG
"$PSGD" run "$tmp/ok.cfg" --db "$ref" > "$out" 2>&1 || { echo "not ok faults_reference_db"; cat "$out"; exit 1; }
digest() { sqlite3 -batch "$1" "SELECT group_concat(key || status, ',') FROM (SELECT key, status FROM runs ORDER BY key);
  SELECT COUNT(*) FROM evals; PRAGMA integrity_check" 2>&1 | tr '\n' ' '; }
want_digest=$(digest "$ref")

# fault CLASS NAME STATUS TEXT CMD...: runs CMD (with $db a fresh copy of the
# reference database) under a 10 s limit; ok if it exits STATUS with TEXT in
# its output, in time, and the database is intact and unchanged.
fault() {
  class=$1 name=$2 want=$3 text=$4
  shift 4
  cp "$ref" "$db"
  rm -f "$db-wal" "$db-shm"
  t0=$(date +%s.%N)
  timeout 10 "$@" > "$out" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  secs=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
  got_digest=$(digest "$db")
  echo "$class" >> "$counts"
  if [ "$rc" -eq "$want" ] && grep -q -- "$text" "$out" && [ "$got_digest" = "$want_digest" ]; then
    echo "ok fault_${class}_$name (${secs} s)"
  else
    echo "not ok fault_${class}_$name (exit $rc in ${secs} s, wanted $want and '$text'; db: $got_digest)"
    sed 's/^/    /' "$out"
  fi
}
cfg() { f=$tmp/$1.cfg; shift; printf '%s\n' "$@" > "$f"; }
base='dataset = "synthetic"; model = "mlp"; hidden = [16]; threads = 1; stop = { seconds = 0.3; epochs = 0.0; };'

# ---- integers beyond 32 bits (libconfig 1.5 would wrap them) ----
cfg wrap_threads "$base" "threads = 4294967298;"
fault int threads_wrap 2 "wrap_threads.cfg:2: integer 4294967298 does not fit in 32 bits" \
  "$PSGD" run "$tmp/wrap_threads.cfg" --db "$db"
cfg wrap_seed "$base" "seed = 4294967297;"
fault int seed_wrap 2 "wrap_seed.cfg:2: integer 4294967297 does not fit in 32 bits" \
  "$PSGD" list "$tmp/wrap_seed.cfg" --db "$db"
cfg big_seed_ok "$base" "seed = 4294967297L;"
check int_seed_with_L_loads "$("$PSGD" list "$tmp/big_seed_ok.cfg" --db "$ref" >/dev/null 2>&1; echo $?)" 0

# ---- dataset files, checked at validation (before any run) ----
mk_mnist() { # DIR [fault]: a small MNIST-format set (64 train, 16 test), optionally damaged
  python3 - "$1" "${2:-}" <<'PY'
import gzip, os, struct, sys
d, fault = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
def idx(name, n, img, gz=False, cut=0, magic=None, count=None):
    hdr = struct.pack('>IIII', magic or 0x803, count or n, 28, 28) if img else struct.pack('>II', magic or 0x801, count or n)
    body = bytes((i * 7) % 256 for i in range(n * 784)) if img else bytes(i % 10 for i in range(n))
    data = hdr + body
    if cut: data = data[:-cut]
    if gz:
        data = gzip.compress(data)
    with open(os.path.join(d, name + ('.gz' if gz else '')), 'wb') as f: f.write(data)
idx('train-images-idx3-ubyte', 64, True, cut=100 if fault == 'truncated' else 0,
    magic=0x801 if fault == 'magic' else None)
idx('train-labels-idx1-ubyte', 63 if fault == 'count' else 64, False)
idx('t10k-images-idx3-ubyte', 16, True, gz=True)
idx('t10k-labels-idx1-ubyte', 16, False, gz=True)
if fault == 'gzcut':
    p = os.path.join(d, 't10k-images-idx3-ubyte.gz')
    b = open(p, 'rb').read()
    open(p, 'wb').write(b[:len(b) // 2])
if fault == 'empty':
    open(os.path.join(d, 'train-images-idx3-ubyte'), 'wb').close()
PY
}
mnist_cfg() { cfg "$1" 'dataset = "mnist"; model = "mlp"; hidden = [16]; threads = 1;' \
  "data_dir = \"$tmp/$1\";" 'stop = { seconds = 0.3; epochs = 0.0; };' "${2:-batch = 16;}"; }
mk_mnist "$tmp/good/mnist"
mnist_cfg good
check data_good_fixture_validates "$("$PSGD" list "$tmp/good.cfg" --db "$ref" >/dev/null 2>&1; echo $?)" 0
for f in empty truncated magic count gzcut; do
  mk_mnist "$tmp/$f/mnist" $f
  mnist_cfg $f
done
fault data empty_file 2 "empty.cfg:1: dataset 'mnist': .*train-images-idx3-ubyte: empty file" \
  "$PSGD" run "$tmp/empty.cfg" --db "$db"
fault data truncated_file 2 "train-images-idx3-ubyte: truncated file: the header announces 50192 bytes, the file has 50092" \
  "$PSGD" run "$tmp/truncated.cfg" --db "$db"
fault data wrong_magic 2 "wrong magic 0x00000801, expected 0x00000803" \
  "$PSGD" list "$tmp/magic.cfg" --db "$db"
fault data count_mismatch 2 "label/image count mismatch: 63 labels for 64 images" \
  "$PSGD" run "$tmp/count.cfg" --db "$db"
fault data truncated_gzip 2 "t10k-images-idx3-ubyte.gz: truncated or corrupt gzip file" \
  "$PSGD" run "$tmp/gzcut.cfg" --db "$db"
mnist_cfg big_batch "batch = 65;"
mkdir -p "$tmp/big_batch" && cp -r "$tmp/good/mnist" "$tmp/big_batch/"
fault data batch_over_train_set 2 "big_batch.cfg:4: batch = 65 is larger than the training set of dataset 'mnist' (64 samples)" \
  "$PSGD" run "$tmp/big_batch.cfg" --db "$db"
mkdir -p "$tmp/dirdata/mnist/train-images-idx3-ubyte"; cp "$tmp/good/mnist/"*labels* "$tmp/good/mnist/t10k-images"* "$tmp/dirdata/mnist/"
mnist_cfg dirdata
fault data file_is_directory 2 "train-images-idx3-ubyte: is a directory, not a data file" \
  "$PSGD" run "$tmp/dirdata.cfg" --db "$db"
mkdir -p "$tmp/loop/mnist"; cp "$tmp/good/mnist/"* "$tmp/loop/mnist/"; rm "$tmp/loop/mnist/train-images-idx3-ubyte"
ln -s loop_b "$tmp/loop/mnist/train-images-idx3-ubyte"; ln -s train-images-idx3-ubyte "$tmp/loop/mnist/loop_b"
mnist_cfg loop
fault data symlink_loop 2 "train-images-idx3-ubyte: symbolic link loop" \
  "$PSGD" list "$tmp/loop.cfg" --db "$db"
if [ "$(id -u)" != 0 ]; then
  mkdir -p "$tmp/unread/mnist"; cp "$tmp/good/mnist/"* "$tmp/unread/mnist/"; chmod 000 "$tmp/unread/mnist/train-labels-idx1-ubyte"
  mnist_cfg unread
  fault data unreadable 2 "train-labels-idx1-ubyte: cannot read: Permission denied" \
    "$PSGD" run "$tmp/unread.cfg" --db "$db"
else
  echo "ok fault_data_unreadable # skip: root reads any file"
fi
mkdir -p "$tmp/cifar/cifar-10-batches-bin"
for i in 1 2 3 4 5; do head -c 30730 /dev/zero > "$tmp/cifar/cifar-10-batches-bin/data_batch_$i.bin"; done
head -c 30729 /dev/zero > "$tmp/cifar/cifar-10-batches-bin/test_batch.bin"
cfg cifar 'dataset = "cifar10"; model = "mlp"; hidden = [16]; threads = 1;' "data_dir = \"$tmp/cifar\";" \
  'stop = { seconds = 0.3; epochs = 0.0; };'
fault data cifar_partial_record 2 "test_batch.bin: truncated file: size 30729 is not a multiple of the 3073-byte CIFAR-10 record" \
  "$PSGD" run "$tmp/cifar.cfg" --db "$db"

# ---- special files: stat first, regular files only (these hung before) ----
mkdir -p "$tmp/fifo/mnist"; cp "$tmp/good/mnist/"* "$tmp/fifo/mnist/"; rm "$tmp/fifo/mnist/train-labels-idx1-ubyte"
mkfifo "$tmp/fifo/mnist/train-labels-idx1-ubyte"
mnist_cfg fifo
fault special dataset_fifo 2 "train-labels-idx1-ubyte: not a regular file (a FIFO): refused" \
  "$PSGD" run "$tmp/fifo.cfg" --db "$db"
mkfifo "$tmp/inc.fifo"
cfg inc_fifo "$base" '@include "inc.fifo"'
fault special include_fifo 2 "inc_fifo.cfg:2: @include 'inc.fifo' is not a regular file\|inc_fifo.cfg:2: @include '.*inc.fifo': not a regular file (a FIFO): refused" \
  "$PSGD" run "$tmp/inc_fifo.cfg" --db "$db"
cfg inc_zero "$base" '@include "/dev/zero"'
fault special include_dev_zero 2 "inc_zero.cfg:2: @include '/dev/zero': not a regular file (a character device): refused" \
  "$PSGD" list "$tmp/inc_zero.cfg" --db "$db"
cfg topo_fifo "$base" "topology = \"$tmp/inc.fifo\";"
fault special topology_fifo 2 "topo_fifo.cfg:2: topology '.*inc.fifo': not a regular file (a FIFO): refused" \
  "$PSGD" run "$tmp/topo_fifo.cfg" --db "$db"
fault special topology_fifo_hw 2 "inc.fifo: not a regular file (a FIFO): refused" \
  "$PSGD" hw --topology "$tmp/inc.fifo"
fault special experiment_file_fifo 2 "inc.fifo: not a regular file (a FIFO): refused" \
  "$PSGD" run "$tmp/inc.fifo" --db "$db"
fault special experiment_file_dev_zero 2 "/dev/zero: not a regular file (a character device): refused" \
  "$PSGD" list /dev/zero --db "$db"

# ---- topology size bounded before hwloc builds it (these hung before) ----
cfg huge_topo "$base" 'topology = "synthetic:pack:64 core:64 pu:64";' 'placement = "compact";'
fault topology huge_synthetic_run 2 "huge_topo.cfg:2: topology \"pack:64 core:64 pu:64\": more than 16384 PUs; refused before hwloc builds it" \
  "$PSGD" run "$tmp/huge_topo.cfg" --db "$db"
fault topology huge_synthetic_list 2 "more than 16384 PUs" "$PSGD" list "$tmp/huge_topo.cfg" --db "$db"
fault topology huge_synthetic_hw 2 "more than 16384 PUs" "$PSGD" hw --topology "synthetic:pack:64 core:64 pu:64"
fault topology huger_synthetic_hw 2 "more than 16384 PUs" "$PSGD" hw --topology "synthetic:pack:4096 numa:64 core:64 pu:64"
printf '# a synthetic description in a file\npack:256 core:256 pu:1\n' > "$tmp/huge.synth"
fault topology huge_synth_file 2 "huge.synth:2: topology \"pack:256 core:256 pu:1\": more than 16384 PUs" \
  "$PSGD" hw --topology "$tmp/huge.synth"

# ---- the database: refused clearly by run and by list, never touched ----
mkdir -p "$tmp/dir.db"
sqlite3 "$tmp/foreign.db" "CREATE TABLE runs (key TEXT, x); INSERT INTO runs VALUES ('a', 1);"
printf 'key,status\n' > "$tmp/text.db"
mkfifo "$tmp/fifo.db"
for c in run list; do
  fault db ${c}_dev_null 1 "/dev/null: not a regular file (a character device), not a database" \
    "$PSGD" $c "$tmp/ok.cfg" --db /dev/null
  fault db ${c}_directory 1 "dir.db: is a directory, not a database" "$PSGD" $c "$tmp/ok.cfg" --db "$tmp/dir.db"
  fault db ${c}_foreign 1 "foreign.db: an SQLite database of another program" \
    "$PSGD" $c "$tmp/ok.cfg" --db "$tmp/foreign.db"
  fault db ${c}_text_file 1 "text.db: not an SQLite database (a text file)" \
    "$PSGD" $c "$tmp/ok.cfg" --db "$tmp/text.db"
  fault db ${c}_fifo 1 "fifo.db: not a regular file (a FIFO), not a database" \
    "$PSGD" $c "$tmp/ok.cfg" --db "$tmp/fifo.db"
done
check db_dev_null_no_journal "$([ -e /dev/null-journal ] || [ -e /dev/null-wal ] && echo left || echo none)" none
check db_foreign_untouched "$(sqlite3 "$tmp/foreign.db" "SELECT * FROM runs; PRAGMA integrity_check" | tr '\n' ' ')" "a|1 ok "

# ---- placement rows under a planning topology: the plan, never mixed with this machine ----
cat > "$tmp/plan.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16];
stop = { seconds = 0.3; epochs = 0.0; };
threads = 2;
topology = "synthetic:pack:2 numa:2 core:4 pu:2";
placement = "numa";
CFG
"$PSGD" hw --topology "synthetic:pack:2 numa:2 core:4 pu:2" --placement numa --threads 2 |
  awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$/ { printf "%s|%s|%s|%s|%s|0;", $1, $2, $4, $5, $6 }' > "$tmp/plan.want"
"$PSGD" run "$tmp/plan.cfg" --db "$tmp/plan.db" > "$out" 2>&1
echo placement >> "$counts"
check placement_planned_rows_are_the_plan \
  "$(sqlite3 "$tmp/plan.db" "SELECT group_concat(worker || '|' || pu_os || '|' || core || '|' || node || '|' || package || '|' || bound, ';') || ';' FROM (SELECT * FROM placement ORDER BY worker)")" \
  "$(cat "$tmp/plan.want")"
check placement_planned_says_so "$(sqlite3 "$tmp/plan.db" "SELECT count(*) FROM events WHERE kind = 'placement_actual' AND detail GLOB 'ran unbound on PUs [0-9]* [0-9]*'; SELECT pinned FROM runs; PRAGMA integrity_check" | tr '\n' ' ')" "1 0 ok "
cat > "$tmp/here.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16];
stop = { seconds = 0.3; epochs = 0.0; };
threads = 2;
placement = "uma";
CFG
"$PSGD" run "$tmp/here.cfg" --db "$tmp/here.db" > "$out" 2>&1
echo placement >> "$counts"
check placement_here_rows_are_this_machine \
  "$(sqlite3 "$tmp/here.db" "SELECT count(*) FROM placement WHERE pu_os >= 0 AND core >= 0 AND node >= 0 AND bound = 1; PRAGMA integrity_check" | tr '\n' ' ')" "2 ok "

# ---- arguments: errors, exact reports, consistent exit codes ----
fault cli only_index_out_of_range 2 "--only '99': run index 99 out of range: .*ok.cfg has 2 runs (0-1)" \
  "$PSGD" run "$tmp/ok.cfg" --db "$db" --only 99
fault cli only_range_out_of_range 2 "--only '1-5': run index 5 out of range" \
  "$PSGD" list "$tmp/ok.cfg" --db "$db" --only 1-5
fault cli only_number_field_not_a_number 2 "--only 'threads=abc': threads is a number, not 'abc'" \
  "$PSGD" run "$tmp/ok.cfg" --db "$db" --only threads=abc
cfg slow 'dataset = "synthetic"; model = "mlp"; hidden = [16]; threads = 1;' 'stop = { seconds = 30.0; epochs = 0.0; };'
PSGD_TEST_HANG_RUN=0 "$PSGD" run "$tmp/slow.cfg" --db "$tmp/slow.db" --timeout 1.5 > "$out" 2>&1
echo cli >> "$counts"
check cli_timeout_reported_exactly "$(grep -c 'timeout in .*(killed after the 1.5 s wall-clock limit)' "$out") $(sqlite3 "$tmp/slow.db" "SELECT status || '|' || why FROM runs")" \
  "1 timeout|killed after the 1.5 s wall-clock limit"
fault cli train_placement_error_exit_2 2 "placement 'numa' needs at least 2 NUMA nodes" \
  "$PSGD" train --dataset synthetic --threads 2 --placement numa --seconds 0.2
fault cli train_bad_placement_exit_2 2 "unknown placement 'bogus'" \
  "$PSGD" train --dataset synthetic --threads 2 --placement bogus --seconds 0.2
fault cli train_missing_data_exit_2 2 "train-images-idx3-ubyte: missing file" \
  "$PSGD" train --dataset mnist --data-dir "$tmp/nonexistent" --seconds 0.2
fault cli train_data_dir_file_is_directory_exit_2 2 "train-images-idx3-ubyte: is a directory, not a data file" \
  "$PSGD" train --dataset mnist --data-dir "$tmp/dirdata" --seconds 0.2
fault cli train_batch_over_train_set_exit_2 2 "--batch 64 is larger than the training set of synthetic (10 samples)" \
  "$PSGD" train --dataset synthetic --batch 64 --train-limit 10 --seconds 0.2
fault cli train_bad_flag_exit_2 2 "unknown option" "$PSGD" train --nosuch 1

# ---- hangs: many threads under an address-space limit (hung inside OpenBLAS before) ----
# A sanitizer runtime reserves terabytes of address space at start: under
# ulimit -v it cannot start at all, so these cases run in the plain build only.
if ldd "$PSGD" 2>/dev/null | grep -q 'libtsan\|libasan'; then
  for n in fault_hang_train_1024_threads_ulimit_v fault_hang_run_1024_threads_ulimit_v \
           hang_run_recorded_crashed hang_two_threads_fit_the_limit; do
    echo "skip $n (a sanitizer build cannot run under ulimit -v)"
  done
else
  fault hang train_1024_threads_ulimit_v 1 "1024 worker threads may need .* GiB of address space .* more than the address-space limit (ulimit -v)" \
    sh -c "ulimit -v 3000000 && exec \"$PSGD\" train --dataset synthetic --model mlp --hidden 16 --threads 1024 --seconds 1"
  cfg many_threads 'dataset = "synthetic"; model = "mlp"; hidden = [16]; stop = { seconds = 1.0; epochs = 0.0; };' 'threads = 1024;'
  fault hang run_1024_threads_ulimit_v 1 "crashed in .*1024 worker threads may need .* more than the address-space limit" \
    sh -c "ulimit -v 3000000 && exec \"$PSGD\" run \"$tmp/many_threads.cfg\" --db \"$tmp/many.db\""
  check hang_run_recorded_crashed "$(sqlite3 "$tmp/many.db" "SELECT status, why LIKE '%ulimit -v%' FROM runs; PRAGMA integrity_check" | tr '\n' ' ')" "crashed|1 ok "
  ( ulimit -v 3000000 && "$PSGD" train --dataset synthetic --model mlp --hidden 16 --threads 2 --seconds 0.3 > "$out" 2>&1 )
  check hang_two_threads_fit_the_limit "$?" 0
fi

# ---- plot scripts: the DB path quoted (space, quote), their own message on a
#      missing, empty or crashed-only database, exit 1, no output file ----
plotdir="$tmp/plot dir/it's"
mkdir -p "$plotdir/out"
pdb="$plotdir/results.db"
cp "$ref" "$pdb"
sqlite3 "$pdb" "UPDATE runs SET experiment = 'figure4'"
gnuplot -c plots/figure5.gp "$pdb" "$plotdir/out" > "$out" 2>&1; rc=$?
echo plot >> "$counts"
check plot_path_with_space_and_quote "$rc $(png "$plotdir/out/figure5.png")" "0 png"
sh plots/thesis-table4-3.sh "$tmp/no such dir/x.db" "$plotdir/out" > "$out" 2>&1; rc=$?
echo plot >> "$counts"
check plot_table43_missing_db_quoted "$rc $(grep -c "thesis-table4-3: $tmp/no such dir/x.db: no such database" "$out")" "1 1"
: > "$tmp/empty.db"
for s in figure1 figure2 figure3 figure4 figure5 table1 thesis-backoff thesis-compare thesis-heatmaps thesis-memory thesis-staleness thesis-table4-3; do
  case $s in figure5|table1) e=figure4 ;; thesis-table4-3) e=thesis-heatmaps ;; *) e=$s ;; esac
  args=
  case $s in figure4) args=0.5 ;; thesis-compare) args="0.5 0.4 0.3" ;; esac
  cp "$ref" "$tmp/crashed.db"
  sqlite3 "$tmp/crashed.db" "UPDATE runs SET experiment = '$e', status = 'crashed'"
  for kind in missing empty crashed; do
    case $kind in
      missing) d="$tmp/absent dir/none.db"; want="$s: .*: no such database" ;;
      empty) d=$tmp/empty.db; want="$s: .*empty.db: empty file: no runs recorded" ;;
      crashed) d=$tmp/crashed.db; want="$s: .*crashed.db: none of the 2 runs of experiment $e has a result" ;;
    esac
    rm -rf "$tmp/pout"; mkdir -p "$tmp/pout"
    if [ $s = thesis-table4-3 ]; then
      timeout 10 sh plots/thesis-table4-3.sh "$d" "$tmp/pout" > "$out" 2>&1
    else
      # shellcheck disable=SC2086
      timeout 10 gnuplot -c plots/$s.gp "$d" "$tmp/pout" $args > "$out" 2>&1
    fi
    rc=$?
    echo plot >> "$counts"
    if [ $rc = 1 ] && grep -q -- "$want" "$out" && [ -z "$(ls "$tmp/pout")" ] &&
       ! grep -q "Non-numeric" "$out"; then
      echo "ok fault_plot_${s}_$kind"
    else
      echo "not ok fault_plot_${s}_$kind (exit $rc, wanted 1 and '$want', files: $(ls "$tmp/pout" | tr '\n' ' '))"
      sed 's/^/    /' "$out"
    fi
  done
done
check plot_crashed_db_intact "$(sqlite3 "$tmp/crashed.db" "PRAGMA integrity_check; SELECT count(*) FROM runs WHERE status = 'crashed'" | tr '\n' ' ')" "ok 2 "

echo "# fault cases per class: $(sort "$counts" | uniq -c | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }'), in all $(wc -l < "$counts")"
