/* cli_slurm.c - `psgd slurm FILE`: writes (and with --submit submits) a
 * sweep as one Slurm job array plus a merge job.
 *
 * Layout, all under <db>.slurm/<experiment>/<stamp>/ (one folder per
 * submission): array.sh (the job array: task i runs its slice of the runs
 * into its own database task<i>.db, because SQLite's locking is not safe on
 * network filesystems), merge.sh (merges every shard of this experiment, of
 * every submission, into --db: `psgd merge` is idempotent), submit.sh (the
 * two sbatch calls, the merge job with --dependency=afterany on the array)
 * and logs/.
 *
 * What runs: the selected runs that are finished (ok, converged, diverged,
 * timeout) neither in --db nor in any earlier shard of this experiment; so
 * submitting the same sweep again runs only what is still missing. While an
 * earlier submission's jobs are still queued (squeue), a new one is refused:
 * its unfinished runs would be submitted twice. When a
 * task starts, each run of its slice is checked against --db again (a merge
 * may have brought it in since) and psgd run skips what its shard finished
 * (a requeued task resumes). Each run is selected by its key, so a task
 * whose expansion of the file differs from this one's fails instead of
 * running another spec; PSGD_CORES in the script makes "<f>x" thread counts
 * resolve against the same core count (--cores) in every task.
 *
 * Resources: --cpus-per-task is the largest need of the runs (threads, + 1
 * when a run keeps a core free for its monitor/evaluator or evaluates online
 * for a target accuracy), at most --cores: runs with more threads than
 * cores (the quick scale oversubscribes on purpose) get all --cores CPUs.
 * --time is the largest sum, over one task's runs, of the runner's limit per
 * run (runner_limit_s) times --time-factor, plus a fixed margin for loading
 * data and writing rows. */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "config.h"
#include "rec.h"
#include "runner.h"

#define MAX_FILTERS 8
#define SLURM_MARGIN_S 300.0 /* per task: start-up, data loading, final flushes */

typedef struct {
  const char *file, *scale, *db, *partition, *after;
  const char *only[MAX_FILTERS];
  int n_only;
  int runs_per_task, cores, submit;
  double time_factor;
} slurm_args;

static void usage(FILE *f) {
  fprintf(f,
          "usage: psgd slurm FILE [--scale S] [--db PATH] [--runs-per-task N] [--partition P]\n"
          "                  [--time-factor F] [--cores N] [--only FILTER]... [--after JOBID]\n"
          "                  [--submit]\n"
          "  writes a Slurm job array (one task per N runs, each into its own database) and a\n"
          "  merge job (afterany on the array) that merges the shards into --db; --submit\n"
          "  submits both. Only runs finished neither in --db nor in an earlier shard run.\n"
          "  --scale S          scale of the file (default quick)\n"
          "  --db PATH          the merged results database (default results/results.db)\n"
          "  --runs-per-task N  runs per array task (default 1)\n"
          "  --partition P      Slurm partition (default: the cluster's default)\n"
          "  --time-factor F    time limit = F x the runs' timeouts + 5 min (default 1.5)\n"
          "  --cores N          CPUs of one compute node: \"<f>x\" thread counts resolve\n"
          "                     against N, and no task asks for more (default: this machine's)\n"
          "  --only FILTER      as for psgd run (indexes or name=value; repeat to AND)\n"
          "  --after JOBID      the merge job also waits for this job (e.g. another merge\n"
          "                     into the same --db)\n"
          "  --submit           submit with sbatch (prints the job ids)\n");
}

static int parse_int(const char *name, const char *v, int lo, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (end == v || *end || x < lo || x > INT_MAX) {
    fprintf(stderr, "psgd: %s '%s': expected an integer >= %d\n", name, v, lo);
    return 2;
  }
  *out = (int)x;
  return 0;
}

static int parse_args(int argc, char **argv, slurm_args *a) {
  memset(a, 0, sizeof *a);
  a->db = "results/results.db";
  a->runs_per_task = 1;
  a->time_factor = 1.5;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *val = NULL;
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      usage(stdout);
      return 1;
    }
    if (strncmp(s, "--", 2) != 0) {
      if (a->file) {
        fprintf(stderr, "psgd: unexpected argument '%s' (one experiment file at a time)\n", s);
        return 2;
      }
      a->file = s;
      continue;
    }
    char name[32];
    const char *eq = strchr(s, '=');
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
    static const char *const takes[] = {"--scale", "--db", "--runs-per-task", "--partition",
                                        "--time-factor", "--cores", "--only", "--after"};
    int t = 0;
    for (size_t k = 0; k < sizeof takes / sizeof takes[0]; k++) t |= !strcmp(name, takes[k]);
    if (t) {
      if (eq) val = eq + 1;
      else if (i + 1 < argc) val = argv[++i];
      else {
        fprintf(stderr, "psgd: %s needs a value\n", name);
        return 2;
      }
    } else if (eq) {
      fprintf(stderr, "psgd: option %s takes no value\n", name);
      return 2;
    }
    if (!strcmp(name, "--scale")) a->scale = val;
    else if (!strcmp(name, "--db")) a->db = val;
    else if (!strcmp(name, "--partition")) a->partition = val;
    else if (!strcmp(name, "--after")) a->after = val;
    else if (!strcmp(name, "--runs-per-task")) {
      if (parse_int(name, val, 1, &a->runs_per_task)) return 2;
    } else if (!strcmp(name, "--cores")) {
      if (parse_int(name, val, 1, &a->cores)) return 2;
    } else if (!strcmp(name, "--time-factor")) {
      char *end;
      a->time_factor = strtod(val, &end);
      if (end == val || *end || !(a->time_factor > 0) || !isfinite(a->time_factor)) {
        fprintf(stderr, "psgd: --time-factor '%s': expected a number > 0\n", val);
        return 2;
      }
    } else if (!strcmp(name, "--only")) {
      if (a->n_only == MAX_FILTERS) {
        fprintf(stderr, "psgd: at most %d --only filters\n", MAX_FILTERS);
        return 2;
      }
      a->only[a->n_only++] = val;
    } else if (!strcmp(name, "--submit")) a->submit = 1;
    else {
      fprintf(stderr, "psgd: unknown option '%s'\n", s);
      usage(stderr);
      return 2;
    }
  }
  if (!a->file) {
    usage(stderr);
    return 2;
  }
  if (!a->db[0]) {
    fprintf(stderr, "psgd: --db needs a path\n");
    return 2;
  }
  return 0;
}

/* snprintf into a path buffer; -1 when it does not fit. */
static int pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, cap, fmt, ap);
  va_end(ap);
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int is_done(const char *status) { return rec_run_state_kept(rec_run_state_of(status)); }

/* Absolute form of a path whose last component may not exist yet. */
static int abs_path(const char *p, char *out, size_t cap) {
  char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];
  snprintf(a, sizeof a, "%s", p);
  snprintf(b, sizeof b, "%s", p);
  if (!realpath(dirname(a), dir)) return -1;
  int n = snprintf(out, cap, "%s/%s", dir, basename(b));
  return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int mkdirs(const char *path) {
  char p[PATH_MAX];
  if (pathf(p, sizeof p, "%s", path)) return -1;
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      if (mkdir(p, 0777) != 0 && errno != EEXIST) return -1;
      *s = '/';
    }
  return mkdir(p, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Scripts quote paths in single quotes. */
static int quotable(const char *s) { return strchr(s, '\'') == NULL && strchr(s, '\n') == NULL; }

/* The CPUs one run needs: its threads, + 1 for a core kept free for the
 * monitor/evaluator or for online evaluation (target accuracy). */
static int run_cpus(const run_spec *s) {
  return s->threads + (s->keep_core_free || s->target_acc > 0 ? 1 : 0);
}

typedef struct {
  char psgd[PATH_MAX], file[PATH_MAX], db[PATH_MAX], cwd[PATH_MAX], base[PATH_MAX],
      dir[PATH_MAX];
} paths;

/* Earlier submissions of this experiment whose array or merge job is still
 * in the queue (submit.sh leaves "ARRAY MERGE" in its folder's `jobs`): their
 * runs are not finished yet, and submitting them again would run them twice
 * (a merge conflict later). Returns how many there are, their folders in
 * busy; 0 with *unknown = 1 when squeue cannot be asked. */
static int queued_submissions(const char *base, char *busy, size_t cap, int *unknown) {
  *unknown = 0;
  busy[0] = '\0';
  char pat[PATH_MAX + 16];
  snprintf(pat, sizeof pat, "%s/*/jobs", base);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return 0;
  int n = 0;
  /* every job id in the queue (%F: an array task's array job id), "\nID\n" */
  FILE *q = popen("squeue -h -o %F 2>/dev/null", "r");
  char *ids = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&ids, &len);
  if (!q || !m) {
    *unknown = 1;
    goto out;
  }
  fputc('\n', m);
  char line[128];
  while (fgets(line, sizeof line, q)) {
    line[strcspn(line, "\n")] = '\0';
    fprintf(m, "%s\n", line);
  }
  fclose(m);
  m = NULL;
  int st = pclose(q);
  q = NULL;
  if (st != 0) {
    *unknown = 1;
    goto out;
  }
  for (size_t i = 0; i < g.gl_pathc; i++) {
    FILE *f = fopen(g.gl_pathv[i], "r");
    char a[64] = "", b[64] = "", key[80];
    if (!f) continue;
    int got = fscanf(f, "%63s %63s", a, b);
    fclose(f);
    int queued = 0;
    for (int k = 0; k < got && k < 2; k++) {
      snprintf(key, sizeof key, "\n%s\n", k ? b : a);
      queued |= strstr(ids, key) != NULL;
    }
    if (!queued) continue;
    n++;
    size_t l = strlen(busy);
    snprintf(busy + l, cap - l, "%s%.*s (jobs %s %s)", l ? ", " : "",
             (int)(strrchr(g.gl_pathv[i], '/') - g.gl_pathv[i]), g.gl_pathv[i], a, b);
  }
out:
  if (m) fclose(m);
  if (q) pclose(q);
  free(ids);
  globfree(&g);
  return n;
}

static int write_array(const slurm_args *a, const experiment *e, const paths *p, const int *todo,
                       int n_todo, int n_tasks, int cpus, double time_s, char *path_out) {
  if (pathf(path_out, PATH_MAX, "%s/array.sh", p->dir)) return -1;
  FILE *f = fopen(path_out, "w");
  if (!f) return -1;
  fprintf(f, "#!/bin/sh\n");
  fprintf(f, "# written by psgd slurm: %s, scale %s, %d runs in %d tasks of up to %d\n",
          e->name, e->scale, n_todo, n_tasks, a->runs_per_task);
  fprintf(f, "#SBATCH --job-name=psgd-%s\n", e->name);
  fprintf(f, "#SBATCH --array=0-%d\n", n_tasks - 1);
  fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", cpus);
  if (time_s > 0) fprintf(f, "#SBATCH --time=%ld\n", (long)ceil(time_s / 60.0));
  if (a->partition) fprintf(f, "#SBATCH --partition=%s\n", a->partition);
  fprintf(f, "#SBATCH --output=%s/logs/task_%%a.out\n", p->dir);
  fprintf(f, "#SBATCH --chdir=%s\n", p->cwd);
  fprintf(f, "PSGD='%s'\nFILE='%s'\nDB='%s'\nSCALE='%s'\n", p->psgd, p->file, p->db, e->scale);
  fprintf(f, "# \"<f>x\" thread counts resolve against the cores the script was written for\n");
  fprintf(f, "export PSGD_CORES=%d\n", e->n_cores);
  fprintf(f, "shard='%s'/task$SLURM_ARRAY_TASK_ID.db\n", p->dir);
  fprintf(f, "case \"$SLURM_ARRAY_TASK_ID\" in\n");
  for (int t = 0; t < n_tasks; t++) {
    fprintf(f, "%d) keys='", t);
    for (int k = t * a->runs_per_task; k < n_todo && k < (t + 1) * a->runs_per_task; k++)
      fprintf(f, "%s%s", k > t * a->runs_per_task ? " " : "", e->runs[todo[k]].key);
    fprintf(f, "' ;;\n");
  }
  fprintf(f, "*) echo \"psgd slurm: no slice for array index $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n"
             "esac\n");
  fprintf(f,
          "echo \"psgd slurm: task $SLURM_ARRAY_TASK_ID of job ${SLURM_ARRAY_JOB_ID:-?} on "
          "$(hostname), $(nproc) CPUs allowed: runs $keys -> $shard\"\n"
          "rc=0\n"
          "for k in $keys; do\n"
          "  # finished in the merged database since the script was written: skip\n"
          "  st=$(\"$PSGD\" list \"$FILE\" --scale \"$SCALE\" --db \"$DB\" --only key=$k 2>/dev/null |"
          " awk -v k=$k '$2 == k {print $3}')\n"
          "  case \"$st\" in ok|converged|diverged|timeout) echo \"run $k: $st in $DB, "
          "skipped\"; continue ;; esac\n"
          "  \"$PSGD\" run \"$FILE\" --scale \"$SCALE\" --only key=$k --db \"$shard\" > \"$shard.$k.out\" 2>&1\n"
          "  r=$?\n"
          "  cat \"$shard.$k.out\"\n"
          "  if grep -q ' 0 selected' \"$shard.$k.out\"; then\n"
          "    echo \"psgd slurm: run $k is not in this expansion of $FILE (file changed, or "
          "PSGD_CORES differs?)\" >&2; r=2\n"
          "  fi\n"
          "  rm -f \"$shard.$k.out\"\n"
          "  [ $r = 130 ] && exit 130\n"
          "  [ $r != 0 ] && rc=$r\n"
          "done\n"
          "exit $rc\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return -1;
  return chmod(path_out, 0755);
}

static int write_merge(const slurm_args *a, const experiment *e, const paths *p, char *path_out) {
  if (pathf(path_out, PATH_MAX, "%s/merge.sh", p->dir)) return -1;
  FILE *f = fopen(path_out, "w");
  if (!f) return -1;
  fprintf(f, "#!/bin/sh\n");
  fprintf(f, "# written by psgd slurm: merges every shard of %s (every submission) into the "
             "database\n", e->name);
  fprintf(f, "#SBATCH --job-name=psgd-%s-merge\n", e->name);
  fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n#SBATCH --time=120\n");
  if (a->partition) fprintf(f, "#SBATCH --partition=%s\n", a->partition);
  fprintf(f, "#SBATCH --output=%s/logs/merge_%%j.out\n", p->dir);
  fprintf(f, "#SBATCH --chdir=%s\n", p->cwd);
  fprintf(f, "set -- '%s'/*/task*.db\n", p->base);
  fprintf(f, "if [ ! -e \"$1\" ]; then echo \"psgd slurm: no shard under %s: no task ran\"; "
             "exit 1; fi\n", p->base);
  fprintf(f, "echo \"psgd slurm: merging $# shards into %s\"\n", p->db);
  fprintf(f, "exec '%s' merge '%s' \"$@\"\n", p->psgd, p->db);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return -1;
  return chmod(path_out, 0755);
}

static int write_submit(const slurm_args *a, const paths *p, char *path_out) {
  if (pathf(path_out, PATH_MAX, "%s/submit.sh", p->dir)) return -1;
  FILE *f = fopen(path_out, "w");
  if (!f) return -1;
  fprintf(f, "#!/bin/sh\n# written by psgd slurm: submits the array, then its merge job\nset -e\n");
  fprintf(f, "array=$(sbatch --parsable '%s/array.sh')\narray=${array%%%%;*}\n", p->dir);
  fprintf(f, "merge=$(sbatch --parsable --dependency=afterany:$array%s%s '%s/merge.sh')\n"
             "merge=${merge%%%%;*}\n",
          a->after ? ":" : "", a->after ? a->after : "", p->dir);
  fprintf(f, "echo \"$array $merge\" > '%s/jobs'\n", p->dir);
  fprintf(f, "echo \"psgd slurm: submitted array job $array and merge job $merge "
             "(afterany:$array)\"\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return -1;
  return chmod(path_out, 0755);
}

int cmd_slurm(int argc, char **argv) {
  slurm_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc == 1 ? 0 : rc;
  char err[PSGD_ERRLEN];
  for (int f = 0; f < a.n_only; f++)
    if (config_filter_check(a.only[f], err, sizeof err)) {
      fprintf(stderr, "psgd: %s\n", err);
      return 2;
    }
  config_opts opts = {a.scale, a.cores, 1};
  experiment *e = config_load(a.file, &opts, err, sizeof err);
  if (!e) {
    fprintf(stderr, "psgd: %s\n", err);
    return 2;
  }
  char(*status)[16] = calloc((size_t)e->n_runs + 1, 16);
  char(*shard_st)[16] = calloc((size_t)e->n_runs + 1, 16);
  int *todo = calloc((size_t)e->n_runs + 1, sizeof *todo);
  paths *p = calloc(1, sizeof *p);
  glob_t g = {0};
  int have_glob = 0;
  rc = 1;
  if (!status || !shard_st || !todo || !p) {
    fprintf(stderr, "psgd: out of memory\n");
    goto out;
  }
  /* The database's folder may not exist yet (psgd run creates it too). */
  char dbdir[PATH_MAX];
  if (pathf(dbdir, sizeof dbdir, "%s", a.db) == 0 && mkdirs(dirname(dbdir)) != 0) {
    fprintf(stderr, "psgd: cannot create the folder of %s: %s\n", a.db, strerror(errno));
    goto out;
  }
  ssize_t n = readlink("/proc/self/exe", p->psgd, sizeof p->psgd - 1);
  if (n <= 0 || !realpath(a.file, p->file) || abs_path(a.db, p->db, sizeof p->db) ||
      !getcwd(p->cwd, sizeof p->cwd)) {
    fprintf(stderr, "psgd: cannot resolve the paths of psgd, %s or %s: %s\n", a.file, a.db,
            strerror(errno));
    goto out;
  }
  p->psgd[n] = '\0';
  if (pathf(p->base, sizeof p->base, "%s.slurm/%s", p->db, e->name)) {
    fprintf(stderr, "psgd: %s: path too long\n", p->db);
    goto out;
  }
  if (!quotable(p->psgd) || !quotable(p->file) || !quotable(p->base) || !quotable(p->cwd)) {
    fprintf(stderr, "psgd: a path (psgd, %s, %s or the folder) contains a quote or newline: not "
            "supported in the job scripts\n", a.file, a.db);
    goto out;
  }
  /* What is finished: in --db, or in any earlier shard of this experiment. */
  if (runner_db_status(p->db, e, status, err, sizeof err)) {
    fprintf(stderr, "psgd: %s\n", err);
    goto out;
  }
  char pat[PATH_MAX + 16];
  snprintf(pat, sizeof pat, "%s/*/task*.db", p->base);
  int gr = glob(pat, 0, NULL, &g);
  have_glob = gr == 0;
  int n_shards = have_glob ? (int)g.gl_pathc : 0;
  for (int s = 0; s < n_shards; s++) {
    if (runner_db_status(g.gl_pathv[s], e, shard_st, err, sizeof err)) {
      fprintf(stderr, "psgd: %s\n", err);
      goto out;
    }
    for (int i = 0; i < e->n_runs; i++)
      if (is_done(shard_st[i]) && !is_done(status[i])) snprintf(status[i], 16, "%s", shard_st[i]);
  }
  char busy[2048];
  int unknown;
  if (queued_submissions(p->base, busy, sizeof busy, &unknown) > 0) {
    fprintf(stderr, "psgd: an earlier submission of %s is still in the queue: %s; its runs "
            "would run twice. Wait until it has ended (squeue), or scancel it, then submit "
            "again\n", e->name, busy);
    goto out;
  }
  if (unknown)
    printf("psgd slurm: squeue cannot be asked here: not checked whether an earlier "
           "submission is still queued\n");
  int n_sel = 0, n_done = 0, n_todo = 0;
  for (int i = 0; i < e->n_runs; i++) {
    int ok = 1;
    for (int f = 0; f < a.n_only && ok; f++) ok = config_run_matches(e, i, a.only[f]);
    if (!ok) continue;
    n_sel++;
    if (is_done(status[i])) n_done++;
    else todo[n_todo++] = i;
  }
  printf("psgd slurm: %s (scale %s, \"<f>x\" against %d cores): %d runs selected, %d finished "
         "in %s or its %d shards, %d to run\n",
         e->name, e->scale, e->n_cores, n_sel, n_done, p->db, n_shards, n_todo);
  if (n_todo == 0) {
    printf("psgd slurm: nothing to submit\n");
    rc = 0;
    goto out;
  }
  int n_tasks = (n_todo + a.runs_per_task - 1) / a.runs_per_task;
  int cpus = 1, n_over = 0, no_limit = 0;
  double time_s = 0;
  for (int t = 0; t < n_tasks; t++) {
    double sum = SLURM_MARGIN_S;
    for (int k = t * a.runs_per_task; k < n_todo && k < (t + 1) * a.runs_per_task; k++) {
      const run_spec *s = &e->runs[todo[k]].spec;
      int c = run_cpus(s);
      if (c > e->n_cores) {
        n_over++;
        c = e->n_cores;
      }
      if (c > cpus) cpus = c;
      double lim = runner_limit_s(s, 0);
      if (lim <= 0) no_limit = 1;
      sum += lim * a.time_factor;
    }
    if (sum > time_s) time_s = sum;
  }
  if (no_limit) time_s = 0;
  char stamp[64];
  time_t now = time(NULL);
  struct tm tm;
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
  char logs[PATH_MAX];
  if (pathf(p->dir, sizeof p->dir, "%s/%s-%d", p->base, stamp, (int)getpid()) ||
      pathf(logs, sizeof logs, "%s/logs", p->dir) || mkdirs(logs)) {
    fprintf(stderr, "psgd: cannot create %s: %s\n", logs, strerror(errno));
    goto out;
  }
  char f_array[PATH_MAX], f_merge[PATH_MAX], f_submit[PATH_MAX];
  if (write_array(&a, e, p, todo, n_todo, n_tasks, cpus, time_s, f_array) ||
      write_merge(&a, e, p, f_merge) || write_submit(&a, p, f_submit)) {
    fprintf(stderr, "psgd: cannot write the job scripts in %s: %s\n", p->dir, strerror(errno));
    goto out;
  }
  printf("psgd slurm: %d array tasks of up to %d runs, --cpus-per-task=%d", n_tasks,
         a.runs_per_task, cpus);
  if (n_over)
    printf(" (%d runs have more threads than %d cores: given all %d, oversubscribed as the "
           "quick scale means to be; if not meant so, give --cores N, the CPUs of a compute "
           "node)", n_over, e->n_cores, e->n_cores);
  if (time_s > 0) printf(", --time=%ld min\n", (long)ceil(time_s / 60.0));
  else printf(", no --time (a run without stop.seconds or timeout: the partition's limit)\n");
  printf("psgd slurm: wrote %s, %s, %s (shards and logs there)\n", f_array, f_merge, f_submit);
  if (!a.submit) {
    printf("psgd slurm: submit with: sh %s\n", f_submit);
    rc = 0;
    goto out;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", f_submit, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "psgd: submitting failed (sh %s); nothing else was changed\n", f_submit);
    goto out;
  }
  rc = 0;
out:
  if (have_glob) globfree(&g);
  free(status);
  free(shard_st);
  free(todo);
  free(p);
  config_free(e);
  return rc;
}
