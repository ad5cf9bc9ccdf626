/* config.c - experiment files (EXPERIMENTS.md, "Experiment file reference"): read with @includes, validate
 * every setting against one key table, and expand variants x sweep x repeat
 * into fully resolved run specs (config.h states the precedence rules).
 *
 * Why @include is handled here and not by libconfig: libconfig 1.5 includes
 * textually, so a file could never override a setting of base.cfg (a setting
 * defined twice is a parse error), and it resolves include paths against the
 * current directory. Instead each file is one layer: its @include lines are
 * blanked out (keeping line numbers), the included files are read as lower
 * layers (path relative to the including file's folder), and settings of a
 * higher layer replace those of a lower one. */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "algo.h"
#include "setting.h"
#include "common.h"
#include "data.h"
#include "disp.h"
#include "hw.h"
#include "model.h"
#include "ps.h"
#include "vclock.h"

/* ------------------------------------------------------------------------ */
/* The key schema: the rows of the table of run settings (setting.h) that    */
/* have a file key.                                                          */

typedef setting keydef;
#define keys setting_table
#define N_KEYS SETTING_COUNT
#define K_COUNT SETTING_COUNT

/* A row is a file key when it has a name in files. */
static int is_file_key(int i) { return keys[i].key != NULL; }

/* Groups of keys ("stop = { ... }") and the structural top-level keys. */
static const char *const groups[] = {"stop", "eval"};
#define N_GROUPS 2

/* Scopes: where a setting appears decides which keys are allowed there. */
typedef enum { SC_TOP, SC_SCALE, SC_VARIANT } scope;

static int find_key(const char *full) {
  return setting_by_key(full);
}

static int is_group(const char *name) {
  for (int g = 0; g < N_GROUPS; g++)
    if (!strcmp(groups[g], name)) return 1;
  return 0;
}

/* snprintf that may truncate on purpose (messages, bounded names): keeps
 * GCC's -Wformat-truncation for the other calls meaningful. */
static void bfmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bfmt(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Errors and did-you-mean.                                                  */

static int ferr(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int ferr(char *err, size_t errlen, const char *file, int line, const char *fmt, ...) {
  char msg[PSGD_ERRLEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line > 0) return psgd_err(err, errlen, "%s:%d: %s", file, line, msg);
  return psgd_err(err, errlen, "%s: %s", file, msg);
}

static int lev(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      /* adjacent transposition counts as one edit ("ieght") */
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
        c = d[i - 2][j - 2] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

/* Closest candidate within a small edit distance, or NULL. */
typedef struct {
  const char *best;
  int dist;
  const char *word;
} suggest;

static void suggest_try(suggest *s, const char *cand) {
  int d = lev(s->word, cand);
  int limit = strlen(s->word) <= 4 ? 1 : strlen(s->word) <= 8 ? 2 : 3;
  if (d <= limit && d < s->dist) {
    s->best = cand;
    s->dist = d;
  }
}

static void did_you_mean(char *out, size_t cap, const char *best) {
  if (best) bfmt(out, cap, " (did you mean '%s'?)", best);
  else out[0] = '\0';
}

/* Suggestion among '|'-separated choices. */
static const char *suggest_choice(const char *word, const char *choices, char *buf, size_t cap) {
  suggest s = {NULL, 99, word};
  static char tok[16][32];
  int n = 0;
  const char *p = choices;
  while (*p && n < 16) {
    const char *e = strchr(p, '|');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    snprintf(tok[n], sizeof tok[n], "%.*s", (int)len, p);
    suggest_try(&s, tok[n]);
    n++;
    p += len + (e != NULL);
  }
  if (!s.best) return NULL;
  snprintf(buf, cap, "%s", s.best);
  return buf;
}

static int in_choices(const char *word, const char *choices) {
  size_t n = strlen(word);
  const char *p = choices;
  while (*p) {
    const char *e = strchr(p, '|');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, word, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Values.                                                                   */

typedef struct {
  long long i;       /* SETTING_INT, SETTING_BOOL, SETTING_THREADS (absolute) */
  double f;          /* SETTING_FLOAT, SETTING_THREADS (factor when rel) */
  int rel;           /* SETTING_THREADS "<f>x" */
  int n;             /* SETTING_HIDDEN */
  int h[8];
  char s[SPEC_PATH]; /* strings as written */
} cval;

typedef struct {
  int set;
  cval v;
  const char *file;
  int line;
} slot;

typedef struct {
  slot k[K_COUNT];
} settings;

typedef struct {
  int key;
  int n;
  cval *vals;
  int *lines;
  const char *file;
  int line;
} axis;

typedef struct {
  int n;
  axis ax[K_COUNT];
} sweep;

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

typedef struct {
  char name[SPEC_STR];
  settings s;
  sweep sw;
  variants vs;
} scale_def;

typedef struct {
  char file[SPEC_PATH];   /* path as reported in messages */
  char real[PATH_MAX];    /* canonical, for cycles and repeats */
  settings s;
  sweep sw;
  variants vs;
  int n_scales;
  scale_def *scales;
  char description[512];
  int has_description;
} layer;

typedef struct {
  int n_layers, cap_layers;
  layer **layers;
  char *stack[16];        /* realpaths of files being read, for include cycles */
  int depth;
  int n_cores;
  char *err;
  size_t errlen;
} loader;

static int line_of(const config_setting_t *node, const config_setting_t *fallback) {
  int l = node ? (int)config_setting_source_line(node) : 0;
  if (l <= 0 && fallback) l = (int)config_setting_source_line(fallback);
  return l;
}

static const char *type_word(int t) {
  switch (t) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
  }
}

#define range_text setting_range_text
#define in_range setting_in_range

/* Parses "list:0,2,4": 0 or -1 with a message in why. */
static int parse_pu_list(const char *s, int *pus, int cap, int *n, char *why, size_t whylen) {
  const char *p = s + 5;
  *n = 0;
  if (!*p) return snprintf(why, whylen, "names no PUs"), -1;
  while (*p) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 0 || v > 65535 || (*end && *end != ','))
      return snprintf(why, whylen, "'%s' is not a comma-separated list of PU numbers", s + 5), -1;
    for (int i = 0; i < *n; i++)
      if (pus[i] == v) return snprintf(why, whylen, "names PU %ld twice", v), -1;
    if (*n == cap) return snprintf(why, whylen, "names more than %d PUs", cap), -1;
    pus[(*n)++] = (int)v;
    p = *end ? end + 1 : end;
    if (*end == ',' && !*p) return snprintf(why, whylen, "ends with a comma"), -1;
  }
  return 0;
}

/* Reads one value of key k from node into out (type and range checked).
 * `what` is the name used in messages ("y0", "sweep.y0"). */
static int parse_value(const keydef *k, const config_setting_t *node, const config_setting_t *parent,
                       const char *file, const char *what, cval *out, char *err, size_t errlen) {
  int line = line_of(node, parent);
  int t = config_setting_type(node);
  char rng[96], sug[64], dym[96];
  memset(out, 0, sizeof *out);
  switch (k->type) {
    case SETTING_STR:
    case SETTING_PLACEMENT:
    case SETTING_TOPOLOGY: {
      if (t != CONFIG_TYPE_STRING)
        return ferr(err, errlen, file, line, "%s must be a string, not %s", what, type_word(t));
      const char *s = config_setting_get_string(node);
      size_t cap = k->size ? k->size : sizeof out->s;
      if (strlen(s) >= cap)
        return ferr(err, errlen, file, line, "%s is longer than %zu characters", what, cap - 1);
      snprintf(out->s, sizeof out->s, "%s", s);
      char choices[512];
      setting_choices(k, choices, sizeof choices);
      if (k->type == SETTING_STR && choices[0] && !in_choices(s, choices)) {
        did_you_mean(dym, sizeof dym, suggest_choice(s, choices, sug, sizeof sug));
        return ferr(err, errlen, file, line, "%s '%s' is not one of %s%s", what, s, choices, dym);
      }
      if (k->type == SETTING_PLACEMENT) {
        if (!strncmp(s, "list:", 5)) {
          int pus[1024], n;
          char why[160];
          if (parse_pu_list(s, pus, 1024, &n, why, sizeof why))
            return ferr(err, errlen, file, line, "%s '%s' %s", what, s, why);
        } else if (!strncmp(s, "numa:", 5) || !strncmp(s, "spread:", 7)) {
          const char *a = strchr(s, ':') + 1;
          char *end;
          errno = 0;
          long kn = strtol(a, &end, 10);
          if (end == a || *end || errno || kn < 2 || kn > 4096)
            return ferr(err, errlen, file, line,
                        "%s '%s': K in numa:K must be a number of NUMA nodes >= 2", what, s);
        } else if (!in_choices(s, "os|uma|compact|numa|spread")) {
          did_you_mean(dym, sizeof dym, suggest_choice(s, "os|uma|compact|numa|spread", sug,
                                                       sizeof sug));
          return ferr(err, errlen, file, line,
                      "%s '%s' is not one of os|uma|compact|numa|spread|numa:K|list:<PUs>%s", what, s,
                      dym);
        }
      }
      if (k->type == SETTING_TOPOLOGY && s[0] && strncmp(s, "synthetic:", 10) != 0) {
        struct stat tst;
        if (stat(s, &tst) == 0 && !S_ISREG(tst.st_mode))
          return ferr(err, errlen, file, line, "%s '%s': not a regular file (%s): refused", what,
                      s, S_ISDIR(tst.st_mode) ? "a directory" : S_ISFIFO(tst.st_mode) ? "a FIFO"
                                                                                     : "a device");
        if (access(s, R_OK) != 0)
          return ferr(err, errlen, file, line,
                      "%s '%s': cannot read the XML file (%s); use \"\", \"synthetic:...\" or a "
                      "readable lstopo XML path",
                      what, s, strerror(errno));
      }
      if (k->type == SETTING_TOPOLOGY && !strncmp(s, "synthetic:", 10) && !s[10])
        return ferr(err, errlen, file, line, "%s 'synthetic:' needs a description, e.g. "
                    "\"synthetic:pack:2 numa:1 core:4 pu:1\"", what);
      return 0;
    }
    case SETTING_INT: {
      if (t == CONFIG_TYPE_FLOAT)
        return ferr(err, errlen, file, line, "%s must be an integer, not %g", what,
                    config_setting_get_float(node));
      if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return ferr(err, errlen, file, line, "%s must be an integer, not %s", what, type_word(t));
      long long v = config_setting_get_int64(node);
      if (!in_range(k, (double)v)) {
        range_text(k, rng, sizeof rng);
        return ferr(err, errlen, file, line, "%s = %lld is out of range %s", what, v, rng);
      }
      out->i = v;
      return 0;
    }
    case SETTING_FLOAT: {
      if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT)
        return ferr(err, errlen, file, line, "%s must be a number, not %s", what, type_word(t));
      double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(node)
                                        : (double)config_setting_get_int64(node);
      if (!isfinite(v) || !in_range(k, v)) {
        range_text(k, rng, sizeof rng);
        return ferr(err, errlen, file, line, "%s = %g is out of range %s", what, v, rng);
      }
      out->f = v;
      return 0;
    }
    case SETTING_BOOL:
      if (t != CONFIG_TYPE_BOOL)
        return ferr(err, errlen, file, line, "%s must be true or false, not %s", what,
                    type_word(t));
      out->i = config_setting_get_bool(node);
      return 0;
    case SETTING_THREADS: {
      range_text(k, rng, sizeof rng);
      if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(node);
        if (!in_range(k, (double)v))
          return ferr(err, errlen, file, line, "%s = %lld is out of range %s", what, v, rng);
        out->i = v;
        snprintf(out->s, sizeof out->s, "%lld", v);
        return 0;
      }
      if (t == CONFIG_TYPE_STRING) {
        const char *s = config_setting_get_string(node);
        char *end;
        errno = 0;
        double f = strtod(s, &end);
        snprintf(out->s, sizeof out->s, "%s", s);
        if (end != s && errno == 0 && end[0] == 'x' && end[1] == '\0') {
          if (!(f > 0 && f <= 256))
            return ferr(err, errlen, file, line,
                        "%s = \"%s\": the factor must be in (0, 256] times the cores", what, s);
          out->rel = 1;
          out->f = f;
          return 0;
        }
        if (end != s && errno == 0 && *end == '\0' && f == floor(f)) {
          if (!in_range(k, f))
            return ferr(err, errlen, file, line, "%s = %s is out of range %s", what, s, rng);
          out->i = (long long)f;
          return 0;
        }
        return ferr(err, errlen, file, line,
                    "%s = \"%s\" is neither a thread count nor \"<f>x\" (f times the cores, e.g. "
                    "\"0.5x\")",
                    what, s);
      }
      return ferr(err, errlen, file, line,
                  "%s must be an integer or a string \"<f>x\", not %s", what, type_word(t));
    }
    case SETTING_HIDDEN: {
      if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return ferr(err, errlen, file, line, "%s must be an array of layer sizes like [128, 128], "
                    "not %s", what, type_word(t));
      int n = config_setting_length(node);
      if (n < 1 || n > 8)
        return ferr(err, errlen, file, line, "%s must have 1 to 8 layer sizes, not %d", what, n);
      out->n = n;
      for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(node, (unsigned)i);
        int et = config_setting_type(e);
        if (et != CONFIG_TYPE_INT && et != CONFIG_TYPE_INT64)
          return ferr(err, errlen, file, line, "%s[%d] must be an integer, not %s", what, i,
                      type_word(et));
        long long v = config_setting_get_int64(e);
        if (!in_range(k, (double)v)) {
          range_text(k, rng, sizeof rng);
          return ferr(err, errlen, file, line, "%s[%d] = %lld is out of range %s", what, i, v,
                      rng);
        }
        out->h[i] = (int)v;
      }
      return 0;
    }
  }
  return ferr(err, errlen, file, line, "%s: internal error (key type)", what);
}

/* ------------------------------------------------------------------------ */
/* Walking a libconfig tree into settings / sweep / variants / scales.       */

static int unknown_key(const char *file, int line, const char *name, const char *group, scope sc,
                       int in_sweep, char *err, size_t errlen) {
  suggest s = {NULL, 99, name};
  char full[96], dym[128];
  static char cand[K_COUNT][48];
  for (int i = 0; i < N_KEYS; i++) {
    if (!is_file_key(i)) continue;
    const char *dot = strchr(keys[i].key, '.');
    if (in_sweep && !(keys[i].flags & SETTING_SWEEP)) continue;
    if (group) {
      size_t gl = strlen(group);
      if (!dot || strncmp(keys[i].key, group, gl) != 0 || keys[i].key[gl] != '.') continue;
      snprintf(cand[i], sizeof cand[i], "%s", dot + 1);
      suggest_try(&s, cand[i]);
    } else if (!dot) {
      suggest_try(&s, keys[i].key);
    }
  }
  if (!group) {
    for (int g = 0; g < N_GROUPS; g++) suggest_try(&s, groups[g]);
    if (!in_sweep) {
      suggest_try(&s, "sweep");
      if (sc != SC_VARIANT) suggest_try(&s, "variants");
      if (sc == SC_TOP) {
        suggest_try(&s, "scales");
        suggest_try(&s, "description");
      }
    }
  }
  did_you_mean(dym, sizeof dym, s.best);
  if (!s.best && !group) {
    /* a group member written at the top level ("seconds = 5;") */
    for (int i = 0; i < N_KEYS; i++) {
      if (!is_file_key(i)) continue;
      const char *dot = strchr(keys[i].key, '.');
      if (dot && !strcmp(dot + 1, name)) {
        snprintf(dym, sizeof dym, " (it belongs in a group: %.*s = { %s = ...; })",
                 (int)(dot - keys[i].key), keys[i].key, name);
        break;
      }
    }
  }
  if (group) snprintf(full, sizeof full, "%s.%s", group, name);
  else snprintf(full, sizeof full, "%s", name);
  const char *where = in_sweep ? " in sweep" : sc == SC_VARIANT ? " in a variant" : "";
  if (!in_sweep && sc != SC_TOP && (!strcmp(name, "scales") || !strcmp(name, "description") ||
                                    (sc == SC_VARIANT && !strcmp(name, "variants"))))
    return ferr(err, errlen, file, line, "'%s' is not allowed %s", name,
                sc == SC_VARIANT ? "inside a variant" : "inside a scale");
  return ferr(err, errlen, file, line, "unknown key '%s'%s%s", full, where, dym);
}

static int put_slot(settings *st, int ki, const cval *v, const char *file, int line) {
  st->k[ki].set = 1;
  st->k[ki].v = *v;
  st->k[ki].file = file;
  st->k[ki].line = line;
  return 0;
}

static void axis_free(axis *a) {
  free(a->vals);
  free(a->lines);
  a->vals = NULL;
  a->lines = NULL;
}

static void sweep_free(sweep *sw) {
  for (int i = 0; i < sw->n; i++) axis_free(&sw->ax[i]);
  sw->n = 0;
}

static void sweep_put(sweep *sw, const axis *a) {
  for (int i = 0; i < sw->n; i++)
    if (sw->ax[i].key == a->key) {
      sw->ax[i] = *a;
      return;
    }
  sw->ax[sw->n++] = *a;
}

static int parse_sweep_entry(loader *L, const char *file, const config_setting_t *node,
                             const char *group, sweep *sw) {
  const char *name = config_setting_name(node);
  int line = line_of(node, NULL);
  char full[96], what[128];
  snprintf(full, sizeof full, group ? "%s.%s" : "%s%s", group ? group : "", name);
  int ki = find_key(full);
  if (ki < 0 || !(keys[ki].flags & SETTING_SWEEP)) {
    if (ki >= 0)
      return ferr(L->err, L->errlen, file, line, "'%s' cannot be swept", full);
    return unknown_key(file, line, name, group, SC_TOP, 1, L->err, L->errlen);
  }
  snprintf(what, sizeof what, "sweep.%s", full);
  const keydef *k = &keys[ki];
  int t = config_setting_type(node);
  if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
    return ferr(L->err, L->errlen, file, line,
                "%s must be a list of values, e.g. %s = [1, 2, 4]; (got %s)", what, name,
                type_word(t));
  if (k->type == SETTING_HIDDEN && t != CONFIG_TYPE_LIST)
    return ferr(L->err, L->errlen, file, line,
                "%s must be a list of arrays, e.g. hidden = ([64], [128, 128]);", what);
  int n = config_setting_length(node);
  if (n == 0) return ferr(L->err, L->errlen, file, line, "%s is empty", what);
  axis a = {ki, n, calloc((size_t)n, sizeof(cval)), calloc((size_t)n, sizeof(int)), file, line};
  if (!a.vals || !a.lines) {
    axis_free(&a);
    return ferr(L->err, L->errlen, file, line, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(node, (unsigned)i);
    a.lines[i] = line_of(e, node);
    char ewhat[160];
    snprintf(ewhat, sizeof ewhat, "%s[%d]", what, i);
    if (parse_value(k, e, node, file, ewhat, &a.vals[i], L->err, L->errlen)) {
      axis_free(&a);
      return -1;
    }
  }
  for (int i = 0; i < sw->n; i++)
    if (sw->ax[i].key == ki) axis_free(&sw->ax[i]); /* cannot happen within one file */
  sweep_put(sw, &a);
  return 0;
}

static int parse_sweep(loader *L, const char *file, const config_setting_t *node, sweep *sw) {
  int line = line_of(node, NULL);
  if (config_setting_type(node) != CONFIG_TYPE_GROUP)
    return ferr(L->err, L->errlen, file, line,
                "sweep must be a group: sweep = { y0 = [1, 2, 4]; batch = [16, 64]; };");
  int n = config_setting_length(node);
  for (int i = 0; i < n; i++) {
    const config_setting_t *c = config_setting_get_elem(node, (unsigned)i);
    const char *name = config_setting_name(c);
    if (is_group(name)) {
      if (config_setting_type(c) != CONFIG_TYPE_GROUP)
        return ferr(L->err, L->errlen, file, line_of(c, node),
                    "sweep.%s must be a group of lists: %s = { ... = [ ... ]; };", name, name);
      int m = config_setting_length(c);
      for (int j = 0; j < m; j++)
        if (parse_sweep_entry(L, file, config_setting_get_elem(c, (unsigned)j), name, sw))
          return -1;
    } else if (parse_sweep_entry(L, file, c, NULL, sw)) {
      return -1;
    }
  }
  return 0;
}

static void variants_free(variants *vs) {
  for (int i = 0; i < vs->n; i++) sweep_free(&vs->v[i].sw);
  free(vs->v);
  vs->v = NULL;
  vs->n = 0;
}

static int walk(loader *L, const char *file, const config_setting_t *grp, scope sc, settings *st,
                sweep *sw, variants *vs, layer *ly);

static int parse_variants(loader *L, const char *file, const config_setting_t *node,
                          variants *vs) {
  int line = line_of(node, NULL);
  if (config_setting_type(node) != CONFIG_TYPE_LIST)
    return ferr(L->err, L->errlen, file, line,
                "variants must be a list of groups: variants = ( { label = \"A\"; ... }, "
                "{ ... } );");
  int n = config_setting_length(node);
  if (n == 0) return ferr(L->err, L->errlen, file, line, "variants is empty");
  variants_free(vs);
  vs->v = calloc((size_t)n, sizeof *vs->v);
  if (!vs->v) return ferr(L->err, L->errlen, file, line, "out of memory");
  vs->defined = 1;
  vs->file = file;
  vs->line = line;
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(node, (unsigned)i);
    if (config_setting_type(e) != CONFIG_TYPE_GROUP)
      return ferr(L->err, L->errlen, file, line_of(e, node),
                  "variant %d must be a group { label = \"...\"; ... }, not %s", i + 1,
                  type_word(config_setting_type(e)));
    variant *v = &vs->v[vs->n++];
    v->file = file;
    v->line = line_of(e, node);
    if (walk(L, file, e, SC_VARIANT, &v->s, &v->sw, NULL, NULL)) return -1;
    if (!v->s.k[SET_LABEL].set) continue;
    for (int j = 0; j + 1 < vs->n; j++)
      if (vs->v[j].s.k[SET_LABEL].set && !strcmp(vs->v[j].s.k[SET_LABEL].v.s, v->s.k[SET_LABEL].v.s))
        return ferr(L->err, L->errlen, file, v->s.k[SET_LABEL].line,
                    "duplicate variant label '%s' (also at line %d)", v->s.k[SET_LABEL].v.s,
                    vs->v[j].s.k[SET_LABEL].line);
  }
  return 0;
}

static int parse_scales(loader *L, const char *file, const config_setting_t *node, layer *ly) {
  int line = line_of(node, NULL);
  if (config_setting_type(node) != CONFIG_TYPE_GROUP)
    return ferr(L->err, L->errlen, file, line,
                "scales must be a group: scales = { quick = { ... }; paper = { ... }; };");
  int n = config_setting_length(node);
  ly->scales = calloc((size_t)n + 1, sizeof *ly->scales);
  if (!ly->scales) return ferr(L->err, L->errlen, file, line, "out of memory");
  for (int i = 0; i < n; i++) {
    const config_setting_t *c = config_setting_get_elem(node, (unsigned)i);
    const char *name = config_setting_name(c);
    if (config_setting_type(c) != CONFIG_TYPE_GROUP)
      return ferr(L->err, L->errlen, file, line_of(c, node),
                  "scales.%s must be a group of settings, not %s", name,
                  type_word(config_setting_type(c)));
    if (strlen(name) >= SPEC_STR)
      return ferr(L->err, L->errlen, file, line_of(c, node), "scale name '%s' is too long", name);
    scale_def *sd = &ly->scales[ly->n_scales++];
    snprintf(sd->name, sizeof sd->name, "%s", name);
    if (walk(L, file, c, SC_SCALE, &sd->s, &sd->sw, &sd->vs, NULL)) return -1;
  }
  return 0;
}

/* Walks the settings of one group (top level, a scale or a variant). */
static int walk(loader *L, const char *file, const config_setting_t *grp, scope sc, settings *st,
                sweep *sw, variants *vs, layer *ly) {
  int n = config_setting_length(grp);
  for (int i = 0; i < n; i++) {
    const config_setting_t *c = config_setting_get_elem(grp, (unsigned)i);
    const char *name = config_setting_name(c);
    int line = line_of(c, grp);
    if (!name) return ferr(L->err, L->errlen, file, line, "unnamed setting");
    if (!strcmp(name, "sweep")) {
      if (parse_sweep(L, file, c, sw)) return -1;
    } else if (!strcmp(name, "variants") && sc != SC_VARIANT) {
      if (parse_variants(L, file, c, vs)) return -1;
    } else if (!strcmp(name, "scales") && sc == SC_TOP) {
      if (parse_scales(L, file, c, ly)) return -1;
    } else if (!strcmp(name, "description") && sc == SC_TOP) {
      if (config_setting_type(c) != CONFIG_TYPE_STRING)
        return ferr(L->err, L->errlen, file, line, "description must be a string, not %s",
                    type_word(config_setting_type(c)));
      snprintf(ly->description, sizeof ly->description, "%s", config_setting_get_string(c));
      ly->has_description = 1;
    } else if (is_group(name)) {
      if (config_setting_type(c) != CONFIG_TYPE_GROUP)
        return ferr(L->err, L->errlen, file, line,
                    "%s must be a group: %s = { ... = ...; };, not %s", name, name,
                    type_word(config_setting_type(c)));
      int m = config_setting_length(c);
      for (int j = 0; j < m; j++) {
        const config_setting_t *g = config_setting_get_elem(c, (unsigned)j);
        char full[96];
        snprintf(full, sizeof full, "%s.%s", name, config_setting_name(g));
        int ki = find_key(full);
        int gl = line_of(g, c);
        if (ki < 0) return unknown_key(file, gl, config_setting_name(g), name, sc, 0, L->err,
                                       L->errlen);
        cval v;
        if (parse_value(&keys[ki], g, c, file, full, &v, L->err, L->errlen)) return -1;
        put_slot(st, ki, &v, file, gl);
      }
    } else {
      int ki = find_key(name);
      if (ki < 0) return unknown_key(file, line, name, NULL, sc, 0, L->err, L->errlen);
      cval v;
      if (parse_value(&keys[ki], c, grp, file, name, &v, L->err, L->errlen)) return -1;
      put_slot(st, ki, &v, file, line);
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Files: reading, @include, layering.                                       */

#define CONFIG_MAX_BYTES (4L << 20)

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (n + 1 < cap) break;
    char *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) return NULL;
  if (bad) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

typedef struct {
  int line;
  char name[SPEC_PATH];
} include_dir;

/* Finds @include directives (libconfig's syntax: at the start of a line,
 * outside comments and strings), records them and blanks them out so
 * libconfig sees the rest with unchanged line numbers. */
static int scan_includes(char *text, const char *file, include_dir *inc, int cap, int *n_inc,
                         char *err, size_t errlen) {
  enum { NORMAL, STR, LINE_C, BLOCK_C } st = NORMAL;
  int depth = 0, line = 1, at_line_start = 1;
  *n_inc = 0;
  for (char *p = text; *p; p++) {
    char c = *p;
    if (st == NORMAL && at_line_start) {
      char *q = p;
      while (*q == ' ' || *q == '\t') q++;
      if (!strncmp(q, "@include", 8)) {
        char *r = q + 8;
        if (depth > 0)
          return ferr(err, errlen, file, line, "@include must be at the top level, not inside "
                      "a group or list");
        while (*r == ' ' || *r == '\t') r++;
        char *end = *r == '"' ? strchr(r + 1, '"') : NULL;
        char *nl = strchr(r, '\n');
        if (!end || (nl && end > nl) || end == r + 1)
          return ferr(err, errlen, file, line, "@include needs a quoted file name: @include "
                      "\"base.cfg\"");
        if (*n_inc == cap) return ferr(err, errlen, file, line, "too many @include lines");
        if ((size_t)(end - r - 1) >= SPEC_PATH)
          return ferr(err, errlen, file, line, "@include file name too long");
        inc[*n_inc].line = line;
        snprintf(inc[*n_inc].name, SPEC_PATH, "%.*s", (int)(end - r - 1), r + 1);
        (*n_inc)++;
        for (char *w = q; w <= end; w++) *w = ' ';
        p = end;
        at_line_start = 0;
        continue;
      }
    }
    at_line_start = 0;
    switch (st) {
      case NORMAL:
        if (c == '"') st = STR;
        else if (c == '#') st = LINE_C;
        else if (c == '/' && p[1] == '/') st = LINE_C, p++;
        else if (c == '/' && p[1] == '*') st = BLOCK_C, p++;
        else if (c == '{' || c == '(' || c == '[') depth++;
        else if (c == '}' || c == ')' || c == ']') depth--;
        break;
      case STR:
        if (c == '\\' && p[1] && p[1] != '\n') p++;
        else if (c == '"') st = NORMAL;
        break;
      case LINE_C:
        if (c == '\n') st = NORMAL;
        break;
      case BLOCK_C:
        if (c == '*' && p[1] == '/') st = NORMAL, p++;
        break;
    }
    if (*p == '\n') {
      line++;
      at_line_start = 1;
    }
  }
  return 0;
}

/* libconfig 1.5 reads an integer without an L suffix as 32 bits and wraps
 * silently (threads = 4294967298 gives 2): find such literals in the text
 * itself (outside strings and comments) and refuse them, naming the value
 * as written. Decimal beyond [-2^31, 2^31 - 1] or hex beyond 0x7fffffff
 * needs the L suffix; with it, beyond 64 bits is refused too. */
static int scan_big_ints(const char *text, const char *file, char *err, size_t errlen) {
  enum { NORMAL, STR, LINE_C, BLOCK_C } st = NORMAL;
  int line = 1;
  for (const char *p = text; *p; p++) {
    char c = *p;
    if (c == '\n') line++;
    switch (st) {
      case STR:
        if (c == '\\' && p[1] && p[1] != '\n') p++;
        else if (c == '"') st = NORMAL;
        continue;
      case LINE_C:
        if (c == '\n') st = NORMAL;
        continue;
      case BLOCK_C:
        if (c == '*' && p[1] == '/') st = NORMAL, p++;
        continue;
      case NORMAL:
        break;
    }
    if (c == '"') st = STR;
    else if (c == '#') st = LINE_C;
    else if (c == '/' && p[1] == '/') st = LINE_C, p++;
    else if (c == '/' && p[1] == '*') st = BLOCK_C, p++;
    if (st != NORMAL || !(c >= '0' && c <= '9')) continue;
    /* a digit inside a name (y0, l2_norm) or a float's fraction/exponent */
    char prev = p > text ? p[-1] : ' ';
    if (isalnum((unsigned char)prev) || prev == '_' || prev == '.' || prev == '*') {
      while (isalnum((unsigned char)p[1]) || p[1] == '_') p++;
      continue;
    }
    int neg = prev == '-';
    const char *q = p;
    int hex = q[0] == '0' && (q[1] == 'x' || q[1] == 'X');
    if (hex) q += 2;
    const char *digits = q;
    while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)) q++;
    if (!hex && (*q == '.' || *q == 'e' || *q == 'E')) { /* a float */
      while (isalnum((unsigned char)q[1]) || q[1] == '.' || q[1] == '+' || q[1] == '-') q++;
      p = q;
      continue;
    }
    int suffix_l = *q == 'L' || *q == 'l';
    /* the value, saturating: only "fits or not" matters */
    unsigned long long v = 0;
    int over64 = 0;
    for (const char *d = digits; d < q; d++) {
      unsigned dv = isdigit((unsigned char)*d) ? (unsigned)(*d - '0')
                                               : (unsigned)(tolower((unsigned char)*d) - 'a' + 10);
      unsigned base = hex ? 16 : 10;
      if (v > (ULLONG_MAX - dv) / base) over64 = 1;
      else v = v * base + dv;
    }
    int bad;
    if (suffix_l)
      bad = over64 || (hex ? 0 : v > (neg ? (unsigned long long)INT64_MAX + 1 : (unsigned long long)INT64_MAX));
    else
      bad = over64 || (hex ? v > 0x7fffffffull : v > (neg ? 2147483648ull : 2147483647ull));
    int len = (int)(q - p);
    if (bad && suffix_l)
      return ferr(err, errlen, file, line, "integer %s%.*sL does not fit in 64 bits",
                  neg ? "-" : "", len, p);
    if (bad)
      return ferr(err, errlen, file, line,
                  "integer %s%.*s does not fit in 32 bits (libconfig reads an integer without an "
                  "L suffix as 32-bit and would wrap it): write %s%.*sL for a 64-bit value",
                  neg ? "-" : "", len, p, neg ? "-" : "", len, p);
    p = q - 1 + suffix_l;
  }
  return 0;
}

static void layer_free(layer *ly) {
  if (!ly) return;
  sweep_free(&ly->sw);
  variants_free(&ly->vs);
  for (int i = 0; i < ly->n_scales; i++) {
    sweep_free(&ly->scales[i].sw);
    variants_free(&ly->scales[i].vs);
  }
  free(ly->scales);
  free(ly);
}

/* Reads `path` and (first) everything it includes, appending layers in
 * precedence order. from_file/from_line: the @include that named it. */
static int load_file(loader *L, const char *path, const char *from_file, int from_line) {
  char real[PATH_MAX];
  if (!realpath(path, real)) {
    if (from_file)
      return ferr(L->err, L->errlen, from_file, from_line, "@include: cannot open '%s': %s",
                  path, strerror(errno));
    return psgd_err(L->err, L->errlen, "%s: cannot open: %s", path, strerror(errno));
  }
  for (int i = 0; i < L->depth; i++)
    if (!strcmp(L->stack[i], real))
      return ferr(L->err, L->errlen, from_file, from_line, "@include cycle: '%s' includes itself",
                  path);
  for (int i = 0; i < L->n_layers; i++)
    if (!strcmp(L->layers[i]->real, real)) return 0; /* already a lower layer: include once */
  if (L->depth == 16)
    return ferr(L->err, L->errlen, from_file, from_line, "@include nested more than 16 deep");
  /* stat first: a FIFO would block the read and /dev/zero never end it */
  struct stat fst;
  const char *bad = NULL;
  if (stat(path, &fst) != 0) bad = strerror(errno);
  else if (S_ISDIR(fst.st_mode)) bad = "is a directory";
  else if (!S_ISREG(fst.st_mode))
    bad = S_ISFIFO(fst.st_mode)  ? "not a regular file (a FIFO): refused"
          : S_ISCHR(fst.st_mode) ? "not a regular file (a character device): refused"
                                 : "not a regular file: refused";
  else if (fst.st_size > CONFIG_MAX_BYTES) bad = "larger than 4 MB: not an experiment file";
  if (bad) {
    if (from_file)
      return ferr(L->err, L->errlen, from_file, from_line, "@include '%s': %s", path, bad);
    return psgd_err(L->err, L->errlen, "%s: %s", path, bad);
  }
  size_t len;
  char *text = read_all(path, &len);
  if (!text) {
    if (from_file)
      return ferr(L->err, L->errlen, from_file, from_line, "@include: cannot read '%s': %s", path,
                  strerror(errno));
    return psgd_err(L->err, L->errlen, "%s: cannot read: %s", path, strerror(errno));
  }
  if (strlen(text) != len) {
    free(text);
    return psgd_err(L->err, L->errlen, "%s: contains a NUL byte: not a text file", path);
  }
  include_dir inc[32];
  int n_inc;
  layer *ly = calloc(1, sizeof *ly);
  config_t cfg;
  int rc = -1, cfg_live = 0;
  if (!ly) {
    psgd_err(L->err, L->errlen, "%s: out of memory", path);
    goto out_with_text;
  }
  snprintf(ly->file, sizeof ly->file, "%s", path);
  snprintf(ly->real, sizeof ly->real, "%s", real);
  if (scan_includes(text, ly->file, inc, 32, &n_inc, L->err, L->errlen)) goto out_with_layer;
  if (scan_big_ints(text, ly->file, L->err, L->errlen)) goto out_with_layer;

  L->stack[L->depth++] = real;
  for (int i = 0; i < n_inc; i++) {
    char child[PATH_MAX];
    if (inc[i].name[0] == '/') {
      snprintf(child, sizeof child, "%s", inc[i].name);
    } else {
      const char *slash = strrchr(path, '/');
      if (slash) snprintf(child, sizeof child, "%.*s/%s", (int)(slash - path), path, inc[i].name);
      else snprintf(child, sizeof child, "%s", inc[i].name);
    }
    if (load_file(L, child, ly->file, inc[i].line)) {
      L->depth--;
      goto out_with_layer;
    }
  }
  L->depth--;

  config_init(&cfg);
  cfg_live = 1;
  config_set_options(&cfg, CONFIG_OPTION_AUTOCONVERT);
  if (config_read_string(&cfg, text) != CONFIG_TRUE) {
    ferr(L->err, L->errlen, ly->file, config_error_line(&cfg), "%s",
         config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error");
    goto out_with_layer;
  }
  if (walk(L, ly->file, config_root_setting(&cfg), SC_TOP, &ly->s, &ly->sw, &ly->vs, ly))
    goto out_with_layer;
  if (L->n_layers == L->cap_layers) {
    int cap = L->cap_layers ? 2 * L->cap_layers : 8;
    layer **nl = realloc(L->layers, (size_t)cap * sizeof *nl);
    if (!nl) {
      psgd_err(L->err, L->errlen, "%s: out of memory", path);
      goto out_with_layer;
    }
    L->layers = nl;
    L->cap_layers = cap;
  }
  L->layers[L->n_layers++] = ly;
  ly = NULL;
  rc = 0;
out_with_layer:
  layer_free(ly);
  if (cfg_live) config_destroy(&cfg);
out_with_text:
  free(text);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Resolution of one run.                                                    */

int config_n_cores(void) {
  /* Set by psgd slurm's job scripts: every task resolves "<f>x" as the
   * machine that wrote the script did, whatever CPUs it was given. */
  const char *env = getenv("PSGD_CORES");
  if (env && *env) {
    char *end;
    long n = strtol(env, &end, 10);
    if (!*end && n > 0 && n <= 1 << 20) return (int)n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Dataset checks of the current config_load, by (dataset, data dir,
 * train_limit): a sweep of many runs reads each dataset's headers once. */
#define DATA_CACHE 8
static struct {
  char dataset[SPEC_STR], data_dir[SPEC_PATH];
  int train_limit, n_train;
  int failed;
  char err[PSGD_ERRLEN];
} g_data_cache[DATA_CACHE];
static int g_n_data_cache;

static int check_dataset(const run_spec *s, int *n_train, char *err, size_t errlen) {
  for (int i = 0; i < g_n_data_cache; i++) {
    if (strcmp(g_data_cache[i].dataset, s->dataset) || strcmp(g_data_cache[i].data_dir, s->data_dir) ||
        g_data_cache[i].train_limit != s->train_limit)
      continue;
    *n_train = g_data_cache[i].n_train;
    if (g_data_cache[i].failed) return psgd_err(err, errlen, "%s", g_data_cache[i].err);
    return 0;
  }
  data_opts o;
  data_opts_default(&o);
  if (s->data_dir[0]) o.data_dir = s->data_dir;
  o.train_limit = s->train_limit;
  *n_train = 0;
  char why[PSGD_ERRLEN];
  int rc = data_check(s->dataset, &o, n_train, NULL, why, sizeof why);
  if (rc) psgd_err(err, errlen, "dataset '%s': %s", s->dataset, why);
  if (g_n_data_cache < DATA_CACHE) {
    int i = g_n_data_cache++;
    snprintf(g_data_cache[i].dataset, sizeof g_data_cache[i].dataset, "%s", s->dataset);
    snprintf(g_data_cache[i].data_dir, sizeof g_data_cache[i].data_dir, "%s", s->data_dir);
    g_data_cache[i].train_limit = s->train_limit;
    g_data_cache[i].n_train = *n_train;
    g_data_cache[i].failed = rc != 0;
    snprintf(g_data_cache[i].err, sizeof g_data_cache[i].err, "%s", rc ? err : "");
  }
  return rc;
}

int config_check_dataset(const run_spec *s, char *err, size_t errlen) {
  int n;
  return check_dataset(s, &n, err, errlen);
}

static void apply_slot(run_spec *s, int ki, const cval *v, int n_cores) {
  const keydef *k = &keys[ki];
  char *f = (char *)s + k->off;
  if (ki == SET_THREADS) {
    long t = v->rel ? lround(v->f * n_cores) : (long)v->i;
    s->threads = t < 1 ? 1 : (int)t;
    return;
  }
  switch (k->fk) {
    case FK_NONE: return;
    case FK_INT: *(int *)f = (int)v->i; return;
    case FK_LONG: *(long *)f = (long)v->i; return;
    case FK_U64: *(uint64_t *)f = (uint64_t)v->i; return;
    case FK_DOUBLE: *(double *)f = v->f; return;
    case FK_STR: snprintf(f, k->size, "%s", v->s); return;
    case FK_HIDDEN:
      s->n_hidden = v->n;
      memset(s->hidden, 0, sizeof s->hidden);
      for (int i = 0; i < v->n; i++) s->hidden[i] = v->h[i];
      return;
  }
}

/* Where a resolved field came from, for messages: the setting's line, else
 * the experiment file itself. */
typedef struct {
  const settings *st;
  const char *path;
} origin;

static int oerr(char *err, size_t errlen, const origin *o, int ki, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int oerr(char *err, size_t errlen, const origin *o, int ki, const char *fmt, ...) {
  char msg[PSGD_ERRLEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const slot *sl = ki >= 0 ? &o->st->k[ki] : NULL;
  if (sl && sl->set) return ferr(err, errlen, sl->file, sl->line, "%s", msg);
  return ferr(err, errlen, o->path, 0, "%s", msg);
}

/* Builds the spec of one run from its resolved settings and checks what
 * single settings cannot: combinations. */
static int build_spec(const settings *st, const char *path, const char *name, int n_cores,
                      int check_data, run_spec *s, char *err, size_t errlen) {
  origin o = {st, path};
  spec_default(s);
  snprintf(s->experiment, sizeof s->experiment, "%s", name);
  for (int i = 0; i < N_KEYS; i++)
    if (st->k[i].set) apply_slot(s, i, &st->k[i].v, n_cores);
  if (!st->k[SET_LABEL].set) snprintf(s->label, sizeof s->label, "%s", s->algorithm);

  /* the algorithm resolves into dispatcher + store (+ elastic), a store key
   * overrides the store; algo.c checks every combination */
  {
    char msg[PSGD_ERRLEN];
    algo_choice ac;
    algo_setting bad;
    if (algo_apply_name(s, s->algorithm, msg, sizeof msg))
      return oerr(err, errlen, &o, SET_ALGORITHM, "%s", msg);
    if (st->k[SET_STORE].set) bfmt(s->store, sizeof s->store, "%s", st->k[SET_STORE].v.s);
    if (algo_resolve(s, &ac, &bad, msg, sizeof msg)) {
      int ki = bad == ALGO_SET_STORE       ? SET_STORE
               : bad == ALGO_SET_BACKOFF   ? SET_BACKOFF
               : bad == ALGO_SET_Y_CONTROL ? SET_Y_CONTROL
               : bad == ALGO_SET_PS        ? SET_PS
               : bad == ALGO_SET_THREADS   ? SET_THREADS
                                           : SET_ALGORITHM;
      return oerr(err, errlen, &o, ki, "%s", msg);
    }
  }
  if (st->k[SET_STEP_TIME].set && strcmp(s->clock, "virtual") != 0)
    return oerr(err, errlen, &o, SET_STEP_TIME,
                "step_time applies only under clock = \"virtual\" (this run's clock is '%s')",
                s->clock);
  if (!strcmp(s->clock, "virtual")) {
    char why[PSGD_ERRLEN];
    vclock_model vm;
    if (vclock_model_parse(s->step_time, &vm, why, sizeof why))
      return oerr(err, errlen, &o, SET_STEP_TIME, "%s", why);
    if (!s->step_time[0]) bfmt(s->step_time, sizeof s->step_time, "%s", VCLOCK_DEFAULT_STEP_TIME);
    ps_backoff bo = PS_BACKOFF_NONE;
    (void)ps_backoff_parse(s->backoff[0] ? s->backoff : "none", &bo); /* checked above */
    if (vclock_check(disp_find(s->dispatcher), ps_find(s->store), bo, s->threads, s->step_time,
                     why, sizeof why))
      return oerr(err, errlen, &o, SET_CLOCK, "%s", why);
  }
  if (s->stop_seconds == 0 && s->stop_epochs == 0 && s->stop_steps == 0 && s->target_acc == 0 &&
      s->epsilon == 0) {
    int ki = SET_STOP_SECONDS;
    for (int i = SET_STOP_SECONDS; i <= SET_EPSILON; i++)
      if (st->k[i].set && st->k[i].line > (st->k[ki].set ? st->k[ki].line : 0)) ki = i;
    return oerr(err, errlen, &o, ki,
                "no stop condition: set one of stop.seconds, stop.epochs, stop.steps, "
                "stop.target_acc, stop.epsilon above 0");
  }
  if (s->timeout_s > 0 && s->stop_seconds > 0 && s->timeout_s <= s->stop_seconds)
    return oerr(err, errlen, &o, SET_TIMEOUT,
                "timeout = %g must be longer than stop.seconds = %g", s->timeout_s,
                s->stop_seconds);
  if (s->target_acc > 0 && s->eval_every_s == 0 && s->eval_every_steps == 0)
    return oerr(err, errlen, &o, SET_TARGET_ACC,
                "stop.target_acc needs periodic evaluation: set eval.every_s or eval.every_steps "
                "above 0");
  if (s->train_limit > 0 && s->train_limit < s->batch)
    return oerr(err, errlen, &o, SET_BATCH, "batch = %d is larger than train_limit = %d",
                s->batch, s->train_limit);
  if (!strncmp(s->placement, "list:", 5) && !s->topology[0] && !s->bind_best_effort) {
    int pus[1024], n;
    char why[160];
    cpu_set_t set;
    if (parse_pu_list(s->placement, pus, 1024, &n, why, sizeof why) == 0 &&
        sched_getaffinity(0, sizeof set, &set) == 0)
      for (int i = 0; i < n; i++)
        if (pus[i] >= CPU_SETSIZE || !CPU_ISSET(pus[i], &set))
          return oerr(err, errlen, &o, SET_PLACEMENT,
                      "placement '%s': PU %d is not available on this machine (set "
                      "bind_best_effort = true to run anyway)",
                      s->placement, pus[i]);
  }
  if (strcmp(s->placement, "os") != 0 || s->topology[0]) {
    /* plan the placement now, so a topology hwloc cannot read or a placement
     * the machine cannot give is reported at its line before anything runs */
    char why[PSGD_ERRLEN];
    hw_topo *t = hw_topo_load(s->topology[0] ? s->topology : NULL, why, sizeof why);
    if (!t) return oerr(err, errlen, &o, SET_TOPOLOGY, "%s", why);
    hw_plan plan;
    int flags = (s->keep_core_free ? HW_PLAN_KEEP_CORE_FREE : 0) |
                (s->placement_nearest ? HW_PLAN_NEAREST : 0);
    int bad = hw_plan_make(t, s->placement, s->threads, flags, &plan, why, sizeof why);
    hw_topo_free(t);
    if (bad)
      return oerr(err, errlen, &o, SET_PLACEMENT, "%s%s", why,
                  s->placement_nearest ? "" : " (placement_nearest = true runs the nearest "
                                              "equivalent)");
    hw_plan_free(&plan);
  }
  {
    /* the model must fit the dataset's sample shape (LeNet5 needs >= 16x16) */
    int c = 1, h = 1, w = 1, classes = 2;
    PSGD_CHECK(data_shape(s->dataset, NULL, &c, &h, &w, &classes) == 0); /* a checked name */
    model_spec ms = {s->model, c, h, w, classes, s->n_hidden, {0}};
    memcpy(ms.hidden, s->hidden, sizeof ms.hidden);
    char why[PSGD_ERRLEN];
    model *m = model_create(&ms, why, sizeof why);
    if (!m)
      return oerr(err, errlen, &o, st->k[SET_MODEL].set ? SET_MODEL : SET_DATASET,
                  "dataset '%s' (%dx%dx%d): %s", s->dataset, c, h, w, why);
    model_free(m);
  }
  if (check_data) {
    char why[PSGD_ERRLEN];
    int n_train;
    if (check_dataset(s, &n_train, why, sizeof why))
      return oerr(err, errlen, &o, st->k[SET_DATASET].set ? SET_DATASET : SET_DATA_DIR, "%s", why);
    if (s->batch > n_train)
      return oerr(err, errlen, &o, SET_BATCH, "batch = %d is larger than the training set of "
                  "dataset '%s' (%d samples)", s->batch, s->dataset, n_train);
  }
  return 0;
}

static void format_value(int ki, const cval *v, const run_spec *s, char *buf, size_t cap) {
  const keydef *k = &keys[ki];
  switch (k->type) {
    case SETTING_INT:
    case SETTING_BOOL: snprintf(buf, cap, "%lld", v->i); break;
    case SETTING_FLOAT: snprintf(buf, cap, "%g", v->f); break;
    case SETTING_THREADS: snprintf(buf, cap, "%d", s->threads); break;
    case SETTING_HIDDEN: {
      size_t len = 0;
      for (int i = 0; i < v->n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "x" : "", v->h[i]);
      break;
    }
    default: bfmt(buf, cap, "%s", v->s); break;
  }
}

/* ------------------------------------------------------------------------ */
/* Expansion.                                                                */

static void overlay(settings *dst, const settings *src) {
  for (int i = 0; i < N_KEYS; i++)
    if (src->k[i].set) dst->k[i] = src->k[i];
}

static void overlay_sweep(sweep *dst, const sweep *src) {
  for (int i = 0; i < src->n; i++) sweep_put(dst, &src->ax[i]);
}

#define MAX_RUNS 100000

typedef struct {
  char key[17];
  int idx;
} keyidx;

static int cmp_keyidx(const void *a, const void *b) {
  const keyidx *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int add_run(experiment *e, int *cap, const exp_run *r, char *err, size_t errlen) {
  if (e->n_runs == *cap) {
    int nc = *cap ? 2 * *cap : 64;
    exp_run *nr = realloc(e->runs, (size_t)nc * sizeof *nr);
    if (!nr) return psgd_err(err, errlen, "%s: out of memory expanding runs", e->path);
    e->runs = nr;
    *cap = nc;
  }
  e->runs[e->n_runs++] = *r;
  return 0;
}

/* Drops runs whose key an earlier run already has (e.g. threads "1x" and 2
 * on a 2-core machine), keeping the first. */
static int dedupe(experiment *e, char *err, size_t errlen) {
  if (e->n_runs < 2) return 0;
  keyidx *ki = malloc((size_t)e->n_runs * sizeof *ki);
  char *drop = calloc((size_t)e->n_runs, 1);
  if (!ki || !drop) {
    free(ki);
    free(drop);
    return psgd_err(err, errlen, "%s: out of memory", e->path);
  }
  for (int i = 0; i < e->n_runs; i++) {
    memcpy(ki[i].key, e->runs[i].key, 17);
    ki[i].idx = i;
  }
  qsort(ki, (size_t)e->n_runs, sizeof *ki, cmp_keyidx);
  for (int i = 1; i < e->n_runs; i++)
    if (!strcmp(ki[i].key, ki[i - 1].key)) drop[ki[i].idx] = 1;
  int w = 0;
  for (int i = 0; i < e->n_runs; i++)
    if (!drop[i]) e->runs[w++] = e->runs[i];
  e->n_duplicates = e->n_runs - w;
  e->n_runs = w;
  free(ki);
  free(drop);
  return 0;
}

static int expand(loader *L, experiment *e, const char *scale_name, int check_data) {
  settings fixed;
  sweep sw;
  variants vs = {0};
  memset(&fixed, 0, sizeof fixed);
  memset(&sw, 0, sizeof sw);
  int scale_found = 0, cap = 0;
  for (int i = 0; i < L->n_layers; i++) {
    layer *ly = L->layers[i];
    overlay(&fixed, &ly->s);
    overlay_sweep(&sw, &ly->sw);
    if (ly->vs.defined) vs = ly->vs;
    if (ly->has_description) snprintf(e->description, sizeof e->description, "%s", ly->description);
  }
  /* EXPERIMENTS.md: named scales override anything above, from every layer. */
  for (int i = 0; i < L->n_layers; i++) {
    layer *ly = L->layers[i];
    for (int j = 0; j < ly->n_scales; j++) {
      scale_def *sd = &ly->scales[j];
      if (strcmp(sd->name, scale_name) != 0) continue;
      scale_found = 1;
      overlay(&fixed, &sd->s);
      overlay_sweep(&sw, &sd->sw);
      if (sd->vs.defined) vs = sd->vs;
    }
  }
  if (!scale_found && strcmp(scale_name, "quick") != 0 && strcmp(scale_name, "paper") != 0) {
    char names[256] = "quick, paper";
    size_t len = strlen(names);
    suggest sg = {NULL, 99, scale_name};
    suggest_try(&sg, "quick");
    suggest_try(&sg, "paper");
    for (int i = 0; i < L->n_layers; i++)
      for (int j = 0; j < L->layers[i]->n_scales; j++) {
        const char *nm = L->layers[i]->scales[j].name;
        suggest_try(&sg, nm);
        if (strcmp(nm, "quick") && strcmp(nm, "paper") && len + strlen(nm) + 3 < sizeof names)
          len += (size_t)snprintf(names + len, sizeof names - len, ", %s", nm);
      }
    char dym[96];
    did_you_mean(dym, sizeof dym, sg.best);
    return psgd_err(L->err, L->errlen, "%s: unknown scale '%s' (known: %s)%s", e->path,
                    scale_name, names, dym);
  }

  int n_var = vs.defined ? vs.n : 1;
  for (int vi = 0; vi < n_var; vi++) {
    settings eff = fixed;
    sweep esw = sw;
    const variant *v = vs.defined ? &vs.v[vi] : NULL;
    if (v) {
      overlay(&eff, &v->s);
      overlay_sweep(&esw, &v->sw);
      /* a key the variant fixes is not swept for it */
      int w = 0;
      for (int a = 0; a < esw.n; a++)
        if (!v->s.k[esw.ax[a].key].set) esw.ax[w++] = esw.ax[a];
      esw.n = w;
    }
    long repeat = eff.k[SET_REPEAT].set ? (long)eff.k[SET_REPEAT].v.i : 1;
    double combos = 1;
    for (int a = 0; a < esw.n; a++) combos *= esw.ax[a].n;
    if (e->n_runs + combos * repeat > MAX_RUNS)
      return psgd_err(L->err, L->errlen, "%s: the experiment expands to more than %d runs",
                      e->path, MAX_RUNS);
    int idx[K_COUNT] = {0};
    for (;;) {
      settings cur = eff;
      for (int a = 0; a < esw.n; a++) {
        const axis *ax = &esw.ax[a];
        slot *sl = &cur.k[ax->key];
        sl->set = 1;
        sl->v = ax->vals[idx[a]];
        sl->file = ax->file;
        sl->line = ax->lines[idx[a]];
      }
      exp_run r;
      memset(&r, 0, sizeof r);
      r.variant = v ? vi : -1;
      if (build_spec(&cur, e->path, e->name, e->n_cores, check_data, &r.spec, L->err, L->errlen))
        return -1;
      size_t len = 0;
      for (int a = 0; a < esw.n && len < sizeof r.swept; a++) {
        char val[96];
        format_value(esw.ax[a].key, &esw.ax[a].vals[idx[a]], &r.spec, val, sizeof val);
        len += (size_t)snprintf(r.swept + len, sizeof r.swept - len, "%s%s=%s", len ? " " : "",
                                keys[esw.ax[a].key].key, val);
      }
      r.est_s = r.spec.stop_seconds > 0 ? r.spec.stop_seconds : r.spec.timeout_s;
      r.est_bound = !(r.spec.stop_seconds > 0) || r.spec.stop_epochs > 0 || r.spec.stop_steps > 0 ||
                    r.spec.target_acc > 0 || r.spec.epsilon > 0;
      uint64_t seed0 = r.spec.seed;
      for (long rep = 0; rep < repeat; rep++) {
        exp_run rr = r;
        /* EXPERIMENTS.md: repetition r gets seed + r (recorded in the spec) */
        rr.spec.seed = seed0 + (uint64_t)rep;
        rr.spec.repetition = (int)rep;
        if (repeat > 1 && len < sizeof rr.swept)
          snprintf(rr.swept + len, sizeof rr.swept - len, "%srep=%ld", len ? " " : "", rep);
        spec_key(&rr.spec, rr.key);
        if (add_run(e, &cap, &rr, L->err, L->errlen)) return -1;
      }
      int a = esw.n - 1;
      while (a >= 0 && ++idx[a] == esw.ax[a].n) idx[a--] = 0;
      if (a < 0) break;
    }
  }
  return dedupe(e, L->err, L->errlen);
}

experiment *config_load(const char *path, const config_opts *opts, char *err, size_t errlen) {
  config_opts dflt = {NULL, 0, 0};
  if (!opts) opts = &dflt;
  const char *scale = opts->scale && opts->scale[0] ? opts->scale : "quick";
  loader L = {0};
  L.err = err;
  L.errlen = errlen;
  g_n_data_cache = 0; /* files may have changed since the last load */
  L.n_cores = opts->n_cores > 0 ? opts->n_cores : config_n_cores();
  experiment *e = calloc(1, sizeof *e);
  if (!e) {
    psgd_err(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  if (strlen(path) >= sizeof e->path || strlen(scale) >= sizeof e->scale) {
    psgd_err(err, errlen, "%s: path or scale name too long", path);
    goto fail;
  }
  snprintf(e->path, sizeof e->path, "%s", path);
  snprintf(e->scale, sizeof e->scale, "%s", scale);
  e->n_cores = L.n_cores;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t stem = strlen(base);
  if (stem > 4 && !strcmp(base + stem - 4, ".cfg")) stem -= 4;
  if (stem >= sizeof e->name) stem = sizeof e->name - 1;
  snprintf(e->name, sizeof e->name, "%.*s", (int)stem, base);

  if (load_file(&L, path, NULL, 0)) goto fail;
  if (expand(&L, e, scale, opts->check_data)) goto fail;
  for (int i = 0; i < L.n_layers; i++) layer_free(L.layers[i]);
  free(L.layers);
  return e;
fail:
  for (int i = 0; i < L.n_layers; i++) layer_free(L.layers[i]);
  free(L.layers);
  config_free(e);
  return NULL;
}

void config_free(experiment *e) {
  if (!e) return;
  free(e->runs);
  free(e);
}

/* ------------------------------------------------------------------------ */
/* --only filters.                                                           */

/* Maps a filter name to the spec JSON name ("stop.seconds" -> "stop_seconds"). */
static const char *json_name(const char *name) {
  int ki = find_key(name);
  if (ki >= 0) return keys[ki].json;
  ki = setting_by_json(name);
  return ki >= 0 ? keys[ki].json : NULL;
}

static int is_index_filter(const char *f) {
  for (const char *p = f; *p; p++)
    if (!isdigit((unsigned char)*p) && *p != '-' && *p != ',') return 0;
  return *f != '\0';
}

int config_filter_check(const char *filter, char *err, size_t errlen) {
  if (is_index_filter(filter)) {
    const char *p = filter;
    while (*p) {
      char *end;
      long a = strtol(p, &end, 10), b = a;
      if (end == p) return psgd_err(err, errlen, "--only '%s': expected N, A-B or name=value", filter);
      if (*end == '-') {
        p = end + 1;
        b = strtol(p, &end, 10);
        if (end == p || b < a)
          return psgd_err(err, errlen, "--only '%s': bad index range", filter);
      }
      if (*end && *end != ',') return psgd_err(err, errlen, "--only '%s': bad index list", filter);
      p = *end ? end + 1 : end;
    }
    return 0;
  }
  const char *eq = strchr(filter, '=');
  if (!eq || eq == filter)
    return psgd_err(err, errlen, "--only '%s': expected N, A-B, or name=value (e.g. label=Async)",
                    filter);
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)(eq - filter), filter);
  if (!strcmp(name, "key")) return 0;
  if (json_name(name)) {
    /* a numeric field compares numerically: a value that is no number
     * would silently select nothing */
    int ki = find_key(name);
    for (int i = 0; ki < 0 && i < N_KEYS; i++)
      if (keys[i].json && !strcmp(keys[i].json, name)) ki = i;
    if (ki >= 0 && (keys[ki].type == SETTING_INT || keys[ki].type == SETTING_FLOAT ||
                    keys[ki].type == SETTING_THREADS)) {
      const char *v = eq + 1;
      char *end;
      (void)strtod(v, &end);
      if (!*v || *end)
        return psgd_err(err, errlen, "--only '%s': %s is a number, not '%s'", filter, name, v);
    }
    return 0;
  }
  suggest s = {NULL, 99, name};
  for (int i = 0; i < N_KEYS; i++)
    if (keys[i].key && keys[i].json) suggest_try(&s, keys[i].key);
  suggest_try(&s, "key");
  char dym[96];
  did_you_mean(dym, sizeof dym, s.best);
  return psgd_err(err, errlen, "--only '%s': unknown field '%s'%s", filter, name, dym);
}

/* Value text of JSON field `name` in json (strings without quotes). */
static int json_field(const char *json, const char *name, char *out, size_t cap) {
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\":", name);
  const char *p = strstr(json, pat);
  if (!p) return -1;
  p += strlen(pat);
  const char *e;
  if (*p == '"') {
    p++;
    e = strchr(p, '"');
  } else if (*p == '[') {
    p++;
    e = strchr(p, ']');
  } else {
    e = p + strcspn(p, ",}");
  }
  if (!e) return -1;
  snprintf(out, cap, "%.*s", (int)(e - p), p);
  return 0;
}

int config_run_matches(const experiment *e, int i, const char *filter) {
  if (i < 0 || i >= e->n_runs) return 0;
  if (is_index_filter(filter)) {
    const char *p = filter;
    while (*p) {
      char *end;
      long a = strtol(p, &end, 10), b = a;
      if (*end == '-') b = strtol(end + 1, &end, 10);
      if (i >= a && i <= b) return 1;
      p = *end ? end + 1 : end;
    }
    return 0;
  }
  const char *eq = strchr(filter, '=');
  if (!eq) return 0;
  char name[64], val[SPEC_PATH];
  snprintf(name, sizeof name, "%.*s", (int)(eq - filter), filter);
  const char *want = eq + 1;
  if (!strcmp(name, "key")) return !strcmp(e->runs[i].key, want);
  const char *jn = json_name(name);
  if (!jn) return 0;
  char json[8192];
  if (spec_to_json(&e->runs[i].spec, json, sizeof json) < 0) return 0;
  if (json_field(json, jn, val, sizeof val)) return 0;
  if (!strcmp(val, want)) return 1;
  /* numbers compare numerically ("lr=0.0050" matches 0.005); hidden as "128,128" or "128x128" */
  char *e1, *e2;
  double a = strtod(val, &e1), b = strtod(want, &e2);
  if (e1 != val && !*e1 && e2 != want && !*e2) return a == b;
  if (!strcmp(jn, "hidden")) {
    char w[SPEC_PATH];
    snprintf(w, sizeof w, "%s", want);
    for (char *q = w; *q; q++)
      if (*q == 'x') *q = ',';
    return !strcmp(val, w);
  }
  return 0;
}
