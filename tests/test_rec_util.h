/* test_rec_util.h - helpers shared by the recorder's tests (tests/test_rec_*.c):
 * a temporary folder per test, a run spec with a distinct key, and small
 * read-only queries through a separate SQLite connection (so what is checked
 * is what is in the file, not what the rec handle believes). Header-only:
 * every function is static; include once per test file. */
#ifndef TEST_REC_UTIL_H
#define TEST_REC_UTIL_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rec.h"
#include "rec_steps.h"
#include "spec.h"

typedef struct {
  char dir[64];
  char db[128];
} tmp_place;

static inline void tmp_make(tmp_place *t) {
  snprintf(t->dir, sizeof t->dir, "/tmp/test_rec.XXXXXX");
  if (!mkdtemp(t->dir)) abort();
  snprintf(t->db, sizeof t->db, "%s/results.db", t->dir);
}

static int tmp_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static inline void tmp_remove(tmp_place *t) { nftw(t->dir, tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* A spec whose key differs per (label, rep). */
static inline void test_spec(run_spec *s, const char *label, int rep, char key[17]) {
  spec_default(s);
  snprintf(s->label, sizeof s->label, "%s", label);
  snprintf(s->experiment, sizeof s->experiment, "test");
  s->repetition = rep;
  s->threads = 4;
  spec_key(s, key);
}

/* First column of the first row of sql as int64 (INT64_MIN on error/no row). */
static inline int64_t q_int(const char *db, const char *sql) {
  rec_steps_auto_register(); /* the view steps, also before any rec_open */
  sqlite3 *h;
  int64_t v = INT64_MIN;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
  }
  sqlite3_close(h);
  return v;
}

/* Same, as text into out ("" on error, "<null>" for NULL). */
static inline void q_text(const char *db, const char *sql, char *out, size_t cap) {
  rec_steps_auto_register();
  sqlite3 *h;
  out[0] = '\0';
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
      if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", t ? (const char *)t : "<null>");
      }
      sqlite3_finalize(st);
    }
    if (sqlite3_errcode(h) != SQLITE_OK && sqlite3_errcode(h) != SQLITE_DONE)
      fprintf(stderr, "q_text: %s: %s\n", sql, sqlite3_errmsg(h));
  }
  sqlite3_close(h);
}

/* Runs sql (writes) on its own connection; returns SQLite's result code. */
static inline int q_exec(const char *db, const char *sql) {
  rec_steps_auto_register();
  sqlite3 *h;
  int rc = sqlite3_open(db, &h);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(h, 10000);
    rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
  }
  sqlite3_close(h);
  return rc;
}

static inline void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (fwrite(p, 1, n, f) != n) abort();
  fclose(f);
}

/* A step record with every field derived from (worker, seq): checkable. */
static inline void seq_rec(step_rec *s, int w, uint64_t seq) {
  memset(s, 0, sizeof *s);
  s->step = seq;
  s->finish = seq * 8 + (uint64_t)w;
  s->t_start_ns = seq * 1000 + (uint64_t)w;
  s->t_end_ns = s->t_start_ns + 500;
  s->version_read = seq;
  s->version_apply = seq + (seq % 7);
  s->staleness = (int64_t)(seq % 7);
  s->interval = seq / 64;
  s->loss = (float)(seq % 100) * 0.01f;
  s->worker = w;
  s->pu = w;
  s->y = 64;
  s->m = 8;
  s->accepted = (uint8_t)(seq % 3 != 0);
}

#endif
