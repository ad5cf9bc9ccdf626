/* cfg_filter.c - `--only` filters: run indexes, or name=value on a spec
 * field (file keys and JSON names from the settings table). */
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
#include "common.h"

/* Maps a filter name to the spec JSON name ("stop.seconds" -> "stop_seconds"). */
static const char *json_name(const char *name) {
  int ki = cfg_find_key(name);
  if (ki >= 0) return setting_table[ki].json;
  ki = setting_by_json(name);
  return ki >= 0 ? setting_table[ki].json : NULL;
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
      if (end == p)
        return psgd_err(err, errlen, "--only '%s': expected N, A-B or name=value", filter);
      if (*end == '-') {
        p = end + 1;
        b = strtol(p, &end, 10);
        if (end == p || b < a) return psgd_err(err, errlen, "--only '%s': bad index range", filter);
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
    int ki = cfg_find_key(name);
    for (int i = 0; ki < 0 && i < SETTING_COUNT; i++)
      if (setting_table[i].json && !strcmp(setting_table[i].json, name)) ki = i;
    if (ki >= 0 &&
        (setting_table[ki].type == SETTING_INT || setting_table[ki].type == SETTING_FLOAT ||
         setting_table[ki].type == SETTING_THREADS)) {
      const char *v = eq + 1;
      char *end;
      (void)strtod(v, &end);
      if (!*v || *end)
        return psgd_err(err, errlen, "--only '%s': %s is a number, not '%s'", filter, name, v);
    }
    return 0;
  }
  cfg_suggest s = {NULL, 99, name};
  for (int i = 0; i < SETTING_COUNT; i++)
    if (setting_table[i].key && setting_table[i].json) cfg_suggest_try(&s, setting_table[i].key);
  cfg_suggest_try(&s, "key");
  char dym[96];
  cfg_did_you_mean(dym, sizeof dym, s.best);
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
