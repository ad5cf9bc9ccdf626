/* ps.h - param stores (fine-grained synchronization, thesis Sec. 3.1): how the
 * shared theta (and the shared momentum buffer) is read and updated.
 *   "hogwild"  lock-free, inconsistent reads and writes (HOGWILD!, plain floats;
 *              the intended race lives only in ps_hogwild_copy/_update and is
 *              listed in tests/tsan.supp)
 *   "mutex"    one POSIX mutex around every read and every update
 *   "rwlock"   POSIX rwlock: reads shared, updates exclusive
 * Every store keeps an applied-version counter: ps_read returns the version
 * theta had when it was read, ps_apply the version its update got, so tau =
 * version_apply - version_read. Backoff (none|linear|exponential|random, thesis
 * Sec. 3.5) is used by the lock-based stores when the lock is busy.
 * "leashed" (Leashed-SGD) is named by the registry but not built yet:
 * ps_create refuses it with a clear message. */
#ifndef PSGD_PS_H
#define PSGD_PS_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"

typedef enum { PS_HOGWILD = 0, PS_MUTEX, PS_RWLOCK, PS_LEASHED, PS_COUNT } ps_kind;
typedef enum { BO_NONE = 0, BO_LINEAR, BO_EXPONENTIAL, BO_RANDOM, BO_COUNT } ps_backoff;

typedef struct ps ps;

int ps_parse(const char *name, ps_kind *out);
int ps_backoff_parse(const char *name, ps_backoff *out);

/* theta0 is copied; the store owns theta and momentum. NULL with err. */
ps *ps_create(ps_kind kind, ps_backoff bo, const float *theta0, size_t d, const optim_spec *o,
              char *err, size_t errlen);
void ps_free(ps *p);

/* Copies theta into local (d floats); returns the version read. */
uint64_t ps_read(ps *p, float *local);
/* Applies the update for gradient g of a step that read version_read; the
 * step size comes from optim_lr(o, tau). Returns the step's version. rng
 * drives random backoff (per worker). */
uint64_t ps_apply(ps *p, const float *g, uint64_t version_read, uint64_t *rng);
/* Applies lr_eff directly (sync rounds: the averaged gradient, tau 0). */
uint64_t ps_apply_lr(ps *p, const float *g, float lr_eff);
uint64_t ps_version(ps *p);
/* Pointer to theta for reads when no worker runs (evaluation after joins). */
const float *ps_theta(ps *p);
/* Lock retries that found the lock busy (contention measure). */
uint64_t ps_contended(ps *p);

#endif
