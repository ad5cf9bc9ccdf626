# tests/lib_check.sh - helpers shared by the integration scripts
# (sourced from the repository top: `. tests/lib_check.sh`).
#   check NAME GOT WANT   prints "ok NAME" or "not ok NAME (got .., want ..)"
#   png FILE / pdf FILE   print "png" / "pdf" if FILE is a non-empty PNG / PDF
check() { if [ "$2" = "$3" ]; then echo "ok $1"; else echo "not ok $1 (got '$2', want '$3')"; fi; }
png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] && echo png; }
pdf() { [ -s "$1" ] && [ "$(head -c 5 "$1")" = "%PDF-" ] && echo pdf; }
#   check_run NAME STATUS TEXT CMD...   runs CMD, output into "$out" (the
#                         script sets it); ok if it exits STATUS and its output
#                         matches the grep pattern TEXT, else the output follows
check_run() {
  name=$1 want=$2 text=$3
  shift 3
  "$@" >"$out" 2>&1
  rc=$?
  if [ "$rc" -eq "$want" ] && grep -q -- "$text" "$out"; then
    echo "ok $name"
  else
    echo "not ok $name (exit $rc, wanted $want and '$text')"
    sed 's/^/    /' "$out"
  fi
}
#   check_series NAME SCRIPT.gp DB OUTDIR [ARGS...]   ok if every series with a
#                         key entry in the figures SCRIPT draws (rendered as
#                         SVG into the empty OUTDIR) has a drawn element, see
#                         tests/plot_series.sh; else the series without one follow
check_series() {
  name=$1
  shift
  if series_out=$(sh tests/plot_series.sh "$@" 2>&1); then
    echo "ok $name"
  else
    echo "not ok $name"
    echo "$series_out" | grep -v '^series \|^svg ' | sed 's/^/    /'
  fi
}
#   tiny_fig123 DIR FIG1_STEPS   writes DIR/figure1.cfg, figure2.cfg and
#                         figure3.cfg: tiny synthetic runs shaped like Figs. 1-3
#                         (figure1 stops after FIG1_STEPS steps)
tiny_fig123() {
  common='dataset = "synthetic"; model = "mlp"; hidden = [32]; seed = 1; record_steps = true;
eval = { every_s = 0.0; every_steps = 0; test_limit = 200; };'
  cat > "$1/figure1.cfg" <<CFG
$common
algorithm = "interval"; y0 = 4; threads = 4; batch = 16;
stop = { steps = $2; epochs = 0.0; };
CFG
  cat > "$1/figure2.cfg" <<CFG
$common
algorithm = "interval"; threads = 4;
stop = { steps = 60; epochs = 0.0; };
sweep = { batch = [8, 32]; y0 = [1, 4, 16]; };
CFG
  cat > "$1/figure3.cfg" <<CFG
$common
threads = 4; batch = 16;
stop = { steps = 100; epochs = 0.0; };
sweep = { y0 = [1, 4, 16]; };
variants = (
  { label = "IntAsync"; algorithm = "interval"; },
  { label = "Async"; algorithm = "async"; y0 = 4; },
  { label = "IntAsync y-decay"; algorithm = "interval"; y_control = "decay"; y0 = 8; y_decay_k = 10; }
);
CFG
}
