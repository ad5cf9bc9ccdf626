# tests/plot_series.awk - reads an SVG written by gnuplot's svg terminal and
# checks that every series with a key entry has at least one drawn element.
#   awk [-v overlap=1] -f tests/plot_series.awk FILE.svg
# Prints one line per keyed series, "series ID drawn N title TITLE" (ID is
# gnuplot's group id, e.g. gnuplot_plot_2b = 2nd plot element of the 2nd plot
# command of a multiplot), then "not ok ..." for each keyed series that is not
# drawn; exits 1 if there is one (or no SVG plot at all), else 0.
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
# A keyed series without drawn elements of its own still passes when its key
# sample describes elements that other (untitled) series of the same plot
# draw: an element of the same kind (line, point symbol, area, text) and the
# same colour (a `keyentry` explaining markers drawn by several elements).
# An opaque key is a white polygon drawn outside every plot element's group;
# an element whose centre lies inside one drawn after it is hidden by the key:
# it is not counted, and it is reported ("not ok ... hidden under the key"),
# keyed series or not.
# With overlap=1 also: two points (markers) of different series whose centres
# lie within 2 pixels of each other are reported: one hides the other (the
# same symbol in the same colour counts as one series drawn twice).

function decode(s) {
  gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "'", s)
  gsub(/&amp;/, "\\&", s)
  return s
}
function count(s, re) { return gsub(re, "", s) }
# the value of attribute a (quoted with ' or ") in tag t
function attr(t, a,   v) {
  if (!match(t, "[ ]" a " ?= ?['\"][^'\"]*['\"]")) return ""
  v = substr(t, RSTART, RLENGTH)
  sub(/^[^'"]*['"]/, "", v); sub(/['"]$/, "", v)
  return v
}
# a colour without its spaces: rgb(  0, 158, 115) -> rgb(0,158,115)
function col(c) { gsub(/ /, "", c); return c }
# one element of the current series with its centre (cx, cy) and signature
# sig (kind and colour, for points also the symbol)
function element(cx, cy, sig) {
  ne[cur]++
  ex[cur, ne[cur]] = cx
  ey[cur, ne[cur]] = cy
  eg[cur, ne[cur]] = sig
  es[cur, ne[cur]] = ++seq
}
# the vertices of a path's d attribute: every subpath (from one M to the next)
# with two distinct vertices is one element, at the centre of its bounding box
function path(d, sig,   n, t, k, x, y, nv, x0, y0, x1, y1, fx, fy, distinct) {
  gsub(/,/, " ", d)
  n = split(d, t, /[ \t]+/)
  nv = 0
  for (k = 1; k <= n + 1; k++) {
    if (k > n || substr(t[k], 1, 1) == "M") {
      if (nv >= 2 && distinct) element((x0 + x1) / 2, (y0 + y1) / 2, sig)
      nv = 0; distinct = 0
      if (k > n) break
    }
    if (t[k] ~ /^[MLZz]$/) continue
    if (t[k] ~ /^[ML]-?[0-9]/) t[k] = substr(t[k], 2)
    if (t[k] !~ /^-?[0-9.]+$/ || k + 1 > n) continue
    x = t[k] + 0; y = t[k + 1] + 0; k++
    if (nv == 0) { x0 = x1 = fx = x; y0 = y1 = fy = y }
    else {
      if (x != fx || y != fy) distinct = 1
      if (x < x0) x0 = x; if (x > x1) x1 = x
      if (y < y0) y0 = y; if (y > y1) y1 = y
    }
    nv++
  }
}
# the bounding box of a polygon's points into bb[0..3] (x0 y0 x1 y1); 0 if none
function bbox(p,   n, t, k, m) {
  gsub(/,/, " ", p)
  n = split(p, t, /[ \t]+/)
  m = 0
  for (k = 1; k <= n; k++) {
    if (t[k] == "") continue
    v[m++] = t[k] + 0
  }
  if (m < 2) return 0
  bb[0] = bb[2] = v[0]; bb[1] = bb[3] = v[1]
  for (k = 0; k + 1 < m; k += 2) {
    if (v[k] < bb[0]) bb[0] = v[k]; if (v[k] > bb[2]) bb[2] = v[k]
    if (v[k + 1] < bb[1]) bb[1] = v[k + 1]; if (v[k + 1] > bb[3]) bb[3] = v[k + 1]
  }
  return 1
}
BEGIN { cur = ""; depth = 0; nseries = 0; svg = 0; seq = 0; nb = 0; pending = ""; textfill = "" }
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
    if (!(cur in seen)) {
      seen[cur] = 1; order[++nseries] = cur; ne[cur] = 0; nk[cur] = 0
      panel[cur] = id; sub(/^gnuplot_plot_[0-9]+/, "", panel[cur])
    }
    if (match(line, /<title>.*<\/title>/)) title[cur] = decode(substr(line, RSTART + 7, RLENGTH - 15))
  }
  if (cur == "") {
    # the background of an opaque key
    if (match(line, /<polygon fill = 'white'[^>]*>/) && bbox(attr(substr(line, RSTART, RLENGTH), "points"))) {
      nb++; bx0[nb] = bb[0]; by0[nb] = bb[1]; bx1[nb] = bb[2]; by1[nb] = bb[3]; bs[nb] = ++seq
    }
    next
  }
  depth += count(line, "<g[ >]")
  # a text's position and colour come on the line before it:
  # <g transform="translate(x,y)" ... fill="c" ... font-size="f"
  if (match(line, /<g transform="translate\([-0-9.]+,[-0-9.]+\)"/)) {
    s = substr(line, RSTART + 24, RLENGTH - 26)
    split(s, xy, ",")
    tx = xy[1] + 0; ty = xy[2] + 0
    fs = 10
    if (match(line, /font-size="[0-9.]+"/)) fs = substr(line, RSTART + 11, RLENGTH - 12) + 0
    textfill = col(attr(line, "fill"))
  }
  if (match(line, /<text>.*<\/text>/)) {
    s = substr(line, RSTART + 6, RLENGTH - 13)
    gsub(/<[^>]*>/, "", s)
    s = decode(s)
    if (s == title[cur] && title[cur] != cur) {
      nk[cur]++; kx[cur, nk[cur]] = tx; ky[cur, nk[cur]] = ty; kf[cur, nk[cur]] = fs
    } else if (s != "") element(tx, ty, "text " textfill)
  }
  rest = line
  while (match(rest, /<(path|use|polygon|image)[^>]*>/)) {
    t = substr(rest, RSTART, RLENGTH)
    rest = substr(rest, RSTART + RLENGTH)
    if (t ~ /^<path/) path(attr(t, "d"), "line " col(attr(t, "stroke")))
    else if (t ~ /^<use/ && match(t, /translate\([-0-9.]+,[-0-9.]+\)/)) {
      split(substr(t, RSTART + 10, RLENGTH - 11), xy, ",")
      element(xy[1] + 0, xy[2] + 0, "point " attr(t, "xlink:href") " " col(attr(t, "color")))
    } else if (t ~ /^<polygon/ && bbox(attr(t, "points")))
      element((bb[0] + bb[2]) / 2, (bb[1] + bb[3]) / 2, "area " col(attr(t, "fill")))
    else if (t ~ /^<image/) element(-1e9, -1e9, "image")
  }
  depth -= count(line, "</g>")
  if (depth <= 0) cur = ""
}
END {
  if (!svg || nseries == 0) { print "not ok no SVG plot elements in " FILENAME; exit 1 }
  bad = 0
  # hidden elements, key samples, and the signatures each plot draws
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
      smp[id, e] = 0
      for (k = 1; k <= nk[id]; k++) {
        dy = ey[id, e] - (ky[id, k] - 0.35 * kf[id, k]); if (dy < 0) dy = -dy
        dx = ex[id, e] - kx[id, k]; if (dx < 0) dx = -dx
        if (dy <= kf[id, k] && dx <= 15 * kf[id, k]) smp[id, e] = 1
      }
      if (!smp[id, e] && !hid[id, e]) drawn[panel[id], eg[id, e]] = 1
    }
  }
  for (i = 1; i <= nseries; i++) {
    id = order[i]
    if (title[id] == id || title[id] == "") continue
    n = 0
    for (e = 1; e <= ne[id]; e++) if (!smp[id, e] && !hid[id, e]) n++
    how = ""
    if (n == 0)
      for (e = 1; e <= ne[id]; e++)
        if (smp[id, e] && ((panel[id], eg[id, e]) in drawn)) how = " (by other elements: " eg[id, e] ")"
    printf "series %s drawn %d%s title %s\n", id, n, how, title[id]
    if (n == 0 && how == "") { printf "not ok %s: key entry \"%s\" has no drawn element\n", id, title[id]; bad = 1 }
  }
  if (overlap) {
    np = 0
    for (i = 1; i <= nseries; i++)
      for (e = 1; e <= ne[order[i]]; e++)
        if (eg[order[i], e] ~ /^point/ && !smp[order[i], e] && !hid[order[i], e]) {
          np++; pid[np] = order[i]; px[np] = ex[order[i], e]; py[np] = ey[order[i], e]; psig[np] = eg[order[i], e]
        }
    for (a = 1; a <= np; a++)
      for (b = a + 1; b <= np; b++) {
        # the same marker in the same colour: one series drawn twice
        if (pid[a] == pid[b] || psig[a] == psig[b]) continue
        dx = px[a] - px[b]; dy = py[a] - py[b]
        if (dx * dx + dy * dy < 4) {
          printf "not ok points of \"%s\" (%s) and \"%s\" (%s) coincide at (%.0f, %.0f)\n", title[pid[a]], pid[a], title[pid[b]], pid[b], px[a], py[a]
          bad = 1
        }
      }
  }
  exit bad
}
