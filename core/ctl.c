/* ctl.c - the controller registry, the "const" controller, and event
 * emission shared by the controllers (ctl.h). */
#define _POSIX_C_SOURCE 200809L
#include "ctl.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

/* Unsized on purpose: the static_assert then fails when CTL_COUNT and the
 * entries disagree (a sized array would pad a missing entry with NULL). */
const ctl_ops *const ctl_registry[] = {&ctl_const_ops, &ctl_decay_ops, &ctl_probing_ops,
                                       &ctl_elastic_ops};
static_assert(sizeof ctl_registry / sizeof ctl_registry[0] == CTL_COUNT,
              "CTL_COUNT must equal the number of registry entries");

struct ctl {
  const ctl_ops *ops;
  void *impl;
};

const ctl_ops *ctl_find(const char *name) {
  for (int i = 0; i < CTL_COUNT; i++)
    if (name && !strcmp(name, ctl_registry[i]->name)) return ctl_registry[i];
  return NULL;
}

void ctl_names(char *buf, size_t cap) {
  if (!cap) return;
  buf[0] = '\0';
  for (int i = 0; i < CTL_COUNT; i++) {
    if (i) strncat(buf, " | ", cap - strlen(buf) - 1);
    strncat(buf, ctl_registry[i]->name, cap - strlen(buf) - 1);
  }
}

ctl *ctl_create(const ctl_ops *ops, const ctl_cfg *cfg, char *err, size_t errlen) {
  if (!ops) {
    psgd_err(err, errlen, "ctl_create: no controller");
    return NULL;
  }
  if (!cfg->d) {
    psgd_err(err, errlen, "controller %s: needs a dispatcher", ops->name);
    return NULL;
  }
  /* the rule is algo.c's; this guards callers that bypass it */
  if (ops->needs_y && !disp_get_ops(cfg->d)->has_y) {
    psgd_err(err, errlen, "controller %s adjusts y: needs a dispatcher with y, not %s", ops->name,
             disp_get_ops(cfg->d)->name);
    return NULL;
  }
  ctl *c = psgd_calloc(sizeof *c);
  if (!c) {
    psgd_err(err, errlen, "controller %s: out of memory", ops->name);
    return NULL;
  }
  c->ops = ops;
  c->impl = ops->create ? ops->create(cfg, err, errlen) : NULL;
  if (ops->create && !c->impl) {
    psgd_free(c);
    return NULL;
  }
  return c;
}

void ctl_free(ctl *c) {
  if (!c) return;
  if (c->ops->destroy) c->ops->destroy(c->impl);
  psgd_free(c);
}

const ctl_ops *ctl_get_ops(const ctl *c) { return c->ops; }

void ctl_on_accept(ctl *c, uint64_t n, uint64_t now_ns) {
  if (c->ops->on_accept) c->ops->on_accept(c->impl, n, now_ns);
}

void ctl_emit(const ctl_cfg *cfg, uint64_t now_ns, const char *kind, double value,
              const char *detail) {
  if (!cfg->event) return;
  event_rec e;
  memset(&e, 0, sizeof e);
  e.t_ns = now_ns > cfg->t0_ns ? now_ns - cfg->t0_ns : 0;
  snprintf(e.kind, sizeof e.kind, "%s", kind);
  e.value = value;
  if (detail) snprintf(e.detail, sizeof e.detail, "%s", detail);
  cfg->event(cfg->event_ctx, &e);
}

const ctl_ops ctl_const_ops = {
    .name = "const",
    .help = "keep y (and m) as configured",
    .over_m = 0,
    .needs_y = 0,
};
