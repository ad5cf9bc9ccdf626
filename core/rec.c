/* rec.c - the recorder: results.db schema and versioning, run lifecycle, bulk
 * inserts of steps/evals/events/placement, the steplog flush and the optional
 * background writer (see rec.h).
 *
 * SQLite settings and why (measured by bench/bench_rec.c, numbers in EXPERIMENTS.md "Recorder"):
 * - WAL + synchronous=NORMAL: readers (plots, a second sweep) never block the
 *   writer, and a commit does not fsync (a checkpoint does); an application
 *   crash never loses a committed transaction.
 * - Every write is one BEGIN IMMEDIATE transaction: the write lock is taken up
 *   front, so two processes cannot deadlock upgrading read locks, and the busy
 *   timeout makes the second one wait instead of failing.
 * - Steps go in as compressed chunks of 4096 records (rec_steps.c), one
 *   INSERT of one BLOB per chunk, many chunks per transaction.
 * - run_id is AUTOINCREMENT, so the id of a deleted run is never reused: a
 *   writer holding a stale id can never write into another run (every write
 *   also checks, inside its transaction, that its run is still 'running'). */
#define _GNU_SOURCE
#include "rec.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "gemm.h"
#include "rec_steps.h"

extern char **environ;

/* plots/views.sql, embedded by the Makefile (build/gen/views_sql.c). */
extern const char rec_views_sql[];

#define REC_APP_ID 0x50534744 /* "PSGD" in PRAGMA application_id */
#define REC_BUSY_MS 120000    /* a long flush of another process may hold the lock */
#define REC_FLUSH_TX_ROWS (256 * 1024) /* bounds the WAL: commit every this many rows */

/* ------------------------------------------------------------------------ */
/* Schema. migrations[v] brings a database from user_version v to v + 1; the
 * program's version is the number of entries. Never edit an entry that has
 * shipped: append one. */

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE runs ("
    "  run_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key TEXT NOT NULL UNIQUE,"           /* spec_key: hash of spec JSON + repetition */
    "  experiment TEXT, label TEXT,"
    "  spec TEXT,"                          /* canonical JSON (spec_to_json) */
    "  algorithm TEXT,"
    "  sync TEXT,"                          /* coarse-grained: dispatcher async|interval|sync */
    "  store TEXT,"                         /* fine-grained: hogwild|mutex|rwlock|leashed */
    "  backoff TEXT, y_control TEXT, optimizer TEXT,"
    "  threads INTEGER, placement TEXT, dataset TEXT, model TEXT, batch INTEGER,"
    "  lr REAL, momentum REAL, y0 INTEGER,"
    "  seed,"                               /* no affinity: integer, or exact text > INT64_MAX */
    "  repetition INTEGER,"
    "  target_acc REAL, epsilon REAL,"
    "  status TEXT NOT NULL CHECK (status IN ('running','ok','converged','diverged',"
    "                                         'timeout','crashed','interrupted')),"
    "  why TEXT,"                           /* rec_run_mark's reason */
    "  started_at TEXT, ended_at TEXT,"     /* UTC, ISO 8601 */
    "  wall_s REAL, flush_s REAL,"
    "  steps_started INTEGER, steps_accepted INTEGER, epochs REAL,"
    "  initial_loss REAL, final_train_loss REAL, final_test_loss REAL,"
    "  final_test_acc REAL, best_test_acc REAL, pinned INTEGER,"
    "  git_commit TEXT, host TEXT, cpu_model TEXT, pid INTEGER,"
    "  topology_xml TEXT, versions TEXT"    /* versions: JSON object */
    ");"
    "CREATE TABLE steps ("
    "  run_id INTEGER NOT NULL, step INTEGER, finish INTEGER, worker INTEGER, pu INTEGER,"
    "  t_start_ns INTEGER, t_end_ns INTEGER, version_read INTEGER, version_apply INTEGER,"
    "  staleness INTEGER, accepted INTEGER, interval INTEGER, y INTEGER, m INTEGER,"
    "  loss REAL);"
    /* Rows arrive in increasing rowid and run_id, so this index grows at its
     * right edge (bench_rec measures the cost against no index). */
    "CREATE INDEX steps_run ON steps(run_id);"
    "CREATE TABLE evals ("
    "  run_id INTEGER NOT NULL, t_ns INTEGER, steps_accepted INTEGER, epoch REAL,"
    "  train_loss REAL, test_loss REAL, test_acc REAL);"
    "CREATE INDEX evals_run ON evals(run_id, t_ns);"
    "CREATE TABLE events ("
    "  run_id INTEGER NOT NULL, t_ns INTEGER, kind TEXT, value REAL, detail TEXT);"
    "CREATE INDEX events_run ON events(run_id, t_ns);"
    "CREATE TABLE placement ("
    "  run_id INTEGER NOT NULL, worker INTEGER, pu_os INTEGER, core INTEGER, node INTEGER,"
    "  package INTEGER, bound INTEGER);"
    "CREATE INDEX placement_run ON placement(run_id, worker);"
    /* Accuracy thresholds for v_time_to_acc, filled by users or figure scripts. */
    "CREATE TABLE acc_thresholds (acc REAL PRIMARY KEY);"
    /* Small facts about the database itself (views_hash: see load_views). */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
    /* 1 -> 2: who holds a 'running' row ("boot_id pid starttime" of the
     * claiming process on runs.host), so that another sweep can tell a live
     * claimer from a dead one whose pid was reused (see claimer_alive). */
    "ALTER TABLE runs ADD COLUMN claim TEXT;",
    /* 2 -> 3: steps in compressed chunks (rec_steps.h); rec_steps_upgrade_rows
     * then moves the old rows over and replaces the table by the view steps. */
    "CREATE TABLE step_chunks ("
    "  chunk_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX step_chunks_run ON step_chunks(run_id);",
    /* 3 -> 4: the Slurm allocation a run ran in (JSON, NULL outside Slurm). */
    "ALTER TABLE runs ADD COLUMN alloc TEXT;",
    /* 4 -> 5: the execution clock (real | virtual) and, under the virtual
     * clock, its step-time model; NULL clock in older rows means real */
    "ALTER TABLE runs ADD COLUMN clock TEXT;"
    "ALTER TABLE runs ADD COLUMN step_time TEXT;",
};
#define REC_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* ------------------------------------------------------------------------ */
/* Host facts, read once per process. */

static struct {
  char git[96];
  char host[256];
  char cpu[256];
  char openblas[256];
  char boot_id[64]; /* the kernel's boot id, "-" if unknown: see claimer_alive */
  /* Slurm allocation (empty outside Slurm): see read_alloc */
  char job[64], array_job[64], array_task[32], node[256], cpus_per_task[32], cpus[1024];
} g_host;
static pthread_once_t g_host_once = PTHREAD_ONCE_INIT;

/* Runs `git -C dir ARGS...` and returns its first output line in out ("" on
 * any failure: no git, not a repository, ...). */
static void git_line(const char *dir, const char *a1, const char *a2, const char *a3, char *out,
                     size_t cap) {
  out[0] = '\0';
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) goto out_with_pipe;
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  char *argv[] = {"git", "-C", (char *)dir, (char *)a1, (char *)a2, (char *)a3, NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "git", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  fds[1] = -1;
  if (rc != 0) goto out_with_pipe;
  size_t len = 0;
  for (;;) {
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++)
      if (len + 1 < cap) out[len++] = buf[i];
  }
  out[len] = '\0';
  out[strcspn(out, "\n")] = '\0';
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  /* A failed git (exit != 0) wrote nothing useful. ECHILD (SIGCHLD ignored by
   * the caller) leaves st unknown: keep what it printed. */
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) out[0] = '\0';
out_with_pipe:
  close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
}

/* The commit of the suite that runs, recorded in runs.git_commit. Chosen:
 * read at run time, because a compile-time define goes stale whenever an
 * object is not rebuilt. Order: $PSGD_GIT_COMMIT (a build from a tarball, or a
 * cluster job that checked the tree), else `git rev-parse HEAD` in the folder
 * of the running binary (git walks up to the suite's repository) plus "-dirty"
 * if tracked files differ from HEAD, else -DPSGD_GIT_COMMIT, else "unknown". */
static void read_git_commit(void) {
  const char *env = getenv("PSGD_GIT_COMMIT");
  if (env && *env) {
    snprintf(g_host.git, sizeof g_host.git, "%s", env);
    return;
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *dir = dirname(exe);
    char head[96], dirty[96];
    git_line(dir, "rev-parse", "HEAD", NULL, head, sizeof head);
    if (strlen(head) == 40) {
      git_line(dir, "status", "--porcelain", "--untracked-files=no", dirty, sizeof dirty);
      snprintf(g_host.git, sizeof g_host.git, "%.40s%s", head, dirty[0] ? "-dirty" : "");
      return;
    }
  }
#ifdef PSGD_GIT_COMMIT
  snprintf(g_host.git, sizeof g_host.git, "%s", PSGD_GIT_COMMIT);
#else
  snprintf(g_host.git, sizeof g_host.git, "unknown");
#endif
}

static void read_cpu_model(void) {
  snprintf(g_host.cpu, sizeof g_host.cpu, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  /* x86: "model name"; many ARM kernels: "Model" or "Hardware". */
  static const char *const keys[] = {"model name", "Model", "Hardware", "cpu model"};
  int best = (int)(sizeof keys / sizeof keys[0]);
  while (fgets(line, sizeof line, f)) {
    for (int k = 0; k < best; k++) {
      size_t kl = strlen(keys[k]);
      if (strncmp(line, keys[k], kl) != 0) continue;
      const char *p = line + kl;
      while (*p == ' ' || *p == '\t') p++;
      if (*p != ':') continue;
      p++;
      while (*p == ' ') p++;
      snprintf(g_host.cpu, sizeof g_host.cpu, "%s", p);
      g_host.cpu[strcspn(g_host.cpu, "\n")] = '\0';
      best = k;
      break;
    }
  }
  fclose(f);
}

static void env_copy(const char *name, char *out, size_t cap) {
  const char *v = getenv(name);
  snprintf(out, cap, "%s", v ? v : "");
}

/* The Slurm allocation, recorded in runs.alloc: job id, array job and task,
 * node, the CPUs per task Slurm granted, and the CPUs the kernel lets this
 * process run on (sched_getaffinity, as a list "0-3,8"). Where Slurm confines
 * tasks with cgroups, hwloc sees only those CPUs, so placements go there. */
static void read_alloc(void) {
  env_copy("SLURM_JOB_ID", g_host.job, sizeof g_host.job);
  if (!g_host.job[0]) return;
  env_copy("SLURM_ARRAY_JOB_ID", g_host.array_job, sizeof g_host.array_job);
  env_copy("SLURM_ARRAY_TASK_ID", g_host.array_task, sizeof g_host.array_task);
  env_copy("SLURMD_NODENAME", g_host.node, sizeof g_host.node);
  env_copy("SLURM_CPUS_PER_TASK", g_host.cpus_per_task, sizeof g_host.cpus_per_task);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  size_t len = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &set)) continue;
    int e = c;
    while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set)) e++;
    int n = e > c ? snprintf(g_host.cpus + len, sizeof g_host.cpus - len, "%s%d-%d",
                             len ? "," : "", c, e)
                  : snprintf(g_host.cpus + len, sizeof g_host.cpus - len, "%s%d", len ? "," : "", c);
    if (n < 0 || (size_t)n >= sizeof g_host.cpus - len) break;
    len += (size_t)n;
    c = e;
  }
}

/* The kernel's boot id ("" if unreadable): process start times count from
 * boot, so they identify a process only together with it. */
static void read_boot_id(char *out, size_t cap) {
  out[0] = '\0';
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (!f) return;
  if (!fgets(out, (int)cap, f)) out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\n")] = '\0';
}

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot) and
 * the state letter. 0, or -1 when the process does not exist. */
static int proc_start(long pid, unsigned long long *start, char *state) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  /* comm (field 2) may hold spaces and parentheses: fields resume after the
   * last ')'. */
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p++;
  for (int field = 3; field <= 22; field++) {
    while (*p == ' ') p++;
    if (!*p) return -1;
    if (field == 3) *state = *p;
    if (field == 22) {
      *start = strtoull(p, NULL, 10);
      return 0;
    }
    while (*p && *p != ' ') p++;
  }
  return -1;
}

/* The calling process's claim text "boot_id pid starttime" (computed at
 * each call: a forked child that begins a run claims it for itself). */
static void claim_text(char *out, size_t cap) {
  unsigned long long start = 0;
  char state;
  if (proc_start((long)getpid(), &start, &state) != 0) start = 0;
  snprintf(out, cap, "%s %ld %llu", g_host.boot_id, (long)getpid(), start);
}

static void host_init(void) {
  read_git_commit();
  if (gethostname(g_host.host, sizeof g_host.host) != 0) snprintf(g_host.host, 8, "unknown");
  g_host.host[sizeof g_host.host - 1] = '\0';
  read_cpu_model();
  read_boot_id(g_host.boot_id, sizeof g_host.boot_id);
  if (!g_host.boot_id[0]) snprintf(g_host.boot_id, sizeof g_host.boot_id, "-");
  const char *cfg = openblas_get_config();
  snprintf(g_host.openblas, sizeof g_host.openblas, "%s", cfg ? cfg : "unknown");
  read_alloc();
}



/* ------------------------------------------------------------------------ */
/* The handle. */

struct rec {
  sqlite3 *db;
  char *path;
  dev_t dev; /* the file's identity while registered in g_open */
  ino_t ino;
  int registered;
  rec_steps_writer steps; /* chunk buffer and insert statement */
  sqlite3_stmt *st_eval, *st_event, *st_place, *st_status;
};

static int db_err(const rec *r, char *err, size_t errlen, const char *what) {
  return psgd_err(err, errlen, "%s: %s: %s", r->path, what, sqlite3_errmsg(r->db));
}

static void rollback(rec *r) {
  if (!sqlite3_get_autocommit(r->db)) sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

static int exec(rec *r, const char *sql, const char *what, char *err, size_t errlen) {
  if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK) return db_err(r, err, errlen, what);
  return 0;
}

static int begin(rec *r, char *err, size_t errlen) {
  return exec(r, "BEGIN IMMEDIATE", "cannot start a write transaction", err, errlen);
}

static int commit(rec *r, char *err, size_t errlen) {
  if (exec(r, "COMMIT", "cannot commit", err, errlen)) {
    rollback(r);
    return -1;
  }
  return 0;
}

static int prepare(rec *r, sqlite3_stmt **st, const char *sql, char *err, size_t errlen) {
  if (*st) return 0;
  if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
    return db_err(r, err, errlen, "cannot prepare a statement");
  return 0;
}

/* Inside a transaction: the run exists and is 'running'. A write into a run
 * that another process restarted (same key) or marked must fail, not land. */
static int check_running(rec *r, int64_t run_id, char *err, size_t errlen) {
  if (prepare(r, &r->st_status, "SELECT status FROM runs WHERE run_id = ?1", err, errlen))
    return -1;
  sqlite3_bind_int64(r->st_status, 1, run_id);
  int rc = sqlite3_step(r->st_status);
  int out = 0;
  if (rc == SQLITE_ROW) {
    const char *st = (const char *)sqlite3_column_text(r->st_status, 0);
    if (!st || strcmp(st, "running") != 0)
      out = psgd_err(err, errlen, "%s: run %lld is not running (status '%s'): it was ended, "
                     "marked or restarted elsewhere", r->path, (long long)run_id, st ? st : "");
  } else if (rc == SQLITE_DONE) {
    out = psgd_err(err, errlen, "%s: run %lld does not exist (restarted by another process?)",
                   r->path, (long long)run_id);
  } else {
    out = db_err(r, err, errlen, "cannot read a run's status");
  }
  sqlite3_reset(r->st_status);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Opening: recognise foreign and damaged files before SQLite touches them. */

static const char *describe_content(const unsigned char *b, size_t n) {
  if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "a PNG image";
  if (n >= 4 && !memcmp(b, "%PDF", 4)) return "a PDF document";
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return "gzip data";
  if (n >= 4 && !memcmp(b, "\x7f" "ELF", 4)) return "an executable";
  size_t text = 0;
  for (size_t i = 0; i < n; i++)
    if (b[i] == '\n' || b[i] == '\t' || b[i] == '\r' || (b[i] >= 0x20 && b[i] < 0x7f) ||
        b[i] >= 0x80)
      text++;
  return text == n ? "a text file" : "unknown binary data";
}

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 0 if path is absent, empty, or starts like an SQLite database whose size
 * agrees with its header; -1 with a message naming the file otherwise. */
static int precheck(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) return 0; /* SQLite creates it (or says why it cannot) */
  if (S_ISDIR(st.st_mode)) return psgd_err(err, errlen, "%s: is a directory, not a database", path);
  if (!S_ISREG(st.st_mode))
    return psgd_err(err, errlen, "%s: not a regular file (%s), not a database: give a file name",
                    path, S_ISCHR(st.st_mode)    ? "a character device"
                          : S_ISBLK(st.st_mode)  ? "a block device"
                          : S_ISFIFO(st.st_mode) ? "a FIFO"
                          : S_ISSOCK(st.st_mode) ? "a socket"
                                                 : "a special file");
  if (st.st_size == 0) return 0;      /* SQLite treats an empty file as a new database */
  FILE *f = fopen(path, "rb");
  if (!f) return psgd_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
  unsigned char h[100];
  size_t n = fread(h, 1, sizeof h, f);
  fclose(f);
  if (n < 16 || memcmp(h, "SQLite format 3", 16) != 0)
    return psgd_err(err, errlen, "%s: not an SQLite database (%s); give a results database "
                    "or a new file name", path, describe_content(h, n));
  if (n < 100)
    return psgd_err(err, errlen, "%s: truncated SQLite database: %zu bytes, its header alone "
                    "has 100", path, n);
  unsigned ps = be16(h + 16);
  uint64_t page = ps == 1 ? 65536 : ps;
  if (page < 512 || (page & (page - 1)))
    return psgd_err(err, errlen, "%s: corrupt SQLite header (page size %u)", path, ps);
  /* The header's page count is valid when its change counter matches
   * version-valid-for (file format, section 1.3.7). Only compare when no
   * -wal file exists: with one, another connection may be checkpointing and
   * the file grows behind its already written first page. */
  char wal[4096];
  snprintf(wal, sizeof wal, "%s-wal", path);
  uint32_t pages = be32(h + 28);
  if (be32(h + 24) == be32(h + 92) && pages > 0 && access(wal, F_OK) != 0 &&
      (uint64_t)st.st_size < pages * page)
    return psgd_err(err, errlen, "%s: truncated SQLite database: header says %u pages of %llu "
                    "bytes (%llu bytes), the file has %lld", path, pages,
                    (unsigned long long)page, (unsigned long long)(pages * page),
                    (long long)st.st_size);
  return 0;
}

/* Maps the error of the first reads to a message naming the file. */
static int open_err(rec *r, int rc, char *err, size_t errlen) {
  int prim = rc & 0xff;
  if (prim == SQLITE_NOTADB)
    return psgd_err(err, errlen, "%s: not an SQLite database (%s)", r->path, sqlite3_errmsg(r->db));
  if (prim == SQLITE_CORRUPT)
    return psgd_err(err, errlen, "%s: the database is corrupt (%s); check it with: sqlite3 %s "
                    "'PRAGMA integrity_check'", r->path, sqlite3_errmsg(r->db), r->path);
  return db_err(r, err, errlen, "cannot read the database");
}

static int pragma_int(rec *r, const char *sql, int *out, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      *out = sqlite3_column_int(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      *out = 0;
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK) {
    int e = sqlite3_extended_errcode(r->db);
    sqlite3_finalize(st);
    return open_err(r, e, err, errlen);
  }
  sqlite3_finalize(st);
  return 0;
}

/* What a database holds: its ids and whether it has any table at all. */
typedef struct {
  int app_id, version, n_tables;
} db_kind;

/* One statement, so one snapshot: read as three, another process creating
 * the schema in between made a new file look like "another program's
 * database" (tables but application_id 0; seen once in test_rec_fork). */
static int read_kind(rec *r, db_kind *k, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(r->db,
                              "SELECT (SELECT application_id FROM pragma_application_id),"
                              " (SELECT user_version FROM pragma_user_version),"
                              " (SELECT count(*) FROM sqlite_master WHERE type = 'table')",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    int e = sqlite3_extended_errcode(r->db);
    sqlite3_finalize(st);
    return open_err(r, e, err, errlen);
  }
  k->app_id = sqlite3_column_int(st, 0);
  k->version = sqlite3_column_int(st, 1);
  k->n_tables = sqlite3_column_int(st, 2);
  sqlite3_finalize(st);
  return 0;
}

static int check_kind(rec *r, const db_kind *k, char *err, size_t errlen) {
  if (k->app_id != REC_APP_ID && (k->app_id != 0 || k->n_tables > 0 || k->version > 0))
    return psgd_err(err, errlen, "%s: an SQLite database of another program (application_id "
                    "%d, %d tables), not a psgd results database", r->path, k->app_id,
                    k->n_tables);
  if (k->version > REC_SCHEMA_VERSION)
    return psgd_err(err, errlen, "%s: schema version %d is newer than this program's (%d): "
                    "use the psgd that wrote it, or another database", r->path, k->version,
                    REC_SCHEMA_VERSION);
  return 0;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* 1 if the database's views were made from another views.sql than ours. */
static int views_stale(rec *r, const char *hash, int *stale, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key = 'views_hash'", -1, &st,
                         NULL) != SQLITE_OK)
    return db_err(r, err, errlen, "cannot read meta");
  int rc = sqlite3_step(st);
  *stale = !(rc == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             !strcmp((const char *)sqlite3_column_text(st, 0), hash));
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_err(r, err, errlen, "cannot read meta");
  return 0;
}

/* Brings schema and views up to date. Reads first and takes the write lock
 * only when something is to be done, re-reading under the lock: two
 * processes opening a new file at once create the schema once. */
static int migrate(rec *r, char *err, size_t errlen) {
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a(rec_views_sql));
  db_kind k;
  if (read_kind(r, &k, err, errlen) || check_kind(r, &k, err, errlen)) return -1;
  int stale = 1;
  if (k.version == REC_SCHEMA_VERSION && views_stale(r, hash, &stale, err, errlen)) return -1;
  if (k.version == REC_SCHEMA_VERSION && !stale) return 0;

  if (begin(r, err, errlen)) return -1;
  if (read_kind(r, &k, err, errlen) || check_kind(r, &k, err, errlen)) goto out_rollback;
  for (int v = k.version; v < REC_SCHEMA_VERSION; v++) {
    char what[64];
    snprintf(what, sizeof what, "cannot upgrade the schema to version %d", v + 1);
    if (exec(r, migrations[v], what, err, errlen)) goto out_rollback;
    if (v == 2 && rec_steps_upgrade_rows(r->db, r->path, err, errlen)) goto out_rollback;
  }
  char sql[160];
  snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d", REC_APP_ID,
           REC_SCHEMA_VERSION);
  if (exec(r, sql, "cannot set the schema version", err, errlen)) goto out_rollback;
  if (views_stale(r, hash, &stale, err, errlen)) goto out_rollback;
  if (stale) {
    if (exec(r, rec_views_sql, "cannot create the views of plots/views.sql", err, errlen))
      goto out_rollback;
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta VALUES ('views_hash', '%s')", hash);
    if (exec(r, sql, "cannot write meta", err, errlen)) goto out_rollback;
  }
  return commit(r, err, errlen);
out_rollback:
  rollback(r);
  return -1;
}

/* journal_mode=WAL needs a moment of exclusive access; another process
 * opening the same new file can make it fail with SQLITE_BUSY without the
 * busy handler, so retry for a while. */
static int set_wal(rec *r, char *err, size_t errlen) {
  for (int tries = 0;; tries++) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const char *mode = (const char *)sqlite3_column_text(st, 0);
      int ok = mode && !strcmp(mode, "wal");
      sqlite3_finalize(st);
      if (!ok)
        return psgd_err(err, errlen, "%s: cannot switch to WAL mode (journal mode stays '%s')",
                        r->path, mode ? mode : "?");
      return 0;
    }
    int e = sqlite3_extended_errcode(r->db);
    sqlite3_finalize(st);
    if ((e & 0xff) != SQLITE_BUSY || tries >= 2000) return open_err(r, e, err, errlen);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/* Database files this process holds open through rec handles, by device and
 * inode. precheck() reads a file with fopen/fclose, and closing any descriptor
 * of a file drops every POSIX lock this process holds on it (fcntl semantics;
 * sqlite.org/howtocorrupt.html, section 2.2). Done while another handle of
 * this process is open on the file (the engine's writer thread opens a second
 * one), that silently removes the first handle's SHARED lock; another
 * process's last connection may then checkpoint and delete the WAL file
 * while we still append to it, and later commits are lost. So a file that is
 * open here already is not prechecked again, and the check-then-open of
 * rec_open is serialized by g_open_mu. */
#define REC_MAX_OPEN_FILES 64
static struct {
  dev_t dev;
  ino_t ino;
  int n;
  char path[1024]; /* the path it was first opened by ("" if longer) */
} g_open[REC_MAX_OPEN_FILES];
static pthread_mutex_t g_open_mu = PTHREAD_MUTEX_INITIALIZER;

/* With g_open_mu held: the slot of (dev, ino), or -1. */
static int open_slot(dev_t dev, ino_t ino) {
  for (int i = 0; i < REC_MAX_OPEN_FILES; i++)
    if (g_open[i].n > 0 && g_open[i].dev == dev && g_open[i].ino == ino) return i;
  return -1;
}

/* With g_open_mu held: 1 if path names a file some rec handle holds open. */
static int open_here(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && open_slot(st.st_dev, st.st_ino) >= 0;
}

/* With g_open_mu held: -1 (err filled) if this process holds path open
 * and the file at path is gone or another one now. Opening it would create
 * a new, empty database there (a sweep's second connection, e.g. the step
 * writer's, after the file was deleted), and its rows would be lost. */
static int vanished_here(const char *path, char *err, size_t errlen) {
  for (int i = 0; i < REC_MAX_OPEN_FILES; i++) {
    if (g_open[i].n == 0 || strcmp(g_open[i].path, path) != 0) continue;
    struct stat st;
    if (stat(path, &st) != 0)
      return psgd_err(err, errlen, "%s: the database was deleted while open (%s): not "
                      "creating a new one", path, strerror(errno));
    if (st.st_dev != g_open[i].dev || st.st_ino != g_open[i].ino)
      return psgd_err(err, errlen, "%s: the database was replaced by another file while open",
                      path);
  }
  return 0;
}

/* With g_open_mu held: counts r's file as open (r->db is open, nothing read
 * yet, so SQLite has taken no lock). */
static int register_open(rec *r, char *err, size_t errlen) {
  struct stat st;
  if (stat(r->path, &st) != 0)
    return psgd_err(err, errlen, "%s: cannot stat after opening: %s", r->path, strerror(errno));
  int i = open_slot(st.st_dev, st.st_ino);
  for (int j = 0; i < 0 && j < REC_MAX_OPEN_FILES; j++)
    if (g_open[j].n == 0) i = j;
  if (i < 0)
    return psgd_err(err, errlen, "%s: more than %d database files open in one process", r->path,
                    REC_MAX_OPEN_FILES);
  if (g_open[i].n == 0 && snprintf(g_open[i].path, sizeof g_open[i].path, "%s", r->path) >=
                              (int)sizeof g_open[i].path)
    g_open[i].path[0] = '\0';
  g_open[i].dev = st.st_dev;
  g_open[i].ino = st.st_ino;
  g_open[i].n++;
  r->dev = st.st_dev;
  r->ino = st.st_ino;
  r->registered = 1;
  return 0;
}

static void unregister_open(rec *r) {
  if (!r->registered) return;
  pthread_mutex_lock(&g_open_mu);
  int i = open_slot(r->dev, r->ino);
  if (i >= 0) g_open[i].n--;
  pthread_mutex_unlock(&g_open_mu);
  r->registered = 0;
}

/* With g_open_mu held: whether this process holds a handle opened by path. */
static int path_open_here(const char *path) {
  for (int i = 0; i < REC_MAX_OPEN_FILES; i++)
    if (g_open[i].n > 0 && !strcmp(g_open[i].path, path)) return 1;
  return 0;
}

static rec *open_impl(const char *path, int may_create, char *err, size_t errlen);

rec *rec_open(const char *path, char *err, size_t errlen) {
  return open_impl(path, 1, err, errlen);
}

rec *rec_open_existing(const char *path, char *err, size_t errlen) {
  return open_impl(path, 0, err, errlen);
}

/* may_create 0: the file must exist (SQLite's open without CREATE, so
 * nothing can create it between a check and the open). A path this process
 * holds open already is never created either. */
static rec *open_impl(const char *path, int may_create, char *err, size_t errlen) {
  pthread_once(&g_host_once, host_init);
  rec_steps_auto_register();
  rec *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    psgd_err(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  pthread_mutex_lock(&g_open_mu);
  if (vanished_here(path, err, errlen) || (!open_here(path) && precheck(path, err, errlen))) {
    pthread_mutex_unlock(&g_open_mu);
    goto out_with_rec;
  }
  /* NOMUTEX: one handle per thread (rec.h), so SQLite's own mutex is waste. */
  if (path_open_here(path)) may_create = 0;
  int rc = sqlite3_open_v2(path, &r->db,
                           SQLITE_OPEN_READWRITE | (may_create ? SQLITE_OPEN_CREATE : 0) |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    pthread_mutex_unlock(&g_open_mu);
    struct stat gone;
    if (!may_create && stat(path, &gone) != 0 && errno == ENOENT)
      psgd_err(err, errlen, "%s: the database does not exist (deleted while in use?): not "
               "creating a new one", path);
    else if (r->db) db_err(r, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", path);
    goto out_with_rec;
  }
  rc = register_open(r, err, errlen);
  pthread_mutex_unlock(&g_open_mu);
  if (rc) goto out_with_rec;
  sqlite3_extended_result_codes(r->db, 1);
  sqlite3_busy_timeout(r->db, REC_BUSY_MS);
  /* Identify before changing anything: a foreign database stays untouched. */
  db_kind k;
  if (read_kind(r, &k, err, errlen) || check_kind(r, &k, err, errlen)) goto out_with_rec;
  if (set_wal(r, err, errlen)) goto out_with_rec;
  if (exec(r, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;"
              "PRAGMA cache_size = -65536",
           "cannot set pragmas", err, errlen))
    goto out_with_rec;
  if (migrate(r, err, errlen)) goto out_with_rec;
  /* Walk the right edge of the big tables: a truncated or damaged file that
   * passed the header checks usually fails here, at open, with a clear error. */
  int dummy;
  if (pragma_int(r, "SELECT max(run_id) FROM runs", &dummy, err, errlen) ||
      pragma_int(r, "SELECT max(rowid) FROM step_chunks", &dummy, err, errlen) ||
      pragma_int(r, "SELECT max(rowid) FROM evals", &dummy, err, errlen))
    goto out_with_rec;
  return r;
out_with_rec:
  rec_close(r);
  return NULL;
}

int rec_probe(const char *path, char *err, size_t errlen) {
  pthread_once(&g_host_once, host_init);
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return 0;
    return psgd_err(err, errlen, "%s: %s", path, strerror(errno));
  }
  pthread_mutex_lock(&g_open_mu);
  int bad = !open_here(path) && precheck(path, err, errlen);
  pthread_mutex_unlock(&g_open_mu);
  if (bad) return -1;
  if (st.st_size == 0) return 0;
  rec r0;
  memset(&r0, 0, sizeof r0);
  r0.path = (char *)path;
  int rc = sqlite3_open_v2(path, &r0.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    if (r0.db) db_err(&r0, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", path);
    sqlite3_close(r0.db);
    return -1;
  }
  sqlite3_extended_result_codes(r0.db, 1);
  sqlite3_busy_timeout(r0.db, 5000);
  db_kind k;
  int out = read_kind(&r0, &k, err, errlen) || check_kind(&r0, &k, err, errlen) ? -1 : 0;
  sqlite3_close(r0.db);
  return out;
}

void rec_close(rec *r) {
  if (!r) return;
  rec_steps_writer_free(&r->steps);
  sqlite3_finalize(r->st_eval);
  sqlite3_finalize(r->st_event);
  sqlite3_finalize(r->st_place);
  sqlite3_finalize(r->st_status);
  sqlite3_close(r->db);
  unregister_open(r);
  free(r->path);
  free(r);
}

const char *rec_path(const rec *r) { return r->path; }

int rec_schema_version(void) { return REC_SCHEMA_VERSION; }

int rec_inspect(const char *path, int *version, char *err, size_t errlen) {
  rec r = {0};
  r.path = (char *)path;
  struct stat st;
  if (stat(path, &st) != 0)
    return psgd_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
  pthread_mutex_lock(&g_open_mu);
  if (!open_here(path) && precheck(path, err, errlen)) {
    pthread_mutex_unlock(&g_open_mu);
    return -1;
  }
  /* Read-write (no CREATE) only so that the last close removes the -wal and
   * -shm files (a read-only connection leaves them behind); query_only keeps
   * the file unchanged. A write-protected file is opened read-only. */
  int rc = sqlite3_open_v2(path, &r.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  pthread_mutex_unlock(&g_open_mu);
  int out = -1;
  if (rc != SQLITE_OK) {
    if (r.db) db_err(&r, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", path);
    goto out_with_db;
  }
  sqlite3_extended_result_codes(r.db, 1);
  sqlite3_busy_timeout(r.db, REC_BUSY_MS);
  if (exec(&r, "PRAGMA query_only = 1", "cannot set query_only", err, errlen)) goto out_with_db;
  db_kind k;
  if (read_kind(&r, &k, err, errlen) || check_kind(&r, &k, err, errlen)) goto out_with_db;
  *version = k.version;
  out = 0;
out_with_db:
  sqlite3_close(r.db);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Run lifecycle. */

static int is_final(const char *status) {
  static const char *const fin[] = {"ok", "converged", "diverged", "timeout", "crashed"};
  for (size_t i = 0; i < sizeof fin / sizeof fin[0]; i++)
    if (status && !strcmp(status, fin[i])) return 1;
  return 0;
}

/* A run that produced a result; rec_run_begin never replaces one. */
static int is_result(const char *status) {
  return status && (!strcmp(status, "ok") || !strcmp(status, "converged") ||
                    !strcmp(status, "diverged"));
}

/* Looks a key up: 1 found (id, status filled), 0 absent, -1 error. */
static int find_key(rec *r, const char *key, int64_t *id, char *status, size_t cap, char *err,
                    size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(r->db, "SELECT run_id, status FROM runs WHERE key = ?1", -1, &st,
                         NULL) != SQLITE_OK)
    return db_err(r, err, errlen, "cannot look a run up");
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
    out = db_err(r, err, errlen, "cannot look a run up");
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
      return db_err(r, err, errlen, "cannot delete a run's rows");
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_err(r, err, errlen, "cannot delete a run's rows");
  }
  return 0;
}

int rec_run_finished(rec *r, const char *key, char *err, size_t errlen) {
  int64_t id;
  char status[32];
  int f = find_key(r, key, &id, status, sizeof status, err, errlen);
  if (f <= 0) return f;
  return is_final(status);
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
  char claim[128];
  claim_text(claim, sizeof claim);
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
    db_err(r, err, errlen, "cannot prepare the runs row");
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
  sqlite3_bind_text(st, 23, g_host.git, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 24, g_host.host, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 25, g_host.cpu, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 26, (sqlite3_int64)getpid());
  if (topology_xml) sqlite3_bind_text(st, 27, topology_xml, -1, SQLITE_STATIC);
  if (versions) sqlite3_bind_text(st, 28, versions, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 29, claim, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 30, g_host.openblas, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 31, REC_SCHEMA_VERSION);
  sqlite3_bind_text(st, 32, gemm_kernel_name(), -1, SQLITE_STATIC);
  if (g_host.job[0]) {
    const char *a[] = {g_host.job, g_host.array_job, g_host.array_task, g_host.node,
                       g_host.cpus_per_task, g_host.cpus};
    for (int i = 0; i < 6; i++)
      if (a[i][0]) sqlite3_bind_text(st, 40 + i, a[i], -1, SQLITE_STATIC);
  }
  const int virt = !strcmp(s->clock, "virtual");
  sqlite3_bind_text(st, 46, virt ? "virtual" : "real", -1, SQLITE_STATIC);
  if (virt) sqlite3_bind_text(st, 47, s->step_time, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) {
    db_err(r, err, errlen, "cannot insert the runs row");
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
  if (begin(r, err, errlen)) return -1;
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
  return commit(r, err, errlen);
out_rollback:
  rollback(r);
  return -1;
}

/* Whether the process that claimed a 'running' row still runs: 1 alive, 2
 * cannot be told (another host), 0 gone. who gets a description. A row
 * claims "boot_id pid starttime": the same pid with another start time, or
 * another boot, is pid reuse, hence gone. A row without a claim (written by
 * an older psgd) has only host and pid: alive if that pid exists and runs a
 * program of our name. */
static int claimer_alive(const char *host, long pid, const char *claim, char *who, size_t cap) {
  snprintf(who, cap, "pid %ld on host %s", pid, host ? host : "?");
  if (!host || strcmp(host, g_host.host) != 0) return 2;
  char state = 0;
  unsigned long long now_start = 0;
  int exists = pid > 0 && proc_start(pid, &now_start, &state) == 0 && state != 'Z' &&
               state != 'X';
  if (!claim) {
    if (!exists) return 0;
    char path[64], comm[64] = "", mine[64] = "";
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    FILE *f = fopen(path, "r");
    if (f) {
      if (!fgets(comm, sizeof comm, f)) comm[0] = '\0';
      fclose(f);
    }
    f = fopen("/proc/self/comm", "r");
    if (f) {
      if (!fgets(mine, sizeof mine, f)) mine[0] = '\0';
      fclose(f);
    }
    return comm[0] && !strcmp(comm, mine);
  }
  char boot[64];
  long cpid;
  unsigned long long start;
  if (sscanf(claim, "%63s %ld %llu", boot, &cpid, &start) != 3) return 1;
  if (strcmp(boot, g_host.boot_id) != 0) return 0; /* rebooted since */
  return exists && cpid == pid && now_start == start;
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
    return db_err(r, err, errlen, "cannot read the step durations");
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
    return db_err(r, err, errlen, "cannot read the step durations");
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
  if (begin(r, err, errlen)) return -1;
  int f = find_key(r, key, &old, status, sizeof status, err, errlen);
  if (f < 0) goto out_rollback;
  if (f == 1) {
    if (is_result(status)) {
      snprintf(note, notecap, "finished by another process, status %s", status);
      rollback(r);
      return REC_CLAIM_DONE;
    }
    if (!strcmp(status, "running")) {
      if (sqlite3_prepare_v2(r->db, "SELECT host, pid, claim FROM runs WHERE run_id = ?1", -1,
                             &st, NULL) != SQLITE_OK) {
        db_err(r, err, errlen, "cannot read a run's claim");
        goto out_rollback;
      }
      sqlite3_bind_int64(st, 1, old);
      if (sqlite3_step(st) != SQLITE_ROW) {
        db_err(r, err, errlen, "cannot read a run's claim");
        goto out_rollback;
      }
      char who[320];
      int alive = claimer_alive((const char *)sqlite3_column_text(st, 0),
                                (long)sqlite3_column_int64(st, 1),
                                (const char *)sqlite3_column_text(st, 2), who, sizeof who);
      sqlite3_finalize(st);
      st = NULL;
      if (alive) {
        snprintf(note, notecap, "being run by %s%s", who,
                 alive == 2 ? " (another host: cannot tell whether it still runs)" : "");
        rollback(r);
        return alive == 2 ? REC_CLAIM_REMOTE : REC_CLAIM_LIVE;
      }
      snprintf(note, notecap, "redone: its claimer (%s) is gone", who);
    } else if (strcmp(status, "interrupted") != 0 && old != seen_id) {
      /* timeout / crashed, but not the attempt the caller chose to retry:
       * another process retried it since. */
      snprintf(note, notecap, "retried by another process, status %s", status);
      rollback(r);
      return REC_CLAIM_DONE;
    }
    if (delete_rows(r, old, 1, err, errlen)) goto out_rollback;
  }
  if (insert_run(r, s, key, NULL, NULL, run_id, err, errlen)) goto out_rollback;
  if (commit(r, err, errlen)) return -1;
  return REC_CLAIM_OK;
out_rollback:
  sqlite3_finalize(st);
  rollback(r);
  return -1;
}

int rec_run_info(rec *r, int64_t run_id, const char *topology_xml, const char *versions,
                 char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (begin(r, err, errlen)) return -1;
  if (check_running(r, run_id, err, errlen)) goto out_rollback;
  static const char sql[] =
      "UPDATE runs SET topology_xml = coalesce(?1, topology_xml), versions = " VERSIONS_SQL(
          "coalesce(versions, " OUR_VERSIONS ")", "?2") " WHERE run_id = ?3";
  if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
    db_err(r, err, errlen, "cannot prepare the run info update");
    goto out_rollback;
  }
  if (topology_xml) sqlite3_bind_text(st, 1, topology_xml, -1, SQLITE_STATIC);
  if (versions) sqlite3_bind_text(st, 2, versions, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, run_id);
  sqlite3_bind_text(st, 30, g_host.openblas, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 31, REC_SCHEMA_VERSION);
  sqlite3_bind_text(st, 32, gemm_kernel_name(), -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) {
    db_err(r, err, errlen, "cannot update the run info");
    goto out_rollback;
  }
  sqlite3_finalize(st);
  return commit(r, err, errlen);
out_rollback:
  sqlite3_finalize(st);
  rollback(r);
  return -1;
}

int rec_run_end(rec *r, int64_t run_id, const run_result *res, char *err, size_t errlen) {
  if ((unsigned)res->status >= RUN_STATUS_COUNT)
    return psgd_err(err, errlen, "%s: run %lld: invalid status %d", r->path, (long long)run_id,
                    (int)res->status);
  sqlite3_stmt *st = NULL;
  if (begin(r, err, errlen)) return -1;
  if (check_running(r, run_id, err, errlen)) goto out_rollback;
  static const char sql[] =
      "UPDATE runs SET status = ?1, ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
      " wall_s = ?2, steps_started = ?3, steps_accepted = ?4, epochs = ?5, initial_loss = ?6,"
      " final_train_loss = ?7, final_test_loss = ?8, final_test_acc = ?9, best_test_acc = ?10,"
      " flush_s = ?11, pinned = ?12 WHERE run_id = ?13";
  if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
    db_err(r, err, errlen, "cannot prepare the run result");
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
    db_err(r, err, errlen, "cannot write the run result");
    goto out_rollback;
  }
  sqlite3_finalize(st);
  return commit(r, err, errlen);
out_rollback:
  sqlite3_finalize(st);
  rollback(r);
  return -1;
}

int rec_run_mark(rec *r, const char *key, run_status status, const char *why, char *err,
                 size_t errlen) {
  if ((unsigned)status >= RUN_STATUS_COUNT)
    return psgd_err(err, errlen, "%s: run %s: invalid status %d", r->path, key, (int)status);
  int64_t id;
  char cur[32];
  sqlite3_stmt *st = NULL;
  if (begin(r, err, errlen)) return -1;
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
    rollback(r);
    return 0;
  }
  if (delete_rows(r, id, 0, err, errlen)) goto out_rollback;
  if (sqlite3_prepare_v2(r->db,
                         "UPDATE runs SET status = ?1, why = ?2,"
                         " ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE run_id = ?3",
                         -1, &st, NULL) != SQLITE_OK) {
    db_err(r, err, errlen, "cannot prepare the run mark");
    goto out_rollback;
  }
  sqlite3_bind_text(st, 1, run_status_name(status), -1, SQLITE_STATIC);
  if (why) sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, id);
  if (sqlite3_step(st) != SQLITE_DONE) {
    db_err(r, err, errlen, "cannot mark the run");
    goto out_rollback;
  }
  sqlite3_finalize(st);
  return commit(r, err, errlen);
out_rollback:
  sqlite3_finalize(st);
  rollback(r);
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Bulk inserts (callers hold a transaction). */

static int insert_steps(rec *r, int64_t run_id, const step_rec *v, size_t n, char *err,
                        size_t errlen) {
  return rec_steps_put(&r->steps, r->db, r->path, run_id, v, n, err, errlen);
}

int rec_steps(rec *r, int64_t run_id, const step_rec *v, size_t n, char *err, size_t errlen) {
  if (begin(r, err, errlen)) return -1;
  if (check_running(r, run_id, err, errlen) || insert_steps(r, run_id, v, n, err, errlen) ||
      rec_steps_flush(&r->steps, r->db, r->path, run_id, err, errlen)) {
    rec_steps_discard(&r->steps);
    rollback(r);
    return -1;
  }
  return commit(r, err, errlen);
}

int rec_evals(rec *r, int64_t run_id, const eval_rec *v, size_t n, char *err, size_t errlen) {
  if (prepare(r, &r->st_eval,
              "INSERT INTO evals (run_id, t_ns, steps_accepted, epoch, train_loss, test_loss,"
              " test_acc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
              err, errlen))
    return -1;
  if (begin(r, err, errlen)) return -1;
  if (check_running(r, run_id, err, errlen)) goto out_rollback;
  sqlite3_stmt *st = r->st_eval;
  sqlite3_bind_int64(st, 1, run_id);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v[i].t_ns);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)v[i].steps_accepted);
    sqlite3_bind_double(st, 4, v[i].epoch);
    sqlite3_bind_double(st, 5, v[i].train_loss);
    sqlite3_bind_double(st, 6, v[i].test_loss);
    sqlite3_bind_double(st, 7, v[i].test_acc);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      db_err(r, err, errlen, "cannot insert evals");
      goto out_rollback;
    }
  }
  return commit(r, err, errlen);
out_rollback:
  rollback(r);
  return -1;
}

int rec_events(rec *r, int64_t run_id, const event_rec *v, size_t n, char *err, size_t errlen) {
  if (prepare(r, &r->st_event,
              "INSERT INTO events (run_id, t_ns, kind, value, detail)"
              " VALUES (?1, ?2, ?3, ?4, ?5)",
              err, errlen))
    return -1;
  if (begin(r, err, errlen)) return -1;
  if (check_running(r, run_id, err, errlen)) goto out_rollback;
  sqlite3_stmt *st = r->st_event;
  sqlite3_bind_int64(st, 1, run_id);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v[i].t_ns);
    /* The fixed arrays need not be NUL-terminated when full. */
    sqlite3_bind_text(st, 3, v[i].kind, (int)strnlen(v[i].kind, sizeof v[i].kind), SQLITE_STATIC);
    sqlite3_bind_double(st, 4, v[i].value);
    sqlite3_bind_text(st, 5, v[i].detail, (int)strnlen(v[i].detail, sizeof v[i].detail),
                      SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      db_err(r, err, errlen, "cannot insert events");
      goto out_rollback;
    }
  }
  return commit(r, err, errlen);
out_rollback:
  rollback(r);
  return -1;
}

int rec_placement(rec *r, int64_t run_id, const place_rec *v, size_t n, char *err,
                  size_t errlen) {
  if (prepare(r, &r->st_place,
              "INSERT INTO placement (run_id, worker, pu_os, core, node, package, bound)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
              err, errlen))
    return -1;
  if (begin(r, err, errlen)) return -1;
  if (check_running(r, run_id, err, errlen)) goto out_rollback;
  sqlite3_stmt *st = r->st_place;
  sqlite3_bind_int64(st, 1, run_id);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int(st, 2, v[i].worker);
    sqlite3_bind_int(st, 3, v[i].pu_os);
    sqlite3_bind_int(st, 4, v[i].core);
    sqlite3_bind_int(st, 5, v[i].node);
    sqlite3_bind_int(st, 6, v[i].package);
    sqlite3_bind_int(st, 7, v[i].bound);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      db_err(r, err, errlen, "cannot insert placement rows");
      goto out_rollback;
    }
  }
  return commit(r, err, errlen);
out_rollback:
  rollback(r);
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Steplog flush: drained chunks straight into steps, in large transactions. */

typedef struct {
  rec *r;
  int64_t run_id;
  size_t in_tx; /* rows in the open transaction */
  int open;
  char *err;
  size_t errlen;
} flush_ctx;

static int flush_chunk(void *vctx, const step_rec *v, size_t n) {
  flush_ctx *c = vctx;
  if (!c->open) {
    if (begin(c->r, c->err, c->errlen)) return -1;
    c->open = 1;
    c->in_tx = 0;
    if (check_running(c->r, c->run_id, c->err, c->errlen)) return -1;
  }
  if (insert_steps(c->r, c->run_id, v, n, c->err, c->errlen)) return -1;
  c->in_tx += n;
  if (c->in_tx >= REC_FLUSH_TX_ROWS) {
    c->open = 0;
    if (rec_steps_flush(&c->r->steps, c->r->db, c->r->path, c->run_id, c->err, c->errlen) ||
        commit(c->r, c->err, c->errlen))
      return -1;
  }
  return 0;
}

long rec_steplog_flush(rec *r, int64_t run_id, steplog *l, int final, char *err, size_t errlen) {
  flush_ctx c = {r, run_id, 0, 0, err, errlen};
  long n = steplog_drain(l, final, flush_chunk, &c);
  if (n >= 0 && c.open && rec_steps_flush(&r->steps, r->db, r->path, run_id, err, errlen)) n = -1;
  if (n < 0) {
    rec_steps_discard(&r->steps);
    rollback(r);
    return -1;
  }
  if (c.open && commit(r, err, errlen)) return -1;
  return n;
}

/* ------------------------------------------------------------------------ */
/* Background writer. */

struct rec_writer {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;        /* under mu */
  rec *r;          /* the writer's own connection (one handle per thread) */
  steplog *l;
  int64_t run_id;
  double period_s;
  /* Written by the writer thread, read after the join. */
  int failed;
  char err[PSGD_ERRLEN];
  long rows;
  uint64_t busy_ns;
};

static void *writer_main(void *arg) {
  rec_writer *w = arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (;;) {
    uint64_t step = (uint64_t)(w->period_s * 1e9);
    uint64_t ns = (uint64_t)next.tv_nsec + step % 1000000000ull;
    next.tv_sec += (time_t)(step / 1000000000ull + ns / 1000000000ull);
    next.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
      if (pthread_cond_timedwait(&w->cv, &w->mu, &next) == ETIMEDOUT) break;
    }
    int stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    if (stop) return NULL;
    if (w->failed) continue; /* keep the first error; the final flush reports it */
    uint64_t t0 = psgd_now_ns();
    long n = rec_steplog_flush(w->r, w->run_id, w->l, 0, w->err, sizeof w->err);
    w->busy_ns += psgd_now_ns() - t0;
    if (n < 0) w->failed = 1;
    else w->rows += n;
  }
}

rec_writer *rec_writer_start(rec *r, int64_t run_id, steplog *l, double period_s, char *err,
                             size_t errlen) {
  if (!(period_s > 0)) {
    psgd_err(err, errlen, "%s: writer period %g s must be > 0", r->path, period_s);
    return NULL;
  }
  rec_writer *w = calloc(1, sizeof *w);
  if (!w) {
    psgd_err(err, errlen, "%s: out of memory", r->path);
    return NULL;
  }
  w->l = l;
  w->run_id = run_id;
  w->period_s = period_s;
  w->r = rec_open(r->path, err, errlen);
  if (!w->r) goto out_with_writer;
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&w->cv, &ca) != 0) {
    psgd_err(err, errlen, "%s: writer: cannot create a condition variable", r->path);
    goto out_with_rec;
  }
  pthread_condattr_destroy(&ca);
  if (pthread_mutex_init(&w->mu, NULL) != 0) {
    psgd_err(err, errlen, "%s: writer: cannot create a mutex", r->path);
    goto out_with_cv;
  }
  int rc = pthread_create(&w->thread, NULL, writer_main, w);
  if (rc != 0) {
    psgd_err(err, errlen, "%s: writer: cannot start the thread: %s", r->path, strerror(rc));
    goto out_with_mutex;
  }
  return w;
out_with_mutex:
  pthread_mutex_destroy(&w->mu);
out_with_cv:
  pthread_cond_destroy(&w->cv);
out_with_rec:
  rec_close(w->r);
out_with_writer:
  free(w);
  return NULL;
}

int rec_writer_stop(rec_writer *w, rec_writer_stats *st, char *err, size_t errlen) {
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  int rc = 0;
  uint64_t t0 = psgd_now_ns();
  if (w->failed) {
    rc = psgd_err(err, errlen, "%s", w->err);
  } else {
    long n = rec_steplog_flush(w->r, w->run_id, w->l, 1, err, errlen);
    if (n < 0) rc = -1;
    else w->rows += n;
  }
  uint64_t final_ns = psgd_now_ns() - t0;
  if (st) {
    st->rows = w->rows;
    st->final_flush_s = (double)final_ns * 1e-9;
    st->busy_s = (double)(w->busy_ns + final_ns) * 1e-9;
  }
  rec_close(w->r);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
  return rc;
}
