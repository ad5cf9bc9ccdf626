/* host.c - host facts and process claims (see host.h). Everything is read
 * from the environment, /proc, git and OpenBLAS, once per process. */
#define _GNU_SOURCE
#include "host.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static host_facts g_host;
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

const host_facts *host_get(void) {
  pthread_once(&g_host_once, host_init);
  return &g_host;
}

void host_claim_text(char *out, size_t cap) {
  host_get();
  unsigned long long start = 0;
  char state;
  if (proc_start((long)getpid(), &start, &state) != 0) start = 0;
  snprintf(out, cap, "%s %ld %llu", g_host.boot_id, (long)getpid(), start);
}

int host_claimer_alive(const char *host, long pid, const char *claim, char *who, size_t cap) {
  host_get();
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
