# plots/db.gp - the one helper every figure script loads, after it sets
#   DB = ARG1, OUT = ARG2 (the output folder), NAME (the script's name: its
#   messages and its files OUT/NAME.png and OUT/NAME.pdf), CHECK_EXP (the
#   experiment whose runs it draws), and optionally DB_OPTS ("-steps" to
#   load the steps SQL extension, "-sep ' '" for space-separated columns).
# Defines fig_output(fmt, png, pdf), the commands that open one output
# file, for the loop every script draws in:
#   do for [fmt in "png pdf"] {
#     eval fig_output(fmt, 'size 900,600 font "Sans,11"', 'size 6.5in,4.3in font "Sans,9"')
#     ...the plots...
#     set output
#   }
# (pngcairo with the options png for OUT/NAME.png, pdfcairo with pdf for
# OUT/NAME.pdf; the options are evaluated then, so they may use variables).
# Defines SQL, the shell command prefix the scripts append a double-quoted
# statement to (system(SQL."\"SELECT ...\"") or "< ".SQL."\"...\""): it runs
# plots/db.sh, the one sqlite3 helper (read-only, one busy timeout), with the
# path quoted for the shell. Stops the script (exit status 1, before any
# output file is opened) with its own message when the database is missing,
# empty or foreign, or holds no run of CHECK_EXP with a result.
sq_body(s) = (strstrt(s, "'") == 0) ? s : s[1:strstrt(s, "'") - 1]."'\\''".sq_body(s[strstrt(s, "'") + 1:])
sq(s) = "'".sq_body(s)."'"
if (!exists("DB_OPTS")) DB_OPTS = ""
if (!exists("CHECK_EXP")) CHECK_EXP = ""
DB_PROBLEM = system("sh plots/db.sh -check ".sq(NAME)." ".sq(DB)." ".sq(CHECK_EXP))
if (strlen(DB_PROBLEM) > 0) { print DB_PROBLEM; exit status 1 }
SQL = "sh plots/db.sh ".DB_OPTS." ".sq(DB)." "
# gq(s): s as a gnuplot single-quoted string (for eval)
gq_body(s) = (strstrt(s, "'") == 0) ? s : s[1:strstrt(s, "'") - 1]."''".gq_body(s[strstrt(s, "'") + 1:])
gq(s) = "'".gq_body(s)."'"
# The terminals: pngcairo and pdfcairo, unless set before (tests/plot_series.sh
# sets svg and unknown with gnuplot -e, to read what a figure draws).
if (!exists("FIG_PNG_TERM")) FIG_PNG_TERM = "pngcairo"
if (!exists("FIG_PDF_TERM")) FIG_PDF_TERM = "pdfcairo"
fig_term(t, opts) = (t eq "unknown") ? t : t." ".opts
fig_output(fmt, png, pdf) = "set terminal ".((fmt eq "png") ? fig_term(FIG_PNG_TERM, png) : fig_term(FIG_PDF_TERM, pdf))."; set output ".gq(OUT."/".NAME.".".fmt)
