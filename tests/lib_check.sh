# tests/lib_check.sh - shared by the integration scripts that compare values
# (sourced from the repository top: `. tests/lib_check.sh`).
#   check NAME GOT WANT   prints "ok NAME" or "not ok NAME (got .., want ..)"
#   png FILE / pdf FILE   print "png" / "pdf" if FILE is a non-empty PNG / PDF
check() { if [ "$2" = "$3" ]; then echo "ok $1"; else echo "not ok $1 (got '$2', want '$3')"; fi; }
png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] && echo png; }
pdf() { [ -s "$1" ] && [ "$(head -c 5 "$1")" = "%PDF-" ] && echo pdf; }
