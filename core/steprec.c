/* steprec.c - names of run outcomes (see steprec.h). */
#include "steprec.h"

#include <assert.h>

static const char *const status_names[] = {"ok", "converged", "diverged", "timeout", "crashed",
                                           "interrupted"};
static_assert(sizeof status_names / sizeof status_names[0] == RUN_STATUS_COUNT,
              "one name per run_status");

const char *run_status_name(run_status s) {
  return (unsigned)s < RUN_STATUS_COUNT ? status_names[s] : "unknown";
}
