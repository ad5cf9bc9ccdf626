/* cfg_expand.c - expansion: the layers (included files, the file), the
 * selected scale, the variants, the sweep and the repetitions into fully
 * resolved runs, each with its run key; runs with an equal key once. */
#define _GNU_SOURCE
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

static void overlay(settings *dst, const settings *src) {
  for (int i = 0; i < SETTING_COUNT; i++)
    if (src->k[i].set) dst->k[i] = src->k[i];
}

static void overlay_sweep(sweep *dst, const sweep *src) {
  for (int i = 0; i < src->n; i++) cfg_sweep_put(dst, &src->ax[i]);
}

#define MAX_RUNS 100000

typedef struct {
  char key[17];
  int idx;
} keyidx;

static int cmp_keyidx(const void *a, const void *b) {
  const keyidx *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int add_run(experiment *e, int *cap, const exp_run *r, char *err, size_t errlen) {
  if (e->n_runs == *cap) {
    int nc = *cap ? 2 * *cap : 64;
    exp_run *nr = realloc(e->runs, (size_t)nc * sizeof *nr);
    if (!nr) return psgd_err(err, errlen, "%s: out of memory expanding runs", e->path);
    e->runs = nr;
    *cap = nc;
  }
  e->runs[e->n_runs++] = *r;
  return 0;
}

/* Drops runs whose key an earlier run already has (e.g. threads "1x" and 2
 * on a 2-core machine), keeping the first. */
static int dedupe(experiment *e, char *err, size_t errlen) {
  if (e->n_runs < 2) return 0;
  keyidx *ki = malloc((size_t)e->n_runs * sizeof *ki);
  char *drop = calloc((size_t)e->n_runs, 1);
  if (!ki || !drop) {
    free(ki);
    free(drop);
    return psgd_err(err, errlen, "%s: out of memory", e->path);
  }
  for (int i = 0; i < e->n_runs; i++) {
    memcpy(ki[i].key, e->runs[i].key, 17);
    ki[i].idx = i;
  }
  qsort(ki, (size_t)e->n_runs, sizeof *ki, cmp_keyidx);
  for (int i = 1; i < e->n_runs; i++)
    if (!strcmp(ki[i].key, ki[i - 1].key)) drop[ki[i].idx] = 1;
  int w = 0;
  for (int i = 0; i < e->n_runs; i++)
    if (!drop[i]) e->runs[w++] = e->runs[i];
  e->n_duplicates = e->n_runs - w;
  e->n_runs = w;
  free(ki);
  free(drop);
  return 0;
}

int cfg_expand(loader *L, experiment *e, const char *scale_name, int check_data) {
  settings fixed;
  sweep sw;
  variants vs = {0};
  memset(&fixed, 0, sizeof fixed);
  memset(&sw, 0, sizeof sw);
  int scale_found = 0, cap = 0;
  for (int i = 0; i < L->n_layers; i++) {
    layer *ly = L->layers[i];
    overlay(&fixed, &ly->s);
    overlay_sweep(&sw, &ly->sw);
    if (ly->vs.defined) vs = ly->vs;
    if (ly->has_description) snprintf(e->description, sizeof e->description, "%s", ly->description);
  }
  /* EXPERIMENTS.md: named scales override anything above, from every layer. */
  for (int i = 0; i < L->n_layers; i++) {
    layer *ly = L->layers[i];
    for (int j = 0; j < ly->n_scales; j++) {
      scale_def *sd = &ly->scales[j];
      if (strcmp(sd->name, scale_name) != 0) continue;
      scale_found = 1;
      overlay(&fixed, &sd->s);
      overlay_sweep(&sw, &sd->sw);
      if (sd->vs.defined) vs = sd->vs;
    }
  }
  if (!scale_found && strcmp(scale_name, "quick") != 0 && strcmp(scale_name, "paper") != 0) {
    char names[256] = "quick, paper";
    size_t len = strlen(names);
    cfg_suggest sg = {NULL, 99, scale_name};
    cfg_suggest_try(&sg, "quick");
    cfg_suggest_try(&sg, "paper");
    for (int i = 0; i < L->n_layers; i++)
      for (int j = 0; j < L->layers[i]->n_scales; j++) {
        const char *nm = L->layers[i]->scales[j].name;
        cfg_suggest_try(&sg, nm);
        if (strcmp(nm, "quick") && strcmp(nm, "paper") && len + strlen(nm) + 3 < sizeof names)
          len += (size_t)snprintf(names + len, sizeof names - len, ", %s", nm);
      }
    char dym[96];
    cfg_did_you_mean(dym, sizeof dym, sg.best);
    return psgd_err(L->err, L->errlen, "%s: unknown scale '%s' (known: %s)%s", e->path, scale_name,
                    names, dym);
  }

  int n_var = vs.defined ? vs.n : 1;
  for (int vi = 0; vi < n_var; vi++) {
    settings eff = fixed;
    sweep esw = sw;
    const variant *v = vs.defined ? &vs.v[vi] : NULL;
    if (v) {
      overlay(&eff, &v->s);
      overlay_sweep(&esw, &v->sw);
      /* a key the variant fixes is not swept for it */
      int w = 0;
      for (int a = 0; a < esw.n; a++)
        if (!v->s.k[esw.ax[a].key].set) esw.ax[w++] = esw.ax[a];
      esw.n = w;
    }
    long repeat = eff.k[SET_REPEAT].set ? (long)eff.k[SET_REPEAT].v.i : 1;
    double combos = 1;
    for (int a = 0; a < esw.n; a++) combos *= esw.ax[a].n;
    if (e->n_runs + combos * repeat > MAX_RUNS)
      return psgd_err(L->err, L->errlen, "%s: the experiment expands to more than %d runs", e->path,
                      MAX_RUNS);
    int idx[SETTING_COUNT] = {0};
    for (;;) {
      settings cur = eff;
      for (int a = 0; a < esw.n; a++) {
        const axis *ax = &esw.ax[a];
        slot *sl = &cur.k[ax->key];
        sl->set = 1;
        sl->v = ax->vals[idx[a]];
        sl->file = ax->file;
        sl->line = ax->lines[idx[a]];
      }
      exp_run r;
      memset(&r, 0, sizeof r);
      r.variant = v ? vi : -1;
      if (cfg_build_spec(&cur, e->path, e->name, e->n_cores, check_data, &r.spec, L->err,
                         L->errlen))
        return -1;
      size_t len = 0;
      for (int a = 0; a < esw.n && len < sizeof r.swept; a++) {
        char val[96];
        cfg_format_value(esw.ax[a].key, &esw.ax[a].vals[idx[a]], &r.spec, val, sizeof val);
        len += (size_t)snprintf(r.swept + len, sizeof r.swept - len, "%s%s=%s", len ? " " : "",
                                setting_table[esw.ax[a].key].key, val);
      }
      /* A virtual-clock run's stop.seconds is virtual time: the real time it
       * takes is what this machine's gradient rate needs for its steps, so
       * its only estimate is its timeout, an upper bound (none without one). */
      const int virt = !strcmp(r.spec.clock, "virtual");
      r.est_s = !virt && r.spec.stop_seconds > 0 ? r.spec.stop_seconds : r.spec.timeout_s;
      r.est_bound = virt || !(r.spec.stop_seconds > 0) || r.spec.stop_epochs > 0 ||
                    r.spec.stop_steps > 0 || r.spec.target_acc > 0 || r.spec.epsilon > 0;
      uint64_t seed0 = r.spec.seed;
      for (long rep = 0; rep < repeat; rep++) {
        exp_run rr = r;
        /* EXPERIMENTS.md: repetition r gets seed + r (recorded in the spec) */
        rr.spec.seed = seed0 + (uint64_t)rep;
        rr.spec.repetition = (int)rep;
        if (repeat > 1 && len < sizeof rr.swept)
          snprintf(rr.swept + len, sizeof rr.swept - len, "%srep=%ld", len ? " " : "", rep);
        spec_key(&rr.spec, rr.key);
        if (add_run(e, &cap, &rr, L->err, L->errlen)) return -1;
      }
      int a = esw.n - 1;
      while (a >= 0 && ++idx[a] == esw.ax[a].n) idx[a--] = 0;
      if (a < 0) break;
    }
  }
  return dedupe(e, L->err, L->errlen);
}
