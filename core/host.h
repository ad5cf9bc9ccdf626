/* host.h - facts about the machine and the process a run is recorded on:
 * the suite's git commit, host name, CPU model, OpenBLAS build config, the
 * kernel's boot id and the Slurm allocation (read once per process), and the
 * "claim" that tells a live process from a dead one whose pid was reused.
 * The recorder writes them into runs (git_commit, host, cpu_model,
 * versions.openblas, claim, alloc: rec.h); nothing here touches SQLite. */
#ifndef PSGD_HOST_H
#define PSGD_HOST_H

#include <stddef.h>

typedef struct {
  /* runs.git_commit: $PSGD_GIT_COMMIT, else `git rev-parse HEAD` in the
   * folder of the running binary (+ "-dirty"), else -DPSGD_GIT_COMMIT, else
   * "unknown" */
  char git[96];
  char host[256];     /* gethostname, "unknown" if it fails */
  char cpu[256];      /* /proc/cpuinfo's model name (or Model/Hardware), "unknown" */
  char openblas[256]; /* openblas_get_config(), "unknown" */
  char boot_id[64];   /* the kernel's boot id, "-" if unknown: see host_claimer_alive */
  /* Slurm allocation (all "" outside Slurm, i.e. without SLURM_JOB_ID):
   * the SLURM_* variables and the CPUs this process may run on ("0-3,8") */
  char job[64], array_job[64], array_task[32], node[256], cpus_per_task[32], cpus[1024];
} host_facts;

/* The facts, read at the first call of the process (thread-safe, once; a
 * forked child keeps its parent's, which are its own too). Never NULL. */
const host_facts *host_get(void);

/* The calling process's claim "boot_id pid starttime" (computed at each
 * call: a forked child that claims a run claims it for itself). */
void host_claim_text(char *out, size_t cap);

/* Whether the process that wrote a claim (with its host name and pid)
 * still runs: 1 alive, 2 cannot be told (another host), 0 gone. who gets a
 * description ("pid P on host H"). The same pid with another start time, or
 * another boot, is pid reuse, hence gone. Without a claim (NULL: a row of an
 * older psgd), alive if that pid exists and runs a program of our name. */
int host_claimer_alive(const char *host, long pid, const char *claim, char *who, size_t cap);

#endif
