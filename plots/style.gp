# style.gp - shared look of every figure (loaded by each plots/*.gp).
set encoding utf8
set grid lc rgb "#dddddd"
set key outside right top box opaque
set border lw 1.2
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.9
set style line 2 lc rgb "#d62728" lw 2 pt 5 ps 0.9
set style line 3 lc rgb "#2ca02c" lw 2 pt 9 ps 1.0
set style line 4 lc rgb "#9467bd" lw 2 pt 11 ps 1.0
set style line 5 lc rgb "#ff7f0e" lw 2 pt 13 ps 1.0
set style line 6 lc rgb "#8c564b" lw 2 pt 3 ps 1.0
set datafile separator "|"
set datafile missing "NaN"
