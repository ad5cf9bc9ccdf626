/* optim.c - the update rules of optim.h and their name registry.
 *
 * SGD       theta -= lr * g
 * momentum  v = mu * v + g;  theta -= lr * v          (heavy ball, as in
 *           PyTorch's SGD with dampening 0; paper setting lr 0.005, mu 0.5)
 * mindthestep
 *           the momentum (or, with mu = 0, the SGD) update with a step size
 *           that depends on the step's staleness tau:
 *               lr_eff(tau) = lr * f(tau),
 *               f(tau)      = c * exp(-beta * tau),
 *               beta        = 1 / (tau0 + 1),
 *               c           = exp(tau0 * (1 - exp(-beta))).
 *
 * Why this f. MindTheStep-AsyncPSGD (Bäckström, Papatriantafilou, Tsigas,
 * IEEE BigData 2019, pp. 16-25) models the staleness of asynchronous
 * parallel SGD with m workers as a random variable whose mean grows with
 * m - 1 (a Poisson model, refined there to a CMP model), and adapts the step
 * size to each update's tau so that stale gradients weigh less while the
 * expected progress per step stays that of the base step size. We could not
 * consult the paper's closed-form step-size function while writing this, so
 * we implement that stated idea with a simple, fully specified f:
 *   - decreasing in tau: a gradient computed on an older theta gets a smaller
 *     step (exponential damping with scale tau0 + 1, the expected staleness
 *     plus one);
 *   - normalized: under the same Poisson(tau0) staleness model,
 *     E[f(tau)] = c * exp(tau0 * (exp(-beta) - 1)) = 1 exactly, so the mean
 *     step equals lr and lr keeps its meaning across thread counts;
 *   - bounded: f(0) = c < e^(tau0 * beta) < e, so a fresh gradient is never
 *     boosted by more than ~2.7x however many threads run;
 *   - sequential-exact: tau0 = 0 gives beta = 1, c = 1, and with tau = 0
 *     (the only staleness sequential SGD has) f = 1: the rule is then plain
 *     momentum/SGD, bit for bit.
 * tau0 (optim_spec.mts_tau0) is the engine's expected staleness, m - 1 for m
 * workers. This is "MindTheStep-style", not a reproduction of the paper's
 * exact step-size function. */
#include "optim.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "common.h"
#include "layers.h"

static const char *const names[] = {"sgd", "momentum", "mindthestep"};
static_assert(sizeof names / sizeof names[0] == OPTIM_COUNT, "one name per optim_kind");

int optim_parse(const char *name, optim_kind *out) {
  for (int k = 0; k < OPTIM_COUNT; k++)
    if (name && !strcmp(name, names[k])) {
      *out = (optim_kind)k;
      return 0;
    }
  return -1;
}

const char *optim_name(optim_kind k) {
  return (unsigned)k < OPTIM_COUNT ? names[k] : "unknown";
}

float optim_lr(const optim_spec *o, long tau) {
  if (o->kind != OPTIM_MINDTHESTEP) return o->lr;
  double tau0 = o->mts_tau0 > 0 ? o->mts_tau0 : 0.0;
  double t = tau > 0 ? (double)tau : 0.0;
  double beta = 1.0 / (tau0 + 1.0);
  double c = exp(tau0 * (1.0 - exp(-beta)));
  return (float)(o->lr * c * exp(-beta * t));
}

/* The loops are built for AVX-512, AVX2 and baseline x86-64 (layers.h:
 * PSGD_MULTIVERSION). restrict: theta, v and g are distinct buffers. */
PSGD_MULTIVERSION
static void sgd_loop(float lr, float *restrict theta, const float *restrict g, size_t d) {
  for (size_t i = 0; i < d; i++) theta[i] -= lr * g[i];
}

/* one fused pass over theta, v and g: the update is memory-bound */
PSGD_MULTIVERSION
static void momentum_loop(float lr, float mu, float *restrict theta, float *restrict v,
                          const float *restrict g, size_t d) {
  for (size_t i = 0; i < d; i++) {
    float vi = mu * v[i] + g[i];
    v[i] = vi;
    theta[i] -= lr * vi;
  }
}

/* The same two rules out of place: dst = theta - lr * (g or the new v); the
 * same float operations in the same order as the loops above, so the result
 * is bit for bit what updating theta in place gives. */
PSGD_MULTIVERSION
static void sgd_loop_to(float lr, float *restrict dst, const float *restrict theta,
                        const float *restrict g, size_t d) {
  for (size_t i = 0; i < d; i++) dst[i] = theta[i] - lr * g[i];
}

PSGD_MULTIVERSION
static void momentum_loop_to(float lr, float mu, float *restrict dst,
                             const float *restrict theta, float *restrict v,
                             const float *restrict g, size_t d) {
  for (size_t i = 0; i < d; i++) {
    float vi = mu * v[i] + g[i];
    v[i] = vi;
    dst[i] = theta[i] - lr * vi;
  }
}

void optim_apply_to(const optim_spec *o, float lr_eff, float *dst, const float *theta, float *v,
                    const float *g, size_t d) {
  const float mu = o->momentum;
  if (o->kind == OPTIM_SGD || mu <= 0.0f) {
    sgd_loop_to(lr_eff, dst, theta, g, d);
    return;
  }
  PSGD_CHECK(v != NULL);
  momentum_loop_to(lr_eff, mu, dst, theta, v, g, d);
}

void optim_apply(const optim_spec *o, float lr_eff, float *theta, float *v, const float *g,
                 size_t d) {
  const float mu = o->momentum;
  if (o->kind == OPTIM_SGD || mu <= 0.0f) {
    sgd_loop(lr_eff, theta, g, d);
    return;
  }
  PSGD_CHECK(v != NULL);
  momentum_loop(lr_eff, mu, theta, v, g, d);
}
