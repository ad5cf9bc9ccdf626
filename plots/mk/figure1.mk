# figure1.mk - paper Fig. 1 (one interval of a real IntAsync run, y = m = 4: each
# worker's steps, accepted vs rejected). The plot picks the interval from the
# run's steps table; pass FIG1_INTERVAL=K to draw interval K instead.
FIG_ARGS_figure1 = $(FIG1_INTERVAL)
