# thesis-staleness.mk - thesis Figs. 4.13-4.18 (staleness distribution of
# accepted updates vs batch size, per synchronization method and thread count).
# The scale goes to the script (it names it in the figure).
FIG_ARGS_thesis-staleness = $(SCALE)
