/* cfg_keys.c - the key schema of experiment files: the rows of the table of
 * run settings (setting.h) that have a file key, the groups (stop, eval),
 * and the message for an unknown key with did-you-mean over the keys
 * allowed where it stands. */
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

/* have a file key.                                                          */

/* Groups of keys ("stop = { ... }") and the structural top-level keys. */
static const char *const groups[] = {"stop", "eval"};
#define N_GROUPS 2

int cfg_find_key(const char *full) { return setting_by_key(full); }

int cfg_is_group(const char *name) {
  for (int g = 0; g < N_GROUPS; g++)
    if (!strcmp(groups[g], name)) return 1;
  return 0;
}

int cfg_unknown_key(const char *file, int line, const char *name, const char *group, scope sc,
                    int in_sweep, char *err, size_t errlen) {
  cfg_suggest s = {NULL, 99, name};
  char full[96], dym[128];
  static char cand[SETTING_COUNT][48];
  for (int i = 0; i < SETTING_COUNT; i++) {
    if (!cfg_is_file_key(i)) continue;
    const char *dot = strchr(setting_table[i].key, '.');
    if (in_sweep && !(setting_table[i].flags & SETTING_SWEEP)) continue;
    if (group) {
      size_t gl = strlen(group);
      if (!dot || strncmp(setting_table[i].key, group, gl) != 0 || setting_table[i].key[gl] != '.')
        continue;
      snprintf(cand[i], sizeof cand[i], "%s", dot + 1);
      cfg_suggest_try(&s, cand[i]);
    } else if (!dot) {
      cfg_suggest_try(&s, setting_table[i].key);
    }
  }
  if (!group) {
    for (int g = 0; g < N_GROUPS; g++) cfg_suggest_try(&s, groups[g]);
    if (!in_sweep) {
      cfg_suggest_try(&s, "sweep");
      if (sc != SC_VARIANT) cfg_suggest_try(&s, "variants");
      if (sc == SC_TOP) {
        cfg_suggest_try(&s, "scales");
        cfg_suggest_try(&s, "description");
      }
    }
  }
  cfg_did_you_mean(dym, sizeof dym, s.best);
  if (!s.best && !group) {
    /* a group member written at the top level ("seconds = 5;") */
    for (int i = 0; i < SETTING_COUNT; i++) {
      if (!cfg_is_file_key(i)) continue;
      const char *dot = strchr(setting_table[i].key, '.');
      if (dot && !strcmp(dot + 1, name)) {
        snprintf(dym, sizeof dym, " (it belongs in a group: %.*s = { %s = ...; })",
                 (int)(dot - setting_table[i].key), setting_table[i].key, name);
        break;
      }
    }
  }
  if (group) snprintf(full, sizeof full, "%s.%s", group, name);
  else snprintf(full, sizeof full, "%s", name);
  const char *where = in_sweep ? " in sweep" : sc == SC_VARIANT ? " in a variant" : "";
  if (!in_sweep && sc != SC_TOP &&
      (!strcmp(name, "scales") || !strcmp(name, "description") ||
       (sc == SC_VARIANT && !strcmp(name, "variants"))))
    return cfg_err(err, errlen, file, line, "'%s' is not allowed %s", name,
                   sc == SC_VARIANT ? "inside a variant" : "inside a scale");
  return cfg_err(err, errlen, file, line, "unknown key '%s'%s%s", full, where, dym);
}
