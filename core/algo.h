/* algo.h - the one algorithm table: how the names in a run spec become a
 * dispatcher, a param store and controllers (the registries of disp.h, ps.h,
 * ctl.h), and every rule on which of them compose, each written once here
 * from the capabilities the entries declare in their ops structs (has_y,
 * needs_reduce, retries, has_ps_bound, needs_y, ...). Experiment files
 * (cfg_spec.c), psgd train (cli_train.c) and the engine (engine.c) all resolve
 * through it, so a new registry entry needs no line here or there.
 *
 * The word `algorithm` (experiment files, --algorithm) is one of:
 *   a dispatcher name                 that dispatcher over store hogwild
 *   a controller over m ("elastic")   async + that controller
 *   a store name                      async over that store
 * An explicit store setting overrides hogwild, and must agree with an
 * algorithm that names a store. */
#ifndef PSGD_ALGO_H
#define PSGD_ALGO_H

#include <stddef.h>

#include "ctl.h"
#include "disp.h"
#include "ps.h"
#include "spec.h"

/* A resolved algorithm: entries of the registries, never NULL except the
 * controllers. */
typedef struct {
  const disp_ops *disp;
  const ps_ops *store;
  const ctl_ops *ctl_y;   /* NULL: y constant */
  const ctl_ops *ctl_m;   /* NULL: m constant (spec.elastic: ctl_elastic_ops) */
  ps_backoff backoff;
} algo_choice;

/* The run-spec setting a resolution error is about (cfg_spec.c points at its
 * file:line). */
typedef enum {
  ALGO_SET_NONE = 0,
  ALGO_SET_ALGORITHM,
  ALGO_SET_DISPATCHER,
  ALGO_SET_STORE,
  ALGO_SET_BACKOFF,
  ALGO_SET_Y_CONTROL,
  ALGO_SET_PS,
  ALGO_SET_THREADS
} algo_setting;

/* Name lists from the registries, joined by sep (e.g. "|" or " | "):
 * every word `algorithm` accepts (dispatchers, controllers over m, stores,
 * in that order), the stores, and the y_control values (controllers not
 * over m). Truncated to cap. */
void algo_names(char *buf, size_t cap, const char *sep);
void algo_store_names(char *buf, size_t cap, const char *sep);
void algo_y_control_names(char *buf, size_t cap, const char *sep);

/* Sets s->dispatcher, s->store (hogwild unless the word is a store) and
 * s->elastic from the algorithm word `name` (see the top). 0, or -1 with
 * err = "unknown algorithm 'X' (known: ...)". */
int algo_apply_name(run_spec *s, const char *name, char *err, size_t errlen);

/* Resolves s->dispatcher / store / backoff / y_control / elastic (empty
 * strings: async, hogwild, none, const) and checks every compatibility rule:
 * a store setting that contradicts an algorithm naming another store; a y
 * controller needs a dispatcher with y; ps needs a store with a persistence
 * bound; a backoff needs a store that retries; ps >= -1; threads >= 1.
 * 0, or -1 with err (one line) and *bad (may be NULL) naming the setting. */
int algo_resolve(const run_spec *s, algo_choice *a, algo_setting *bad, char *err,
                 size_t errlen);

#endif
