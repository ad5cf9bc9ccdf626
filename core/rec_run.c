/* rec_run.c - the run lifecycle in results.db: begin, claim (safe against
 * other sweeps), info, end, mark, and the lookups by run key, among them
 * rec_run_done, the one answer to "is this run finished" (see rec.h,
 * "Lifecycle of one run" and "Concurrency"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "gemm.h"
#include "host.h"
#include "rec_db.h"

rec_run_state rec_run_state_of(const char *status) {
  static const struct {
    const char *name;
    rec_run_state st;
  } states[] = {
      {"running", REC_RUN_UNFINISHED}, {"interrupted", REC_RUN_UNFINISHED},
      {"crashed", REC_RUN_CRASHED},    {"timeout", REC_RUN_TIMEOUT},
      {"ok", REC_RUN_RESULT},          {"converged", REC_RUN_RESULT},
      {"diverged", REC_RUN_RESULT},
  };
  if (!status || !status[0]) return REC_RUN_ABSENT;
  for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
    if (!strcmp(status, states[i].name)) return states[i].st;
  return REC_RUN_UNFINISHED;
}

int rec_run_state_final(rec_run_state st) {
  return st == REC_RUN_RESULT || st == REC_RUN_TIMEOUT || st == REC_RUN_CRASHED;
}

int rec_run_state_skip(rec_run_state st, int retry_failed) {
  return st == REC_RUN_RESULT || (rec_run_state_final(st) && !retry_failed);
}

int rec_run_state_kept(rec_run_state st) {
  return st == REC_RUN_RESULT || st == REC_RUN_TIMEOUT;
}

/* A run that produced a result; rec_run_begin never replaces one. */
static int is_result(const char *status) { return rec_run_state_of(status) == REC_RUN_RESULT; }

/* Looks a key up: 1 found (id, status filled), 0 absent, -1 error. */
static int find_key(rec *r, const char *key, int64_t *id, char *status, size_t cap, char *err,
                    size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(r->db, "SELECT run_id, status FROM runs WHERE key = ?1", -1, &st,
                         NULL) != SQLITE_OK)
    return rec_db_err(r, err, errlen, "cannot look a run up");
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), out;
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    const char *s = (const char *)sqlite3_column_text(st, 1);
    snprintf(status, cap, "%s", s ? s : "");
    out = 1;
  } else if (rc == SQLITE_DONE) {
    out = 0;
  } else {
    out = rec_db_err(r, err, errlen, "cannot look a run up");
  }
  sqlite3_finalize(st);
  return out;
}

static int delete_rows(rec *r, int64_t run_id, int with_run, char *err, size_t errlen) {
  static const char *const sql[] = {
      "DELETE FROM step_chunks WHERE run_id = ?1", "DELETE FROM evals WHERE run_id = ?1",
      "DELETE FROM events WHERE run_id = ?1", "DELETE FROM placement WHERE run_id = ?1",
      "DELETE FROM runs WHERE run_id = ?1"};
  size_t n = sizeof sql / sizeof sql[0] - (with_run ? 0 : 1);
  for (size_t i = 0; i < n; i++) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql[i], -1, &st, NULL) != SQLITE_OK)
      return rec_db_err(r, err, errlen, "cannot delete a run's rows");
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return rec_db_err(r, err, errlen, "cannot delete a run's rows");
  }
  return 0;
}

int rec_run_finished(rec *r, const char *key, char *err, size_t errlen) {
  int64_t id;
  char status[32];
  int f = find_key(r, key, &id, status, sizeof status, err, errlen);
  if (f <= 0) return f;
  return rec_run_state_final(rec_run_state_of(status));
}

/* The versions JSON: ours, merged with what the caller passed (a JSON object
 * is merged key by key, anything else is kept under "other"). */
#define VERSIONS_SQL(base, arg)                                                       \
  "CASE WHEN " arg " IS NULL THEN " base " WHEN json_valid(" arg ") AND json_type(" arg \
  ") = 'object' THEN json_patch(" base ", " arg ") ELSE json_set(" base ", '$.other', " arg ") END"
/* blas: the kernels the model's products run on (gemm.h), e.g. the OpenBLAS
 * core type its DYNAMIC_ARCH build picked or OPENBLAS_CORETYPE forced */
#define OUR_VERSIONS \
  "json_object('sqlite', sqlite_version(), 'openblas', ?30, 'schema', ?31, 'blas', ?32)"

/* Inside a write transaction: inserts the runs row of key with status
 * 'running', claimed by the calling process (host, pid, claim). */
static int insert_run(rec *r, const run_spec *s, const char *key, const char *topology_xml,
                      const char *versions, int64_t *run_id, char *err, size_t errlen) {
  size_t cap = 65536;
  char *json = malloc(cap);
  if (!json) return psgd_err(err, errlen, "%s: out of memory", r->path);
  if (spec_to_json(s, json, cap) < 0) {
    free(json);
    return psgd_err(err, errlen, "%s: run %s: spec JSON longer than %zu bytes", r->path, key, cap);
  }
  sqlite3_stmt *st = NULL;
  int out = -1;
  const host_facts *h = host_get();
  char claim[128];
  host_claim_text(claim, sizeof claim);
  static const char sql[] =
      "INSERT INTO runs (key, experiment, label, spec, algorithm, sync, store, backoff,"
      " y_control, optimizer, threads, placement, dataset, model, batch, lr, momentum, y0, seed,"
      " repetition, target_acc, epsilon, status, started_at, git_commit, host, cpu_model, pid,"
      " topology_xml, claim, versions, alloc, clock, step_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
      " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, 'running',"
      " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?23, ?24, ?25, ?26, ?27, ?29, " VERSIONS_SQL(
          OUR_VERSIONS, "?28") ", CASE WHEN ?40 IS NULL THEN NULL ELSE json_object('job', ?40,"
      " 'array_job', ?41, 'array_task', ?42, 'node', ?43, 'cpus_per_task', ?44, 'cpus', ?45)"
      " END, ?46, ?47)";
  if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
    rec_db_err(r, err, errlen, "cannot prepare the runs row");
    goto out;
  }
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, s->experiment, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, s->label, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, s->algorithm, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, s->dispatcher, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, s->store, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, s->backoff, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, s->y_control, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, s->optimizer, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 11, s->threads);
  sqlite3_bind_text(st, 12, s->placement, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 13, s->dataset, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 14, s->model, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 15, s->batch);
  sqlite3_bind_double(st, 16, s->lr);
  sqlite3_bind_double(st, 17, s->momentum);
  sqlite3_bind_int64(st, 18, s->y0);
  /* A seed above INT64_MAX would read back negative: keep it exact as text. */
  char seed[24];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
  if (s->seed <= (uint64_t)INT64_MAX) sqlite3_bind_int64(st, 19, (sqlite3_int64)s->seed);
  else sqlite3_bind_text(st, 19, seed, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 20, s->repetition);
  sqlite3_bind_double(st, 21, s->target_acc);
  sqlite3_bind_double(st, 22, s->epsilon);
  sqlite3_bind_text(st, 23, h->git, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 24, h->host, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 25, h->cpu, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 26, (sqlite3_int64)getpid());
  if (topology_xml) sqlite3_bind_text(st, 27, topology_xml, -1, SQLITE_STATIC);
  if (versions) sqlite3_bind_text(st, 28, versions, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 29, claim, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 30, h->openblas, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 31, rec_schema_version());
  sqlite3_bind_text(st, 32, gemm_kernel_name(), -1, SQLITE_STATIC);
  if (h->job[0]) {
    const char *a[] = {h->job, h->array_job, h->array_task, h->node,
                       h->cpus_per_task, h->cpus};
    for (int i = 0; i < 6; i++)
      if (a[i][0]) sqlite3_bind_text(st, 40 + i, a[i], -1, SQLITE_STATIC);
  }
  const int virt = !strcmp(s->clock, "virtual");
  sqlite3_bind_text(st, 46, virt ? "virtual" : "real", -1, SQLITE_STATIC);
  if (virt) sqlite3_bind_text(st, 47, s->step_time, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rec_db_err(r, err, errlen, "cannot insert the runs row");
    goto out;
  }
  *run_id = sqlite3_last_insert_rowid(r->db);
  out = 0;
out:
  sqlite3_finalize(st);
  free(json);
  return out;
}

int rec_run_begin(rec *r, const run_spec *s, const char *key, const char *topology_xml,
                  const char *versions, int64_t *run_id, char *err, size_t errlen) {
  int64_t old;
  char status[32];
  if (rec_db_begin(r, err, errlen)) return -1;
  int f = find_key(r, key, &old, status, sizeof status, err, errlen);
  if (f < 0) goto out_rollback;
  if (f == 1) {
    if (is_result(status)) {
      psgd_err(err, errlen, "%s: run %s already finished with status '%s'; not replaced "
               "(delete it or use another database)", r->path, key, status);
      goto out_rollback;
    }
    if (delete_rows(r, old, 1, err, errlen)) goto out_rollback;
  }
  if (insert_run(r, s, key, topology_xml, versions, run_id, err, errlen)) goto out_rollback;
  return rec_db_commit(r, err, errlen);
out_rollback:
  rec_db_rollback(r);
  return -1;
}
int rec_run_lookup(rec *r, const char *key, int64_t *run_id, char *status, size_t cap, char *err,
                   size_t errlen) {
  *run_id = 0;
  if (cap) status[0] = '\0';
  return find_key(r, key, run_id, status, cap, err, errlen);
}

int rec_run_step_durations(rec *r, const char *key, uint64_t **ns, size_t *n, char *err,
                           size_t errlen) {
  *ns = NULL;
  *n = 0;
  int64_t id = 0;
  char status[32];
  int f = find_key(r, key, &id, status, sizeof status, err, errlen);
  if (f < 0) return -1;
  if (f == 0) return psgd_err(err, errlen, "%s: no run with key %s", r->path, key);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(r->db,
                         "SELECT t_end_ns - t_start_ns FROM steps WHERE run_id = ?1 ORDER BY finish",
                         -1, &st, NULL) != SQLITE_OK)
    return rec_db_err(r, err, errlen, "cannot read the step durations");
  sqlite3_bind_int64(st, 1, id);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 4096;
      uint64_t *v = realloc(*ns, cap * sizeof *v);
      if (!v) {
        sqlite3_finalize(st);
        free(*ns);
        *ns = NULL;
        *n = 0;
        return psgd_err(err, errlen, "%s: out of memory for the step durations", r->path);
      }
      *ns = v;
    }
    sqlite3_int64 x = sqlite3_column_int64(st, 0);
    (*ns)[(*n)++] = x > 0 ? (uint64_t)x : 1;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    free(*ns);
    *ns = NULL;
    *n = 0;
    return rec_db_err(r, err, errlen, "cannot read the step durations");
  }
  if (*n == 0) return psgd_err(err, errlen, "%s: run %s has no step records", r->path, key);
  return 0;
}

int rec_run_claim(rec *r, const run_spec *s, const char *key, int64_t seen_id, int64_t *run_id,
                  char *note, size_t notecap, char *err, size_t errlen) {
  note[0] = '\0';
  int64_t old = 0;
  char status[32];
  sqlite3_stmt *st = NULL;
  if (rec_db_begin(r, err, errlen)) return -1;
  int f = find_key(r, key, &old, status, sizeof status, err, errlen);
  if (f < 0) goto out_rollback;
  if (f == 1) {
    if (is_result(status)) {
      snprintf(note, notecap, "finished by another process, status %s", status);
      rec_db_rollback(r);
      return REC_CLAIM_DONE;
    }
    if (!strcmp(status, "running")) {
      if (sqlite3_prepare_v2(r->db, "SELECT host, pid, claim FROM runs WHERE run_id = ?1", -1,
                             &st, NULL) != SQLITE_OK) {
        rec_db_err(r, err, errlen, "cannot read a run's claim");
        goto out_rollback;
      }
      sqlite3_bind_int64(st, 1, old);
      if (sqlite3_step(st) != SQLITE_ROW) {
        rec_db_err(r, err, errlen, "cannot read a run's claim");
        goto out_rollback;
      }
      char who[320];
      int alive = host_claimer_alive((const char *)sqlite3_column_text(st, 0),
                                (long)sqlite3_column_int64(st, 1),
                                (const char *)sqlite3_column_text(st, 2), who, sizeof who);
      sqlite3_finalize(st);
      st = NULL;
      if (alive) {
        snprintf(note, notecap, "being run by %s%s", who,
                 alive == 2 ? " (another host: cannot tell whether it still runs)" : "");
        rec_db_rollback(r);
        return alive == 2 ? REC_CLAIM_REMOTE : REC_CLAIM_LIVE;
      }
      snprintf(note, notecap, "redone: its claimer (%s) is gone", who);
    } else if (strcmp(status, "interrupted") != 0 && old != seen_id) {
      /* timeout / crashed, but not the attempt the caller chose to retry:
       * another process retried it since. */
      snprintf(note, notecap, "retried by another process, status %s", status);
      rec_db_rollback(r);
      return REC_CLAIM_DONE;
    }
    if (delete_rows(r, old, 1, err, errlen)) goto out_rollback;
  }
  if (insert_run(r, s, key, NULL, NULL, run_id, err, errlen)) goto out_rollback;
  if (rec_db_commit(r, err, errlen)) return -1;
  return REC_CLAIM_OK;
out_rollback:
  sqlite3_finalize(st);
  rec_db_rollback(r);
  return -1;
}

int rec_run_info(rec *r, int64_t run_id, const char *topology_xml, const char *versions,
                 char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (rec_db_begin(r, err, errlen)) return -1;
  if (rec_db_check_running(r, run_id, err, errlen)) goto out_rollback;
  static const char sql[] =
      "UPDATE runs SET topology_xml = coalesce(?1, topology_xml), versions = " VERSIONS_SQL(
          "coalesce(versions, " OUR_VERSIONS ")", "?2") " WHERE run_id = ?3";
  if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
    rec_db_err(r, err, errlen, "cannot prepare the run info update");
    goto out_rollback;
  }
  if (topology_xml) sqlite3_bind_text(st, 1, topology_xml, -1, SQLITE_STATIC);
  if (versions) sqlite3_bind_text(st, 2, versions, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, run_id);
  sqlite3_bind_text(st, 30, host_get()->openblas, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 31, rec_schema_version());
  sqlite3_bind_text(st, 32, gemm_kernel_name(), -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rec_db_err(r, err, errlen, "cannot update the run info");
    goto out_rollback;
  }
  sqlite3_finalize(st);
  return rec_db_commit(r, err, errlen);
out_rollback:
  sqlite3_finalize(st);
  rec_db_rollback(r);
  return -1;
}

int rec_run_end(rec *r, int64_t run_id, const run_result *res, char *err, size_t errlen) {
  if ((unsigned)res->status >= RUN_STATUS_COUNT)
    return psgd_err(err, errlen, "%s: run %lld: invalid status %d", r->path, (long long)run_id,
                    (int)res->status);
  sqlite3_stmt *st = NULL;
  if (rec_db_begin(r, err, errlen)) return -1;
  if (rec_db_check_running(r, run_id, err, errlen)) goto out_rollback;
  static const char sql[] =
      "UPDATE runs SET status = ?1, ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
      " wall_s = ?2, steps_started = ?3, steps_accepted = ?4, epochs = ?5, initial_loss = ?6,"
      " final_train_loss = ?7, final_test_loss = ?8, final_test_acc = ?9, best_test_acc = ?10,"
      " flush_s = ?11, pinned = ?12 WHERE run_id = ?13";
  if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
    rec_db_err(r, err, errlen, "cannot prepare the run result");
    goto out_rollback;
  }
  sqlite3_bind_text(st, 1, run_status_name(res->status), -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 2, res->wall_s);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)res->steps_started);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)res->steps_accepted);
  sqlite3_bind_double(st, 5, res->epochs);
  sqlite3_bind_double(st, 6, res->initial_loss);
  sqlite3_bind_double(st, 7, res->final_train_loss);
  sqlite3_bind_double(st, 8, res->final_test_loss);
  sqlite3_bind_double(st, 9, res->final_test_acc);
  sqlite3_bind_double(st, 10, res->best_test_acc);
  sqlite3_bind_double(st, 11, res->flush_s);
  sqlite3_bind_int(st, 12, res->pinned);
  sqlite3_bind_int64(st, 13, run_id);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rec_db_err(r, err, errlen, "cannot write the run result");
    goto out_rollback;
  }
  sqlite3_finalize(st);
  return rec_db_commit(r, err, errlen);
out_rollback:
  sqlite3_finalize(st);
  rec_db_rollback(r);
  return -1;
}

int rec_run_mark(rec *r, const char *key, run_status status, const char *why, char *err,
                 size_t errlen) {
  if ((unsigned)status >= RUN_STATUS_COUNT)
    return psgd_err(err, errlen, "%s: run %s: invalid status %d", r->path, key, (int)status);
  int64_t id;
  char cur[32];
  sqlite3_stmt *st = NULL;
  if (rec_db_begin(r, err, errlen)) return -1;
  int f = find_key(r, key, &id, cur, sizeof cur, err, errlen);
  if (f < 0) goto out_rollback;
  if (f == 0) {
    psgd_err(err, errlen, "%s: no run with key %s to mark %s", r->path, key,
             run_status_name(status));
    goto out_rollback;
  }
  /* A run that already ended (rec_run_end committed, then the process died
   * before reporting) keeps its complete result. */
  if (strcmp(cur, "running") != 0) {
    rec_db_rollback(r);
    return 0;
  }
  if (delete_rows(r, id, 0, err, errlen)) goto out_rollback;
  if (sqlite3_prepare_v2(r->db,
                         "UPDATE runs SET status = ?1, why = ?2,"
                         " ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE run_id = ?3",
                         -1, &st, NULL) != SQLITE_OK) {
    rec_db_err(r, err, errlen, "cannot prepare the run mark");
    goto out_rollback;
  }
  sqlite3_bind_text(st, 1, run_status_name(status), -1, SQLITE_STATIC);
  if (why) sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, id);
  if (sqlite3_step(st) != SQLITE_DONE) {
    rec_db_err(r, err, errlen, "cannot mark the run");
    goto out_rollback;
  }
  sqlite3_finalize(st);
  return rec_db_commit(r, err, errlen);
out_rollback:
  sqlite3_finalize(st);
  rec_db_rollback(r);
  return -1;
}

int rec_run_statuses(const char *path, const char *const *keys, int n, char (*status)[16],
                     char *err, size_t errlen) {
  for (int i = 0; i < n; i++) status[i][0] = '\0';
  if (rec_probe(path, err, errlen)) return -1;
  struct stat st;
  if (stat(path, &st) != 0 || st.st_size == 0) return 0;
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    psgd_err(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *q = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT status FROM runs WHERE key = ?1", -1, &q, NULL);
  if (rc != SQLITE_OK) {
    /* a database without a runs table has no runs yet */
    int no_table = strstr(sqlite3_errmsg(db), "no such table") != NULL;
    if (!no_table) psgd_err(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return no_table ? 0 : -1;
  }
  for (int i = 0; i < n; i++) {
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, keys[i], -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
      const unsigned char *s = sqlite3_column_text(q, 0);
      snprintf(status[i], 16, "%s", s ? (const char *)s : "?");
    } else if (rc != SQLITE_DONE) {
      psgd_err(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
      sqlite3_finalize(q);
      sqlite3_close(db);
      return -1;
    }
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return 0;
}
