/* cfg_include.c - reading an experiment file and its @include lines into
 * layers (config.h states the precedence rules).
 *
 * Why @include is handled here and not by libconfig: libconfig 1.5 includes
 * textually, so a file could never override a setting of base.cfg (a setting
 * defined twice is a parse error), and it resolves include paths against the
 * current directory. Instead each file is one layer: its @include lines are
 * blanked out (keeping line numbers), the included files are read as lower
 * layers (path relative to the including file's folder), and settings of a
 * higher layer replace those of a lower one. */
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
#include "common.h"

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
          return cfg_err(err, errlen, file, line,
                         "@include must be at the top level, not inside "
                         "a group or list");
        while (*r == ' ' || *r == '\t') r++;
        char *end = *r == '"' ? strchr(r + 1, '"') : NULL;
        char *nl = strchr(r, '\n');
        if (!end || (nl && end > nl) || end == r + 1)
          return cfg_err(err, errlen, file, line,
                         "@include needs a quoted file name: @include "
                         "\"base.cfg\"");
        if (*n_inc == cap) return cfg_err(err, errlen, file, line, "too many @include lines");
        if ((size_t)(end - r - 1) >= SPEC_PATH)
          return cfg_err(err, errlen, file, line, "@include file name too long");
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
      case NORMAL: break;
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
      bad =
          over64 ||
          (hex ? 0 : v > (neg ? (unsigned long long)INT64_MAX + 1 : (unsigned long long)INT64_MAX));
    else bad = over64 || (hex ? v > 0x7fffffffull : v > (neg ? 2147483648ull : 2147483647ull));
    int len = (int)(q - p);
    if (bad && suffix_l)
      return cfg_err(err, errlen, file, line, "integer %s%.*sL does not fit in 64 bits",
                     neg ? "-" : "", len, p);
    if (bad)
      return cfg_err(
          err, errlen, file, line,
          "integer %s%.*s does not fit in 32 bits (libconfig reads an integer without an "
          "L suffix as 32-bit and would wrap it): write %s%.*sL for a 64-bit value",
          neg ? "-" : "", len, p, neg ? "-" : "", len, p);
    p = q - 1 + suffix_l;
  }
  return 0;
}

void cfg_layer_free(layer *ly) {
  if (!ly) return;
  cfg_sweep_free(&ly->sw);
  cfg_variants_free(&ly->vs);
  for (int i = 0; i < ly->n_scales; i++) {
    cfg_sweep_free(&ly->scales[i].sw);
    cfg_variants_free(&ly->scales[i].vs);
  }
  free(ly->scales);
  free(ly);
}

/* Reads `path` and (first) everything it includes, appending layers in
 * precedence order. from_file/from_line: the @include that named it. */
int cfg_load_file(loader *L, const char *path, const char *from_file, int from_line) {
  char real[PATH_MAX];
  if (!realpath(path, real)) {
    if (from_file)
      return cfg_err(L->err, L->errlen, from_file, from_line, "@include: cannot open '%s': %s",
                     path, strerror(errno));
    return psgd_err(L->err, L->errlen, "%s: cannot open: %s", path, strerror(errno));
  }
  for (int i = 0; i < L->depth; i++)
    if (!strcmp(L->stack[i], real))
      return cfg_err(L->err, L->errlen, from_file, from_line,
                     "@include cycle: '%s' includes itself", path);
  for (int i = 0; i < L->n_layers; i++)
    if (!strcmp(L->layers[i]->real, real)) return 0; /* already a lower layer: include once */
  if (L->depth == 16)
    return cfg_err(L->err, L->errlen, from_file, from_line, "@include nested more than 16 deep");
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
      return cfg_err(L->err, L->errlen, from_file, from_line, "@include '%s': %s", path, bad);
    return psgd_err(L->err, L->errlen, "%s: %s", path, bad);
  }
  size_t len;
  char *text = read_all(path, &len);
  if (!text) {
    if (from_file)
      return cfg_err(L->err, L->errlen, from_file, from_line, "@include: cannot read '%s': %s",
                     path, strerror(errno));
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
    if (cfg_load_file(L, child, ly->file, inc[i].line)) {
      L->depth--;
      goto out_with_layer;
    }
  }
  L->depth--;

  config_init(&cfg);
  cfg_live = 1;
  config_set_options(&cfg, CONFIG_OPTION_AUTOCONVERT);
  if (config_read_string(&cfg, text) != CONFIG_TRUE) {
    cfg_err(L->err, L->errlen, ly->file, config_error_line(&cfg), "%s",
            config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error");
    goto out_with_layer;
  }
  if (cfg_walk(L, ly->file, config_root_setting(&cfg), SC_TOP, &ly->s, &ly->sw, &ly->vs, ly))
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
  cfg_layer_free(ly);
  if (cfg_live) config_destroy(&cfg);
out_with_text:
  free(text);
  return rc;
}
