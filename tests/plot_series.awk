# tests/plot_series.awk - reads an SVG written by gnuplot's svg terminal and
# checks that every series with a key entry has at least one drawn element.
#   awk [-v overlap=1] -f tests/plot_series.awk FILE.svg
# Prints one line per keyed series, "series ID drawn N title TITLE" (ID is
# gnuplot's group id, e.g. gnuplot_plot_2b = 2nd plot element of the 2nd plot
# command of a multiplot), then "not ok ..." for each keyed series with
# N = 0; exits 1 if there is one (or no SVG plot at all), else 0.
#
# What gnuplot writes (5.4): each plot element is a group <g
# id="gnuplot_plot_N..."> whose <title> is the key title, or the id itself
# when the element has no key entry. The group holds the key entry (the title
# text, then its sample: a line, a point, a box) and the element's drawing:
# paths (M/L vertices), points (<use> of a gpPt symbol at translate(x,y)),
# polygons (filled boxes, filled curves), texts (labels), images. With an
# opaque key the same id appears twice: once for the drawing, once for the
# key. What the terminal leaves out is not written: a line through one point
# is a lone "M x,y", an out-of-range point has no <use>.
# Drawn elements counted: subpaths with two distinct vertices, points,
# polygons, non-empty texts other than the key title, images. An element whose
# centre lies on a key title's row (within one font size of it, vertically)
# and within 15 font sizes of the title horizontally is taken for the key
# sample and not counted: a data element there is one the key covers.
# An opaque key is a white polygon drawn outside every plot element's group;
# an element whose centre lies inside one drawn after it is hidden by the key:
# it is not counted, and it is reported ("not ok ... hidden under the key"),
# keyed series or not.
# With overlap=1 also: two points (markers) of different series whose centres
# lie within 2 pixels of each other are reported: one hides the other.

function decode(s) {
  gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "'", s)
  gsub(/&amp;/, "\\&", s)
  return s
}
function opens(s,   n) { n = gsub(/<g[ >]/, "", s); return n }
function closes(s,   n) { n = gsub(/<\/g>/, "", s); return n }
# one element of the current series with its centre (cx, cy)
function element(cx, cy, k) {
  ne[cur]++
  ek[cur, ne[cur]] = k
  ex[cur, ne[cur]] = cx
  ey[cur, ne[cur]] = cy
  es[cur, ne[cur]] = ++seq
}
# the vertices of a path's d attribute: every subpath (from one M to the next)
# with two distinct vertices is one element, at the centre of its bounding box
function path(d,   n, t, k, xy, x, y, nv, x0, y0, x1, y1, distinct) {
  gsub(/,/, " ", d)
  n = split(d, t, /[ \t]+/)
  nv = 0
  for (k = 1; k <= n + 1; k++) {
    if (k > n || t[k] == "M" || substr(t[k], 1, 1) == "M") {
      if (nv >= 2 && distinct) element((x0 + x1) / 2, (y0 + y1) / 2, "line")
      nv = 0; distinct = 0
      if (k > n) break
    }
    if (t[k] ~ /^[MLZz]$/) continue
    if (t[k] ~ /^[ML]-?[0-9]/) t[k] = substr(t[k], 2)
    if (t[k] !~ /^-?[0-9.]+$/ || k + 1 > n) continue
    x = t[k] + 0; y = t[k + 1] + 0; k++
    if (nv == 0) { x0 = x1 = x; y0 = y1 = y; fx = x; fy = y }
    else {
      if (x != fx || y != fy) distinct = 1
      if (x < x0) x0 = x; if (x > x1) x1 = x
      if (y < y0) y0 = y; if (y > y1) y1 = y
    }
    nv++
  }
}
function polygon(p, white,   n, t, k, x0, x1, y0, y1) {
  gsub(/,/, " ", p)
  n = split(p, t, /[ \t]+/)
  x0 = ""; 
  for (k = 1; k + 1 <= n; k += 2) {
    if (t[k] == "") { k--; continue }
    if (x0 == "") { x0 = x1 = t[k] + 0; y0 = y1 = t[k + 1] + 0 }
    if (t[k] + 0 < x0) x0 = t[k] + 0; if (t[k] + 0 > x1) x1 = t[k] + 0
    if (t[k + 1] + 0 < y0) y0 = t[k + 1] + 0; if (t[k + 1] + 0 > y1) y1 = t[k + 1] + 0
  }
  if (x0 == "") return
  if (cur != "") element((x0 + x1) / 2, (y0 + y1) / 2, "area")
  else if (white) { nb++; bx0[nb] = x0; bx1[nb] = x1; by0[nb] = y0; by1[nb] = y1; bs[nb] = ++seq }
}
BEGIN { cur = ""; depth = 0; nseries = 0; svg = 0; seq = 0; nb = 0; pending = "" }
/<svg/ { svg = 1 }
{
  # a long path or polygon continues over several lines: join them first
  line = pending $0
  pending = ""
  if (line ~ /d='[^']*$/ || line ~ /points = '[^']*$/) { pending = line " "; next }
  if (match(line, /<g id="gnuplot_plot_[^"]*"/)) {
    id = substr(line, RSTART + 7, RLENGTH - 8)
    cur = id
    depth = 0
    if (!(cur in seen)) { seen[cur] = 1; order[++nseries] = cur; ne[cur] = 0; nk[cur] = 0 }
    if (match(line, /<title>.*<\/title>/)) title[cur] = decode(substr(line, RSTART + 7, RLENGTH - 15))
  }
  if (cur == "") {
    if (match(line, /<polygon fill = 'white'[^>]*points = '[^']*'/)) {
      s = substr(line, RSTART, RLENGTH)
      match(s, /points = '[^']*'/)
      polygon(substr(s, RSTART + 10, RLENGTH - 11), 1)
    }
    next
  }
  depth += opens(line)
  # a text's position comes on the line before it: <g transform="translate(x,y)" ... font-size="f"
  if (match(line, /<g transform="translate\([-0-9.]+,[-0-9.]+\)"/)) {
    s = substr(line, RSTART + 24, RLENGTH - 26)
    split(s, xy, ",")
    tx = xy[1] + 0; ty = xy[2] + 0
    fs = 10
    if (match(line, /font-size="[0-9.]+"/)) fs = substr(line, RSTART + 11, RLENGTH - 12) + 0
  }
  if (match(line, /<text>.*<\/text>/)) {
    s = substr(line, RSTART + 6, RLENGTH - 13)
    gsub(/<[^>]*>/, "", s)
    s = decode(s)
    if (s == title[cur] && title[cur] != cur) {
      nk[cur]++; kx[cur, nk[cur]] = tx; ky[cur, nk[cur]] = ty; kf[cur, nk[cur]] = fs
    } else if (s != "") element(tx, ty, "text")
  }
  rest = line
  while (match(rest, /d='[^']*'/)) {
    path(substr(rest, RSTART + 3, RLENGTH - 4))
    rest = substr(rest, RSTART + RLENGTH)
  }
  rest = line
  while (match(rest, /<use xlink:href='#gpPt[0-9]+'[^>]*translate\([-0-9.]+,[-0-9.]+\)/)) {
    u = substr(rest, RSTART, RLENGTH)
    match(u, /translate\([-0-9.]+,[-0-9.]+\)/)
    split(substr(u, RSTART + 10, RLENGTH - 11), xy, ",")
    element(xy[1] + 0, xy[2] + 0, "point")
    rest = substr(rest, index(rest, u) + length(u))
  }
  if (match(line, /points = '[^']*'/)) polygon(substr(line, RSTART + 10, RLENGTH - 11), 0)
  if (line ~ /<image/) element(-1e9, -1e9, "image")
  depth -= closes(line)
  if (depth <= 0) cur = ""
}
END {
  if (!svg || nseries == 0) { print "not ok no SVG plot elements in " FILENAME; exit 1 }
  bad = 0
  for (i = 1; i <= nseries; i++) {
    id = order[i]
    for (e = 1; e <= ne[id]; e++) {
      hid[id, e] = 0
      for (b = 1; b <= nb; b++)
        if (bs[b] > es[id, e] && ex[id, e] > bx0[b] + 1 && ex[id, e] < bx1[b] - 1 && ey[id, e] > by0[b] + 1 && ey[id, e] < by1[b] - 1)
          hid[id, e] = 1
      if (hid[id, e]) {
        printf "not ok %s: element at (%.0f, %.0f) of \"%s\" hidden under the key\n", id, ex[id, e], ey[id, e], title[id]
        bad = 1
      }
    }
    if (title[id] == id || title[id] == "") continue
    n = 0
    for (e = 1; e <= ne[id]; e++) {
      sample = 0
      for (k = 1; k <= nk[id]; k++) {
        dy = ey[id, e] - (ky[id, k] - 0.35 * kf[id, k]); if (dy < 0) dy = -dy
        dx = ex[id, e] - kx[id, k]; if (dx < 0) dx = -dx
        if (dy <= kf[id, k] && dx <= 15 * kf[id, k]) sample = 1
      }
      smp[id, e] = sample
      if (!sample && !hid[id, e]) n++
    }
    printf "series %s drawn %d title %s\n", id, n, title[id]
    if (n == 0) { printf "not ok %s: key entry \"%s\" has no drawn element\n", id, title[id]; bad = 1 }
  }
  if (overlap) {
    np = 0
    for (i = 1; i <= nseries; i++)
      for (e = 1; e <= ne[order[i]]; e++)
        if (ek[order[i], e] == "point" && !smp[order[i], e] && !hid[order[i], e]) {
          np++; pid[np] = order[i]; px[np] = ex[order[i], e]; py[np] = ey[order[i], e]
        }
    for (a = 1; a <= np; a++)
      for (b = a + 1; b <= np; b++) {
        if (pid[a] == pid[b]) continue
        dx = px[a] - px[b]; dy = py[a] - py[b]
        if (dx * dx + dy * dy < 4) {
          printf "not ok points of \"%s\" (%s) and \"%s\" (%s) coincide at (%.0f, %.0f)\n", title[pid[a]], pid[a], title[pid[b]], pid[b], px[a], py[a]
          bad = 1
        }
      }
  }
  exit bad
}
