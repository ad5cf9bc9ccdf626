/* common.c - error messages, aligned allocation, clock, PRNG (see common.h). */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int psgd_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

void *psgd_alloc(size_t bytes) {
  size_t rounded = (bytes + PSGD_ALIGN - 1) & ~(size_t)(PSGD_ALIGN - 1);
  if (rounded == 0) rounded = PSGD_ALIGN;
  return aligned_alloc(PSGD_ALIGN, rounded);
}

void *psgd_calloc(size_t bytes) {
  void *p = psgd_alloc(bytes);
  if (p) memset(p, 0, (bytes + PSGD_ALIGN - 1) & ~(size_t)(PSGD_ALIGN - 1));
  return p;
}

void psgd_free(void *p) { free(p); }

uint64_t psgd_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void psgd_check_failed(const char *what, const char *file, int line) {
  fprintf(stderr, "psgd: internal check failed: %s (%s:%d)\n", what, file, line);
  abort();
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void psgd_rng_seed(psgd_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t psgd_rng_next(psgd_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double psgd_rng_uniform(psgd_rng *r) { return (double)(psgd_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t psgd_rng_below(psgd_rng *r, uint64_t n) {
  /* Lemire-free simple rejection keeps it unbiased and deterministic. */
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = psgd_rng_next(r);
  while (x >= lim);
  return x % n;
}

double psgd_rng_normal(psgd_rng *r) {
  double u1 = psgd_rng_uniform(r), u2 = psgd_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
