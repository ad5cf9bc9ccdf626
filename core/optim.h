/* optim.h - update rules: plain SGD, SGD with momentum, and a MindTheStep-
 * style staleness-adaptive step size. The rules are pure functions over
 * plain float arrays so the engine's param store can apply them to a worker's
 * copy, to a fresh vector (leashed) or, inside the HOGWILD! store, to shared
 * theta.
 *
 * SGD:       theta -= lr_eff * g
 * momentum:  v = mu * v + g ; theta -= lr_eff * v   (paper: lr 0.005, mu 0.5)
 * lr_eff = optim_lr(opt, tau): lr for "sgd"/"momentum"; for "mindthestep"
 * lr scaled by a function of the step's staleness tau (see optim.c). */
#ifndef PSGD_OPTIM_H
#define PSGD_OPTIM_H

#include <stddef.h>

typedef enum { OPTIM_SGD = 0, OPTIM_MOMENTUM, OPTIM_MINDTHESTEP, OPTIM_COUNT } optim_kind;

typedef struct {
  optim_kind kind;
  float lr;
  float momentum;     /* used when > 0 (momentum and mindthestep) */
  float mts_tau0;     /* mindthestep: expected staleness scale (e.g. m - 1) */
} optim_spec;

/* Name <-> kind via the registry in optim.c ("sgd", "momentum", "mindthestep").
 * optim_parse returns -1 for an unknown name. */
int optim_parse(const char *name, optim_kind *out);
const char *optim_name(optim_kind k);

/* The step size for a step of staleness tau (tau >= 0). */
float optim_lr(const optim_spec *o, long tau);

/* Applies one update of d floats. v may be NULL when momentum == 0. */
void optim_apply(const optim_spec *o, float lr_eff, float *theta, float *v, const float *g,
                 size_t d);
/* optim_apply out of place: dst = the updated theta (theta itself is left
 * as it was; v is updated); bit for bit the in-place result. dst, theta, v
 * and g are distinct buffers. */
void optim_apply_to(const optim_spec *o, float lr_eff, float *dst, const float *theta, float *v,
                    const float *g, size_t d);

#endif
