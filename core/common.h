/* common.h - small things every module of the suite uses: the error-message
 * convention, 64-byte aligned allocation, the clock, and an always-on check.
 *
 * Error convention (stated once, used everywhere): a function that can fail
 * for an expected reason (bad file, bad setting, failed binding) returns -1 or
 * NULL and writes ONE line into `err` (capacity `errlen`) that names where and
 * what, e.g. "data/x.idx: wrong magic 0x00000801, expected 0x00000803".
 * It never prints. Only the CLI prints and exits. */
#ifndef PSGD_COMMON_H
#define PSGD_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PSGD_ALIGN 64
#define PSGD_ERRLEN 512

/* Write a formatted message into err (if err != NULL). Always returns -1 so
 * callers can `return psgd_err(err, errlen, "...")`. */
int psgd_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 64-byte aligned allocation, rounded up to a multiple of 64 bytes. Returns
 * NULL on failure. Free with psgd_free (NULL is a no-op). */
void *psgd_alloc(size_t bytes);
/* Same, zero-filled. */
void *psgd_calloc(size_t bytes);
void psgd_free(void *p);

/* Round n floats up so that the next block starts on a 64-byte boundary. */
static inline size_t psgd_align_floats(size_t n) { return (n + 15) & ~(size_t)15; }

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
uint64_t psgd_now_ns(void);

/* Programmer errors: always on (also with -DNDEBUG); abort with file:line. */
#define PSGD_CHECK(cond)                                                      \
  do {                                                                        \
    if (!(cond)) psgd_check_failed(#cond, __FILE__, __LINE__);                \
  } while (0)
_Noreturn void psgd_check_failed(const char *what, const char *file, int line);

/* Deterministic PRNG (splitmix64 seeding + xoshiro256**), a plain value type
 * so every worker owns one. */
typedef struct { uint64_t s[4]; } psgd_rng;
void psgd_rng_seed(psgd_rng *r, uint64_t seed);
uint64_t psgd_rng_next(psgd_rng *r);
/* Uniform in [0, 1). */
double psgd_rng_uniform(psgd_rng *r);
/* Uniform integer in [0, n). */
uint64_t psgd_rng_below(psgd_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double psgd_rng_normal(psgd_rng *r);

#endif
