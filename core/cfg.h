/* cfg.h - the parts of the experiment-file reader (config.h), shared by its
 * files and by nothing else:
 *   cfg_keys.c     the key schema: the file-key rows of the settings table
 *                  (setting.h), groups, unknown keys with did-you-mean
 *   cfg_suggest.c  messages "file:line: ..." and did-you-mean (edit distance)
 *   cfg_value.c    one value of a key from a libconfig node: type, range,
 *                  allowed names, placements, topologies, thread counts
 *   cfg_walk.c     a libconfig tree -> settings, sweep, variants, scales
 *   cfg_include.c  reading a file, the @include preprocessor, layers
 *   cfg_spec.c     one run's spec from its settings and the rules that
 *                  combine settings (the dataset checks among them)
 *   cfg_expand.c   layers x scale x variants x sweep x repeat -> runs
 *   cfg_filter.c   --only filters
 *   config.c       config_load / config_free
 * Errors follow common.h: 0 / -1 (NULL) with "file:line: message" in err. */
#ifndef PSGD_CFG_H
#define PSGD_CFG_H

#include <libconfig.h>
#include <limits.h>
#include <stddef.h>

#include "config.h"
#include "setting.h"
#include "spec.h"

/* The key schema is the settings table: a row with a file key is a key. */

/* A row is a file key when it has a name in files. */
static inline int cfg_is_file_key(int i) { return setting_table[i].key != NULL; }

/* Scopes: where a setting appears decides which keys are allowed there. */
typedef enum { SC_TOP, SC_SCALE, SC_VARIANT } scope;

/* Closest candidate within a small edit distance, or NULL. */
typedef struct {
  const char *best;
  int dist;
  const char *word;
} cfg_suggest;

/* One value as a file wrote it (threads "<f>x" not yet resolved). */
typedef struct {
  long long i; /* SETTING_INT, SETTING_BOOL, SETTING_THREADS (absolute) */
  double f;    /* SETTING_FLOAT, SETTING_THREADS (factor when rel) */
  int rel;     /* SETTING_THREADS "<f>x" */
  int n;       /* SETTING_HIDDEN */
  int h[8];
  char s[SPEC_PATH]; /* strings as written */
} cval;

/* A key's value in one group (top level, scale, variant) and where it was set. */
typedef struct {
  int set;
  cval v;
  const char *file;
  int line;
} slot;

/* Every key's slot, indexed by the SET_* ids. */
typedef struct {
  slot k[SETTING_COUNT];
} settings;

/* One swept key: its values and the line of each. */
typedef struct {
  int key;
  int n;
  cval *vals;
  int *lines;
  const char *file;
  int line;
} axis;

/* The swept keys, at most one axis per key, in the order written. */
typedef struct {
  int n;
  axis ax[SETTING_COUNT];
} sweep;

/* One variant of `variants = ( {...}, ... )`, and the list. */
typedef struct {
  settings s;
  sweep sw;
  const char *file;
  int line;
} variant;

typedef struct {
  int defined;
  int n;
  variant *v;
  const char *file;
  int line;
} variants;

/* One named scale of `scales = { NAME = {...}; }`. */
typedef struct {
  char name[SPEC_STR];
  settings s;
  sweep sw;
  variants vs;
} scale_def;

/* One file (the experiment file or an included one): a layer of settings. */
typedef struct {
  char file[SPEC_PATH]; /* path as reported in messages */
  char real[PATH_MAX];  /* canonical, for cycles and repeats */
  settings s;
  sweep sw;
  variants vs;
  int n_scales;
  scale_def *scales;
  char description[512];
  int has_description;
} layer;

/* One config_load: its layers, lowest precedence first, and the include stack. */
typedef struct {
  int n_layers, cap_layers;
  layer **layers;
  char *stack[16]; /* realpaths of files being read, for include cycles */
  int depth;
  int n_cores;
  char *err;
  size_t errlen;
} loader;

/* ---- cfg_suggest.c: messages and did-you-mean ---- */

/* snprintf that may truncate on purpose (messages, bounded names): keeps
 * GCC's -Wformat-truncation for the other calls meaningful. */
void cfg_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* err = "file:line: message" (line <= 0: "file: message"); returns -1. */
int cfg_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Keeps cand in s if it is the closest to s->word so far within a small
 * edit distance (transpositions count as one). */
void cfg_suggest_try(cfg_suggest *s, const char *cand);
/* " (did you mean 'best'?)", or "" when best is NULL. */
void cfg_did_you_mean(char *out, size_t cap, const char *best);
/* The closest of the '|'-separated choices to word (into buf), or NULL. */
const char *cfg_suggest_choice(const char *word, const char *choices, char *buf, size_t cap);

/* ---- cfg_keys.c: the key schema ---- */

/* Row of file key `full` ("y0", "stop.seconds"), or -1. */
int cfg_find_key(const char *full);
/* 1 if name is a group of keys (stop, eval). */
int cfg_is_group(const char *name);
/* The message for an unknown key `name` (inside `group`, or NULL) at
 * file:line, with did-you-mean over the keys allowed there; returns -1. */
int cfg_unknown_key(const char *file, int line, const char *name, const char *group, scope sc,
                    int in_sweep, char *err, size_t errlen);

/* ---- cfg_value.c: values ---- */

int cfg_line_of(const config_setting_t *node, const config_setting_t *fallback);
/* "an integer", "a string", ... for a libconfig type. */
const char *cfg_type_word(int t);
/* Parses "list:0,2,4": 0, or -1 with a message in why. */
int cfg_parse_pu_list(const char *s, int *pus, int cap, int *n, char *why, size_t whylen);
/* Reads one value of key k from node into out (type and range checked);
 * `what` is the name in messages ("y0", "sweep.y0[2]"). */
int cfg_parse_value(const setting *k, const config_setting_t *node, const config_setting_t *parent,
                    const char *file, const char *what, cval *out, char *err, size_t errlen);
/* A swept value as `psgd list` shows it ("threads=2", "hidden=64x64"). */
void cfg_format_value(int ki, const cval *v, const run_spec *s, char *buf, size_t cap);

/* ---- cfg_walk.c: trees into settings ---- */

void cfg_sweep_free(sweep *sw);
/* Adds axis a, replacing an axis of the same key. */
void cfg_sweep_put(sweep *sw, const axis *a);
void cfg_variants_free(variants *vs);
/* Walks the settings of one group (top level, a scale or a variant). */
int cfg_walk(loader *L, const char *file, const config_setting_t *grp, scope sc, settings *st,
             sweep *sw, variants *vs, layer *ly);

/* ---- cfg_include.c: files and @include ---- */

void cfg_layer_free(layer *ly);
/* Reads `path` and (first) everything it includes, appending layers in
 * precedence order. from_file/from_line: the @include that named it. */
int cfg_load_file(loader *L, const char *path, const char *from_file, int from_line);

/* ---- cfg_spec.c: one run ---- */

/* Forgets the dataset checks of an earlier config_load. */
void cfg_data_cache_reset(void);
/* The spec of one run from its resolved settings, checked for what single
 * settings cannot be: combinations, placements, model vs dataset, data. */
int cfg_build_spec(const settings *st, const char *path, const char *name, int n_cores,
                   int check_data, run_spec *s, char *err, size_t errlen);

/* ---- cfg_expand.c ---- */

/* Expands the layers of L at scale scale_name into e's runs (deduplicated
 * by run key). */
int cfg_expand(loader *L, experiment *e, const char *scale_name, int check_data);

#endif
