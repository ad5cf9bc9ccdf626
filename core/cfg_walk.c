/* cfg_walk.c - walks a libconfig tree (top level, a scale, a variant) into
 * settings, sweep axes, variants and scales. */
#define _GNU_SOURCE
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void cfg_sweep_free(sweep *sw) {
  for (int i = 0; i < sw->n; i++) axis_free(&sw->ax[i]);
  sw->n = 0;
}

void cfg_sweep_put(sweep *sw, const axis *a) {
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
  int line = cfg_line_of(node, NULL);
  char full[96], what[128];
  snprintf(full, sizeof full, group ? "%s.%s" : "%s%s", group ? group : "", name);
  int ki = cfg_find_key(full);
  if (ki < 0 || !(setting_table[ki].flags & SETTING_SWEEP)) {
    if (ki >= 0) return cfg_err(L->err, L->errlen, file, line, "'%s' cannot be swept", full);
    return cfg_unknown_key(file, line, name, group, SC_TOP, 1, L->err, L->errlen);
  }
  snprintf(what, sizeof what, "sweep.%s", full);
  const setting *k = &setting_table[ki];
  int t = config_setting_type(node);
  if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
    return cfg_err(L->err, L->errlen, file, line,
                   "%s must be a list of values, e.g. %s = [1, 2, 4]; (got %s)", what, name,
                   cfg_type_word(t));
  if (k->type == SETTING_HIDDEN && t != CONFIG_TYPE_LIST)
    return cfg_err(L->err, L->errlen, file, line,
                   "%s must be a list of arrays, e.g. hidden = ([64], [128, 128]);", what);
  int n = config_setting_length(node);
  if (n == 0) return cfg_err(L->err, L->errlen, file, line, "%s is empty", what);
  axis a = {ki, n, calloc((size_t)n, sizeof(cval)), calloc((size_t)n, sizeof(int)), file, line};
  if (!a.vals || !a.lines) {
    axis_free(&a);
    return cfg_err(L->err, L->errlen, file, line, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(node, (unsigned)i);
    a.lines[i] = cfg_line_of(e, node);
    char ewhat[160];
    snprintf(ewhat, sizeof ewhat, "%s[%d]", what, i);
    if (cfg_parse_value(k, e, node, file, ewhat, &a.vals[i], L->err, L->errlen)) {
      axis_free(&a);
      return -1;
    }
  }
  for (int i = 0; i < sw->n; i++)
    if (sw->ax[i].key == ki) axis_free(&sw->ax[i]); /* cannot happen within one file */
  cfg_sweep_put(sw, &a);
  return 0;
}

static int parse_sweep(loader *L, const char *file, const config_setting_t *node, sweep *sw) {
  int line = cfg_line_of(node, NULL);
  if (config_setting_type(node) != CONFIG_TYPE_GROUP)
    return cfg_err(L->err, L->errlen, file, line,
                   "sweep must be a group: sweep = { y0 = [1, 2, 4]; batch = [16, 64]; };");
  int n = config_setting_length(node);
  for (int i = 0; i < n; i++) {
    const config_setting_t *c = config_setting_get_elem(node, (unsigned)i);
    const char *name = config_setting_name(c);
    if (cfg_is_group(name)) {
      if (config_setting_type(c) != CONFIG_TYPE_GROUP)
        return cfg_err(L->err, L->errlen, file, cfg_line_of(c, node),
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

void cfg_variants_free(variants *vs) {
  for (int i = 0; i < vs->n; i++) cfg_sweep_free(&vs->v[i].sw);
  free(vs->v);
  vs->v = NULL;
  vs->n = 0;
}

static int parse_variants(loader *L, const char *file, const config_setting_t *node, variants *vs) {
  int line = cfg_line_of(node, NULL);
  if (config_setting_type(node) != CONFIG_TYPE_LIST)
    return cfg_err(L->err, L->errlen, file, line,
                   "variants must be a list of groups: variants = ( { label = \"A\"; ... }, "
                   "{ ... } );");
  int n = config_setting_length(node);
  if (n == 0) return cfg_err(L->err, L->errlen, file, line, "variants is empty");
  cfg_variants_free(vs);
  vs->v = calloc((size_t)n, sizeof *vs->v);
  if (!vs->v) return cfg_err(L->err, L->errlen, file, line, "out of memory");
  vs->defined = 1;
  vs->file = file;
  vs->line = line;
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(node, (unsigned)i);
    if (config_setting_type(e) != CONFIG_TYPE_GROUP)
      return cfg_err(L->err, L->errlen, file, cfg_line_of(e, node),
                     "variant %d must be a group { label = \"...\"; ... }, not %s", i + 1,
                     cfg_type_word(config_setting_type(e)));
    variant *v = &vs->v[vs->n++];
    v->file = file;
    v->line = cfg_line_of(e, node);
    if (cfg_walk(L, file, e, SC_VARIANT, &v->s, &v->sw, NULL, NULL)) return -1;
    if (!v->s.k[SET_LABEL].set) continue;
    for (int j = 0; j + 1 < vs->n; j++)
      if (vs->v[j].s.k[SET_LABEL].set &&
          !strcmp(vs->v[j].s.k[SET_LABEL].v.s, v->s.k[SET_LABEL].v.s))
        return cfg_err(L->err, L->errlen, file, v->s.k[SET_LABEL].line,
                       "duplicate variant label '%s' (also at line %d)", v->s.k[SET_LABEL].v.s,
                       vs->v[j].s.k[SET_LABEL].line);
  }
  return 0;
}

static int parse_scales(loader *L, const char *file, const config_setting_t *node, layer *ly) {
  int line = cfg_line_of(node, NULL);
  if (config_setting_type(node) != CONFIG_TYPE_GROUP)
    return cfg_err(L->err, L->errlen, file, line,
                   "scales must be a group: scales = { quick = { ... }; paper = { ... }; };");
  int n = config_setting_length(node);
  ly->scales = calloc((size_t)n + 1, sizeof *ly->scales);
  if (!ly->scales) return cfg_err(L->err, L->errlen, file, line, "out of memory");
  for (int i = 0; i < n; i++) {
    const config_setting_t *c = config_setting_get_elem(node, (unsigned)i);
    const char *name = config_setting_name(c);
    if (config_setting_type(c) != CONFIG_TYPE_GROUP)
      return cfg_err(L->err, L->errlen, file, cfg_line_of(c, node),
                     "scales.%s must be a group of settings, not %s", name,
                     cfg_type_word(config_setting_type(c)));
    if (strlen(name) >= SPEC_STR)
      return cfg_err(L->err, L->errlen, file, cfg_line_of(c, node), "scale name '%s' is too long",
                     name);
    scale_def *sd = &ly->scales[ly->n_scales++];
    snprintf(sd->name, sizeof sd->name, "%s", name);
    if (cfg_walk(L, file, c, SC_SCALE, &sd->s, &sd->sw, &sd->vs, NULL)) return -1;
  }
  return 0;
}

/* Walks the settings of one group (top level, a scale or a variant). */
int cfg_walk(loader *L, const char *file, const config_setting_t *grp, scope sc, settings *st,
             sweep *sw, variants *vs, layer *ly) {
  int n = config_setting_length(grp);
  for (int i = 0; i < n; i++) {
    const config_setting_t *c = config_setting_get_elem(grp, (unsigned)i);
    const char *name = config_setting_name(c);
    int line = cfg_line_of(c, grp);
    if (!name) return cfg_err(L->err, L->errlen, file, line, "unnamed setting");
    if (!strcmp(name, "sweep")) {
      if (parse_sweep(L, file, c, sw)) return -1;
    } else if (!strcmp(name, "variants") && sc != SC_VARIANT) {
      if (parse_variants(L, file, c, vs)) return -1;
    } else if (!strcmp(name, "scales") && sc == SC_TOP) {
      if (parse_scales(L, file, c, ly)) return -1;
    } else if (!strcmp(name, "description") && sc == SC_TOP) {
      if (config_setting_type(c) != CONFIG_TYPE_STRING)
        return cfg_err(L->err, L->errlen, file, line, "description must be a string, not %s",
                       cfg_type_word(config_setting_type(c)));
      snprintf(ly->description, sizeof ly->description, "%s", config_setting_get_string(c));
      ly->has_description = 1;
    } else if (cfg_is_group(name)) {
      if (config_setting_type(c) != CONFIG_TYPE_GROUP)
        return cfg_err(L->err, L->errlen, file, line,
                       "%s must be a group: %s = { ... = ...; };, not %s", name, name,
                       cfg_type_word(config_setting_type(c)));
      int m = config_setting_length(c);
      for (int j = 0; j < m; j++) {
        const config_setting_t *g = config_setting_get_elem(c, (unsigned)j);
        char full[96];
        snprintf(full, sizeof full, "%s.%s", name, config_setting_name(g));
        int ki = cfg_find_key(full);
        int gl = cfg_line_of(g, c);
        if (ki < 0)
          return cfg_unknown_key(file, gl, config_setting_name(g), name, sc, 0, L->err, L->errlen);
        cval v;
        if (cfg_parse_value(&setting_table[ki], g, c, file, full, &v, L->err, L->errlen)) return -1;
        put_slot(st, ki, &v, file, gl);
      }
    } else {
      int ki = cfg_find_key(name);
      if (ki < 0) return cfg_unknown_key(file, line, name, NULL, sc, 0, L->err, L->errlen);
      cval v;
      if (cfg_parse_value(&setting_table[ki], c, grp, file, name, &v, L->err, L->errlen)) return -1;
      put_slot(st, ki, &v, file, line);
    }
  }
  return 0;
}
