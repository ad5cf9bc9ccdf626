/* bench_rec.c - cost of recording every SGD step: steplog_push on the
 * workers' fast path, the flush of the steplog into SQLite (rows/s, seconds
 * per million steps), the database size per million steps, and side-by-side
 * baselines that justify the choices in rec.c (a plain array store vs
 * steplog_push; one-row INSERTs and no steps(run_id) index vs what rec.c
 * does). Also a synthetic logging overhead: one worker spinning ~5 us per
 * "step" with and without logging (the real logging_overhead_pct needs the
 * engine: run the same spec with record_steps 0 and 1).
 *
 * Prints its configuration, then "bench: NAME VALUE UNIT" lines (medians;
 * spread in the text). Exits non-zero only if its own results are wrong
 * (row counts or contents differ from what was pushed), never on time.
 *
 * Usage: bench_rec [--quick] [--rows N]   (default 1,000,000 rows, 3 reps) */
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

/* Baseline: the same rows through a one-row prepared INSERT, one transaction
 * per 256k rows (what rec.c would do without multi-row statements). */
static stats bench_single_row(const char *path, size_t n, int reps) {
  char err[PSGD_ERRLEN];
  rec *r = rec_open(path, err, sizeof err); /* creates the schema */
  if (!r) die("rec_open", err);
  double v[16];
  for (int k = 0; k < reps; k++) {
    int64_t id = begin_run(r, k, "single");
    rec_close(r);
    r = NULL;
    sqlite3 *db;
    PSGD_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536", 0, 0, 0);
    sqlite3_stmt *st;
    PSGD_CHECK(sqlite3_prepare_v2(db,
                                  "INSERT INTO steps VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                                  " ?10, ?11, ?12, ?13, ?14, ?15)",
                                  -1, &st, NULL) == SQLITE_OK);
    psgd_rng g;
    psgd_rng_seed(&g, (uint64_t)k + 1);
    step_rec *buf = psgd_alloc(sizeof *buf * n);
    PSGD_CHECK(buf);
    for (size_t i = 0; i < n; i++) make_rec(&buf[i], i, &g);
    uint64_t t0 = psgd_now_ns();
    sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
    for (size_t i = 0; i < n; i++) {
      const step_rec *s = &buf[i];
      sqlite3_bind_int64(st, 1, id);
      sqlite3_bind_int64(st, 2, (sqlite3_int64)s->step);
      sqlite3_bind_int64(st, 3, (sqlite3_int64)s->finish);
      sqlite3_bind_int(st, 4, s->worker);
      sqlite3_bind_int(st, 5, s->pu);
      sqlite3_bind_int64(st, 6, (sqlite3_int64)s->t_start_ns);
      sqlite3_bind_int64(st, 7, (sqlite3_int64)s->t_end_ns);
      sqlite3_bind_int64(st, 8, (sqlite3_int64)s->version_read);
      sqlite3_bind_int64(st, 9, (sqlite3_int64)s->version_apply);
      sqlite3_bind_int64(st, 10, s->staleness);
      sqlite3_bind_int(st, 11, s->accepted);
      sqlite3_bind_int64(st, 12, (sqlite3_int64)s->interval);
      sqlite3_bind_int64(st, 13, s->y);
      sqlite3_bind_int64(st, 14, s->m);
      sqlite3_bind_double(st, 15, s->loss);
      PSGD_CHECK(sqlite3_step(st) == SQLITE_DONE);
      sqlite3_reset(st);
      if ((i + 1) % (256 * 1024) == 0) sqlite3_exec(db, "COMMIT; BEGIN IMMEDIATE", 0, 0, 0);
    }
    PSGD_CHECK(sqlite3_exec(db, "COMMIT", 0, 0, 0) == SQLITE_OK);
    v[k] = (double)n / ((double)(psgd_now_ns() - t0) * 1e-9);
    sqlite3_finalize(st);
    sqlite3_close(db);
    psgd_free(buf);
    r = rec_open(path, err, sizeof err);
    if (!r) die("rec_open", err);
    end_run(r, id);
  }
  rec_close(r);
  return summarize(v, reps);
}

/* Bytes of table+index pages per step row (dbstat), and file bytes per row. */
static void db_size(const char *path, double *table_b, double *file_b) {
  sqlite3 *db;
  PSGD_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  sqlite3_stmt *st;
  PSGD_CHECK(sqlite3_prepare_v2(db,
                                "SELECT (SELECT sum(pgsize) FROM dbstat WHERE name IN"
                                " ('steps', 'steps_run')), (SELECT count(*) FROM steps)",
                                -1, &st, NULL) == SQLITE_OK);
  PSGD_CHECK(sqlite3_step(st) == SQLITE_ROW);
  double bytes = sqlite3_column_double(st, 0), rows = sqlite3_column_double(st, 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  struct stat sb;
  PSGD_CHECK(stat(path, &sb) == 0);
  *table_b = bytes / rows;
  *file_b = (double)sb.st_size / rows;
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
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      n = 200000;
      reps = 3;
    } else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
      n = (size_t)strtoull(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "usage: bench_rec [--quick] [--rows N]\n");
      return 2;
    }
  }
  char dir[] = "/tmp/bench_rec.XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp", "cannot create a temporary folder");
  char p_main[256], p_single[256], p_noidx[256], p_writer[256];
  snprintf(p_main, sizeof p_main, "%s/main.db", dir);
  snprintf(p_single, sizeof p_single, "%s/single.db", dir);
  snprintf(p_noidx, sizeof p_noidx, "%s/noindex.db", dir);
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

  /* 2. the flush, and baselines side by side */
  {
    uint64_t sum;
    steplog *warm = filled_log(n / 4, 99, &sum); /* warm the page cache and code */
    steplog_free(warm);
  }
  stats fl = bench_flush(p_main, n, reps, "main");
  stats single = bench_single_row(p_single, n, reps);
  char err[PSGD_ERRLEN];
  rec *r = rec_open(p_noidx, err, sizeof err);
  if (!r) die("rec_open", err);
  rec_close(r);
  {
    sqlite3 *db;
    PSGD_CHECK(sqlite3_open(p_noidx, &db) == SQLITE_OK);
    PSGD_CHECK(sqlite3_exec(db, "DROP INDEX steps_run", 0, 0, 0) == SQLITE_OK);
    sqlite3_close(db);
  }
  stats noidx = bench_flush(p_noidx, n, reps, "noindex");
  printf("flush (multi-row INSERT, index): median %.0f rows/s (min %.0f, max %.0f)\n", fl.median,
         fl.min, fl.max);
  printf("baseline one-row INSERT: %.0f rows/s (multi-row is %.2fx); without the steps(run_id) "
         "index: %.0f rows/s (the index costs %.1f%%)\n", single.median,
         fl.median / single.median, noidx.median, 100.0 * (1.0 - fl.median / noidx.median));
  double tb, fb;
  db_size(p_main, &tb, &fb);
  printf("size: steps table + index %.1f bytes/row, whole file %.1f bytes/row\n", tb, fb);

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
  printf("bench: rows_per_s %.0f rows/s\n", fl.median);
  printf("bench: flush_s_per_million_steps %.3f s\n", 1e6 / fl.median);
  printf("bench: bytes_per_million_steps %.1f MB\n", tb);
  printf("bench: file_bytes_per_million_steps %.1f MB\n", fb);
  printf("bench: multirow_vs_single_insert %.2f x\n", fl.median / single.median);
  printf("bench: steps_index_cost_pct %.1f %%\n", 100.0 * (1.0 - fl.median / noidx.median));
  printf("bench: writer_final_flush_s %.4f s\n", writer_final_s);
  printf("bench: synthetic_logging_overhead_pct %.2f %%\n", o.median);

  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_rec: could not remove %s\n", dir);
  return 0;
}
