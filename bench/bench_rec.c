/* bench_rec.c - cost of recording every SGD step: steplog_push on the
 * workers' fast path; the old row-per-step layout against the chunked one
 * (rec_steps.h) side by side on the rows of real runs (bytes per step from
 * dbstat page sizes, rows written per second, the time of three figure-like
 * queries, which must give the same answers on both); the flush of synthetic
 * rows; the writer thread's final flush; and a synthetic logging overhead:
 * one worker spinning ~5 us per "step" with and without logging (the real
 * logging_overhead_pct needs the engine: run the same spec with record_steps
 * 0 and 1).
 *
 * Real rows: `$BUILD/psgd run experiments/figure4.cfg --only 2,10` (two
 * 8-second runs, from the repository top), or --from DB (any results
 * database, either layout).
 *
 * Prints its configuration, then "bench: NAME VALUE UNIT" lines (medians;
 * spread in the text). Exits non-zero only if its own results are wrong
 * (row counts or contents differ from what was pushed), never on time.
 *
 * Usage: bench_rec [--quick] [--rows N] [--from DB]   (default 1,000,000 rows, 3 reps) */
#define _GNU_SOURCE
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "rec.h"
#include "rec_steps.h"
#include "steplog.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  double median, min, max;
} stats;

static stats summarize(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
  return s;
}

#define WORKERS 8

/* A plausible step record: 8 workers, ~20 us apart, tau mostly small, 70%
 * accepted, loss decaying from 2.3 (what the engine will produce). */
static void make_rec(step_rec *s, uint64_t i, psgd_rng *g) {
  memset(s, 0, sizeof *s);
  uint64_t tau = psgd_rng_below(g, 16);
  s->step = i;
  s->finish = i;
  s->t_start_ns = i * 20000 + psgd_rng_below(g, 5000);
  s->t_end_ns = s->t_start_ns + 40000 + psgd_rng_below(g, 20000);
  s->version_read = i > tau ? i - tau : 0;
  s->version_apply = s->version_read + tau;
  s->interval = i / 64;
  s->staleness = (int64_t)tau;
  s->loss = (float)(2.3 * exp(-(double)i * 1e-6) + 0.1 * psgd_rng_uniform(g));
  s->worker = (int32_t)(i % WORKERS);
  s->pu = s->worker;
  s->y = 64;
  s->m = WORKERS;
  s->accepted = psgd_rng_uniform(g) < 0.7;
}

static void die(const char *what, const char *err) {
  fprintf(stderr, "bench_rec: %s: %s\n", what, err);
  exit(1);
}

/* ns per steplog_push, and per plain store into a prefaulted array, n records. */
static void bench_push(size_t n, int reps, stats *push, stats *plain) {
  char err[PSGD_ERRLEN];
  step_rec *src = psgd_alloc(sizeof *src * 1024);
  step_rec *arr = psgd_calloc(sizeof *arr * n);
  PSGD_CHECK(src && arr);
  psgd_rng g;
  psgd_rng_seed(&g, 1);
  for (int i = 0; i < 1024; i++) make_rec(&src[i], (uint64_t)i, &g);
  double vp[16], va[16];
  for (int k = 0; k < reps; k++) {
    steplog *l = steplog_create(1, n, err, sizeof err);
    if (!l) die("steplog_create", err);
    uint64_t t0 = psgd_now_ns();
    for (size_t i = 0; i < n; i++) steplog_push(l, 0, &src[i & 1023]);
    vp[k] = (double)(psgd_now_ns() - t0) / (double)n;
    if (steplog_count(l) != n) die("steplog_count", "wrong count");
    steplog_free(l);
    t0 = psgd_now_ns();
    for (size_t i = 0; i < n; i++) {
      arr[i] = src[i & 1023];
      __asm__ volatile("" ::"r"(arr) : "memory"); /* keep the stores, one by one */
    }
    va[k] = (double)(psgd_now_ns() - t0) / (double)n;
  }
  *push = summarize(vp, reps);
  *plain = summarize(va, reps);
  psgd_free(src);
  psgd_free(arr);
}

static steplog *filled_log(size_t n, uint64_t seed, uint64_t *sum_step) {
  char err[PSGD_ERRLEN];
  steplog *l = steplog_create(WORKERS, n, err, sizeof err);
  if (!l) die("steplog_create", err);
  psgd_rng g;
  psgd_rng_seed(&g, seed);
  *sum_step = 0;
  for (size_t i = 0; i < n; i++) {
    step_rec s;
    make_rec(&s, i, &g);
    steplog_push(l, s.worker, &s);
    *sum_step += s.step;
  }
  return l;
}

static int64_t begin_run(rec *r, int k, const char *tag) {
  char err[PSGD_ERRLEN];
  run_spec s;
  spec_default(&s);
  snprintf(s.label, sizeof s.label, "bench %s %d", tag, k);
  s.repetition = k;
  s.threads = WORKERS;
  char key[17];
  spec_key(&s, key);
  int64_t id;
  if (rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err)) die("rec_run_begin", err);
  return id;
}

static void end_run(rec *r, int64_t id) {
  char err[PSGD_ERRLEN];
  run_result res;
  memset(&res, 0, sizeof res);
  res.status = RUN_OK;
  if (rec_run_end(r, id, &res, err, sizeof err)) die("rec_run_end", err);
}

/* Checks that run id holds exactly n rows whose steps sum to sum_step. */
static void verify(const char *path, int64_t id, size_t n, uint64_t sum_step) {
  sqlite3 *db;
  PSGD_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  sqlite3_stmt *st;
  PSGD_CHECK(sqlite3_prepare_v2(db, "SELECT count(*), sum(step) FROM steps WHERE run_id = ?1", -1,
                                &st, NULL) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, id);
  PSGD_CHECK(sqlite3_step(st) == SQLITE_ROW);
  int64_t cnt = sqlite3_column_int64(st, 0), sum = sqlite3_column_int64(st, 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (cnt != (int64_t)n || (uint64_t)sum != sum_step) {
    fprintf(stderr, "bench_rec: run %lld has %lld rows (sum %lld), pushed %zu (sum %llu)\n",
            (long long)id, (long long)cnt, (long long)sum, n, (unsigned long long)sum_step);
    exit(1);
  }
}

/* Rows/s of rec_steplog_flush(final) into path, median over reps runs. */
static stats bench_flush(const char *path, size_t n, int reps, const char *tag) {
  char err[PSGD_ERRLEN];
  rec *r = rec_open(path, err, sizeof err);
  if (!r) die("rec_open", err);
  double v[16];
  for (int k = 0; k < reps; k++) {
    uint64_t sum;
    steplog *l = filled_log(n, (uint64_t)k + 1, &sum);
    int64_t id = begin_run(r, k, tag);
    uint64_t t0 = psgd_now_ns();
    long w = rec_steplog_flush(r, id, l, 1, err, sizeof err);
    double s = (double)(psgd_now_ns() - t0) * 1e-9;
    if (w < 0) die("rec_steplog_flush", err);
    end_run(r, id);
    steplog_free(l);
    verify(path, id, n, sum);
    v[k] = (double)n / s;
  }
  rec_close(r);
  return summarize(v, reps);
}

/* ---- Old layout (schema 1: one row per step, index on run_id) vs the
 * chunked one, on the rows of real runs. ---- */

/* The old table and its writer, as the recorder had them: a 64-row prepared
 * multi-row INSERT, commits every 256k rows, the index maintained. */
static const char old_ddl[] =
    "CREATE TABLE steps ("
    "  run_id INTEGER NOT NULL, step INTEGER, finish INTEGER, worker INTEGER, pu INTEGER,"
    "  t_start_ns INTEGER, t_end_ns INTEGER, version_read INTEGER, version_apply INTEGER,"
    "  staleness INTEGER, accepted INTEGER, interval INTEGER, y INTEGER, m INTEGER,"
    "  loss REAL);"
    "CREATE INDEX steps_run ON steps(run_id);";
#define OLD_ROWS 64
#define OLD_COLS 14

static void old_bind(sqlite3_stmt *st, int p, const step_rec *s) {
  sqlite3_bind_int64(st, p + 0, (sqlite3_int64)s->step);
  sqlite3_bind_int64(st, p + 1, (sqlite3_int64)s->finish);
  sqlite3_bind_int(st, p + 2, s->worker);
  sqlite3_bind_int(st, p + 3, s->pu);
  sqlite3_bind_int64(st, p + 4, (sqlite3_int64)s->t_start_ns);
  sqlite3_bind_int64(st, p + 5, (sqlite3_int64)s->t_end_ns);
  sqlite3_bind_int64(st, p + 6, (sqlite3_int64)s->version_read);
  sqlite3_bind_int64(st, p + 7, (sqlite3_int64)s->version_apply);
  sqlite3_bind_int64(st, p + 8, s->staleness);
  sqlite3_bind_int(st, p + 9, s->accepted);
  sqlite3_bind_int64(st, p + 10, (sqlite3_int64)s->interval);
  sqlite3_bind_int64(st, p + 11, s->y);
  sqlite3_bind_int64(st, p + 12, s->m);
  sqlite3_bind_double(st, p + 13, s->loss);
}

static sqlite3_stmt *old_prepare(sqlite3 *db, int rows) {
  char *sql = malloc(256 + (size_t)rows * (OLD_COLS * 8 + 8));
  PSGD_CHECK(sql);
  size_t n = (size_t)sprintf(sql, "INSERT INTO steps VALUES ");
  for (int j = 0; j < rows; j++) {
    n += (size_t)sprintf(sql + n, "%s(?1", j ? "," : "");
    for (int c = 0; c < OLD_COLS; c++) n += (size_t)sprintf(sql + n, ",?%d", 2 + j * OLD_COLS + c);
    n += (size_t)sprintf(sql + n, ")");
  }
  sqlite3_stmt *st;
  PSGD_CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
  free(sql);
  return st;
}

/* Writes v[0..n) as run run_id in the old layout; returns seconds. */
static double old_write(sqlite3 *db, int64_t run_id, const step_rec *v, size_t n) {
  sqlite3_stmt *stn = old_prepare(db, OLD_ROWS), *st1 = old_prepare(db, 1);
  uint64_t t0 = psgd_now_ns();
  PSGD_CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0) == SQLITE_OK);
  size_t i = 0, in_tx = 0;
  while (i < n) {
    sqlite3_stmt *st = n - i >= OLD_ROWS ? stn : st1;
    int k = st == stn ? OLD_ROWS : 1;
    sqlite3_bind_int64(st, 1, run_id);
    for (int j = 0; j < k; j++) old_bind(st, 2 + j * OLD_COLS, &v[i + (size_t)j]);
    PSGD_CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_reset(st);
    i += (size_t)k;
    in_tx += (size_t)k;
    if (in_tx >= 256 * 1024) {
      PSGD_CHECK(sqlite3_exec(db, "COMMIT; BEGIN IMMEDIATE", 0, 0, 0) == SQLITE_OK);
      in_tx = 0;
    }
  }
  PSGD_CHECK(sqlite3_exec(db, "COMMIT", 0, 0, 0) == SQLITE_OK);
  double s = (double)(psgd_now_ns() - t0) * 1e-9;
  sqlite3_finalize(stn);
  sqlite3_finalize(st1);
  return s;
}

/* Rows of every run in db (either layout), in the order the db returns them. */
static step_rec *read_rows(const char *path, size_t *n) {
  sqlite3 *db;
  PSGD_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  sqlite3_stmt *st;
  PSGD_CHECK(sqlite3_prepare_v2(db,
                                "SELECT step, finish, worker, pu, t_start_ns, t_end_ns,"
                                " version_read, version_apply, staleness, accepted, interval, y,"
                                " m, loss FROM steps",
                                -1, &st, NULL) == SQLITE_OK);
  size_t cap = 1 << 16, k = 0;
  step_rec *v = malloc(sizeof *v * cap);
  PSGD_CHECK(v);
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (k == cap) {
      cap *= 2;
      v = realloc(v, sizeof *v * cap);
      PSGD_CHECK(v);
    }
    step_rec *s = &v[k++];
    memset(s, 0, sizeof *s);
    s->step = (uint64_t)sqlite3_column_int64(st, 0);
    s->finish = (uint64_t)sqlite3_column_int64(st, 1);
    s->worker = sqlite3_column_int(st, 2);
    s->pu = sqlite3_column_int(st, 3);
    s->t_start_ns = (uint64_t)sqlite3_column_int64(st, 4);
    s->t_end_ns = (uint64_t)sqlite3_column_int64(st, 5);
    s->version_read = (uint64_t)sqlite3_column_int64(st, 6);
    s->version_apply = (uint64_t)sqlite3_column_int64(st, 7);
    s->staleness = sqlite3_column_int64(st, 8);
    s->accepted = (uint8_t)sqlite3_column_int(st, 9);
    s->interval = (uint64_t)sqlite3_column_int64(st, 10);
    s->y = (uint32_t)sqlite3_column_int64(st, 11);
    s->m = (uint32_t)sqlite3_column_int64(st, 12);
    s->loss = sqlite3_column_type(st, 13) == SQLITE_NULL ? NAN
                                                         : (float)sqlite3_column_double(st, 13);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  *n = k;
  return v;
}

/* Bytes of the pages of the named tables and indexes (dbstat). */
static double pages_bytes(const char *path, const char *names) {
  sqlite3 *db;
  PSGD_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT sum(pgsize) FROM dbstat WHERE name IN (%s)", names);
  sqlite3_stmt *st;
  PSGD_CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
  PSGD_CHECK(sqlite3_step(st) == SQLITE_ROW);
  double b = sqlite3_column_double(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return b;
}

static double file_bytes(const char *path) {
  struct stat sb;
  PSGD_CHECK(stat(path, &sb) == 0);
  return (double)sb.st_size;
}

/* Seconds of one query over the whole db, best of 3; *hash gets an FNV-1a
 * hash of every value of the result as text (to compare the layouts). */
static double query_s(const char *path, const char *sql, uint64_t *hash) {
  double best = 1e30;
  for (int k = 0; k < 3; k++) {
    sqlite3 *db;
    PSGD_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql, sqlite3_errmsg(db));
    uint64_t h = 0xcbf29ce484222325ull;
    uint64_t t0 = psgd_now_ns();
    while (sqlite3_step(st) == SQLITE_ROW)
      for (int c = 0; c < sqlite3_column_count(st); c++) {
        const unsigned char *t = sqlite3_column_text(st, c);
        for (; t && *t; t++) h = (h ^ *t) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull;
      }
    double s = (double)(psgd_now_ns() - t0) * 1e-9;
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (s < best) best = s;
    *hash = h;
  }
  return best;
}

typedef struct {
  double old_bps, new_bps;         /* table + index bytes per step */
  double old_file_bps, new_file_bps;
  stats old_rate, new_rate;        /* rows/s written */
  double q_old[3], q_new[3];       /* query seconds */
} layout_cmp;

/* The queries whose time is compared: figure3's summary, figure1's per-run
 * scan, and the staleness histogram view of figure 3b. */
static const char *const cmp_queries[3] = {
    "SELECT run_id, count(*), avg(staleness), max(staleness) FROM steps WHERE accepted = 1"
    " GROUP BY run_id",
    "SELECT worker, t_start_ns / 1e6, t_end_ns / 1e6, accepted, step FROM steps"
    " WHERE run_id = 2 AND t_end_ns > 0",
    "SELECT run_id, staleness, sum(accepted), count(*) FROM steps GROUP BY run_id, staleness"};

/* Writes the rows v[0..n) reps times (one run each) into a fresh database of
 * each layout, alternating old and new per repetition (same load for both);
 * then sizes and query times. */
static void compare_layouts(const char *dir, const step_rec *v, size_t n, int reps,
                            layout_cmp *out) {
  char p_old[256], p_new[256], err[PSGD_ERRLEN];
  snprintf(p_old, sizeof p_old, "%s/old.db", dir);
  snprintf(p_new, sizeof p_new, "%s/new.db", dir);
  sqlite3 *odb;
  PSGD_CHECK(sqlite3_open(p_old, &odb) == SQLITE_OK);
  PSGD_CHECK(sqlite3_exec(odb, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                               " PRAGMA cache_size = -65536", 0, 0, 0) == SQLITE_OK);
  PSGD_CHECK(sqlite3_exec(odb, old_ddl, 0, 0, 0) == SQLITE_OK);
  rec *r = rec_open(p_new, err, sizeof err);
  if (!r) die("rec_open", err);
  int nw = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i].worker >= nw) nw = v[i].worker + 1;
  double vo[16], vn[16];
  for (int k = 0; k < reps; k++) {
    vo[k] = (double)n / old_write(odb, k + 1, v, n);
    /* the new layout through the engine's path: a steplog, drained at the end */
    steplog *l = steplog_create(nw, n, err, sizeof err);
    if (!l) die("steplog_create", err);
    for (size_t i = 0; i < n; i++) steplog_push(l, v[i].worker, &v[i]);
    int64_t id = begin_run(r, k, "layout");
    uint64_t t0 = psgd_now_ns();
    long w = rec_steplog_flush(r, id, l, 1, err, sizeof err);
    double s = (double)(psgd_now_ns() - t0) * 1e-9;
    if (w != (long)n) die("rec_steplog_flush", err);
    end_run(r, id);
    steplog_free(l);
    vn[k] = (double)n / s;
  }
  rec_close(r);
  PSGD_CHECK(sqlite3_exec(odb, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM", 0, 0, 0) == SQLITE_OK);
  sqlite3_close(odb);
  {
    sqlite3 *db;
    PSGD_CHECK(sqlite3_open(p_new, &db) == SQLITE_OK);
    PSGD_CHECK(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM", 0, 0, 0) == SQLITE_OK);
    sqlite3_close(db);
  }
  double rows = (double)n * reps;
  out->old_bps = pages_bytes(p_old, "'steps', 'steps_run'") / rows;
  out->new_bps = pages_bytes(p_new, "'step_chunks', 'step_chunks_run'") / rows;
  out->old_file_bps = file_bytes(p_old) / rows;
  out->new_file_bps = file_bytes(p_new) / rows;
  out->old_rate = summarize(vo, reps);
  out->new_rate = summarize(vn, reps);
  for (int q = 0; q < 3; q++) {
    uint64_t ho, hn;
    out->q_old[q] = query_s(p_old, cmp_queries[q], &ho);
    out->q_new[q] = query_s(p_new, cmp_queries[q], &hn);
    if (ho != hn) die(cmp_queries[q], "the two layouts answer differently");
  }
}

typedef struct {
  step_rec *out;
  size_t n;
} collect_ctx;

static int collect(void *vctx, const step_rec *r, size_t n) {
  collect_ctx *c = vctx;
  memcpy(c->out + c->n, r, sizeof *r * n);
  c->n += n;
  return 0;
}

/* Real runs' rows: `psgd run` of two 8-thread figure-4 runs (Async and
 * IntAsync y-decay) into dir/real.db; NULL if psgd cannot run them. */
static step_rec *real_rows(const char *dir, size_t *n) {
  const char *build = getenv("BUILD");
  char cmd[1024], path[300];
  snprintf(path, sizeof path, "%s/real.db", dir);
  snprintf(cmd, sizeof cmd,
           "%s/psgd run experiments/figure4.cfg --only 2,10 --db '%s' > '%s/real.log' 2>&1",
           build ? build : "build", path, dir);
  if (system(cmd) != 0) return NULL;
  return read_rows(path, n);
}

/* Synthetic worker: ~spin_ns of arithmetic per step, optionally logged. */
typedef struct {
  steplog *l;
  size_t n;
  uint64_t spin_ns;
  double sink;
} spin_arg;

static double spin_steps(spin_arg *a) {
  psgd_rng g;
  psgd_rng_seed(&g, 3);
  uint64_t t0 = psgd_now_ns();
  double x = 1.0;
  /* Calibrated iterations rather than clock polling: the loop body is the
   * same in every variant. */
  size_t iters = (size_t)(a->spin_ns / 2);
  for (size_t i = 0; i < a->n; i++) {
    for (size_t j = 0; j < iters; j++) x = x * 1.0000001 + 1e-9;
    if (a->l) {
      step_rec s;
      make_rec(&s, i, &g);
      s.worker = 0;
      steplog_push(a->l, 0, &s);
    } else {
      step_rec s;
      make_rec(&s, i, &g); /* same record cost, not pushed */
      __asm__ volatile("" ::"r"(&s) : "memory");
    }
  }
  a->sink = x;
  return (double)(psgd_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
  size_t n = 1000000;
  int reps = 3;
  const char *from = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      n = 200000;
      reps = 3;
    } else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
      n = (size_t)strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--from") && i + 1 < argc) {
      from = argv[++i];
    } else {
      fprintf(stderr, "usage: bench_rec [--quick] [--rows N] [--from DB]\n");
      return 2;
    }
  }
  char dir[] = "/tmp/bench_rec.XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp", "cannot create a temporary folder");
  char p_main[256], p_writer[256];
  snprintf(p_main, sizeof p_main, "%s/main.db", dir);
  snprintf(p_writer, sizeof p_writer, "%s/writer.db", dir);
  printf("bench_rec: SQLite %s, schema %d, WAL, synchronous=NORMAL; step_rec %zu "
         "bytes, chunk %d records; %zu rows x %d reps from %d workers; db in %s\n",
         sqlite3_libversion(), rec_schema_version(), sizeof(step_rec), STEPLOG_CHUNK, n, reps,
         WORKERS, dir);

  /* 1. the fast path */
  stats push, plain;
  bench_push(4 * n, 5, &push, &plain);
  printf("steplog_push: median %.2f ns (min %.2f, max %.2f); plain array store %.2f ns; "
         "ratio %.2f\n", push.median, push.min, push.max, plain.median,
         push.median / plain.median);

  /* 2. old vs new layout on real runs' rows, side by side */
  rec_steps_auto_register(); /* read_rows may read a chunked database */
  size_t nreal = 0;
  step_rec *real = from ? read_rows(from, &nreal) : real_rows(dir, &nreal);
  if (!real || nreal == 0) die("real rows", from ? from : "psgd run experiments/figure4.cfg "
                               "--only 2,10 failed (see the log in the bench folder)");
  {
    /* both layouts get the rows in the order the steplog drains them */
    char err0[PSGD_ERRLEN];
    int nw = 0;
    for (size_t i = 0; i < nreal; i++)
      if (real[i].worker >= nw) nw = real[i].worker + 1;
    steplog *l = steplog_create(nw, nreal, err0, sizeof err0);
    if (!l) die("steplog_create", err0);
    for (size_t i = 0; i < nreal; i++) steplog_push(l, real[i].worker, &real[i]);
    collect_ctx cc = {real, 0};
    steplog_drain(l, 1, collect, &cc);
    steplog_free(l);
  }
  int lreps = (int)((n + nreal - 1) / nreal);
  if (lreps < 2) lreps = 2;
  if (lreps > 16) lreps = 16;
  layout_cmp lc;
  compare_layouts(dir, real, nreal, lreps, &lc);
  printf("layouts on %zu real rows (%s) written %d times (one run each), old and new "
         "alternating:\n", nreal, from ? from : "figure4 runs 2 and 10: Async and IntAsync "
         "y-decay y0=64 at 8 threads", lreps);
  printf("  old (row per step + index): %.1f bytes/step in pages (file %.1f), write %.0f rows/s "
         "(min %.0f, max %.0f)\n", lc.old_bps, lc.old_file_bps, lc.old_rate.median,
         lc.old_rate.min, lc.old_rate.max);
  printf("  new (chunks of %d): %.1f bytes/step in pages (file %.1f), write %.0f rows/s "
         "(min %.0f, max %.0f)\n", REC_STEPS_CHUNK, lc.new_bps, lc.new_file_bps,
         lc.new_rate.median, lc.new_rate.min, lc.new_rate.max);
  for (int q = 0; q < 3; q++)
    printf("  query %d: old %.4f s, new %.4f s (same result): %s\n", q + 1, lc.q_old[q],
           lc.q_new[q], cmp_queries[q]);
  free(real);

  /* synthetic rows through rec_steplog_flush (the earlier bench's rate) */
  stats fl = bench_flush(p_main, n, reps, "main");
  printf("flush of %zu synthetic rows (8 workers): median %.0f rows/s (min %.0f, max %.0f)\n", n,
         fl.median, fl.min, fl.max);
  char err[PSGD_ERRLEN];
  rec *r;

  /* 3. writer thread: 8 logical workers pushed from one thread while the
   * writer drains every 50 ms; then the final flush. */
  double writer_rows_s, writer_final_s;
  {
    r = rec_open(p_writer, err, sizeof err);
    if (!r) die("rec_open", err);
    int64_t id = begin_run(r, 0, "writer");
    steplog *l = steplog_create(WORKERS, 0, err, sizeof err);
    if (!l) die("steplog_create", err);
    rec_writer *w = rec_writer_start(r, id, l, 0.05, err, sizeof err);
    if (!w) die("rec_writer_start", err);
    psgd_rng g;
    psgd_rng_seed(&g, 5);
    uint64_t sum = 0, t0 = psgd_now_ns();
    for (size_t i = 0; i < n; i++) {
      step_rec s;
      make_rec(&s, i, &g);
      steplog_push(l, s.worker, &s);
      sum += s.step;
    }
    rec_writer_stats ws;
    if (rec_writer_stop(w, &ws, err, sizeof err)) die("rec_writer_stop", err);
    double total = (double)(psgd_now_ns() - t0) * 1e-9;
    steplog_stats ls;
    steplog_get_stats(l, &ls);
    end_run(r, id);
    rec_close(r);
    verify(p_writer, id, n, sum);
    writer_rows_s = (double)n / total;
    writer_final_s = ws.final_flush_s;
    printf("writer thread (50 ms period): %zu rows in %.3f s push+write (%.0f rows/s), final "
           "flush %.4f s, writer busy %.3f s, log memory %.1f MiB (%zu pool + %zu grown "
           "chunks)\n", n, total, writer_rows_s, ws.final_flush_s, ws.busy_s,
           (double)ls.bytes / (1 << 20), ls.pool_chunks, ls.grown_chunks);
  }

  /* 4. synthetic logging overhead, 1 worker, ~5 us steps */
  double ov[8];
  size_t ns = n / 5;
  for (int k = 0; k < reps; k++) {
    spin_arg a = {NULL, ns, 5000, 0};
    double t_off = spin_steps(&a);
    a.l = steplog_create(1, ns, err, sizeof err);
    if (!a.l) die("steplog_create", err);
    double t_on = spin_steps(&a);
    if (steplog_count(a.l) != ns) die("synthetic", "wrong count");
    steplog_free(a.l);
    ov[k] = 100.0 * (t_on / t_off - 1.0);
  }
  stats o = summarize(ov, reps);
  printf("synthetic 5 us steps, push vs no push: overhead median %.2f%% (min %.2f, max %.2f)\n",
         o.median, o.min, o.max);

  printf("bench: steplog_push_ns %.2f ns\n", push.median);
  printf("bench: bytes_per_step %.2f B\n", lc.new_bps);
  printf("bench: bytes_per_step_old_layout %.2f B\n", lc.old_bps);
  printf("bench: write_rows_per_s %.0f rows/s\n", lc.new_rate.median);
  printf("bench: write_rows_per_s_old_layout %.0f rows/s\n", lc.old_rate.median);
  printf("bench: write_speedup_new_vs_old %.2f x\n", lc.new_rate.median / lc.old_rate.median);
  for (int q = 0; q < 3; q++)
    printf("bench: query%d_new_vs_old_time %.2f x\n", q + 1, lc.q_new[q] / lc.q_old[q]);
  printf("bench: rows_per_s %.0f rows/s\n", fl.median);
  printf("bench: flush_s_per_million_steps %.3f s\n", 1e6 / fl.median);
  printf("bench: writer_final_flush_s %.4f s\n", writer_final_s);
  printf("bench: synthetic_logging_overhead_pct %.2f %%\n", o.median);

  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_rec: could not remove %s\n", dir);
  return 0;
}
