/* merge.c - merging results databases by run key (see merge.h).
 *
 * The output is written through one connection in one BEGIN IMMEDIATE
 * transaction; each input is read through its own read-only connection in
 * one read transaction (a consistent snapshot even while a shard is still
 * being written). Rows are copied value by value with prepared statements
 * (sqlite3_column_value -> sqlite3_bind_value keeps every type exactly), so
 * no ATTACH is needed: ATTACH cannot happen inside a transaction and is
 * limited to 10 databases, while an array can have hundreds of shards. */
#define _GNU_SOURCE
#include "merge.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "rec.h"

#define MERGE_BUSY_MS 120000

enum { T_RUNS, T_PER_RUN, T_SET, T_SKIP };

typedef struct {
  char *name;
  int kind;
  int n_cols;  /* copied columns (never run_id, never a rowid alias) */
  char **cols;
  char *sig;   /* "name(c1,c2,...)": every column, for comparing schemas */
  sqlite3_stmt *ins, *del; /* on the output */
} table;

typedef struct {
  sqlite3 *db;
  const char *path;
  table *t;
  int n_t;
} conn;

static int sql_err(const conn *c, char *err, size_t errlen, const char *what) {
  return psgd_err(err, errlen, "%s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static void tables_free(table *t, int n) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < t[i].n_cols; j++) sqlite3_free(t[i].cols[j]);
    free(t[i].cols);
    sqlite3_free(t[i].name);
    sqlite3_free(t[i].sig);
    sqlite3_finalize(t[i].ins);
    sqlite3_finalize(t[i].del);
  }
  free(t);
}

static void conn_close(conn *c) {
  tables_free(c->t, c->n_t);
  c->t = NULL;
  c->n_t = 0;
  sqlite3_close(c->db);
  c->db = NULL;
}

/* Reads the tables of c (not sqlite_*, never views) and their columns. */
static int read_tables(conn *c, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL, *ci = NULL;
  int rc = -1;
  if (sqlite3_prepare_v2(c->db,
                         "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE"
                         " 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(c->db, "SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid",
                         -1, &ci, NULL) != SQLITE_OK) {
    sql_err(c, err, errlen, "cannot read the schema");
    goto out;
  }
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    table *nt = realloc(c->t, (size_t)(c->n_t + 1) * sizeof *nt);
    if (!nt) {
      psgd_err(err, errlen, "%s: out of memory", c->path);
      goto out;
    }
    c->t = nt;
    table *t = &c->t[c->n_t++];
    memset(t, 0, sizeof *t);
    t->name = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_str *sig = sqlite3_str_new(NULL);
    sqlite3_str_appendf(sig, "%s(", t->name);
    sqlite3_bind_text(ci, 1, t->name, -1, SQLITE_TRANSIENT);
    int has_run_id = 0, n_pk = 0, n_all = 0;
    char *int_pk = NULL; /* the rowid alias, if the table has one */
    while ((s = sqlite3_step(ci)) == SQLITE_ROW) {
      const char *cn = (const char *)sqlite3_column_text(ci, 0);
      const char *ty = (const char *)sqlite3_column_text(ci, 1);
      int pk = sqlite3_column_int(ci, 2);
      sqlite3_str_appendf(sig, "%s%s", n_all++ ? "," : "", cn);
      if (pk) n_pk++;
      if (!strcmp(cn, "run_id")) {
        has_run_id = 1;
        continue;
      }
      if (pk == 1 && ty && !sqlite3_stricmp(ty, "INTEGER")) {
        sqlite3_free(int_pk);
        int_pk = sqlite3_mprintf("%s", cn);
      }
      char **nc = realloc(t->cols, (size_t)(t->n_cols + 1) * sizeof *nc);
      if (!nc) {
        sqlite3_free(int_pk);
        sqlite3_free(sqlite3_str_finish(sig));
        psgd_err(err, errlen, "%s: out of memory", c->path);
        goto out;
      }
      t->cols = nc;
      t->cols[t->n_cols++] = sqlite3_mprintf("%s", cn);
    }
    sqlite3_reset(ci);
    sqlite3_str_appendall(sig, ")");
    t->sig = sqlite3_str_finish(sig);
    if (s != SQLITE_DONE) {
      sqlite3_free(int_pk);
      sql_err(c, err, errlen, "cannot read a table's columns");
      goto out;
    }
    /* An INTEGER PRIMARY KEY alone is the rowid: numbered afresh by the output. */
    if (int_pk && n_pk == 1)
      for (int j = 0; j < t->n_cols; j++)
        if (!strcmp(t->cols[j], int_pk)) {
          sqlite3_free(t->cols[j]);
          memmove(&t->cols[j], &t->cols[j + 1], (size_t)(t->n_cols - j - 1) * sizeof *t->cols);
          t->n_cols--;
          break;
        }
    sqlite3_free(int_pk);
    if (!strcmp(t->name, "runs")) t->kind = T_RUNS;
    else if (!strcmp(t->name, "meta")) t->kind = T_SKIP;
    else t->kind = has_run_id ? T_PER_RUN : T_SET;
  }
  if (s != SQLITE_DONE) {
    sql_err(c, err, errlen, "cannot read the schema");
    goto out;
  }
  rc = 0;
out:
  sqlite3_finalize(st);
  sqlite3_finalize(ci);
  return rc;
}

static const table *find_table(const conn *c, const char *name) {
  for (int i = 0; i < c->n_t; i++)
    if (!strcmp(c->t[i].name, name)) return &c->t[i];
  return NULL;
}

/* The same tables with the same columns (the schema version alone does not
 * prove it: a database can be changed by hand). */
static int same_schema(const conn *out, const conn *in, char *err, size_t errlen) {
  for (int i = 0; i < out->n_t; i++) {
    const table *o = &out->t[i], *x = find_table(in, o->name);
    if (!x)
      return psgd_err(err, errlen, "%s: has no table '%s' (%s has it): not the same schema; "
                      "nothing merged", in->path, o->name, out->path);
    if (strcmp(o->sig, x->sig))
      return psgd_err(err, errlen, "%s: table %s differs from %s's %s: not the same schema; "
                      "nothing merged", in->path, x->sig, out->path, o->sig);
  }
  for (int i = 0; i < in->n_t; i++)
    if (!find_table(out, in->t[i].name))
      return psgd_err(err, errlen, "%s: has a table '%s' that %s lacks: not the same schema; "
                      "nothing merged", in->path, in->t[i].name, out->path);
  if (!find_table(out, "runs"))
    return psgd_err(err, errlen, "%s: has no runs table", out->path);
  return 0;
}

/* "c1, c2, ..." quoted. */
static void append_cols(sqlite3_str *s, const table *t) {
  for (int j = 0; j < t->n_cols; j++) sqlite3_str_appendf(s, "%s\"%w\"", j ? ", " : "", t->cols[j]);
}

static int prepare_str(conn *c, sqlite3_str *s, sqlite3_stmt **st, char *err, size_t errlen) {
  char *sql = sqlite3_str_finish(s);
  if (!sql) return psgd_err(err, errlen, "%s: out of memory", c->path);
  int rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return sql_err(c, err, errlen, "cannot prepare a merge statement");
  return 0;
}

/* SELECT of t's copied columns from c: per run (run_id = ?1) or all rows,
 * in rowid order where the table has rowids. */
static int prepare_select(conn *c, const table *t, sqlite3_stmt **st, char *err, size_t errlen) {
  for (int ordered = 1; ordered >= 0; ordered--) {
    sqlite3_str *s = sqlite3_str_new(c->db);
    sqlite3_str_appendall(s, "SELECT ");
    append_cols(s, t);
    sqlite3_str_appendf(s, " FROM \"%w\"", t->name);
    if (t->kind != T_SET && t->kind != T_SKIP) sqlite3_str_appendall(s, " WHERE run_id = ?1");
    if (ordered) sqlite3_str_appendall(s, " ORDER BY rowid");
    char *sql = sqlite3_str_finish(s);
    if (!sql) return psgd_err(err, errlen, "%s: out of memory", c->path);
    int rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK) return 0;
  }
  return sql_err(c, err, errlen, "cannot prepare a read of a table");
}

/* The output's INSERT (and DELETE by run_id) of every table. */
static int prepare_out(conn *o, char *err, size_t errlen) {
  for (int i = 0; i < o->n_t; i++) {
    table *t = &o->t[i];
    if (t->kind == T_SKIP) continue;
    sqlite3_str *s = sqlite3_str_new(o->db);
    int base = t->kind == T_PER_RUN ? 2 : 1; /* ?1 = run_id of a per-run row */
    if (t->kind == T_SET) sqlite3_str_appendf(s, "INSERT OR IGNORE INTO \"%w\" (", t->name);
    else sqlite3_str_appendf(s, "INSERT INTO \"%w\" (%s", t->name,
                             t->kind == T_PER_RUN ? "run_id, " : "");
    append_cols(s, t);
    sqlite3_str_appendall(s, ") SELECT ");
    if (t->kind == T_PER_RUN) sqlite3_str_appendall(s, "?1, ");
    for (int j = 0; j < t->n_cols; j++) sqlite3_str_appendf(s, "%s?%d", j ? ", " : "", base + j);
    /* A set table may lack a unique key: an identical row is not added twice. */
    if (t->kind == T_SET) {
      sqlite3_str_appendf(s, " WHERE NOT EXISTS (SELECT 1 FROM \"%w\" WHERE ", t->name);
      for (int j = 0; j < t->n_cols; j++)
        sqlite3_str_appendf(s, "%s\"%w\" IS ?%d", j ? " AND " : "", t->cols[j], base + j);
      sqlite3_str_appendall(s, ")");
    }
    if (prepare_str(o, s, &t->ins, err, errlen)) return -1;
    if (t->kind == T_SET) continue;
    s = sqlite3_str_new(o->db);
    sqlite3_str_appendf(s, "DELETE FROM \"%w\" WHERE run_id = ?1", t->name);
    if (prepare_str(o, s, &t->del, err, errlen)) return -1;
  }
  return 0;
}

static int finished(const char *status) { return rec_run_state_kept(rec_run_state_of(status)); }

/* Same type and same value (text and blobs byte for byte, reals bit for bit). */
static int same_value(sqlite3_value *a, sqlite3_value *b) {
  int ta = sqlite3_value_type(a), tb = sqlite3_value_type(b);
  if (ta != tb) return 0;
  switch (ta) {
  case SQLITE_NULL: return 1;
  case SQLITE_INTEGER: return sqlite3_value_int64(a) == sqlite3_value_int64(b);
  case SQLITE_FLOAT: {
    double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
    return memcmp(&x, &y, sizeof x) == 0;
  }
  default: {
    const void *pa = ta == SQLITE_TEXT ? (const void *)sqlite3_value_text(a) : sqlite3_value_blob(a);
    const void *pb = ta == SQLITE_TEXT ? (const void *)sqlite3_value_text(b) : sqlite3_value_blob(b);
    int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
    return na == nb && (na == 0 || memcmp(pa, pb, (size_t)na) == 0);
  }
  }
}

/* Copies the rows of every per-run table of input run in_id to out run out_id. */
static long copy_rows(conn *o, conn *in, sqlite3_stmt **sel, int64_t in_id, int64_t out_id,
                      char *err, size_t errlen) {
  long n = 0;
  for (int i = 0; i < o->n_t; i++) {
    table *t = &o->t[i];
    if (t->kind != T_PER_RUN) continue;
    sqlite3_stmt *s = sel[i];
    sqlite3_bind_int64(s, 1, in_id);
    /* A row of step_chunks holds n steps: count steps, not chunks. */
    int n_col = -1;
    for (int j = 0; !strcmp(t->name, "step_chunks") && j < t->n_cols; j++)
      if (!strcmp(t->cols[j], "n")) n_col = j;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      sqlite3_bind_int64(t->ins, 1, out_id);
      for (int j = 0; j < t->n_cols; j++) sqlite3_bind_value(t->ins, j + 2, sqlite3_column_value(s, j));
      int w = sqlite3_step(t->ins);
      sqlite3_reset(t->ins);
      if (w != SQLITE_DONE) {
        sqlite3_reset(s);
        return sql_err(o, err, errlen, "cannot copy a row");
      }
      n += n_col >= 0 ? (long)sqlite3_column_int64(s, n_col) : 1;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return sql_err(in, err, errlen, "cannot read a run's rows");
  }
  return n;
}

static int delete_run(conn *o, int64_t id, char *err, size_t errlen) {
  for (int i = 0; i < o->n_t; i++) {
    table *t = &o->t[i];
    if (!t->del) continue;
    sqlite3_bind_int64(t->del, 1, id);
    int rc = sqlite3_step(t->del);
    sqlite3_reset(t->del);
    if (rc != SQLITE_DONE) return sql_err(o, err, errlen, "cannot delete an unfinished run");
  }
  return 0;
}

/* Names the first runs column whose values differ, for the conflict message. */
static const char *first_diff(const table *runs, sqlite3_stmt *a, sqlite3_stmt *b) {
  for (int j = 0; j < runs->n_cols; j++)
    if (!same_value(sqlite3_column_value(a, j), sqlite3_column_value(b, j))) return runs->cols[j];
  return NULL;
}

static int merge_one(conn *o, const char *in_path, merge_stats *ms, char *err, size_t errlen) {
  conn in = {NULL, in_path, NULL, 0};
  sqlite3_stmt **sel = NULL, *list = NULL, *find = NULL, *o_row = NULL;
  int rc = -1;
  memset(ms, 0, sizeof *ms);
  /* Read-write (no CREATE) so that closing removes the -wal/-shm files a
   * read-only connection would leave; query_only keeps the input unchanged. */
  if (sqlite3_open_v2(in_path, &in.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
      sqlite3_exec(in.db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
    if (in.db) sql_err(&in, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", in_path);
    goto out;
  }
  sqlite3_busy_timeout(in.db, MERGE_BUSY_MS);
  /* One snapshot of the input for the whole copy. */
  if (sqlite3_exec(in.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    sql_err(&in, err, errlen, "cannot start a read transaction");
    goto out;
  }
  if (read_tables(&in, err, errlen) || same_schema(o, &in, err, errlen)) goto out;
  if (!(sel = calloc((size_t)o->n_t, sizeof *sel))) {
    psgd_err(err, errlen, "%s: out of memory", in_path);
    goto out;
  }
  const table *runs = NULL;
  int i_runs = -1;
  for (int i = 0; i < o->n_t; i++) {
    if (o->t[i].kind == T_SKIP) continue;
    if (o->t[i].kind == T_RUNS) {
      runs = &o->t[i];
      i_runs = i;
    }
    if (prepare_select(&in, &o->t[i], &sel[i], err, errlen)) goto out;
  }
  sqlite3_str *s = sqlite3_str_new(o->db);
  sqlite3_str_appendall(s, "SELECT ");
  append_cols(s, runs);
  sqlite3_str_appendall(s, " FROM runs WHERE run_id = ?1");
  if (prepare_str(o, s, &o_row, err, errlen)) goto out;
  if (sqlite3_prepare_v2(in.db, "SELECT run_id, key, status FROM runs ORDER BY run_id", -1, &list,
                         NULL) != SQLITE_OK) {
    sql_err(&in, err, errlen, "cannot read the runs");
    goto out;
  }
  if (sqlite3_prepare_v2(o->db, "SELECT run_id, status FROM runs WHERE key = ?1", -1, &find,
                         NULL) != SQLITE_OK) {
    sql_err(o, err, errlen, "cannot prepare a key lookup");
    goto out;
  }
  int step;
  while ((step = sqlite3_step(list)) == SQLITE_ROW) {
    ms->n_runs++;
    int64_t in_id = sqlite3_column_int64(list, 0);
    const char *key = (const char *)sqlite3_column_text(list, 1);
    const char *status = (const char *)sqlite3_column_text(list, 2);
    if (!finished(status)) {
      ms->n_unfinished++;
      continue;
    }
    sqlite3_bind_text(find, 1, key, -1, SQLITE_TRANSIENT);
    int f = sqlite3_step(find);
    int64_t out_id = 0;
    char out_status[32] = "";
    if (f == SQLITE_ROW) {
      out_id = sqlite3_column_int64(find, 0);
      snprintf(out_status, sizeof out_status, "%s", (const char *)sqlite3_column_text(find, 1));
    }
    sqlite3_reset(find);
    if (f != SQLITE_ROW && f != SQLITE_DONE) {
      sql_err(o, err, errlen, "cannot look a key up");
      goto out;
    }
    if (f == SQLITE_ROW && finished(out_status)) {
      /* Both finished: identical rows are the same run (merged before). */
      sqlite3_stmt *a = sel[i_runs];
      sqlite3_bind_int64(a, 1, in_id);
      sqlite3_bind_int64(o_row, 1, out_id);
      int ra = sqlite3_step(a), rb = sqlite3_step(o_row);
      const char *diff = NULL;
      if (ra == SQLITE_ROW && rb == SQLITE_ROW) diff = first_diff(runs, a, o_row);
      else {
        sqlite3_reset(a);
        sqlite3_reset(o_row);
        sql_err(ra == SQLITE_ROW ? o : &in, err, errlen, "cannot read a run");
        goto out;
      }
      if (diff) {
        char va[64], vb[64];
        int j = 0;
        while (strcmp(runs->cols[j], diff)) j++;
        snprintf(va, sizeof va, "%s", sqlite3_column_text(a, j) ? (const char *)sqlite3_column_text(a, j) : "NULL");
        snprintf(vb, sizeof vb, "%s", sqlite3_column_text(o_row, j) ? (const char *)sqlite3_column_text(o_row, j) : "NULL");
        psgd_err(err, errlen, "%s: run %s (%s) conflicts with the one already merged into %s: "
                 "both finished ('%s' here, '%s' there) but %s differs ('%s' vs '%s'): two "
                 "different executions of one run; nothing merged, %s unchanged (remove one "
                 "of them or merge into another file)", in_path, key, status, o->path, status,
                 out_status, diff, va, vb, o->path);
        sqlite3_reset(a);
        sqlite3_reset(o_row);
        goto out;
      }
      sqlite3_reset(a);
      sqlite3_reset(o_row);
      ms->n_same++;
      continue;
    }
    if (f == SQLITE_ROW) {
      if (delete_run(o, out_id, err, errlen)) goto out;
      ms->n_replaced++;
    } else {
      ms->n_added++;
    }
    /* The runs row: every column but run_id; the output numbers it. */
    sqlite3_stmt *r = sel[i_runs];
    sqlite3_bind_int64(r, 1, in_id);
    if (sqlite3_step(r) != SQLITE_ROW) {
      sqlite3_reset(r);
      sql_err(&in, err, errlen, "cannot read a run");
      goto out;
    }
    for (int j = 0; j < runs->n_cols; j++) sqlite3_bind_value(runs->ins, j + 1, sqlite3_column_value(r, j));
    int w = sqlite3_step(runs->ins);
    sqlite3_reset(runs->ins);
    sqlite3_reset(r);
    if (w != SQLITE_DONE) {
      sql_err(o, err, errlen, "cannot insert a run");
      goto out;
    }
    int64_t new_id = sqlite3_last_insert_rowid(o->db);
    long n = copy_rows(o, &in, sel, in_id, new_id, err, errlen);
    if (n < 0) goto out;
    ms->n_rows += n;
  }
  if (step != SQLITE_DONE) {
    sql_err(&in, err, errlen, "cannot read the runs");
    goto out;
  }
  /* Tables without run_id: the rows the output lacks. */
  for (int i = 0; i < o->n_t; i++) {
    table *t = &o->t[i];
    if (t->kind != T_SET) continue;
    int r;
    while ((r = sqlite3_step(sel[i])) == SQLITE_ROW) {
      for (int j = 0; j < t->n_cols; j++) sqlite3_bind_value(t->ins, j + 1, sqlite3_column_value(sel[i], j));
      int w = sqlite3_step(t->ins);
      sqlite3_reset(t->ins);
      if (w != SQLITE_DONE) {
        sqlite3_reset(sel[i]);
        sql_err(o, err, errlen, "cannot copy a row");
        goto out;
      }
    }
    sqlite3_reset(sel[i]);
    if (r != SQLITE_DONE) {
      sql_err(&in, err, errlen, "cannot read a table");
      goto out;
    }
  }
  rc = 0;
out:
  if (sel)
    for (int i = 0; i < o->n_t; i++) sqlite3_finalize(sel[i]);
  free(sel);
  sqlite3_finalize(list);
  sqlite3_finalize(find);
  sqlite3_finalize(o_row);
  if (in.db) sqlite3_exec(in.db, "ROLLBACK", NULL, NULL, NULL);
  conn_close(&in);
  return rc;
}

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The schema version of an existing file, checked like rec_open checks it;
 * `what` names its role in the message. */
static int check_version(const char *path, const char *what, int allow_empty, char *err,
                         size_t errlen) {
  int v;
  if (rec_inspect(path, &v, err, errlen)) return -1;
  if (v == rec_schema_version() || (allow_empty && v == 0)) return 0;
  if (v == 0)
    return psgd_err(err, errlen, "%s: %s is not a psgd results database yet (no schema): "
                    "nothing to merge from it", path, what);
  return psgd_err(err, errlen, "%s: %s has schema version %d, this psgd writes version %d: "
                  "merge works on one schema version only; upgrade it by opening it once with "
                  "this psgd (psgd run FILE --db %s --only key=none runs nothing), then merge",
                  path, what, v, rec_schema_version(), path);
}

int merge_dbs(const char *out, const char *const *in, int n_in, merge_stats *per_in, char *err,
              size_t errlen) {
  struct stat so;
  int existed = stat(out, &so) == 0, was_empty = existed && so.st_size == 0;
  if (existed && check_version(out, "the output", 1, err, errlen)) return -1;
  for (int i = 0; i < n_in; i++) {
    struct stat si;
    if (stat(in[i], &si) != 0)
      return psgd_err(err, errlen, "%s: cannot open: %s", in[i], strerror(errno));
    if (existed && same_file(&so, &si))
      return psgd_err(err, errlen, "%s: is the output itself; give it once, as OUT", in[i]);
    if (check_version(in[i], "input", 0, err, errlen)) return -1;
  }
  /* The recorder creates (or checks) the output's schema. */
  rec *r = rec_open(out, err, errlen);
  if (!r) return -1;
  rec_close(r);

  conn o = {NULL, out, NULL, 0};
  int rc = -1;
  if (sqlite3_open_v2(out, &o.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    if (o.db) sql_err(&o, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", out);
    goto out_with_out;
  }
  sqlite3_busy_timeout(o.db, MERGE_BUSY_MS);
  if (sqlite3_exec(o.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    sql_err(&o, err, errlen, "cannot start a write transaction");
    goto out_with_out;
  }
  if (read_tables(&o, err, errlen) || prepare_out(&o, err, errlen)) goto out_rollback;
  for (int i = 0; i < n_in; i++)
    if (merge_one(&o, in[i], &per_in[i], err, errlen)) goto out_rollback;
  if (sqlite3_exec(o.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    sql_err(&o, err, errlen, "cannot commit the merge");
    goto out_rollback;
  }
  rc = 0;
  goto out_with_out;
out_rollback:
  sqlite3_exec(o.db, "ROLLBACK", NULL, NULL, NULL);
out_with_out:
  conn_close(&o);
  /* A refused merge leaves no trace: the file it created goes again. */
  if (rc && !existed) {
    char p[4096];
    unlink(out);
    snprintf(p, sizeof p, "%s-wal", out);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", out);
    unlink(p);
  } else if (rc && was_empty && truncate(out, 0) != 0) {
    /* err says why the merge failed; the file then holds an empty schema */
  }
  return rc;
}
