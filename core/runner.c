/* runner.c - the sweep runner: one forked child per run, watched by the
 * parent for crashes, hangs and interrupts, so that results.db always ends
 * consistent and a re-run resumes (runner.h states the protocol). */
#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "engine.h"
#include "rec.h"

/* Child exit codes (anything else, or a signal, is a crash). */
enum { CHILD_DONE = 0, CHILD_FAILED = 3, CHILD_STOPPED = 4 };

/* How long a child asked to stop (SIGTERM) gets before SIGKILL. */
#define STOP_GRACE_S 10.0

double runner_limit_s(const run_spec *s, double opts_timeout) {
  if (opts_timeout > 0) return opts_timeout;
  if (s->timeout_s > 0) return s->timeout_s;
  /* No limit written: a time-stopped run that takes twice its time plus a
   * minute for loading data is hung. Not so under the virtual clock, whose
   * stop.seconds is virtual time: no limit unless one is written. */
  if (s->stop_seconds > 0 && strcmp(s->clock, "virtual")) return 2 * s->stop_seconds + 60;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Signals of the parent.                                                    */

static volatile sig_atomic_t g_interrupts; /* SIGINT/SIGTERM/SIGHUP count */

static void on_interrupt(int sig) {
  (void)sig;
  g_interrupts++;
}

typedef struct {
  struct sigaction old_int, old_term, old_hup, old_pipe;
} saved_signals;

static void signals_install(saved_signals *sv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: poll() returns at once on Ctrl-C */
  sigaction(SIGINT, &sa, &sv->old_int);
  sigaction(SIGTERM, &sa, &sv->old_term);
  sigaction(SIGHUP, &sa, &sv->old_hup);
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &sv->old_pipe);
}

static void signals_restore(const saved_signals *sv) {
  sigaction(SIGINT, &sv->old_int, NULL);
  sigaction(SIGTERM, &sv->old_term, NULL);
  sigaction(SIGHUP, &sv->old_hup, NULL);
  sigaction(SIGPIPE, &sv->old_pipe, NULL);
}

/* ------------------------------------------------------------------------ */
/* The child.                                                                */

static _Atomic int child_stop; /* set by SIGTERM; the engine polls it */

static void child_on_term(int sig) {
  (void)sig;
  /* relaxed: a flag the engine polls; nothing is published through it */
  atomic_store_explicit(&child_stop, 1, memory_order_relaxed);
}

/* Whether env var `name` lists run index i ("3" or "1,3,5"). */
static int test_hook(const char *name, int i) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  for (const char *p = v; *p;) {
    char *end;
    long k = strtol(p, &end, 10);
    if (end == p) return 0;
    if (k == i) return 1;
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p) return 0;
  }
  return 0;
}

typedef struct {
  int fd;          /* pipe to the parent */
  int crash_hook;  /* PSGD_TEST_CRASH_RUN matched */
} child_ctx;

/* One line to the parent; a short write() to a pipe is atomic (< PIPE_BUF). */
static void child_say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void child_say(int fd, const char *fmt, ...) {
  char line[PSGD_ERRLEN + 32];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  for (int i = 0; i < n; i++)
    if (line[i] == '\n') line[i] = ' ';
  line[n++] = '\n';
  ssize_t w = write(fd, line, (size_t)n);
  (void)w; /* the parent may be gone; PDEATHSIG ends us then */
}

/* engine_progress_fn: runs on the engine's monitor thread. */
/* The crash test hook: a real SIGSEGV death (SIG_DFL first, so that a
 * sanitizer's SEGV handler cannot turn it into an ordinary exit). */
static void crash_now(void) {
  signal(SIGSEGV, SIG_DFL);
  raise(SIGSEGV);
}

static void child_progress(void *ctx, const run_spec *s, const eval_rec *e, double steps_per_s) {
  (void)s;
  child_ctx *c = ctx;
  if (c->crash_hook) crash_now();
  child_say(c->fd, "P %.6g %.6g %.6g %.6g %llu", steps_per_s, e->test_acc, e->test_loss, e->epoch,
            (unsigned long long)e->steps_accepted);
}

/* The database file's identity, taken when the sweep opened it: a file
 * deleted or replaced since (another inode at the path, or none) must not be
 * written, or SQLite would create a new database there and the sweep would
 * go on into it. */
typedef struct {
  dev_t dev;
  ino_t ino;
} db_ident;

static int db_ident_read(const char *path, db_ident *id, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0)
    return psgd_err(err, errlen, "%s: cannot stat the database: %s", path, strerror(errno));
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  return 0;
}

/* 0 if path is still the file of id; -1 with a message otherwise. */
static int db_ident_check(const char *path, const db_ident *id, char *err, size_t errlen) {
  struct stat st;
  char now[96];
  if (stat(path, &st) != 0) snprintf(now, sizeof now, "now: %s", strerror(errno));
  else if (st.st_dev == id->dev && st.st_ino == id->ino) return 0;
  else snprintf(now, sizeof now, "now inode %llu", (unsigned long long)st.st_ino);
  return psgd_err(err, errlen, "%s: the database was deleted or replaced during the sweep "
                  "(inode %llu when the sweep began, %s); stopping, so that no run is recorded "
                  "into another file. Runs recorded before went to the old file", path,
                  (unsigned long long)id->ino, now);
}

static _Noreturn void child_main(const exp_run *run, int index, int64_t run_id,
                                 const char *db_path, const db_ident *ident, int fd,
                                 pid_t parent) {
  char err[PSGD_ERRLEN] = "";
  /* The parent decides what Ctrl-C means (it forwards SIGTERM). */
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = child_on_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  /* Die with the runner: a SIGKILLed runner must not leave a child writing. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(CHILD_FAILED);

  if (test_hook("PSGD_TEST_HANG_RUN", index))
    for (;;) pause();
  child_ctx ctx = {fd, test_hook("PSGD_TEST_CRASH_RUN", index)};

  if (db_ident_check(db_path, ident, err, sizeof err)) {
    child_say(fd, "E %s", err);
    _exit(CHILD_FAILED);
  }
  rec *r = rec_open_existing(db_path, err, sizeof err);
  if (!r) {
    child_say(fd, "E %s", err);
    _exit(CHILD_FAILED);
  }
  engine_rec_sink rs;
  engine_sink sink = engine_sink_rec(&rs, r, run_id);
  engine_io io = {&sink, child_progress, &ctx, &child_stop};
  run_result res;
  memset(&res, 0, sizeof res);
  if (engine_run(&run->spec, &io, &res, err, sizeof err) != 0) {
    child_say(fd, "E %s", err);
    rec_close(r);
    _exit(CHILD_FAILED);
  }
  if (ctx.crash_hook) crash_now();
  /* relaxed: read after engine_run joined every thread that could set it */
  if (atomic_load_explicit(&child_stop, memory_order_relaxed)) {
    rec_close(r);
    _exit(CHILD_STOPPED);
  }
  if (rec_run_end(r, run_id, &res, err, sizeof err) != 0) {
    child_say(fd, "E %s", err);
    rec_close(r);
    _exit(CHILD_FAILED);
  }
  rec_close(r);
  child_say(fd, "R %d %.6g %.6g %.6g %llu", (int)res.status, res.wall_s, res.final_test_acc,
            res.final_test_loss, (unsigned long long)res.steps_accepted);
  _exit(CHILD_DONE);
}

/* ------------------------------------------------------------------------ */
/* Database status (read-only; never creates the file).                     */

int runner_db_status(const char *db_path, const experiment *e, char (*status)[16], char *err,
                     size_t errlen) {
  const char **keys = malloc(((size_t)e->n_runs + 1) * sizeof *keys);
  if (!keys) return psgd_err(err, errlen, "out of memory");
  for (int i = 0; i < e->n_runs; i++) keys[i] = e->runs[i].key;
  int rc = rec_run_statuses(db_path, keys, e->n_runs, status, err, errlen);
  free(keys);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The parent.                                                               */

static double now_s(void) { return (double)psgd_now_ns() * 1e-9; }

static void fmt_dur(double s, char *buf, size_t cap) {
  if (s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, cap, "%.1fs", s);
}

typedef struct {
  double steps_per_s, acc, loss, epoch;
  unsigned long long steps;
  int have_progress;
  int have_result;
  int result_status;
  double wall_s;
  char error[PSGD_ERRLEN];
  char buf[4096]; /* partial line from the pipe */
  size_t len;
} child_report;

static void parse_line(child_report *c, char *line) {
  if (line[0] == 'P' && line[1] == ' ') {
    if (sscanf(line + 2, "%lf %lf %lf %lf %llu", &c->steps_per_s, &c->acc, &c->loss, &c->epoch,
               &c->steps) == 5)
      c->have_progress = 1;
  } else if (line[0] == 'R' && line[1] == ' ') {
    if (sscanf(line + 2, "%d %lf %lf %lf %llu", &c->result_status, &c->wall_s, &c->acc, &c->loss,
               &c->steps) == 5)
      c->have_result = 1;
  } else if (line[0] == 'E' && line[1] == ' ') {
    snprintf(c->error, sizeof c->error, "%s", line + 2);
  }
}

/* Reads what the child wrote; returns 0 at end of file, 1 otherwise. */
static int drain(int fd, child_report *c) {
  for (;;) {
    ssize_t n = read(fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (n < 0) return errno == EINTR ? 1 : (errno == EAGAIN ? 1 : 0);
    if (n == 0) return 0;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *start = c->buf, *nl;
    while ((nl = strchr(start, '\n'))) {
      *nl = '\0';
      parse_line(c, start);
      start = nl + 1;
    }
    size_t rest = c->len - (size_t)(start - c->buf);
    memmove(c->buf, start, rest);
    c->len = rest;
    if (c->len == sizeof c->buf - 1) c->len = 0; /* an overlong line: drop it */
  }
}

typedef struct {
  const experiment *e;
  const runner_opts *o;
  db_ident ident;     /* the database file the sweep began with */
  int k, n;           /* this is run k of n to execute in this invocation */
  double sweep_t0;
  double est_left;    /* estimated seconds of the runs after this one */
  double est_scale;   /* measured / estimated, from the runs done so far */
} progress_view;

static void show_progress(const progress_view *pv, const exp_run *run, const child_report *c,
                          double elapsed, double limit) {
  char el[32], lim[32], eta[32];
  fmt_dur(elapsed, el, sizeof el);
  fmt_dur(limit, lim, sizeof lim);
  double cur_left = run->est_s > elapsed ? run->est_s - elapsed : 0;
  fmt_dur((cur_left + pv->est_left) * pv->est_scale, eta, sizeof eta);
  char line[512];
  int n = snprintf(line, sizeof line, "[%d/%d] %s %s %s  %s/%s", pv->k, pv->n, run->key,
                   run->spec.label, run->swept, el, limit > 0 ? lim : "-");
  if (c->have_progress && n > 0 && (size_t)n < sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, "  %.0f steps/s  acc %.3f", c->steps_per_s,
                  c->acc);
  if (n > 0 && (size_t)n < sizeof line)
    snprintf(line + n, sizeof line - (size_t)n, "  ETA %s", eta);
  fprintf(pv->o->out, "\r\033[K%s", line);
  fflush(pv->o->out);
}

/* Runs one run in a child and records its outcome. Returns the status, or
 * -1 on a database error (err filled).
 *
 * The parent holds no database connection while a child lives: SQLite's
 * per-process lock and WAL-index bookkeeping must not be copied by fork()
 * (sqlite.org/howtocorrupt.html, section 2.6), so it opens a handle to begin
 * the run and another to mark it, and closes both before/after the child. */
/* run_one outcomes besides a status: the run was not started here. */
enum { ONE_ERROR = -1, ONE_ELSEWHERE = -2, ONE_LIVE = -3, ONE_REMOTE = -4 };

/* The vanish test hook: the database and its -wal and -shm deleted, as
 * `rm` by another process would. */
static void vanish_now(const char *path) {
  char side[SPEC_PATH * 4 + 8];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

/* After a database error: ONE_ERROR, with err replaced by the deleted-or-
 * replaced message if that is what happened (a file deleted or replaced
 * under an open or a write fails there first, with SQLite's or the
 * recorder's own words, which do not say so). */
static int db_gone_or(const progress_view *pv, char *err, size_t errlen) {
  char gone[PSGD_ERRLEN];
  if (db_ident_check(pv->o->db_path, &pv->ident, gone, sizeof gone))
    snprintf(err, errlen, "%s", gone);
  return ONE_ERROR;
}

static int run_one(const progress_view *pv, int index, int64_t seen_id, int *interrupted,
                   char *note, size_t notecap, char *err, size_t errlen) {
  const exp_run *run = &pv->e->runs[index];
  const runner_opts *o = pv->o;
  int64_t run_id = 0;
  if (db_ident_check(o->db_path, &pv->ident, err, errlen)) return ONE_ERROR;
  if (test_hook("PSGD_TEST_VANISH_RUN", index)) vanish_now(o->db_path);
  rec *r = rec_open_existing(o->db_path, err, errlen);
  if (!r) return db_gone_or(pv, err, errlen);
  /* The file may have gone between the check and the open: then the handle
   * may be another file's, and nothing is claimed in it. */
  if (db_ident_check(o->db_path, &pv->ident, err, errlen)) {
    rec_close(r);
    return ONE_ERROR;
  }
  int crc = rec_run_claim(r, &run->spec, run->key, seen_id, &run_id, note, notecap, err, errlen);
  rec_close(r);
  if (crc < 0) return db_gone_or(pv, err, errlen);
  if (crc == REC_CLAIM_DONE) return ONE_ELSEWHERE;
  if (crc == REC_CLAIM_LIVE) return ONE_LIVE;
  if (crc == REC_CLAIM_REMOTE) return ONE_REMOTE;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return psgd_err(err, errlen, "pipe: %s", strerror(errno));
  fflush(NULL); /* nothing buffered may be written twice */
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return psgd_err(err, errlen, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    close(fds[0]);
    child_main(run, index, run_id, o->db_path, &pv->ident, fds[1], parent);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);

  child_report c;
  memset(&c, 0, sizeof c);
  double t0 = now_s(), limit = runner_limit_s(&run->spec, o->timeout_s);
  double term_at = 0, last_draw = 0;
  int killed_timeout = 0, asked_stop = 0, wstatus = 0, open_pipe = 1;
  if (!o->tty) {
    fprintf(o->out, "run %d/%d [%d] %s %s %s\n", pv->k, pv->n, index, run->key, run->spec.label,
            run->swept);
    if (note[0]) fprintf(o->out, "  (%s)\n", note);
    fflush(o->out);
  }
  for (;;) {
    struct pollfd p = {fds[0], POLLIN, 0};
    if (open_pipe) {
      int pr = poll(&p, 1, 200);
      if (pr > 0) open_pipe = drain(fds[0], &c);
    } else {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    pid_t w = waitpid(pid, &wstatus, WNOHANG);
    if (w == pid) break;
    double t = now_s(), elapsed = t - t0;
    if (limit > 0 && elapsed > limit && !killed_timeout) {
      kill(pid, SIGKILL); /* issue 6: a hung run is killed, not waited for */
      killed_timeout = 1;
    }
    if (g_interrupts && !asked_stop) {
      kill(pid, SIGTERM);
      asked_stop = 1;
      term_at = t;
    }
    if (asked_stop && (g_interrupts > 1 || t - term_at > STOP_GRACE_S)) kill(pid, SIGKILL);
    if (o->tty && t - last_draw >= 0.2) {
      show_progress(pv, run, &c, elapsed, limit);
      last_draw = t;
    }
  }
  if (open_pipe) drain(fds[0], &c);
  close(fds[0]);
  double wall = now_s() - t0;

  /* A run whose records went to a file deleted or replaced meanwhile is not
   * reported as finished: the sweep stops here and says why. */
  if (db_ident_check(o->db_path, &pv->ident, err, errlen)) return ONE_ERROR;
  int status;
  char why[PSGD_ERRLEN + 64] = "";
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == CHILD_DONE && c.have_result) {
    status = c.result_status; /* rec_run_end already recorded it */
    if (status < 0 || status >= RUN_STATUS_COUNT) status = RUN_OK;
  } else {
    if (killed_timeout) {
      status = RUN_TIMEOUT;
      snprintf(why, sizeof why, "killed after the %g s wall-clock limit", limit);
    } else if (asked_stop) {
      status = RUN_INTERRUPTED;
      snprintf(why, sizeof why, "the runner was interrupted");
    } else if (WIFSIGNALED(wstatus)) {
      status = RUN_CRASHED;
      snprintf(why, sizeof why, "signal %d (%s)", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    } else {
      status = RUN_CRASHED;
      if (c.error[0]) snprintf(why, sizeof why, "%s", c.error);
      else snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(wstatus));
    }
    r = rec_open_existing(o->db_path, err, errlen);
    if (!r) return db_gone_or(pv, err, errlen);
    if (db_ident_check(o->db_path, &pv->ident, err, errlen)) {
      rec_close(r);
      return ONE_ERROR;
    }
    int mrc = rec_run_mark(r, run->key, (run_status)status, why, err, errlen);
    rec_close(r);
    if (mrc != 0) return db_gone_or(pv, err, errlen);
  }
  if (asked_stop) *interrupted = 1;

  char wl[32];
  fmt_dur(wall, wl, sizeof wl);
  if (o->tty) fprintf(o->out, "\r\033[K");
  if (o->tty)
    fprintf(o->out, "[%d/%d] %s %s %s: ", pv->k, pv->n, run->key, run->spec.label, run->swept);
  else
    fprintf(o->out, "  -> ");
  fprintf(o->out, "%s in %s", run_status_name((run_status)status), wl);
  if (c.have_result) fprintf(o->out, ", acc %.4f, loss %.4f, %llu steps", c.acc, c.loss, c.steps);
  if (why[0]) fprintf(o->out, " (%s)", why);
  fprintf(o->out, "\n");
  fflush(o->out);
  return status;
}

static int mkdir_parent(const char *path, char *err, size_t errlen) {
  char dir[SPEC_PATH * 4];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
      return psgd_err(err, errlen, "%s: cannot create folder: %s", dir, strerror(errno));
    *p = '/';
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return psgd_err(err, errlen, "%s: cannot create folder: %s", dir, strerror(errno));
  return 0;
}

/* One line for a run this process did not start. */
static void say_not_run(const progress_view *pv, int index, const char *what, const char *note) {
  const exp_run *run = &pv->e->runs[index];
  if (pv->o->tty) fprintf(pv->o->out, "\r\033[K");
  fprintf(pv->o->out, "run %d/%d [%d] %s %s %s: %s%s%s%s\n", pv->k, pv->n, index, run->key,
          run->spec.label, run->swept, what, note[0] ? " (" : "", note, note[0] ? ")" : "");
  fflush(pv->o->out);
}

/* Sleeps about s seconds; a signal (Ctrl-C) ends it early. */
static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

int runner_run(const experiment *e, const char *sel, const runner_opts *o, runner_summary *sum,
               char *err, size_t errlen) {
  memset(sum, 0, sizeof *sum);
  double t0 = now_s();
  int rc = -1;
  int *todo = calloc((size_t)e->n_runs + 1, sizeof *todo);
  int *wait = calloc((size_t)e->n_runs + 1, sizeof *wait);
  int *kof = calloc((size_t)e->n_runs + 1, sizeof *kof); /* k of n, by run index */
  int64_t *seen = calloc((size_t)e->n_runs + 1, sizeof *seen);
  rec *r = NULL;
  saved_signals sv;
  progress_view pv;
  memset(&pv, 0, sizeof pv);
  if (!todo || !wait || !kof || !seen) {
    psgd_err(err, errlen, "out of memory");
    goto out_with_arrays;
  }
  if (mkdir_parent(o->db_path, err, errlen)) goto out_with_arrays;
  r = rec_open(o->db_path, err, errlen);
  if (!r) goto out_with_arrays;
  if (db_ident_read(o->db_path, &pv.ident, err, errlen)) goto out_with_rec;

  /* Decide first, so progress can say "k of n" and estimate the time left.
   * What is decided here is checked again, in one transaction, when each run
   * is claimed (rec_run_claim): another sweep may have run it meanwhile. */
  int n_todo = 0;
  double est_total = 0;
  int est_bound = 0, n_noest = 0;
  for (int i = 0; i < e->n_runs; i++) {
    if (!sel[i]) continue;
    sum->n_selected++;
    char status[32];
    int f = rec_run_lookup(r, e->runs[i].key, &seen[i], status, sizeof status, err, errlen);
    if (f < 0) goto out_with_rec;
    rec_run_state st = f == 1 ? rec_run_state_of(status) : REC_RUN_ABSENT;
    if (rec_run_state_skip(st, o->retry_failed)) {
      sum->n_skipped++;
      if (st != REC_RUN_RESULT) sum->n_failed_skipped++;
      continue;
    }
    kof[i] = n_todo + 1;
    todo[n_todo++] = i;
    if (e->runs[i].est_s > 0) {
      est_total += e->runs[i].est_s;
      est_bound |= e->runs[i].est_bound;
    } else n_noest++;
  }
  rec_close(r); /* no connection may live across fork() (see run_one) */
  r = NULL;
  /* a run with neither stop.seconds nor a timeout has no estimate: say so
   * rather than count it as 0 s */
  char est[32], when[128];
  fmt_dur(est_total, est, sizeof est);
  if (n_todo > 0 && n_noest == n_todo)
    snprintf(when, sizeof when, "no time estimate: no stop.seconds or timeout");
  else if (n_noest > 0)
    snprintf(when, sizeof when, "%s %s + %d without a time estimate", est_bound ? "at most" : "about",
             est, n_noest);
  else
    snprintf(when, sizeof when, "%s %s", est_bound ? "at most" : "about", est);
  fprintf(o->out, "%s (scale %s): %d run%s selected, %d already finished, %d to run (%s)\n",
          e->name, e->scale, sum->n_selected, sum->n_selected == 1 ? "" : "s", sum->n_skipped,
          n_todo, when);
  fflush(o->out);

  g_interrupts = 0;
  signals_install(&sv);
  pv.e = e;
  pv.o = o;
  pv.n = n_todo;
  pv.sweep_t0 = t0;
  pv.est_left = est_total;
  pv.est_scale = 1.0;
  double est_done = 0, real_done = 0;
  int n_wait = 0, stop = 0, waiting_said = 0;
  char note[PSGD_ERRLEN];
  /* First pass over the plan; runs that a live process on this host holds
   * are waited for afterwards (and redone if that process dies first), so
   * the sweep ends only when every selected run has an outcome. */
  for (int pass = 0; !stop && !g_interrupts; pass++) {
    int n = pass == 0 ? n_todo : n_wait, n_next = 0;
    if (n == 0) break;
    if (pass > 0) {
      if (!waiting_said) {
        fprintf(o->out, "waiting for %d run%s that another psgd process is running\n", n,
                n == 1 ? "" : "s");
        fflush(o->out);
        waiting_said = 1;
      }
      nap(0.5);
      if (g_interrupts) break;
    }
    for (int k = 0; k < n && !g_interrupts; k++) {
      int i = pass == 0 ? todo[k] : wait[k];
      pv.k = kof[i];
      if (pass == 0) pv.est_left -= e->runs[i].est_s;
      double ts = now_s();
      int interrupted = 0;
      int st = run_one(&pv, i, seen[i], &interrupted, note, sizeof note, err, errlen);
      if (st == ONE_ERROR) {
        signals_restore(&sv);
        goto out_with_arrays;
      }
      if (st == ONE_LIVE) {
        if (pass == 0) say_not_run(&pv, i, "left to another process, waited for at the end", note);
        wait[n_next++] = i;
        continue;
      }
      if (st == ONE_REMOTE) {
        say_not_run(&pv, i, "not run here", note);
        sum->n_remote++;
        continue;
      }
      if (st == ONE_ELSEWHERE) {
        say_not_run(&pv, i, "not run here", note);
        sum->n_elsewhere++;
        continue;
      }
      sum->n_ran++;
      sum->n_status[st]++;
      if (interrupted) {
        stop = 1;
        break;
      }
      est_done += e->runs[i].est_s;
      real_done += now_s() - ts;
      if (est_done > 0) pv.est_scale = real_done / est_done;
    }
    /* wait[] is read (pass > 0) and rewritten in place: n_next <= k */
    n_wait = n_next;
  }
  sum->n_waited_out = g_interrupts ? n_wait : 0;
  sum->interrupted = g_interrupts > 0;
  signals_restore(&sv);
  /* The last run's records went to the file as it was then: say so if it
   * was replaced meanwhile. */
  if (!sum->interrupted && db_ident_check(o->db_path, &pv.ident, err, errlen)) goto out_with_arrays;
  rc = 0;
out_with_rec:
  rec_close(r);
out_with_arrays:
  free(todo);
  free(wait);
  free(kof);
  free(seen);
  sum->wall_s = now_s() - t0;
  return rc;
}
