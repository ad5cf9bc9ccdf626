/* algo.c - name resolution and the compatibility rules of algo.h, read
 * from the registries and the capabilities of their entries. */
#include "algo.h"

#include <string.h>

#include "common.h"

static void add(char *buf, size_t cap, const char *sep, const char *name) {
  if (buf[0]) strncat(buf, sep, cap - strlen(buf) - 1);
  strncat(buf, name, cap - strlen(buf) - 1);
}

void algo_names(char *buf, size_t cap, const char *sep) {
  if (!cap) return;
  buf[0] = '\0';
  for (int i = 0; i < DISP_COUNT; i++) add(buf, cap, sep, disp_registry[i]->name);
  for (int i = 0; i < CTL_COUNT; i++)
    if (ctl_registry[i]->over_m) add(buf, cap, sep, ctl_registry[i]->name);
  for (int i = 0; i < PS_COUNT; i++) add(buf, cap, sep, ps_registry[i]->name);
}

void algo_store_names(char *buf, size_t cap, const char *sep) {
  if (!cap) return;
  buf[0] = '\0';
  for (int i = 0; i < PS_COUNT; i++) add(buf, cap, sep, ps_registry[i]->name);
}

void algo_y_control_names(char *buf, size_t cap, const char *sep) {
  if (!cap) return;
  buf[0] = '\0';
  for (int i = 0; i < CTL_COUNT; i++)
    if (!ctl_registry[i]->over_m) add(buf, cap, sep, ctl_registry[i]->name);
}

/* "'a'", "'a' or 'b'", "'a', 'b' or 'c'": the dispatchers (stores) whose
 * capability test passes, for messages. */
static void quoted(char *buf, size_t cap, int n, const char *const *names) {
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i) strncat(buf, i + 1 == n ? " or " : ", ", cap - strlen(buf) - 1);
    strncat(buf, "'", cap - strlen(buf) - 1);
    strncat(buf, names[i], cap - strlen(buf) - 1);
    strncat(buf, "'", cap - strlen(buf) - 1);
  }
}

static void disps_with_y(char *buf, size_t cap) {
  const char *n[DISP_COUNT];
  int k = 0;
  for (int i = 0; i < DISP_COUNT; i++)
    if (disp_registry[i]->has_y) n[k++] = disp_registry[i]->name;
  quoted(buf, cap, k, n);
}

static void stores_with(char *buf, size_t cap, int bound) {
  const char *n[PS_COUNT];
  int k = 0;
  for (int i = 0; i < PS_COUNT; i++)
    if (bound ? ps_registry[i]->has_ps_bound : ps_registry[i]->retries)
      n[k++] = ps_registry[i]->name;
  quoted(buf, cap, k, n);
}

int algo_apply_name(run_spec *s, const char *name, char *err, size_t errlen) {
  const disp_ops *d = disp_find(name);
  const ctl_ops *c = ctl_find(name);
  const ps_ops *p = ps_find(name);
  if (!d && !(c && c->over_m) && !p) {
    char names[256];
    algo_names(names, sizeof names, " | ");
    return psgd_err(err, errlen, "unknown algorithm '%s' (known: %s)", name ? name : "", names);
  }
  snprintf(s->dispatcher, sizeof s->dispatcher, "%s", d ? d->name : "async");
  snprintf(s->store, sizeof s->store, "%s", p ? p->name : "hogwild");
  s->elastic = !d && !p;
  return 0;
}

static int fail(algo_setting *bad, algo_setting which) {
  if (bad) *bad = which;
  return -1;
}

int algo_resolve(const run_spec *s, algo_choice *a, algo_setting *bad, char *err,
                 size_t errlen) {
  char names[256];
  memset(a, 0, sizeof *a);
  if (bad) *bad = ALGO_SET_NONE;
  const char *dname = s->dispatcher[0] ? s->dispatcher : "async";
  if (!(a->disp = disp_find(dname))) {
    disp_names(names, sizeof names);
    psgd_err(err, errlen, "unknown dispatcher '%s' (known: %s)", dname, names);
    return fail(bad, ALGO_SET_DISPATCHER);
  }
  const char *sname = s->store[0] ? s->store : "hogwild";
  if (!(a->store = ps_find(sname))) {
    ps_names(names, sizeof names);
    psgd_err(err, errlen, "unknown param store '%s' (known: %s)", sname, names);
    return fail(bad, ALGO_SET_STORE);
  }
  const ps_ops *named = ps_find(s->algorithm);
  if (named && named != a->store) {
    psgd_err(err, errlen, "store '%s' contradicts algorithm '%s' (which is async over store '%s')",
             sname, s->algorithm, s->algorithm);
    return fail(bad, ALGO_SET_STORE);
  }
  const char *bname = s->backoff[0] ? s->backoff : "none";
  if (ps_backoff_parse(bname, &a->backoff)) {
    psgd_err(err, errlen, "unknown backoff '%s' (known: none, linear, exponential, random)",
             bname);
    return fail(bad, ALGO_SET_BACKOFF);
  }
  const char *yname = s->y_control[0] ? s->y_control : "const";
  const ctl_ops *cy = ctl_find(yname);
  if (!cy || cy->over_m) {
    algo_y_control_names(names, sizeof names, ", ");
    psgd_err(err, errlen, "unknown y_control '%s' (known: %s)", yname, names);
    return fail(bad, ALGO_SET_Y_CONTROL);
  }
  /* the algorithm as the user named it; a spec built in code may name only
   * the dispatcher */
  const char *alg = s->algorithm[0] ? s->algorithm : a->disp->name;
  if (cy->needs_y && !a->disp->has_y) {
    disps_with_y(names, sizeof names);
    psgd_err(err, errlen, "y_control '%s' needs algorithm %s (this run's algorithm is '%s')",
             yname, names, alg);
    return fail(bad, ALGO_SET_Y_CONTROL);
  }
  if (s->ps_bound < -1) {
    psgd_err(err, errlen, "ps = %d must be -1, 0 or more", s->ps_bound);
    return fail(bad, ALGO_SET_PS);
  }
  if (s->ps_bound != -1 && !a->store->has_ps_bound) {
    stores_with(names, sizeof names, 1);
    psgd_err(err, errlen, "ps = %d applies only to store %s (this run's store is '%s')",
             s->ps_bound, names, a->store->name);
    return fail(bad, ALGO_SET_PS);
  }
  if (a->backoff != PS_BACKOFF_NONE && !a->store->retries) {
    stores_with(names, sizeof names, 0);
    psgd_err(err, errlen,
             "backoff '%s' needs a store that retries (%s), not '%s' (thesis Section 3.5)",
             bname, names, a->store->name);
    return fail(bad, ALGO_SET_BACKOFF);
  }
  if (s->threads < 1) {
    psgd_err(err, errlen, "threads = %d must be >= 1", s->threads);
    return fail(bad, ALGO_SET_THREADS);
  }
  a->ctl_y = cy->on_accept ? cy : NULL;
  a->ctl_m = s->elastic ? &ctl_elastic_ops : NULL;
  return 0;
}
