/* engine.c - engine_run (engine.h): one run spec executed in parallel, as
 * a sequence of named steps: resolve the algorithm into dispatcher + param
 * store + controllers (algo.c), build the spec's problem (problem.h: data,
 * model, update rule, evaluation, step budget), prepare (final theta,
 * placement on hw/, initial loss), open the step log, train (par.h: the
 * parallel loop on the minibatch gradient of GETBATCH(i)), evaluate the
 * monitor's snapshots and the final theta on the test set after the run (so
 * evaluation does not compete with the workers), fill the result, and hand
 * steps, evals, events and the placement to the caller's sink. */
#define _GNU_SOURCE
#include "engine.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "algo.h"
#include "common.h"
#include "ctl.h"
#include "data.h"
#include "disp.h"
#include "hw.h"
#include "model.h"
#include "optim.h"
#include "par.h"
#include "problem.h"
#include "ps.h"
#include "steplog.h"
#include "vclock.h"

/* Post-run flush of step rows up to this many expected rows; beyond (or when
 * unknown) a writer thread drains the step log during the run. */
#define FLUSH_AFTER_MAX_ROWS 8000000u
#define DIVERGE_FACTOR 1e3

/* ------------------------------------------------------- algorithm ---- */

int engine_resolve(const run_spec *s, engine_algo *a, char *err, size_t errlen) {
  /* names and every rule on how they compose: algo.c */
  if (algo_resolve(s, a, NULL, err, errlen)) return -1;
  if (!strcmp(s->clock, "virtual")) {
    if (vclock_check(a->disp, a->store, a->backoff, s->threads, s->step_time, err, errlen))
      return -1;
  } else if (s->clock[0] && strcmp(s->clock, "real") != 0) {
    return psgd_err(err, errlen, "unknown clock '%s' (known: real, virtual)", s->clock);
  } else if (s->step_time[0]) {
    return psgd_err(err, errlen, "step_time '%s' applies only under clock virtual", s->step_time);
  }
  return 0;
}

/* ------------------------------------------------------- placement ---- */

typedef struct {
  hw_topo *topo;
  hw_plan plan;
  int have_plan;
  int best_effort;
} place_ctx;

/* Runs in each worker before it touches its buffers (par.c worker_setup):
 * binds it to its slot's PU and its allocations to that PU's node. */
static int on_thread(void *ctx, int w, int *pu, int *bound, char *err, size_t errlen) {
  place_ctx *pc = ctx;
  *bound = 0;
  if (pc->have_plan) {
    char e[PSGD_ERRLEN] = "";
    if (hw_bind_self(pc->topo, &pc->plan, w, bound, e, sizeof e) != 0) {
      *bound = 0;
      if (!pc->best_effort)
        return psgd_err(err, errlen, "binding worker %d: %s (bind_best_effort = true records "
                                     "the failure and runs on)",
                        w, e);
    }
  }
  *pu = hw_current_pu();
  return 0;
}

static int place(const run_spec *s, place_ctx *pc, char *err, size_t errlen) {
  memset(pc, 0, sizeof *pc);
  pc->best_effort = s->bind_best_effort;
  pc->topo = hw_topo_load(s->topology[0] ? s->topology : NULL, err, errlen);
  if (!pc->topo) return -1;
  int flags = (s->keep_core_free ? HW_PLAN_KEEP_CORE_FREE : 0) |
              (s->placement_nearest ? HW_PLAN_NEAREST : 0);
  if (hw_plan_make(pc->topo, s->placement[0] ? s->placement : "os", s->threads, flags, &pc->plan,
                   err, errlen)) {
    hw_topo_free(pc->topo);
    pc->topo = NULL;
    return -1;
  }
  pc->have_plan = 1;
  return 0;
}

static void place_free(place_ctx *pc) {
  if (pc->have_plan) hw_plan_free(&pc->plan);
  hw_topo_free(pc->topo);
}

/* One line for the run result: what the placement did. */
static void place_describe(const place_ctx *pc, const run_spec *s, const int *pu,
                           const int *bound, char *out, size_t cap) {
  int n_bound = 0;
  for (int i = 0; i < s->threads; i++) n_bound += bound[i] != 0;
  int planning = pc->topo && !hw_topo_is_thissystem(pc->topo);
  size_t len = (size_t)snprintf(out, cap, "%s -> %s%s, %d of %d workers bound%s", s->placement,
                                pc->plan.policy, pc->plan.exact ? "" : " (nearest equivalent)",
                                n_bound, s->threads,
                                planning ? " (planned on a topology that is not this machine)"
                                         : "");
  for (int i = 0; i < s->threads && len < cap; i++)
    len += (size_t)snprintf(out + len, cap - len, "%s%d:P#%d%s", i ? " " : "; workers ", i,
                            pu[i], bound[i] ? "" : "(unbound)");
  if (len < cap && pc->plan.note[0]) snprintf(out + len, cap - len, "; %s", pc->plan.note);
}

/* --------------------------------------------------------- progress ---- */

typedef struct {
  const engine_io *io;
  const run_spec *s;
} prog_ctx;

static void on_eval(void *ctx, const eval_rec *e, double steps_per_s) {
  prog_ctx *p = ctx;
  if (p->io && p->io->progress) p->io->progress(p->io->progress_ctx, p->s, e, steps_per_s);
}

/* --------------------------------------------------------------- run ---- */

/* Under an address-space limit (ulimit -v), many workers can exhaust it
 * inside OpenBLAS: a thread in an sgemm call takes a 128 MiB buffer (seen in
 * a debugger: blas_memory_alloc mmaps 134217728 bytes), and when that mmap
 * fails Debian's 0.3.21 kept retrying: 1024 threads under ulimit -v 3000000
 * hung with no message. Counted here for up to 128 threads at once. Refuse up front when the worst
 * case does not fit: the address space in use, plus the BLAS buffers, plus
 * per worker its stack and share of malloc arenas (glibc reserves 64 MiB per
 * arena, at most 8 per core). No limit: nothing to check. */
#define BLAS_BUFFER_BYTES ((uint64_t)128 << 20)
#define BLAS_MAX_BUFFERS 128
#define WORKER_VA_BYTES ((uint64_t)2 << 20)
#define ARENA_VA_BYTES ((uint64_t)64 << 20)
static int address_space_ok(int threads, char *err, size_t errlen) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  unsigned long long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%llu", &pages) != 1) pages = 0;
    fclose(f);
  }
  long page = sysconf(_SC_PAGESIZE);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  uint64_t used = (uint64_t)pages * (uint64_t)(page > 0 ? page : 4096);
  uint64_t t = (uint64_t)threads;
  uint64_t arenas = 8 * (uint64_t)(cpus > 0 ? cpus : 1);
  uint64_t need = used + (t < BLAS_MAX_BUFFERS ? t : BLAS_MAX_BUFFERS) * BLAS_BUFFER_BYTES +
                  t * WORKER_VA_BYTES + (t < arenas ? t : arenas) * ARENA_VA_BYTES;
  if (need <= (uint64_t)rl.rlim_cur) return 0;
  return psgd_err(err, errlen, "%d worker threads may need %.1f GiB of address space (%.1f GiB "
                  "in use, OpenBLAS buffers of 128 MiB counted for %d threads inside sgemm at "
                  "once, stacks and malloc arenas), more than the address-space limit (ulimit "
                  "-v) of %.1f GiB: use fewer threads or raise the limit",
                  threads, (double)need / (1 << 30), (double)used / (1 << 30),
                  threads < BLAS_MAX_BUFFERS ? threads : BLAS_MAX_BUFFERS,
                  (double)rl.rlim_cur / (1 << 30));
}

/* One run between its named steps. */
typedef struct {
  const run_spec *s;
  const engine_io *io;
  const engine_sink *sink;   /* NULL: record nothing */
  engine_algo a;
  int virt;                  /* virtual clock: no threads to place */
  problem_setup P;
  int have_P;
  place_ctx pc;
  float *theta;              /* the final theta */
  double l0;                 /* initial test loss */
  steplog *log;              /* step records, NULL: none */
  int steps_live;            /* sink->steps_live succeeded: steps_end still owed */
  uint64_t *replay;          /* step_time "run:<key>": that run's step durations */
  size_t n_replay;
  char membind[160];         /* where the shared state went */
  par_result pr;
  int have_pr;
  eval_rec *evals;           /* the snapshots' and the final evaluation */
  int n_ev;
  double best;
} engine_state;

static int stop_condition_ok(const run_spec *s, char *err, size_t errlen) {
  int budget = s->stop_epochs > 0 || s->stop_steps > 0 || s->stop_seconds > 0;
  if (!(budget || s->target_acc > 0 || s->epsilon > 0) ||
      (s->target_acc > 0 && !budget && !(s->eval_every_s > 0 || s->eval_every_steps > 0)))
    return psgd_err(err, errlen, "no usable stop condition: set epochs, steps or seconds");
  return 0;
}

/* The final theta's buffer, the placement, the initial loss. */
static int prepare(engine_state *E, run_result *res, char *err, size_t errlen) {
  if (!(E->theta = psgd_alloc(E->P.d * sizeof *E->theta)))
    return psgd_err(err, errlen, "out of memory for %s", model_describe(E->P.m));
  if (!E->virt && place(E->s, &E->pc, err, errlen)) return -1;
  double a0;
  problem_evaluate(&E->P, E->P.theta0, &E->l0, &a0);
  res->initial_loss = E->l0;
  return 0;
}

/* Step records: everything in memory and handed over after the run, or
 * (long or open-ended runs) drained through the sink while it runs. */
static int open_steplog(engine_state *E, char *err, size_t errlen) {
  const run_spec *s = E->s;
  if (!(E->sink && E->sink->steps_end && s->record_steps)) return 0;
  uint64_t max_steps = E->P.max_steps, expect = 0;
  if (max_steps) expect = E->a.disp->rejects ? 3 * max_steps : max_steps + (uint64_t)s->threads;
  int post = expect > 0 && expect <= FLUSH_AFTER_MAX_ROWS;
  size_t cap = post ? expect : 1u << 20;
  if (!E->sink->steps_live) post = 1; /* the sink holds no live drain: all in memory */
  if (!(E->log = steplog_create(E->virt ? 1 : s->threads, cap, err, errlen))) return -1;
  if (!post) {
    if (E->sink->steps_live(E->sink->ctx, E->log, err, errlen)) return -1;
    E->steps_live = 1;
  }
  return 0;
}

/* The parallel loop's settings from the spec, the algorithm and the problem. */
static void config_make(engine_state *E, par_config *c, prog_ctx *pgc) {
  const run_spec *s = E->s;
  par_config_default(c);
  c->disp = E->a.disp;
  c->store = E->a.store;
  c->ctl_y = E->a.ctl_y;
  c->ctl_m = E->a.ctl_m;
  c->n_workers = s->threads;
  c->m0 = s->threads;
  c->y0 = s->y0;
  c->decay_k = s->y_decay_k;
  c->window = s->probe_window;
  c->probe_steps = s->probe_steps;
  c->exec_steps = s->exec_steps;
  c->opt = E->P.opt;
  c->backoff = E->a.backoff;
  c->ps_bound = s->ps_bound;
  c->seed = s->seed;
  c->max_steps = E->P.max_steps;
  c->max_seconds = s->stop_seconds;
  c->epsilon = s->epsilon;
  c->target_acc = s->target_acc;
  c->stop_flag = E->io ? E->io->stop_flag : NULL;
  c->initial_loss = E->l0;
  c->diverge_factor = DIVERGE_FACTOR;
  c->eval_every_s = s->eval_every_s;
  c->eval_every_steps = s->eval_every_steps > 0 ? (uint64_t)s->eval_every_steps : 0;
  c->steps_per_epoch = E->P.steps_per_epoch;
  c->eval_online = problem_evaluate;
  c->eval_ctx = &E->P;
  c->on_eval = on_eval;
  c->on_eval_ctx = pgc;
  int pre = 2;
  if (s->eval_every_s > 0 && s->stop_seconds > 0) pre = (int)(s->stop_seconds / s->eval_every_s) + 2;
  c->snap_prealloc = pre < 64 ? pre : 64;
  c->on_thread = E->virt ? NULL : on_thread;
  c->thread_ctx = &E->pc;
  c->log = E->log;
  if (E->virt) {
    c->clock = PAR_CLOCK_VIRTUAL;
    c->step_time = s->step_time;
    /* PSGD_COMPUTE_THREADS: for sweeps (psgd run), where the spec has no
     * such setting because it never changes the results */
    c->compute_threads = s->compute_threads;
    const char *ct = getenv("PSGD_COMPUTE_THREADS");
    if (!c->compute_threads && ct && *ct) c->compute_threads = atoi(ct);
    c->replay_ns = E->replay;
    c->n_replay = E->n_replay;
  }
}

/* step_time "run:<key>": the recorded run's step durations, from the sink. */
static int load_replay(engine_state *E, char *err, size_t errlen) {
  const run_spec *s = E->s;
  if (!E->virt || strncmp(s->step_time, "run:", 4) != 0) return 0;
  if (!E->sink || !E->sink->step_durations)
    return psgd_err(err, errlen, "step_time %s needs the database that holds that run (psgd run "
                    "--db), none is open", s->step_time);
  return E->sink->step_durations(E->sink->ctx, s->step_time + 4, &E->replay, &E->n_replay, err,
                                 errlen);
}

/* par_run, with the shared state (theta, counters, momentum: allocated and
 * first touched by this thread inside par_run) on worker 0's node (or
 * interleaved) for that long; the workers set their own policy. */
static int train(engine_state *E, char *err, size_t errlen) {
  const run_spec *s = E->s;
  prog_ctx pgc = {E->io, s};
  par_config c;
  config_make(E, &c, &pgc);
  par_problem prob = problem_setup_par(&E->P);
  if (!E->virt) {
    char e[PSGD_ERRLEN] = "";
    if (hw_membind_shared(E->pc.topo, &E->pc.plan, s->mem_interleave, E->membind,
                          sizeof E->membind, e, sizeof e)) {
      if (!s->bind_best_effort)
        return psgd_err(err, errlen, "%s (bind_best_effort = true records the failure and runs "
                        "on)", e);
      snprintf(E->membind, sizeof E->membind, "not bound: %s", e);
    }
  }
  int par_rc = par_run(&prob, &c, &E->pr, E->theta, err, errlen);
  if (!par_rc) E->have_pr = 1;
  if (!E->virt) {
    char e[PSGD_ERRLEN] = "";
    if (hw_membind_default(E->pc.topo, e, sizeof e) && !par_rc)
      return psgd_err(err, errlen, "%s", e);
  }
  return par_rc;
}

/* The snapshots on the test set now that the workers are gone, then the
 * final theta; progress for the deferred ones and the final one (online
 * ones were reported live). */
static int evaluate_all(engine_state *E, char *err, size_t errlen) {
  const par_result *pr = &E->pr;
  if (!(E->evals = calloc((size_t)pr->n_snaps + 1, sizeof *E->evals)))
    return psgd_err(err, errlen, "out of memory for %d evaluations", pr->n_snaps + 1);
  for (int i = 0; i < pr->n_snaps; i++) {
    eval_rec e = pr->snaps[i].e;
    if (pr->snaps[i].theta) problem_evaluate(&E->P, pr->snaps[i].theta, &e.test_loss, &e.test_acc);
    if (isfinite(e.test_acc) && e.test_acc > E->best) E->best = e.test_acc;
    E->evals[E->n_ev++] = e;
  }
  eval_rec e;
  memset(&e, 0, sizeof e);
  e.t_ns = (uint64_t)(pr->wall_s * 1e9);
  e.steps_accepted = pr->steps_accepted;
  e.epoch = (double)pr->steps_accepted / E->P.steps_per_epoch;
  e.train_loss = pr->final_train_loss;
  problem_evaluate(&E->P, E->theta, &e.test_loss, &e.test_acc);
  if (isfinite(e.test_acc) && e.test_acc > E->best) E->best = e.test_acc;
  E->evals[E->n_ev++] = e;
  const engine_io *io = E->io;
  for (int i = 0; io && io->progress && i < E->n_ev; i++) {
    if (i < pr->n_snaps && !pr->snaps[i].theta) continue;
    double el = E->evals[i].t_ns * 1e-9;
    io->progress(io->progress_ctx, E->s, &E->evals[i],
                 el > 0 ? E->evals[i].steps_accepted / el : 0.0);
  }
  return 0;
}

/* The run's result from the loop's and the final evaluation. */
static void result_fill(const engine_state *E, run_result *res) {
  const run_spec *s = E->s;
  const par_result *pr = &E->pr;
  const eval_rec *fin = &E->evals[E->n_ev - 1];
  res->status = pr->status;
  if (res->status == RUN_OK && s->target_acc > 0 && fin->test_acc >= s->target_acc)
    res->status = RUN_CONVERGED;
  res->wall_s = pr->wall_s;
  res->steps_started = pr->steps_started;
  res->steps_accepted = pr->steps_accepted;
  res->epochs = (double)pr->steps_accepted / E->P.steps_per_epoch;
  res->final_train_loss = pr->final_train_loss;
  res->final_test_loss = fin->test_loss;
  res->final_test_acc = fin->test_acc;
  res->best_test_acc = E->best;
  res->pinned = !E->virt;
  for (int i = 0; i < s->threads; i++)
    if (!pr->bound[i]) res->pinned = 0;
  if (E->virt)
    snprintf(res->placement, sizeof res->placement,
             "virtual clock: %d simulated workers, step time %s", s->threads, s->step_time);
  else
    place_describe(&E->pc, s, pr->pu, pr->bound, res->placement, sizeof res->placement);
}

/* One placement row per worker, each describing one machine only. This
 * machine's topology: the PU the worker ran on and its core/node/package
 * there. A planning topology (synthetic or XML, runs.topology_xml): the
 * planned slot, all of it on that topology, never bound; the PUs it ran on
 * here are in the event 'placement_actual'. */
static void placement_rows(const engine_state *E, place_rec *pl) {
  const place_ctx *pc = &E->pc;
  const par_result *pr = &E->pr;
  int planning = pc->topo && !hw_topo_is_thissystem(pc->topo);
  for (int i = 0; i < E->s->threads; i++) {
    pl[i].worker = i;
    pl[i].pu_os = pr->pu[i];
    pl[i].core = pl[i].node = pl[i].package = -1;
    if (planning) {
      pl[i].pu_os = -1;
      if (pc->have_plan && i < pc->plan.n) {
        pl[i].pu_os = pc->plan.slots[i].pu_os;
        pl[i].core = pc->plan.slots[i].core;
        pl[i].node = pc->plan.slots[i].node;
        pl[i].package = pc->plan.slots[i].package;
      }
    } else if (pc->topo) {
      hw_pu_locate(pc->topo, pr->pu[i], &pl[i].core, &pl[i].node, &pl[i].package);
    }
    pl[i].bound = planning ? 0 : pr->bound[i];
  }
}

/* The run's own events beyond the loop's: the store's footprint and
 * counters, what the placement became (value 1 = as asked, 0 = nearest
 * equivalent) and where the shared state went. Returns how many (<= 8). */
#define RUN_EVENTS_MAX 8
static int run_events(const engine_state *E, event_rec *x) {
  const run_spec *s = E->s;
  const par_result *pr = &E->pr;
  const place_ctx *pc = &E->pc;
  int nx = 0;
  memset(x, 0, RUN_EVENTS_MAX * sizeof *x);
  uint64_t t_end = (uint64_t)(pr->wall_s * 1e9);
  if (E->a.store->versions) {
    x[nx] = (event_rec){t_end, "leashed_live_peak", (double)pr->store.live_peak, ""};
    snprintf(x[nx].detail, sizeof x[nx].detail, "versions allocated %llu, %zu bytes, dropped %llu",
             (unsigned long long)pr->store.allocated, pr->store.bytes,
             (unsigned long long)pr->store.dropped);
    nx++;
  }
  if (E->virt) {
    x[nx] = (event_rec){0, "clock", 1.0, ""};
    snprintf(x[nx].detail, sizeof x[nx].detail,
             "virtual: simulated %d-core machine, step time %.40s", s->threads, s->step_time);
    nx++;
  } else {
    x[nx] = (event_rec){0, "placement", (double)pc->plan.exact, ""};
    char d[400];
    snprintf(d, sizeof d, "%s -> %s%s%s", s->placement, pc->plan.policy,
             pc->plan.note[0] ? ": " : "", pc->plan.note);
    snprintf(x[nx].detail, sizeof x[nx].detail, "%.*s", (int)sizeof x[nx].detail - 1, d);
    nx++;
    if (pc->topo && !hw_topo_is_thissystem(pc->topo)) {
      /* the rows hold the plan; where the workers really ran (unbound) */
      x[nx] = (event_rec){0, "placement_actual", 0.0, ""};
      int dl = snprintf(x[nx].detail, sizeof x[nx].detail, "ran unbound on PUs");
      for (int i = 0; i < s->threads && dl > 0 && (size_t)dl < sizeof x[nx].detail; i++)
        dl += snprintf(x[nx].detail + dl, sizeof x[nx].detail - (size_t)dl, " %d", pr->pu[i]);
      nx++;
    }
    x[nx] = (event_rec){0, "membind", 0.0, ""};
    snprintf(x[nx].detail, sizeof x[nx].detail, "%.*s", (int)sizeof x[nx].detail - 1,
             E->membind);
    nx++;
  }
  /* contention on the stores that retry (thesis Sec. 3.5): failed
   * try-locks / CASes and backoff waits; a blocking lock (no backoff)
   * waits inside pthreads and counts no retries */
  if (E->a.store->retries) {
    x[nx++] = (event_rec){t_end, "store_retries", (double)pr->store.retries, ""};
    x[nx++] = (event_rec){t_end, "store_backoffs", (double)pr->store.backoffs, ""};
  }
  if (pr->steps_rejected) x[nx++] = (event_rec){t_end, "rejected", (double)pr->steps_rejected, ""};
  if (pr->events_lost) x[nx++] = (event_rec){t_end, "events_lost", (double)pr->events_lost, ""};
  return nx;
}

/* Everything to the sink: the machine and versions, the placement rows
 * (none under the virtual clock: its workers ran nowhere), the evaluations,
 * the loop's and the run's events, the rest of the step rows. */
static int record(engine_state *E, run_result *res, char *err, size_t errlen) {
  const engine_sink *k = E->sink;
  if (!k) return 0;
  const int n = E->s->threads;
  if (k->run_info) {
    char versions[160];
    snprintf(versions, sizeof versions, "{\"hwloc\":\"%s\",\"engine\":\"%s/%s\"}", hw_version(),
             E->a.disp->name, E->a.store->name);
    char *xml = E->virt ? NULL : hw_topo_xml(E->pc.topo);
    int bad = k->run_info(k->ctx, xml, versions, err, errlen);
    free(xml);
    if (bad) return -1;
  }
  if (k->placement && !E->virt) {
    place_rec *pl = calloc((size_t)n, sizeof *pl);
    if (!pl) return psgd_err(err, errlen, "out of memory for the placement rows");
    placement_rows(E, pl);
    int bad = k->placement(k->ctx, pl, (size_t)n, err, errlen);
    free(pl);
    if (bad) return -1;
  }
  if (k->evals && k->evals(k->ctx, E->evals, (size_t)E->n_ev, err, errlen)) return -1;
  if (k->events) {
    event_rec x[RUN_EVENTS_MAX];
    int nx = run_events(E, x);
    if (k->events(k->ctx, E->pr.events, (size_t)E->pr.n_events, err, errlen)) return -1;
    if (nx && k->events(k->ctx, x, (size_t)nx, err, errlen)) return -1;
  }
  if (E->log) {
    E->steps_live = 0;
    if (k->steps_end(k->ctx, E->log, &res->flush_s, err, errlen)) return -1;
  }
  return 0;
}

static void state_free(engine_state *E) {
  if (E->steps_live) {
    /* a failed run: the sink gets what the workers logged, its error is moot */
    char e2[PSGD_ERRLEN];
    double fs;
    E->sink->steps_end(E->sink->ctx, E->log, &fs, e2, sizeof e2);
  }
  if (E->have_pr) par_result_free(&E->pr);
  free(E->evals);
  free(E->replay);
  steplog_free(E->log);
  place_free(&E->pc);
  psgd_free(E->theta);
  if (E->have_P) problem_teardown(&E->P);
}

int engine_run(const run_spec *s, const engine_io *io, run_result *res, char *err,
               size_t errlen) {
  memset(res, 0, sizeof *res);
  engine_state E;
  memset(&E, 0, sizeof E);
  E.s = s;
  E.io = io;
  E.sink = io ? io->sink : NULL;
  E.virt = !strcmp(s->clock, "virtual");
  if (engine_resolve(s, &E.a, err, errlen) || stop_condition_ok(s, err, errlen)) return -1;
  if (problem_setup_make(&E.P, s, err, errlen)) return -1;
  E.have_P = 1;
  int rc = -1;
  if (prepare(&E, res, err, errlen) || open_steplog(&E, err, errlen) ||
      address_space_ok(s->threads, err, errlen) || load_replay(&E, err, errlen) ||
      train(&E, err, errlen) || evaluate_all(&E, err, errlen))
    goto out;
  result_fill(&E, res);
  if (record(&E, res, err, errlen)) goto out;
  rc = 0;
out:
  state_free(&E);
  return rc;
}
