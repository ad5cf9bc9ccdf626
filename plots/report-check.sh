#!/bin/sh
# report-check.sh - opens a page in headless Chromium (over WebDriver, with
# chromedriver on localhost) and checks it as a reader would see it.
#
#   sh plots/report-check.sh PAGE.html [--shot FILE.png] [--width PX]
#
# Checks: the page loaded (its title is not empty), every <img> loaded
# (complete with a natural width > 0), and the browser's console log has no
# entry of level SEVERE or WARNING (failed resource loads, script errors,
# console.error). Prints "report-check: ok (N images)" or one line per
# problem, and saves a screenshot of the whole page (up to 16000 px high)
# with --shot. Exit status: 0 ok, 1 a check failed, 2 Chromium or
# chromedriver missing or not starting.
set -u
page=
shot=
width=1280
while [ $# -gt 0 ]; do
  case "$1" in
    --shot) shot=${2:?--shot needs a file}; shift 2 ;;
    --width) width=${2:?--width needs pixels}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "report-check.sh: unknown option '$1'" >&2; exit 2 ;;
    *) page=$1; shift ;;
  esac
done
[ -n "$page" ] || { echo "usage: sh plots/report-check.sh PAGE.html [--shot FILE.png]" >&2; exit 2; }
[ -f "$page" ] || { echo "report-check.sh: $page: no such file" >&2; exit 2; }
command -v chromedriver >/dev/null || { echo "report-check.sh: chromedriver not found (make deps: chromium-driver)" >&2; exit 2; }
command -v curl >/dev/null || { echo "report-check.sh: curl not found (make deps)" >&2; exit 2; }
url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
tmp=$(mktemp -d /tmp/psgd_report_check.XXXXXX) || exit 2
drv=
cleanup() {
  [ -n "${sid:-}" ] && curl -s -X DELETE "$base/session/$sid" > /dev/null 2>&1
  [ -n "$drv" ] && kill "$drv" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# chromedriver on a free localhost port: try a few, each until /status says ready.
sid=
port=$((20000 + $$ % 20000))
tries=0
while :; do
  tries=$((tries + 1))
  chromedriver --port="$port" > "$tmp/driver.log" 2>&1 &
  drv=$!
  base="http://127.0.0.1:$port"
  i=0
  while [ $i -lt 50 ]; do
    curl -s "$base/status" 2>/dev/null | grep -q '"ready":true' && break
    kill -0 "$drv" 2>/dev/null || break
    sleep 0.2; i=$((i + 1))
  done
  curl -s "$base/status" 2>/dev/null | grep -q '"ready":true' && break
  kill "$drv" 2>/dev/null; wait "$drv" 2>/dev/null; drv=
  if [ $tries -ge 5 ]; then
    echo "report-check.sh: chromedriver did not start:" >&2; sed 's/^/  /' "$tmp/driver.log" >&2; exit 2
  fi
  port=$((port + 101))
done

post() { curl -s -X POST "$base/session/$sid/$1" -H 'Content-Type: application/json' -d "$2"; }
# --no-sandbox: Chromium refuses to start as root with its sandbox (CI and the
# development machine run as root); the page is a local static file.
caps='{"capabilities":{"alwaysMatch":{"goog:chromeOptions":{"args":["--headless","--no-sandbox","--disable-gpu","--disable-dev-shm-usage","--window-size='$width',900"]},"goog:loggingPrefs":{"browser":"ALL"}}}}'
resp=$(curl -s -X POST "$base/session" -H 'Content-Type: application/json' -d "$caps")
sid=$(printf '%s' "$resp" | sed -n 's/.*"sessionId":"\([0-9a-f]*\)".*/\1/p')
if [ -z "$sid" ]; then
  echo "report-check.sh: no browser session: $(printf '%s' "$resp" | head -c 400)" >&2; exit 2
fi

post url "{\"url\":\"$url\"}" > "$tmp/nav"
grep -q '"value":null' "$tmp/nav" || { echo "report-check: loading $url failed: $(head -c 300 "$tmp/nav")"; exit 1; }
# Wait for the load event and every image (a static page: a few seconds at most).
js_state='return document.readyState + \"|\" + document.title.length + \"|\" + document.images.length + \"|\" + Array.from(document.images).filter(function (i) { return !i.complete || i.naturalWidth === 0; }).map(function (i) { return i.getAttribute(\"src\"); }).join(\" \")'
i=0
while :; do
  st=$(post execute/sync "{\"script\":\"$js_state\",\"args\":[]}" | sed -n 's/.*"value":"\(.*\)".*/\1/p')
  case $st in complete*) break ;; esac
  i=$((i + 1)); [ $i -ge 50 ] && break
  sleep 0.2
done
fail=0
state=${st%%|*}; rest=${st#*|}; tlen=${rest%%|*}; rest=${rest#*|}; nimg=${rest%%|*}; broken=${rest#*|}
[ "$state" = complete ] || { echo "report-check: page did not finish loading (state '$state')"; fail=1; }
[ "${tlen:-0}" -gt 0 ] 2>/dev/null || { echo "report-check: page has no title"; fail=1; }
for b in $broken; do echo "report-check: image did not load: $b"; fail=1; done

curl -s -X POST "$base/session/$sid/se/log" -H 'Content-Type: application/json' -d '{"type":"browser"}' > "$tmp/log"
# one entry per line: {"level":"...","message":"...",...}
sed 's/},{/}\n{/g' "$tmp/log" | grep -E '"level":"(SEVERE|WARNING)"' | sed -n 's/.*"level":"\([A-Z]*\)","message":"\(.*\)","source".*/\1 \2/p' > "$tmp/errors"
if [ -s "$tmp/errors" ]; then
  sed 's/^/report-check: console /' "$tmp/errors"; fail=1
fi
grep -q '"value":\[' "$tmp/log" || { echo "report-check: could not read the console log: $(head -c 300 "$tmp/log")"; fail=1; }

if [ -n "$shot" ]; then
  h=$(post execute/sync '{"script":"return Math.min(16000, Math.max(document.documentElement.scrollHeight, 600))","args":[]}' |
      sed -n 's/.*"value":\([0-9]*\).*/\1/p')
  post window/rect "{\"width\":$width,\"height\":${h:-900}}" > /dev/null
  curl -s "$base/session/$sid/screenshot" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p' | base64 -d > "$shot" 2>/dev/null
  if [ "$(head -c 4 "$shot" 2>/dev/null | od -An -c | tr -d ' ')" != '211PNG' ]; then
    echo "report-check: no screenshot written to $shot"; fail=1
  fi
fi
if [ $fail = 0 ]; then echo "report-check: ok ($nimg images, no console errors)"; fi
exit $fail
