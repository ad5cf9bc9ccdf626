/* rec_steps.c - chunk codec of step records and the table-valued function
 * psgd_steps(data) that decodes a chunk in SQL (format: rec_steps.h).
 *
 * Built twice: into psgd (linked against libsqlite3), and with
 * -DREC_STEPS_LOADABLE as the SQLite loadable extension build/psgd_steps.so
 * for the sqlite3 shell (then the API comes through sqlite3ext.h and this file
 * uses nothing else of psgd). */
#define _POSIX_C_SOURCE 200809L
#include "rec_steps.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifdef REC_STEPS_LOADABLE
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#else
#include <pthread.h>
#include <sqlite3.h>
#endif

#define FORMAT 1   /* the columns as they are */
#define FORMAT_Z 2 /* varint length of a FORMAT chunk, then that chunk deflated (zlib) */
/* Deflate only chunks of at least this many records, and keep the result
 * only if it saves at least 1/16 of the bytes (decoding then costs more). */
#define Z_MIN_RECORDS 64
#define NCOL 14
enum { M_VARINT = 1, M_RUNS = 2, M_BITS = 3, M_U32 = 4 };

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static uint64_t zz(uint64_t r) { return (r << 1) ^ (uint64_t)-(int64_t)(r >> 63); }
static uint64_t unzz(uint64_t z) { return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1); }

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Reads a varint at *pos (< end); -1 if truncated or longer than 10 bytes. */
static int get_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*pos >= end) return -1;
    uint8_t b = p[(*pos)++];
    if (shift == 63 && b > 1) return -1;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* The raw residual of column c of record i (p = the previous record, or
 * zeros). Column 13 (loss) is handled apart. */
static uint64_t residual(int c, const step_rec *s, const step_rec *p) {
  switch (c) {
  case 0: return s->step - p->step;
  case 1: return s->finish - s->step;
  case 2: return (uint64_t)(int64_t)s->worker - (uint64_t)(int64_t)p->worker;
  case 3: return (uint64_t)(int64_t)s->pu - (uint64_t)(int64_t)p->pu;
  case 4: return s->t_start_ns - p->t_end_ns;
  case 5: return s->t_end_ns - s->t_start_ns;
  case 6: return s->version_read - p->version_read;
  case 7: return s->version_apply - s->version_read;
  case 8: return (uint64_t)s->staleness - (s->version_apply - s->version_read);
  case 9: return s->accepted;
  case 10: return s->interval - p->interval;
  case 11: return (uint64_t)s->y - (uint64_t)p->y;
  default: return (uint64_t)s->m - (uint64_t)p->m;
  }
}

size_t rec_steps_bound(size_t n) { return 16 + NCOL * 11 + n * ((NCOL - 1) * 10 + 4); }

static size_t encode_plain(const step_rec *v, size_t n, uint8_t *out) {
  static const step_rec zero;
  size_t o = 0;
  out[o++] = FORMAT;
  o += put_varint(out + o, n);
  for (int c = 0; c < NCOL - 1; c++) {
    /* Sizes of the three encodings, then the smallest one written. */
    size_t s_var = 0, s_runs = 0;
    int bits_ok = 1;
    for (size_t i = 0; i < n;) {
      uint64_t r = residual(c, &v[i], i ? &v[i - 1] : &zero);
      size_t j = i + 1;
      while (j < n && residual(c, &v[j], &v[j - 1]) == r) j++;
      size_t lz = varint_len(zz(r));
      s_var += lz * (j - i);
      s_runs += lz + varint_len(j - i - 1);
      if (r > 1) bits_ok = 0;
      i = j;
    }
    size_t s_bits = bits_ok ? (n + 7) / 8 : SIZE_MAX;
    int mode = M_VARINT;
    size_t len = s_var;
    if (s_runs < len) mode = M_RUNS, len = s_runs;
    if (s_bits < len) mode = M_BITS, len = s_bits;
    out[o++] = (uint8_t)mode;
    o += put_varint(out + o, len);
    if (mode == M_BITS) memset(out + o, 0, len);
    for (size_t i = 0; i < n;) {
      uint64_t r = residual(c, &v[i], i ? &v[i - 1] : &zero);
      if (mode == M_VARINT) {
        o += put_varint(out + o, zz(r));
        i++;
      } else if (mode == M_BITS) {
        out[o + i / 8] |= (uint8_t)(r << (i % 8));
        i++;
      } else {
        size_t j = i + 1;
        while (j < n && residual(c, &v[j], &v[j - 1]) == r) j++;
        o += put_varint(out + o, zz(r));
        o += put_varint(out + o, j - i - 1);
        i = j;
      }
    }
    if (mode == M_BITS) o += len;
  }
  out[o++] = M_U32;
  o += put_varint(out + o, 4 * n);
  for (size_t i = 0; i < n; i++) {
    uint32_t b;
    memcpy(&b, &v[i].loss, 4);
    for (int k = 0; k < 4; k++) out[o++] = (uint8_t)(b >> (8 * k));
  }
  return o;
}

size_t rec_steps_encode(const step_rec *v, size_t n, uint8_t *out) {
  size_t len = encode_plain(v, n, out);
  if (n < Z_MIN_RECORDS) return len;
  uLongf zlen = compressBound((uLong)len);
  uint8_t *z = malloc(zlen);
  if (!z) return len; /* the plain chunk is as valid */
  size_t o = 0;
  if (compress2(z, &zlen, out, (uLong)len, Z_DEFAULT_COMPRESSION) == Z_OK &&
      1 + varint_len(len) + zlen <= len - len / 16) {
    out[o++] = FORMAT_Z;
    o += put_varint(out + o, len);
    memcpy(out + o, z, zlen);
    o += zlen;
  }
  free(z);
  return o ? o : len;
}

/* A column's byte range and mode. */
typedef struct {
  int mode;
  size_t pos, end;
} col_range;

/* The n residuals of one column into r; -1 unless its bytes hold exactly n. */
static int read_col(const col_range *c, const uint8_t *d, size_t n, uint64_t *r) {
  size_t pos = c->pos;
  if (c->mode == M_VARINT) {
    for (size_t i = 0; i < n; i++) {
      uint64_t z;
      if (pos < c->end && d[pos] < 0x80) z = d[pos++]; /* the common 1-byte case */
      else if (get_varint(d, c->end, &pos, &z)) return -1;
      r[i] = unzz(z);
    }
  } else if (c->mode == M_RUNS) {
    size_t i = 0;
    while (i < n) {
      uint64_t z, k;
      if (get_varint(d, c->end, &pos, &z) || get_varint(d, c->end, &pos, &k) || k >= n - i)
        return -1;
      uint64_t v = unzz(z);
      for (size_t stop = i + (size_t)k + 1; i < stop; i++) r[i] = v;
    }
  } else if (c->mode == M_BITS) {
    for (size_t i = 0; i < n; i++) r[i] = d[pos + i / 8] >> (i % 8) & 1;
    pos = c->end;
  } else {
    return -1;
  }
  return pos == c->end ? 0 : -1;
}

static int decode_plain(const uint8_t *d, size_t len, step_rec *out, size_t *np, char *err,
                        size_t errlen);

int rec_steps_decode(const uint8_t *d, size_t len, step_rec *out, size_t *np, char *err,
                     size_t errlen) {
  if (len < 1 || d[0] != FORMAT_Z) return decode_plain(d, len, out, np, err, errlen);
  size_t pos = 1;
  uint64_t plen;
  if (get_varint(d, len, &pos, &plen) || plen < 2 || plen > rec_steps_bound(REC_STEPS_CHUNK))
    return fail(err, errlen, "steps chunk: bad deflated length");
  uint8_t *p = malloc((size_t)plen);
  if (!p) return fail(err, errlen, "steps chunk: out of memory");
  uLongf got = (uLongf)plen;
  uLong used = (uLong)(len - pos);
  int zrc = uncompress2(p, &got, d + pos, &used);
  int rc;
  if (zrc != Z_OK || got != plen || used != len - pos)
    rc = fail(err, errlen, "steps chunk: deflated data is damaged (zlib %d)", zrc);
  else if (p[0] != FORMAT)
    rc = fail(err, errlen, "steps chunk: deflated chunk of format %d", p[0]);
  else
    rc = decode_plain(p, (size_t)plen, out, np, err, errlen);
  free(p);
  return rc;
}

static int decode_plain(const uint8_t *d, size_t len, step_rec *out, size_t *np, char *err,
                        size_t errlen) {
  size_t pos = 0;
  uint64_t n64;
  if (len < 1 || d[pos++] != FORMAT)
    return fail(err, errlen, "steps chunk: unknown format %d", len ? d[0] : -1);
  if (get_varint(d, len, &pos, &n64) || n64 < 1 || n64 > REC_STEPS_CHUNK)
    return fail(err, errlen, "steps chunk: bad record count");
  size_t n = (size_t)n64;
  col_range col[NCOL];
  for (int c = 0; c < NCOL; c++) {
    uint64_t clen;
    if (pos >= len) return fail(err, errlen, "steps chunk: truncated at column %d", c);
    col[c].mode = d[pos++];
    if (get_varint(d, len, &pos, &clen) || clen > len - pos)
      return fail(err, errlen, "steps chunk: column %d: bad length", c);
    col[c].pos = pos;
    col[c].end = pos + (size_t)clen;
    pos = col[c].end;
    int ok = c == NCOL - 1 ? col[c].mode == M_U32 && clen == 4 * (uint64_t)n
                           : col[c].mode == M_VARINT || col[c].mode == M_RUNS ||
                                 (col[c].mode == M_BITS && clen == (n + 7) / 8);
    if (!ok)
      return fail(err, errlen, "steps chunk: column %d: mode %d with %llu bytes", c, col[c].mode,
                  (unsigned long long)clen);
  }
  if (pos != len) return fail(err, errlen, "steps chunk: %zu bytes after the last column", len - pos);
  /* Column by column: every residual refers to its own column's previous
   * value or to earlier columns of its record, except t_start (the previous
   * record's t_end), decoded together with t_end. */
  uint64_t r[REC_STEPS_CHUNK], r4[REC_STEPS_CHUNK];
  memset(out, 0, sizeof *out * n);
  for (int c = 0; c < NCOL - 1; c++) {
    if (read_col(&col[c], d, n, c == 4 ? r4 : r))
      return fail(err, errlen, "steps chunk: column %d: bad data", c);
    uint64_t u = 0;
    int64_t x = 0;
    size_t i = 0;
    switch (c) {
    case 0: for (; i < n; i++) out[i].step = u += r[i]; break;
    case 1: for (; i < n; i++) out[i].finish = out[i].step + r[i]; break;
    case 2:
      for (; i < n; i++) {
        x = (int64_t)((uint64_t)x + r[i]);
        if (x < INT32_MIN || x > INT32_MAX) break;
        out[i].worker = (int32_t)x;
      }
      break;
    case 3:
      for (; i < n; i++) {
        x = (int64_t)((uint64_t)x + r[i]);
        if (x < INT32_MIN || x > INT32_MAX) break;
        out[i].pu = (int32_t)x;
      }
      break;
    case 4: i = n; break;
    case 5:
      for (; i < n; i++) {
        out[i].t_start_ns = u + r4[i];
        out[i].t_end_ns = u = out[i].t_start_ns + r[i];
      }
      break;
    case 6: for (; i < n; i++) out[i].version_read = u += r[i]; break;
    case 7: for (; i < n; i++) out[i].version_apply = out[i].version_read + r[i]; break;
    case 8:
      for (; i < n; i++)
        out[i].staleness = (int64_t)(r[i] + (out[i].version_apply - out[i].version_read));
      break;
    case 9:
      for (; i < n && r[i] <= 255; i++) out[i].accepted = (uint8_t)r[i];
      break;
    case 10: for (; i < n; i++) out[i].interval = u += r[i]; break;
    case 11:
      for (; i < n && (u += r[i]) <= UINT32_MAX; i++) out[i].y = (uint32_t)u;
      break;
    default:
      for (; i < n && (u += r[i]) <= UINT32_MAX; i++) out[i].m = (uint32_t)u;
      break;
    }
    if (i < n) return fail(err, errlen, "steps chunk: column %d: value out of range at record %zu", c, i);
  }
  const uint8_t *q = d + col[NCOL - 1].pos;
  for (size_t i = 0; i < n; i++, q += 4) {
    uint32_t b = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    memcpy(&out[i].loss, &b, 4);
  }
  *np = n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* psgd_steps(data): one row per record of the chunk `data`. */

enum {
  C_STEP, C_FINISH, C_WORKER, C_PU, C_TSTART, C_TEND, C_VREAD, C_VAPPLY, C_STALE, C_ACC,
  C_INTERVAL, C_Y, C_M, C_LOSS, C_DATA
};

typedef struct {
  sqlite3_vtab base;
} steps_vtab;

typedef struct {
  sqlite3_vtab_cursor base;
  step_rec *rec; /* REC_STEPS_CHUNK records */
  size_t n, i;
} steps_cursor;

static int sv_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **errmsg) {
  (void)aux, (void)argc, (void)argv, (void)errmsg;
  int rc = sqlite3_declare_vtab(
      db, "CREATE TABLE x(step INTEGER, finish INTEGER, worker INTEGER, pu INTEGER,"
          " t_start_ns INTEGER, t_end_ns INTEGER, version_read INTEGER, version_apply INTEGER,"
          " staleness INTEGER, accepted INTEGER, interval INTEGER, y INTEGER, m INTEGER,"
          " loss REAL, data BLOB HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  steps_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  *out = &v->base;
  return SQLITE_OK;
}

static int sv_disconnect(sqlite3_vtab *v) {
  sqlite3_free(v);
  return SQLITE_OK;
}

/* Usable only with data given (data = x, as a table-valued function call). */
static int sv_best_index(sqlite3_vtab *v, sqlite3_index_info *ix) {
  (void)v;
  for (int k = 0; k < ix->nConstraint; k++) {
    const struct sqlite3_index_constraint *c = &ix->aConstraint[k];
    if (c->iColumn == C_DATA && c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      if (!c->usable) return SQLITE_CONSTRAINT;
      ix->aConstraintUsage[k].argvIndex = 1;
      ix->aConstraintUsage[k].omit = 1;
      ix->estimatedCost = 1000;
      ix->estimatedRows = 1000;
      return SQLITE_OK;
    }
  }
  return SQLITE_CONSTRAINT;
}

static int sv_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
  (void)v;
  steps_cursor *c = sqlite3_malloc(sizeof *c);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->rec = sqlite3_malloc((int)(sizeof *c->rec * REC_STEPS_CHUNK));
  if (!c->rec) {
    sqlite3_free(c);
    return SQLITE_NOMEM;
  }
  *out = &c->base;
  return SQLITE_OK;
}

static int sv_close(sqlite3_vtab_cursor *cur) {
  steps_cursor *c = (steps_cursor *)cur;
  sqlite3_free(c->rec);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int sv_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxs, int argc,
                     sqlite3_value **argv) {
  (void)idx, (void)idxs;
  steps_cursor *c = (steps_cursor *)cur;
  c->n = c->i = 0;
  if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) return SQLITE_OK;
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    cur->pVtab->zErrMsg = sqlite3_mprintf("psgd_steps: data is not a steps chunk (not a BLOB)");
    return SQLITE_ERROR;
  }
  const uint8_t *d = sqlite3_value_blob(argv[0]);
  size_t len = (size_t)sqlite3_value_bytes(argv[0]);
  char err[160];
  if (rec_steps_decode(d, len, c->rec, &c->n, err, sizeof err)) {
    c->n = 0;
    sqlite3_free(cur->pVtab->zErrMsg);
    cur->pVtab->zErrMsg = sqlite3_mprintf("psgd_steps: %s (the database is damaged)", err);
    return SQLITE_CORRUPT;
  }
  return SQLITE_OK;
}

static int sv_next(sqlite3_vtab_cursor *cur) {
  ((steps_cursor *)cur)->i++;
  return SQLITE_OK;
}

static int sv_eof(sqlite3_vtab_cursor *cur) {
  steps_cursor *c = (steps_cursor *)cur;
  return c->i >= c->n;
}

static int sv_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  steps_cursor *c = (steps_cursor *)cur;
  const step_rec *s = &c->rec[c->i];
  /* The old table stored each uint64 as the int64 with the same bits. */
  switch (col) {
  case C_STEP: sqlite3_result_int64(ctx, (sqlite3_int64)s->step); break;
  case C_FINISH: sqlite3_result_int64(ctx, (sqlite3_int64)s->finish); break;
  case C_WORKER: sqlite3_result_int(ctx, s->worker); break;
  case C_PU: sqlite3_result_int(ctx, s->pu); break;
  case C_TSTART: sqlite3_result_int64(ctx, (sqlite3_int64)s->t_start_ns); break;
  case C_TEND: sqlite3_result_int64(ctx, (sqlite3_int64)s->t_end_ns); break;
  case C_VREAD: sqlite3_result_int64(ctx, (sqlite3_int64)s->version_read); break;
  case C_VAPPLY: sqlite3_result_int64(ctx, (sqlite3_int64)s->version_apply); break;
  case C_STALE: sqlite3_result_int64(ctx, s->staleness); break;
  case C_ACC: sqlite3_result_int(ctx, s->accepted); break;
  case C_INTERVAL: sqlite3_result_int64(ctx, (sqlite3_int64)s->interval); break;
  case C_Y: sqlite3_result_int64(ctx, s->y); break;
  case C_M: sqlite3_result_int64(ctx, s->m); break;
  case C_LOSS:
    /* NaN as NULL, as SQLite stores a bound NaN. */
    if (isnan(s->loss)) sqlite3_result_null(ctx);
    else sqlite3_result_double(ctx, (double)s->loss);
    break;
  default: sqlite3_result_null(ctx); break;
  }
  return SQLITE_OK;
}

static int sv_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid) {
  *rowid = (sqlite_int64)((steps_cursor *)cur)->i;
  return SQLITE_OK;
}

static const sqlite3_module steps_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous-only: used as psgd_steps(data), never created */
    .xConnect = sv_connect,
    .xBestIndex = sv_best_index,
    .xDisconnect = sv_disconnect,
    .xDestroy = sv_disconnect,
    .xOpen = sv_open,
    .xClose = sv_close,
    .xFilter = sv_filter,
    .xNext = sv_next,
    .xEof = sv_eof,
    .xColumn = sv_column,
    .xRowid = sv_rowid,
};

/* ------------------------------------------------------------------------ */
/* SQL values -> a record, and the aggregate psgd_chunk(...). */

static const char *const field_names[14] = {
    "step", "finish", "worker", "pu", "t_start_ns", "t_end_ns", "version_read", "version_apply",
    "staleness", "accepted", "interval", "y", "m", "loss"};

int rec_steps_from_values(void *const *vv, step_rec *s, char *why, size_t whylen) {
  sqlite3_value *const *v = (sqlite3_value *const *)vv;
  int64_t x[13];
  for (int k = 0; k < 13; k++) {
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (k == 2 || k == 3) lo = INT32_MIN, hi = INT32_MAX;
    if (k == 9) lo = 0, hi = 255;
    if (k == 11 || k == 12) lo = 0, hi = UINT32_MAX;
    int t = sqlite3_value_type(v[k]);
    if (t != SQLITE_INTEGER || (x[k] = sqlite3_value_int64(v[k])) < lo || x[k] > hi)
      return fail(why, whylen, "%s is %s", field_names[k],
                  t == SQLITE_NULL ? "NULL" : "not a valid integer");
  }
  memset(s, 0, sizeof *s);
  int lt = sqlite3_value_type(v[13]);
  if (lt == SQLITE_NULL) {
    s->loss = NAN; /* a NaN loss reads as NULL */
  } else {
    double d = sqlite3_value_double(v[13]);
    s->loss = (float)d;
    if ((lt != SQLITE_FLOAT && lt != SQLITE_INTEGER) || (double)s->loss != d)
      return fail(why, whylen, "loss %s is not a float", (const char *)sqlite3_value_text(v[13]));
  }
  s->step = (uint64_t)x[0];
  s->finish = (uint64_t)x[1];
  s->worker = (int32_t)x[2];
  s->pu = (int32_t)x[3];
  s->t_start_ns = (uint64_t)x[4];
  s->t_end_ns = (uint64_t)x[5];
  s->version_read = (uint64_t)x[6];
  s->version_apply = (uint64_t)x[7];
  s->staleness = x[8];
  s->accepted = (uint8_t)x[9];
  s->interval = (uint64_t)x[10];
  s->y = (uint32_t)x[11];
  s->m = (uint32_t)x[12];
  return 0;
}

/* psgd_chunk(seq, step, finish, ..., loss): the chunk of the aggregated rows,
 * in increasing seq (ties in arrival order); at most REC_STEPS_CHUNK rows. */
typedef struct {
  int64_t seq;
  size_t arrival;
  step_rec rec;
} chunk_row;

typedef struct {
  chunk_row *rows;
  size_t n;
  int failed;
} chunk_agg;

static void agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  chunk_agg *a = sqlite3_aggregate_context(ctx, sizeof *a);
  if (!a) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (a->failed) return;
  char why[200];
  if (argc != 15 || sqlite3_value_type(argv[0]) != SQLITE_INTEGER) {
    a->failed = 1;
    sqlite3_result_error(ctx, "psgd_chunk(seq, step, finish, worker, pu, t_start_ns, t_end_ns, "
                         "version_read, version_apply, staleness, accepted, interval, y, m, "
                         "loss): seq must be an integer", -1);
    return;
  }
  if (a->n == REC_STEPS_CHUNK) {
    a->failed = 1;
    snprintf(why, sizeof why, "psgd_chunk: more than %d rows in one chunk (group the rows by "
             "seq / %d)", REC_STEPS_CHUNK, REC_STEPS_CHUNK);
    sqlite3_result_error(ctx, why, -1);
    return;
  }
  if (!a->rows && !(a->rows = sqlite3_malloc((int)(sizeof *a->rows * REC_STEPS_CHUNK)))) {
    a->failed = 1;
    sqlite3_result_error_nomem(ctx);
    return;
  }
  chunk_row *r = &a->rows[a->n];
  char w2[160];
  if (rec_steps_from_values((void *const *)(argv + 1), &r->rec, w2, sizeof w2)) {
    a->failed = 1;
    snprintf(why, sizeof why, "psgd_chunk: %s", w2);
    sqlite3_result_error(ctx, why, -1);
    return;
  }
  r->seq = sqlite3_value_int64(argv[0]);
  r->arrival = a->n++;
}

static int cmp_row(const void *x, const void *y) {
  const chunk_row *a = x, *b = y;
  if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
  return (a->arrival > b->arrival) - (a->arrival < b->arrival);
}

static void agg_final(sqlite3_context *ctx) {
  chunk_agg *a = sqlite3_aggregate_context(ctx, 0);
  if (!a || a->failed || a->n == 0) {
    if (a) sqlite3_free(a->rows);
    if (!a || !a->failed) sqlite3_result_null(ctx);
    return;
  }
  qsort(a->rows, a->n, sizeof *a->rows, cmp_row);
  step_rec *v = sqlite3_malloc((int)(sizeof *v * a->n));
  uint8_t *blob = sqlite3_malloc((int)rec_steps_bound(a->n));
  if (!v || !blob) {
    sqlite3_free(v);
    sqlite3_free(blob);
    sqlite3_free(a->rows);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  for (size_t i = 0; i < a->n; i++) v[i] = a->rows[i].rec;
  size_t len = rec_steps_encode(v, a->n, blob);
  sqlite3_result_blob(ctx, blob, (int)len, sqlite3_free);
  sqlite3_free(v);
  sqlite3_free(a->rows);
}

int rec_steps_register(void *db) {
  int rc = sqlite3_create_module((sqlite3 *)db, "psgd_steps", &steps_module, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function((sqlite3 *)db, "psgd_chunk", 15, SQLITE_UTF8, NULL, NULL,
                                 agg_step, agg_final);
  return rc;
}

#ifdef REC_STEPS_LOADABLE
/* Entry point of build/psgd_steps.so (`.load build/psgd_steps`). */
int sqlite3_psgdsteps_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api);
int sqlite3_psgdsteps_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api) {
  (void)errmsg;
  SQLITE_EXTENSION_INIT2(api);
  return rec_steps_register(db);
}
#else
static int auto_init(sqlite3 *db, char **errmsg, const struct sqlite3_api_routines *api) {
  (void)errmsg, (void)api;
  return rec_steps_register(db);
}

static void auto_once(void) {
  /* sqlite3_auto_extension's prototype takes void (*)(void); SQLite calls it
   * with the entry-point arguments. */
  sqlite3_auto_extension((void (*)(void))auto_init);
}

void rec_steps_auto_register(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, auto_once);
}
#endif

#ifndef REC_STEPS_LOADABLE
/* ------------------------------------------------------------------------ */
/* Writing chunks and the upgrade from the row-per-step table. */

const char rec_steps_view_sql[] =
    "CREATE VIEW steps AS SELECT c.run_id AS run_id, s.step AS step, s.finish AS finish,"
    " s.worker AS worker, s.pu AS pu, s.t_start_ns AS t_start_ns, s.t_end_ns AS t_end_ns,"
    " s.version_read AS version_read, s.version_apply AS version_apply,"
    " s.staleness AS staleness, s.accepted AS accepted, s.interval AS interval, s.y AS y,"
    " s.m AS m, s.loss AS loss FROM step_chunks c, psgd_steps(c.data) s;"
    /* a row inserted into the view becomes a chunk of its own */
    "CREATE TRIGGER steps_insert INSTEAD OF INSERT ON steps BEGIN"
    " INSERT INTO step_chunks (run_id, n, data) SELECT NEW.run_id, 1, psgd_chunk(0, NEW.step,"
    " NEW.finish, NEW.worker, NEW.pu, NEW.t_start_ns, NEW.t_end_ns, NEW.version_read,"
    " NEW.version_apply, NEW.staleness, NEW.accepted, NEW.interval, NEW.y, NEW.m, NEW.loss);"
    " END";

static int db_fail(sqlite3 *db, const char *path, char *err, size_t errlen, const char *what) {
  return fail(err, errlen, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

static int write_chunk(rec_steps_writer *w, sqlite3 *db, const char *path, int64_t run_id,
                       const step_rec *v, size_t n, char *err, size_t errlen) {
  if (!w->ins && sqlite3_prepare_v3(db, "INSERT INTO step_chunks (run_id, n, data) VALUES (?1, ?2, ?3)",
                                    -1, SQLITE_PREPARE_PERSISTENT, (sqlite3_stmt **)&w->ins,
                                    NULL) != SQLITE_OK)
    return db_fail(db, path, err, errlen, "cannot prepare the steps insert");
  if (!w->blob && !(w->blob = malloc(rec_steps_bound(REC_STEPS_CHUNK))))
    return fail(err, errlen, "%s: out of memory", path);
  size_t len = rec_steps_encode(v, n, w->blob);
  sqlite3_stmt *st = w->ins;
  sqlite3_bind_int64(st, 1, run_id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
  sqlite3_bind_blob(st, 3, w->blob, (int)len, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) return db_fail(db, path, err, errlen, "cannot insert steps");
  return 0;
}

int rec_steps_put(rec_steps_writer *w, void *vdb, const char *path, int64_t run_id,
                  const step_rec *v, size_t n, char *err, size_t errlen) {
  sqlite3 *db = vdb;
  while (n > 0) {
    if (w->nbuf == 0 && n >= REC_STEPS_CHUNK) {
      /* A whole chunk straight from the caller's records: no copy. */
      if (write_chunk(w, db, path, run_id, v, REC_STEPS_CHUNK, err, errlen)) return -1;
      v += REC_STEPS_CHUNK;
      n -= REC_STEPS_CHUNK;
      continue;
    }
    if (!w->buf && !(w->buf = malloc(sizeof *w->buf * REC_STEPS_CHUNK)))
      return fail(err, errlen, "%s: out of memory", path);
    size_t k = REC_STEPS_CHUNK - w->nbuf;
    if (k > n) k = n;
    memcpy(w->buf + w->nbuf, v, sizeof *v * k);
    w->nbuf += k;
    v += k;
    n -= k;
    if (w->nbuf == REC_STEPS_CHUNK) {
      w->nbuf = 0;
      if (write_chunk(w, db, path, run_id, w->buf, REC_STEPS_CHUNK, err, errlen)) return -1;
    }
  }
  return 0;
}

int rec_steps_flush(rec_steps_writer *w, void *db, const char *path, int64_t run_id, char *err,
                    size_t errlen) {
  if (w->nbuf == 0) return 0;
  size_t n = w->nbuf;
  w->nbuf = 0;
  return write_chunk(w, db, path, run_id, w->buf, n, err, errlen);
}

void rec_steps_discard(rec_steps_writer *w) { w->nbuf = 0; }

void rec_steps_writer_free(rec_steps_writer *w) {
  sqlite3_finalize(w->ins);
  free(w->blob);
  free(w->buf);
  memset(w, 0, sizeof *w);
}

int rec_steps_upgrade_rows(void *vdb, const char *path, char *err, size_t errlen) {
  sqlite3 *db = vdb;
  sqlite3_stmt *st = NULL;
  rec_steps_writer w = {0};
  int out = -1;
  if (sqlite3_prepare_v2(db,
                         "SELECT run_id, step, finish, worker, pu, t_start_ns, t_end_ns,"
                         " version_read, version_apply, staleness, accepted, interval, y, m,"
                         " loss, rowid FROM steps ORDER BY run_id, rowid",
                         -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, path, err, errlen, "schema upgrade: cannot read the old steps table");
    goto cleanup;
  }
  int64_t run = 0;
  int have_run = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    sqlite3_value *val[14];
    for (int k = 0; k < 14; k++) val[k] = sqlite3_column_value(st, k + 1);
    step_rec s;
    char why[160];
    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || rec_steps_from_values((void *const *)val, &s, why, sizeof why)) {
      fail(err, errlen, "%s: schema upgrade refused: steps row %lld: %s, which the new layout "
           "cannot keep exactly; the database is unchanged (use the psgd that wrote it)", path,
           (long long)sqlite3_column_int64(st, 15),
           sqlite3_column_type(st, 0) != SQLITE_INTEGER ? "run_id is not an integer" : why);
      goto cleanup;
    }
    int64_t x0 = sqlite3_column_int64(st, 0);
    if (have_run && x0 != run && rec_steps_flush(&w, db, path, run, err, errlen)) goto cleanup;
    run = x0;
    have_run = 1;
    if (rec_steps_put(&w, db, path, run, &s, 1, err, errlen)) goto cleanup;
  }
  if (rc != SQLITE_DONE) {
    db_fail(db, path, err, errlen, "schema upgrade: cannot read the old steps table");
    goto cleanup;
  }
  if (have_run && rec_steps_flush(&w, db, path, run, err, errlen)) goto cleanup;
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_exec(db, "DROP TABLE steps", NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(db, rec_steps_view_sql, NULL, NULL, NULL) != SQLITE_OK) {
    db_fail(db, path, err, errlen, "schema upgrade: cannot replace the steps table by its view");
    goto cleanup;
  }
  out = 0;
cleanup:
  sqlite3_finalize(st);
  rec_steps_writer_free(&w);
  return out;
}
#endif
