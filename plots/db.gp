# plots/db.gp - loaded by every figure script after it sets
#   DB = ARG1, NAME (the script's name, for messages), CHECK_EXP (the
#   experiment whose runs it draws), and optionally DB_OPTS ("-steps" to
#   load the steps SQL extension, "-sep ' '" for space-separated columns).
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
