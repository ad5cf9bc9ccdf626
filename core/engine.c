/* engine.c - engine_run (engine.h): one run spec executed in parallel.
 * Resolves the algorithm into dispatcher + param store + controllers (names
 * from their registries), builds the spec's problem (problem.h: data,
 * model, update rule, evaluation, step budget), places the workers (hw/), runs the
 * parallel loop (par.h) on the minibatch gradient of GETBATCH(i), evaluates
 * the monitor's snapshots on the test set after the run (so evaluation does
 * not compete with the workers), and hands steps, evals, events and the
 * placement to the recorder. */
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

static int rec_steplog_cb(void *ctx, const step_rec *r, size_t n) {
  (void)ctx;
  (void)r;
  (void)n;
  return 0; /* record_steps off or no recorder: drop */
}

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

int engine_run(const run_spec *s, const engine_io *io, run_result *res, char *err,
               size_t errlen) {
  memset(res, 0, sizeof *res);
  engine_algo a;
  if (engine_resolve(s, &a, err, errlen)) return -1;
  if (s->batch < 1) return psgd_err(err, errlen, "batch size %d must be >= 1", s->batch);
  if (!(s->stop_epochs > 0 || s->stop_steps > 0 || s->stop_seconds > 0 || s->target_acc > 0 ||
        s->epsilon > 0) ||
      (s->target_acc > 0 && !(s->stop_epochs > 0 || s->stop_steps > 0 || s->stop_seconds > 0) &&
       !(s->eval_every_s > 0 || s->eval_every_steps > 0)))
    return psgd_err(err, errlen, "no usable stop condition: set epochs, steps or seconds");

  int rc = -1;
  problem_setup P;
  steplog *log = NULL;
  rec_writer *writer = NULL;
  eval_rec *evals = NULL;
  uint64_t *replay = NULL;
  par_result pr;
  memset(&pr, 0, sizeof pr);
  place_ctx pc;
  memset(&pc, 0, sizeof pc);
  int have_pr = 0;

  if (problem_setup_make(&P, s, err, errlen)) return -1;
  const size_t d = P.d;
  float *theta = psgd_alloc(d * sizeof *theta);
  if (!theta) {
    psgd_err(err, errlen, "out of memory for %s", model_describe(P.m));
    goto out;
  }
  /* virtual workers have no threads to place */
  const int virt = !strcmp(s->clock, "virtual");
  if (!virt && place(s, &pc, err, errlen)) goto out;

  double l0, a0;
  problem_evaluate(&P, P.theta0, &l0, &a0);
  res->initial_loss = l0;

  const double steps_per_epoch = P.steps_per_epoch;
  const uint64_t max_steps = P.max_steps;

  /* step records: everything in memory and flushed after the run, or (long
   * or open-ended runs) drained by a writer thread while it runs */
  int record = io && io->r && s->record_steps;
  uint64_t expect = 0;
  if (record) {
    if (max_steps)
      expect = a.disp->rejects ? 3 * max_steps : max_steps + (uint64_t)s->threads;
    int post = expect > 0 && expect <= FLUSH_AFTER_MAX_ROWS;
    log = steplog_create(virt ? 1 : s->threads, post ? expect : 1u << 20, err, errlen);
    if (!log) goto out;
    if (!post && !(writer = rec_writer_start(io->r, io->run_id, log, 1.0, err, errlen))) goto out;
  }

  if (address_space_ok(s->threads, err, errlen)) goto out;
  par_problem prob = problem_setup_par(&P);
  prog_ctx pgc = {io, s};
  par_config c;
  par_config_default(&c);
  c.disp = a.disp;
  c.store = a.store;
  c.ctl_y = a.ctl_y;
  c.ctl_m = a.ctl_m;
  c.n_workers = s->threads;
  c.m0 = s->threads;
  c.y0 = s->y0;
  c.decay_k = s->y_decay_k;
  c.window = s->probe_window;
  c.probe_steps = s->probe_steps;
  c.exec_steps = s->exec_steps;
  c.opt = P.opt;
  c.backoff = a.backoff;
  c.ps_bound = s->ps_bound;
  c.seed = s->seed;
  c.max_steps = max_steps;
  c.max_seconds = s->stop_seconds;
  c.epsilon = s->epsilon;
  c.target_acc = s->target_acc;
  c.stop_flag = io ? io->stop_flag : NULL;
  c.initial_loss = l0;
  c.diverge_factor = DIVERGE_FACTOR;
  c.eval_every_s = s->eval_every_s;
  c.eval_every_steps = s->eval_every_steps > 0 ? (uint64_t)s->eval_every_steps : 0;
  c.steps_per_epoch = steps_per_epoch;
  c.eval_online = problem_evaluate;
  c.eval_ctx = &P;
  c.on_eval = on_eval;
  c.on_eval_ctx = &pgc;
  int pre = 2;
  if (s->eval_every_s > 0 && s->stop_seconds > 0) pre = (int)(s->stop_seconds / s->eval_every_s) + 2;
  c.snap_prealloc = pre < 64 ? pre : 64;
  c.on_thread = on_thread;
  c.thread_ctx = &pc;
  c.log = log;
  if (virt) {
    c.clock = PAR_CLOCK_VIRTUAL;
    c.step_time = s->step_time;
    /* PSGD_COMPUTE_THREADS: for sweeps (psgd run), where the spec has no
     * such setting because it never changes the results */
    c.compute_threads = s->compute_threads;
    const char *ct = getenv("PSGD_COMPUTE_THREADS");
    if (!c.compute_threads && ct && *ct) c.compute_threads = atoi(ct);
    if (!strncmp(s->step_time, "run:", 4)) {
      /* replay a recorded run's step durations, from this run's database */
      if (!io || !io->r) {
        psgd_err(err, errlen, "step_time %s needs the database that holds that run (psgd run "
                 "--db), none is open", s->step_time);
        goto out;
      }
      if (rec_run_step_durations(io->r, s->step_time + 4, &replay, &c.n_replay, err, errlen))
        goto out;
      c.replay_ns = replay;
    }
    c.on_thread = NULL;
  }

  /* shared state (theta, counters, momentum) is allocated and first touched
   * by this thread inside par_run: put it on worker 0's node (or
   * interleaved) for that long; the workers set their own policy */
  char membind[160] = "";
  if (!virt) {
    char e[PSGD_ERRLEN] = "";
    if (hw_membind_shared(pc.topo, &pc.plan, s->mem_interleave, membind, sizeof membind, e,
                          sizeof e)) {
      if (!s->bind_best_effort) {
        psgd_err(err, errlen, "%s (bind_best_effort = true records the failure and runs on)", e);
        goto out;
      }
      snprintf(membind, sizeof membind, "not bound: %s", e);
    }
  }
  int par_rc = par_run(&prob, &c, &pr, theta, err, errlen);
  if (!virt) {
    char e[PSGD_ERRLEN] = "";
    if (hw_membind_default(pc.topo, e, sizeof e) && !par_rc) {
      psgd_err(err, errlen, "%s", e);
      goto out;
    }
  }
  if (par_rc) goto out;
  have_pr = 1;

  /* evaluate the snapshots now that the workers are gone */
  int n_ev = 0;
  evals = calloc((size_t)pr.n_snaps + 1, sizeof *evals);
  if (!evals) {
    psgd_err(err, errlen, "out of memory for %d evaluations", pr.n_snaps + 1);
    goto out;
  }
  double best = 0;
  for (int i = 0; i < pr.n_snaps; i++) {
    eval_rec e = pr.snaps[i].e;
    if (pr.snaps[i].theta) problem_evaluate(&P, pr.snaps[i].theta, &e.test_loss, &e.test_acc);
    if (isfinite(e.test_acc) && e.test_acc > best) best = e.test_acc;
    evals[n_ev++] = e;
  }
  double fl, fa;
  problem_evaluate(&P, theta, &fl, &fa);
  {
    eval_rec e;
    memset(&e, 0, sizeof e);
    e.t_ns = (uint64_t)(pr.wall_s * 1e9);
    e.steps_accepted = pr.steps_accepted;
    e.epoch = (double)pr.steps_accepted / steps_per_epoch;
    e.train_loss = pr.final_train_loss;
    e.test_loss = fl;
    e.test_acc = fa;
    evals[n_ev++] = e;
    if (isfinite(fa) && fa > best) best = fa;
  }
  /* the deferred evaluations and the final one (online ones were reported live) */
  for (int i = 0; io && io->progress && i < n_ev; i++) {
    if (i < pr.n_snaps && !pr.snaps[i].theta) continue;
    double el = evals[i].t_ns * 1e-9;
    io->progress(io->progress_ctx, s, &evals[i], el > 0 ? evals[i].steps_accepted / el : 0.0);
  }

  res->status = pr.status == RUN_INTERRUPTED ? RUN_INTERRUPTED : pr.status;
  if (res->status == RUN_OK && s->target_acc > 0 && fa >= s->target_acc) res->status = RUN_CONVERGED;
  res->wall_s = pr.wall_s;
  res->steps_started = pr.steps_started;
  res->steps_accepted = pr.steps_accepted;
  res->epochs = (double)pr.steps_accepted / steps_per_epoch;
  res->final_train_loss = pr.final_train_loss;
  res->final_test_loss = fl;
  res->final_test_acc = fa;
  res->best_test_acc = best;
  res->pinned = !virt;
  for (int i = 0; i < s->threads; i++)
    if (!pr.bound[i]) res->pinned = 0;
  if (virt)
    snprintf(res->placement, sizeof res->placement,
             "virtual clock: %d simulated workers, step time %s", s->threads, s->step_time);
  else
    place_describe(&pc, s, pr.pu, pr.bound, res->placement, sizeof res->placement);

  if (io && io->r) {
    rec *r = io->r;
    char versions[160];
    snprintf(versions, sizeof versions, "{\"hwloc\":\"%s\",\"engine\":\"%s/%s\"}",
             hw_version(), a.disp->name, a.store->name);
    char *xml = virt ? NULL : hw_topo_xml(pc.topo);
    int bad = rec_run_info(r, io->run_id, xml, versions, err, errlen);
    free(xml);
    if (bad) goto out;
    place_rec *pl = calloc((size_t)s->threads, sizeof *pl);
    if (!pl) {
      psgd_err(err, errlen, "out of memory for the placement rows");
      goto out;
    }
    /* Each row describes one machine only. This machine's topology: the
     * PU the worker ran on and its core/node/package there. A planning
     * topology (synthetic or XML, runs.topology_xml): the planned slot, all
     * of it on that topology, never bound; the PUs it ran on here are in
     * the event 'placement_actual'. */
    int planning = pc.topo && !hw_topo_is_thissystem(pc.topo);
    for (int i = 0; i < s->threads; i++) {
      pl[i].worker = i;
      pl[i].pu_os = pr.pu[i];
      pl[i].core = pl[i].node = pl[i].package = -1;
      if (planning) {
        pl[i].pu_os = -1;
        if (pc.have_plan && i < pc.plan.n) {
          pl[i].pu_os = pc.plan.slots[i].pu_os;
          pl[i].core = pc.plan.slots[i].core;
          pl[i].node = pc.plan.slots[i].node;
          pl[i].package = pc.plan.slots[i].package;
        }
      } else if (pc.topo) {
        hw_pu_locate(pc.topo, pr.pu[i], &pl[i].core, &pl[i].node, &pl[i].package);
      }
      pl[i].bound = planning ? 0 : pr.bound[i];
    }
    /* virtual workers ran nowhere: no placement rows */
    bad = virt ? 0 : rec_placement(r, io->run_id, pl, (size_t)s->threads, err, errlen);
    free(pl);
    if (bad) goto out;
    if (rec_evals(r, io->run_id, evals, (size_t)n_ev, err, errlen)) goto out;
    /* the store's footprint and the run's counters as events */
    event_rec extra[10]; /* at most 8 below */
    int nx = 0;
    memset(extra, 0, sizeof extra);
    uint64_t t_end = (uint64_t)(pr.wall_s * 1e9);
    if (a.store->versions) {
      extra[nx] = (event_rec){t_end, "leashed_live_peak", (double)pr.store.live_peak, ""};
      snprintf(extra[nx].detail, sizeof extra[nx].detail,
               "versions allocated %llu, %zu bytes, dropped %llu",
               (unsigned long long)pr.store.allocated, pr.store.bytes,
               (unsigned long long)pr.store.dropped);
      nx++;
    }
    /* what the placement became (value 1 = as asked, 0 = nearest
     * equivalent) and where the shared state went */
    if (virt) {
      extra[nx] = (event_rec){0, "clock", 1.0, ""};
      snprintf(extra[nx].detail, sizeof extra[nx].detail,
               "virtual: simulated %d-core machine, step time %.40s", s->threads, s->step_time);
      nx++;
    } else {
      extra[nx] = (event_rec){0, "placement", (double)pc.plan.exact, ""};
      {
        char d[400];
        snprintf(d, sizeof d, "%s -> %s%s%s", s->placement, pc.plan.policy,
                 pc.plan.note[0] ? ": " : "", pc.plan.note);
        snprintf(extra[nx].detail, sizeof extra[nx].detail, "%.*s",
                 (int)sizeof extra[nx].detail - 1, d);
      }
      nx++;
      if (planning) {
        /* the rows hold the plan; where the workers really ran (unbound) */
        extra[nx] = (event_rec){0, "placement_actual", 0.0, ""};
        int dl = snprintf(extra[nx].detail, sizeof extra[nx].detail, "ran unbound on PUs");
        for (int i = 0; i < s->threads && dl > 0 && (size_t)dl < sizeof extra[nx].detail; i++)
          dl += snprintf(extra[nx].detail + dl, sizeof extra[nx].detail - (size_t)dl, " %d",
                         pr.pu[i]);
        nx++;
      }
      extra[nx] = (event_rec){0, "membind", 0.0, ""};
      snprintf(extra[nx].detail, sizeof extra[nx].detail, "%.*s",
               (int)sizeof extra[nx].detail - 1, membind);
      nx++;
    }

    /* contention on the stores that retry (thesis Sec. 3.5): failed
     * try-locks / CASes and backoff waits; a blocking lock (no backoff)
     * waits inside pthreads and counts no retries */
    if (a.store->retries) {
      extra[nx++] = (event_rec){t_end, "store_retries", (double)pr.store.retries, ""};
      extra[nx++] = (event_rec){t_end, "store_backoffs", (double)pr.store.backoffs, ""};
    }
    if (pr.steps_rejected) {
      extra[nx] = (event_rec){t_end, "rejected", (double)pr.steps_rejected, ""};
      nx++;
    }
    if (pr.events_lost) {
      extra[nx] = (event_rec){t_end, "events_lost", (double)pr.events_lost, ""};
      nx++;
    }
    if (rec_events(r, io->run_id, pr.events, (size_t)pr.n_events, err, errlen)) goto out;
    if (nx && rec_events(r, io->run_id, extra, (size_t)nx, err, errlen)) goto out;
    uint64_t t = psgd_now_ns();
    if (writer) {
      rec_writer_stats ws;
      rec_writer *w = writer;
      writer = NULL;
      if (rec_writer_stop(w, &ws, err, errlen)) goto out;
      res->flush_s = ws.final_flush_s;
    } else if (log) {
      if (rec_steplog_flush(r, io->run_id, log, 1, err, errlen) < 0) goto out;
      res->flush_s = (psgd_now_ns() - t) * 1e-9;
    }
  } else if (log) {
    steplog_drain(log, 1, rec_steplog_cb, NULL);
  }
  rc = 0;
out:
  if (writer) {
    rec_writer_stats ws;
    char e2[PSGD_ERRLEN];
    rec_writer_stop(writer, &ws, e2, sizeof e2);
  }
  if (have_pr) par_result_free(&pr);
  free(evals);
  free(replay);
  steplog_free(log);
  place_free(&pc);
  psgd_free(theta);
  problem_teardown(&P);
  return rc;
}
