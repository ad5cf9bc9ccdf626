/* setting.h - the one table of run settings: for every field of the run
 * spec (spec.h) its experiment-file key, its JSON name (and so its part of
 * the run key), its `psgd train` flag, its type and range, its default, its
 * allowed names and its help text.
 *
 * Everything that knows a setting reads it from here: spec_default (the
 * defaults), spec_to_json (the JSON, in table order), the experiment-file
 * key schema (cfg_keys.c: names, types, ranges, choices, what may be swept),
 * `psgd train` (cli_train.c: flags, parsing, range checks, --help) and the
 * `--only` filter. tests/test_setting.c checks the rest against it: every
 * field reaches the run key, every key and flag is accepted by the file and
 * the CLI path, EXPERIMENTS.md's key reference names every key with its
 * default, and the parts that keep their own copy of a default (par.c's
 * par_config_default) agree.
 *
 * A row may lack a file key (derived fields: dispatcher, elastic), a JSON
 * name (compute_threads never changes results; repeat is not a spec field)
 * or a flag (record_steps and timeout belong to `psgd run`). */
#ifndef PSGD_SETTING_H
#define PSGD_SETTING_H

#include <stddef.h>

#include "spec.h"

typedef enum {
  SETTING_STR,       /* a string; `choices` (or `names`) limit it */
  SETTING_INT,       /* an integer in [min, max] */
  SETTING_FLOAT,     /* a number in [min, max] (bounds may be exclusive) */
  SETTING_BOOL,      /* file: true/false; CLI: yes/no/true/false/1/0 */
  SETTING_THREADS,   /* an integer in [min, max], or "<f>x": f times the cores */
  SETTING_PLACEMENT, /* os|uma|compact|numa|spread|numa:K|spread:K|list:P,P,.. */
  SETTING_TOPOLOGY,  /* "", "synthetic:..." or a readable file */
  SETTING_HIDDEN,    /* 1..8 layer sizes, each in [min, max] */
} setting_type;

/* The run_spec field a setting fills. */
typedef enum { FK_NONE, FK_INT, FK_LONG, FK_U64, FK_DOUBLE, FK_STR, FK_HIDDEN } setting_field;

enum {
  SETTING_MIN_EXCL = 1,     /* min itself is out of range */
  SETTING_MAX_EXCL = 2,     /* max itself is out of range */
};

enum {
  SETTING_SWEEP = 1,        /* may be swept in an experiment file */
  SETTING_ENGINE = 2,       /* a parallel-engine flag of `psgd train` (cli_train_wants_engine) */
  SETTING_JSON_IF_SET = 4,  /* in the JSON only when not 0: keys from before it existed hold */
  SETTING_JSON_IF_VIRTUAL = 8, /* in the JSON only under clock = "virtual" (same reason) */
  SETTING_INF = 16,         /* CLI also takes "inf" for -1 */
};

typedef struct {
  const char *key;     /* experiment-file key, "group.name" inside stop/eval; NULL: none */
  const char *json;    /* name in spec_to_json; NULL: not in the JSON nor the run key */
  const char *flag;    /* `psgd train` flag; NULL: none */
  const char *arg;     /* the flag's value placeholder in --help */
  setting_type type;
  double min, max;     /* range of numbers (HIDDEN: of each size) */
  int bounds;          /* SETTING_MIN_EXCL | SETTING_MAX_EXCL */
  const char *choices; /* '|'-separated allowed strings; NULL: `names` or any */
  void (*names)(char *buf, size_t cap, const char *sep); /* allowed strings from a registry */
  const char *dflt;    /* default, as a file would write it (strings unquoted, hidden "128,128");
                          NULL: empty / 0 */
  const char *help;    /* one line for --help and the reference */
  setting_field fk;
  size_t off, size;    /* the run_spec field */
  int flags;           /* SETTING_* above */
} setting;

/* The table, in the JSON's key order. Indices are the SET_* ids. */
enum {
  SET_EXPERIMENT, SET_LABEL, SET_REPETITION, SET_SEED, SET_ALGORITHM, SET_DISPATCHER, SET_STORE,
  SET_BACKOFF, SET_PS, SET_Y_CONTROL, SET_Y0, SET_Y_DECAY_K, SET_PROBE_WINDOW, SET_PROBE_STEPS,
  SET_EXEC_STEPS, SET_ELASTIC, SET_THREADS, SET_PLACEMENT, SET_TOPOLOGY, SET_BIND_BEST_EFFORT,
  SET_KEEP_CORE_FREE, SET_PLACEMENT_NEAREST, SET_MEM_INTERLEAVE, SET_DATASET, SET_DATA_DIR,
  SET_TRAIN_LIMIT, SET_TEST_LIMIT, SET_MODEL, SET_HIDDEN, SET_BATCH, SET_OPTIMIZER, SET_LR,
  SET_MOMENTUM, SET_STOP_SECONDS, SET_STOP_EPOCHS, SET_STOP_STEPS, SET_TARGET_ACC, SET_EPSILON,
  SET_TIMEOUT, SET_EVAL_EVERY_S, SET_EVAL_EVERY_STEPS, SET_EVAL_TEST_LIMIT, SET_RECORD_STEPS,
  SET_CLOCK, SET_STEP_TIME, SET_COMPUTE_THREADS, SET_REPEAT, SET_ENGINE, SETTING_COUNT
};

extern const setting setting_table[];

/* Row by experiment-file key, JSON name or flag; -1 if none. */
int setting_by_key(const char *key);
int setting_by_json(const char *json);
int setting_by_flag(const char *flag);

/* The allowed strings of a STR row, '|'-separated (from `choices` or its
 * registry), into buf; "" when any string goes. */
void setting_choices(const setting *st, char *buf, size_t cap);

/* "[lo, hi]" / "(lo, hi]" ... of a number row. */
void setting_range_text(const setting *st, char *buf, size_t cap);
int setting_in_range(const setting *st, double v);
/* 1 if word is one of the '|'-separated names in list (the file and CLI
 * paths both check allowed names with it). */
int setting_in_choices(const char *word, const char *list);

/* Writes the row's default into its spec field (spec_default's part). */
void setting_put_default(const setting *st, run_spec *s);

/* Parses `text` as a value of row st (as a flag or a file's string would
 * give it) into its spec field: type, range and allowed names checked,
 * "<f>x" thread counts resolved against n_cores. 0, or -1 with err =
 * "what: problem" (what: the flag or key name given). */
int setting_parse(const setting *st, const char *what, const char *text, int n_cores,
                  run_spec *s, char *err, size_t errlen);

/* The row's field formatted as a file or flag would write it (strings
 * unquoted, hidden "128,128", bools "1"/"0"). */
void setting_format(const setting *st, const run_spec *s, char *buf, size_t cap);

#endif
