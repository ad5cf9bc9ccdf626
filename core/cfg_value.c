/* cfg_value.c - one value of an experiment-file key from a libconfig node:
 * type, range and allowed names from the settings table, placements,
 * topologies, thread counts "<f>x", hidden layer arrays. */
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
#include <sys/stat.h>
#include <unistd.h>

int cfg_line_of(const config_setting_t *node, const config_setting_t *fallback) {
  int l = node ? (int)config_setting_source_line(node) : 0;
  if (l <= 0 && fallback) l = (int)config_setting_source_line(fallback);
  return l;
}

const char *cfg_type_word(int t) {
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

/* Parses "list:0,2,4": 0 or -1 with a message in why. */
int cfg_parse_pu_list(const char *s, int *pus, int cap, int *n, char *why, size_t whylen) {
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
int cfg_parse_value(const setting *k, const config_setting_t *node, const config_setting_t *parent,
                    const char *file, const char *what, cval *out, char *err, size_t errlen) {
  int line = cfg_line_of(node, parent);
  int t = config_setting_type(node);
  char rng[96], sug[64], dym[96];
  memset(out, 0, sizeof *out);
  switch (k->type) {
    case SETTING_STR:
    case SETTING_PLACEMENT:
    case SETTING_TOPOLOGY: {
      if (t != CONFIG_TYPE_STRING)
        return cfg_err(err, errlen, file, line, "%s must be a string, not %s", what,
                       cfg_type_word(t));
      const char *s = config_setting_get_string(node);
      size_t cap = k->size ? k->size : sizeof out->s;
      if (strlen(s) >= cap)
        return cfg_err(err, errlen, file, line, "%s is longer than %zu characters", what, cap - 1);
      snprintf(out->s, sizeof out->s, "%s", s);
      char choices[512];
      setting_choices(k, choices, sizeof choices);
      if (k->type == SETTING_STR && choices[0] && !setting_in_choices(s, choices)) {
        cfg_did_you_mean(dym, sizeof dym, cfg_suggest_choice(s, choices, sug, sizeof sug));
        return cfg_err(err, errlen, file, line, "%s '%s' is not one of %s%s", what, s, choices,
                       dym);
      }
      if (k->type == SETTING_PLACEMENT) {
        if (!strncmp(s, "list:", 5)) {
          int pus[1024], n;
          char why[160];
          if (cfg_parse_pu_list(s, pus, 1024, &n, why, sizeof why))
            return cfg_err(err, errlen, file, line, "%s '%s' %s", what, s, why);
        } else if (!strncmp(s, "numa:", 5) || !strncmp(s, "spread:", 7)) {
          const char *a = strchr(s, ':') + 1;
          char *end;
          errno = 0;
          long kn = strtol(a, &end, 10);
          if (end == a || *end || errno || kn < 2 || kn > 4096)
            return cfg_err(err, errlen, file, line,
                           "%s '%s': K in numa:K must be a number of NUMA nodes >= 2", what, s);
        } else if (!setting_in_choices(s, "os|uma|compact|numa|spread")) {
          cfg_did_you_mean(dym, sizeof dym,
                           cfg_suggest_choice(s, "os|uma|compact|numa|spread", sug, sizeof sug));
          return cfg_err(err, errlen, file, line,
                         "%s '%s' is not one of os|uma|compact|numa|spread|numa:K|list:<PUs>%s",
                         what, s, dym);
        }
      }
      if (k->type == SETTING_TOPOLOGY && s[0] && strncmp(s, "synthetic:", 10) != 0) {
        struct stat tst;
        if (stat(s, &tst) == 0 && !S_ISREG(tst.st_mode))
          return cfg_err(err, errlen, file, line, "%s '%s': not a regular file (%s): refused", what,
                         s,
                         S_ISDIR(tst.st_mode)    ? "a directory"
                         : S_ISFIFO(tst.st_mode) ? "a FIFO"
                                                 : "a device");
        if (access(s, R_OK) != 0)
          return cfg_err(err, errlen, file, line,
                         "%s '%s': cannot read the XML file (%s); use \"\", \"synthetic:...\" or a "
                         "readable lstopo XML path",
                         what, s, strerror(errno));
      }
      if (k->type == SETTING_TOPOLOGY && !strncmp(s, "synthetic:", 10) && !s[10])
        return cfg_err(err, errlen, file, line,
                       "%s 'synthetic:' needs a description, e.g. "
                       "\"synthetic:pack:2 numa:1 core:4 pu:1\"",
                       what);
      return 0;
    }
    case SETTING_INT: {
      if (t == CONFIG_TYPE_FLOAT)
        return cfg_err(err, errlen, file, line, "%s must be an integer, not %g", what,
                       config_setting_get_float(node));
      if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return cfg_err(err, errlen, file, line, "%s must be an integer, not %s", what,
                       cfg_type_word(t));
      long long v = config_setting_get_int64(node);
      if (!setting_in_range(k, (double)v)) {
        setting_range_text(k, rng, sizeof rng);
        return cfg_err(err, errlen, file, line, "%s = %lld is out of range %s", what, v, rng);
      }
      out->i = v;
      return 0;
    }
    case SETTING_FLOAT: {
      if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT)
        return cfg_err(err, errlen, file, line, "%s must be a number, not %s", what,
                       cfg_type_word(t));
      double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(node)
                                        : (double)config_setting_get_int64(node);
      if (!isfinite(v) || !setting_in_range(k, v)) {
        setting_range_text(k, rng, sizeof rng);
        return cfg_err(err, errlen, file, line, "%s = %g is out of range %s", what, v, rng);
      }
      out->f = v;
      return 0;
    }
    case SETTING_BOOL:
      if (t != CONFIG_TYPE_BOOL)
        return cfg_err(err, errlen, file, line, "%s must be true or false, not %s", what,
                       cfg_type_word(t));
      out->i = config_setting_get_bool(node);
      return 0;
    case SETTING_THREADS: {
      setting_range_text(k, rng, sizeof rng);
      if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(node);
        if (!setting_in_range(k, (double)v))
          return cfg_err(err, errlen, file, line, "%s = %lld is out of range %s", what, v, rng);
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
            return cfg_err(err, errlen, file, line,
                           "%s = \"%s\": the factor must be in (0, 256] times the cores", what, s);
          out->rel = 1;
          out->f = f;
          return 0;
        }
        if (end != s && errno == 0 && *end == '\0' && f == floor(f)) {
          if (!setting_in_range(k, f))
            return cfg_err(err, errlen, file, line, "%s = %s is out of range %s", what, s, rng);
          out->i = (long long)f;
          return 0;
        }
        return cfg_err(
            err, errlen, file, line,
            "%s = \"%s\" is neither a thread count nor \"<f>x\" (f times the cores, e.g. "
            "\"0.5x\")",
            what, s);
      }
      return cfg_err(err, errlen, file, line, "%s must be an integer or a string \"<f>x\", not %s",
                     what, cfg_type_word(t));
    }
    case SETTING_HIDDEN: {
      if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return cfg_err(err, errlen, file, line,
                       "%s must be an array of layer sizes like [128, 128], "
                       "not %s",
                       what, cfg_type_word(t));
      int n = config_setting_length(node);
      if (n < 1 || n > 8)
        return cfg_err(err, errlen, file, line, "%s must have 1 to 8 layer sizes, not %d", what, n);
      out->n = n;
      for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(node, (unsigned)i);
        int et = config_setting_type(e);
        if (et != CONFIG_TYPE_INT && et != CONFIG_TYPE_INT64)
          return cfg_err(err, errlen, file, line, "%s[%d] must be an integer, not %s", what, i,
                         cfg_type_word(et));
        long long v = config_setting_get_int64(e);
        if (!setting_in_range(k, (double)v)) {
          setting_range_text(k, rng, sizeof rng);
          return cfg_err(err, errlen, file, line, "%s[%d] = %lld is out of range %s", what, i, v,
                         rng);
        }
        out->h[i] = (int)v;
      }
      return 0;
    }
  }
  return cfg_err(err, errlen, file, line, "%s: internal error (key type)", what);
}

void cfg_format_value(int ki, const cval *v, const run_spec *s, char *buf, size_t cap) {
  const setting *k = &setting_table[ki];
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
    default: cfg_fmt(buf, cap, "%s", v->s); break;
  }
}
