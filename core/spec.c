/* spec.c - defaults, canonical JSON and the stable run key of a run spec,
 * all from the table of run settings (setting.h). */
#define _POSIX_C_SOURCE 200809L
#include "spec.h"

#include "setting.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void spec_default(run_spec *s) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < SETTING_COUNT; i++) setting_put_default(&setting_table[i], s);
}

/* JSON writer over a fixed buffer: remembers overflow instead of failing at
 * every call. Strings in a spec are identifiers and paths; quotes, backslashes
 * and control characters are escaped anyway. */
typedef struct {
  char *buf;
  size_t cap, len;
  int overflow;
} jw;

static void jw_raw(jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jw_raw(jw *w, const char *fmt, ...) {
  if (w->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= w->cap - w->len) w->overflow = 1;
  else w->len += (size_t)n;
}

static void jw_key(jw *w, const char *k) { jw_raw(w, "%s\"%s\":", w->len > 1 ? "," : "", k); }

static void jw_str(jw *w, const char *k, const char *v) {
  jw_key(w, k);
  jw_raw(w, "\"");
  for (const char *p = v; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') jw_raw(w, "\\%c", c);
    else if (c < 0x20) jw_raw(w, "\\u%04x", c);
    else jw_raw(w, "%c", c);
  }
  jw_raw(w, "\"");
}

static void jw_int(jw *w, const char *k, long long v) {
  jw_key(w, k);
  jw_raw(w, "%lld", v);
}

static void jw_num(jw *w, const char *k, double v) {
  jw_key(w, k);
  jw_raw(w, "%.17g", v);
}

int spec_to_json(const run_spec *s, char *buf, size_t cap) {
  if (cap < 3) return -1;
  jw w = {buf, cap, 0, 0};
  int virtual_clock = !strcmp(s->clock, "virtual");
  jw_raw(&w, "{");
  /* the table's order and names (setting.h); a field in the JSON changes
   * the run key */
  for (int i = 0; i < SETTING_COUNT; i++) {
    const setting *st = &setting_table[i];
    if (!st->json || st->fk == FK_NONE) continue;
    const char *f = (const char *)s + st->off;
    if ((st->flags & SETTING_JSON_IF_VIRTUAL) && !virtual_clock) continue;
    if ((st->flags & SETTING_JSON_IF_SET) && !*(const int *)f) continue;
    switch (st->fk) {
      case FK_STR: jw_str(&w, st->json, f); break;
      case FK_INT: jw_int(&w, st->json, *(const int *)f); break;
      case FK_LONG: jw_int(&w, st->json, *(const long *)f); break;
      case FK_U64:
        jw_key(&w, st->json);
        jw_raw(&w, "%llu", (unsigned long long)*(const uint64_t *)f);
        break;
      /* %.17g round-trips a double exactly, so equal specs hash equally. */
      case FK_DOUBLE: jw_num(&w, st->json, *(const double *)f); break;
      case FK_HIDDEN:
        jw_key(&w, st->json);
        jw_raw(&w, "[");
        for (int k = 0; k < s->n_hidden && k < 8; k++) jw_raw(&w, "%s%d", k ? "," : "", s->hidden[k]);
        jw_raw(&w, "]");
        break;
      case FK_NONE: break;
    }
  }
  jw_raw(&w, "}");
  return w.overflow ? -1 : (int)w.len;
}

void spec_key(const run_spec *s, char key[17]) {
  char buf[8192];
  int n = spec_to_json(s, buf, sizeof buf);
  if (n < 0) n = (int)strnlen(buf, sizeof buf);
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
  for (int i = 0; i < n; i++) {
    h ^= (unsigned char)buf[i];
    h *= 0x100000001b3ull;
  }
  snprintf(key, 17, "%016llx", (unsigned long long)h);
}
