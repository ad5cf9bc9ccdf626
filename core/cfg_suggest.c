/* cfg_suggest.c - messages naming file:line, and did-you-mean: the closest
 * candidate within a small edit distance. */
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

/* snprintf that may truncate on purpose (messages, bounded names): keeps
 * GCC's -Wformat-truncation for the other calls meaningful. */
void cfg_fmt(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
}

int cfg_err(char *err, size_t errlen, const char *file, int line, const char *fmt, ...) {
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
      int c =
          d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      /* adjacent transposition counts as one edit ("ieght") */
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
        c = d[i - 2][j - 2] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

void cfg_suggest_try(cfg_suggest *s, const char *cand) {
  int d = lev(s->word, cand);
  int limit = strlen(s->word) <= 4 ? 1 : strlen(s->word) <= 8 ? 2 : 3;
  if (d <= limit && d < s->dist) {
    s->best = cand;
    s->dist = d;
  }
}

void cfg_did_you_mean(char *out, size_t cap, const char *best) {
  if (best) cfg_fmt(out, cap, " (did you mean '%s'?)", best);
  else out[0] = '\0';
}

/* Suggestion among '|'-separated choices. */
const char *cfg_suggest_choice(const char *word, const char *choices, char *buf, size_t cap) {
  cfg_suggest s = {NULL, 99, word};
  static char tok[16][32];
  int n = 0;
  const char *p = choices;
  while (*p && n < 16) {
    const char *e = strchr(p, '|');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    snprintf(tok[n], sizeof tok[n], "%.*s", (int)len, p);
    cfg_suggest_try(&s, tok[n]);
    n++;
    p += len + (e != NULL);
  }
  if (!s.best) return NULL;
  snprintf(buf, cap, "%s", s.best);
  return buf;
}
