/* rec_writer.c - the optional background writer: a thread that flushes a
 * run's steplog into results.db on its own connection while the workers run
 * (see rec.h, "Getting a steplog into steps"). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "rec.h"

struct rec_writer {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;        /* under mu */
  rec *r;          /* the writer's own connection (one handle per thread) */
  steplog *l;
  int64_t run_id;
  double period_s;
  /* Written by the writer thread, read after the join. */
  int failed;
  char err[PSGD_ERRLEN];
  long rows;
  uint64_t busy_ns;
};

static void *writer_main(void *arg) {
  rec_writer *w = arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (;;) {
    uint64_t step = (uint64_t)(w->period_s * 1e9);
    uint64_t ns = (uint64_t)next.tv_nsec + step % 1000000000ull;
    next.tv_sec += (time_t)(step / 1000000000ull + ns / 1000000000ull);
    next.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
      if (pthread_cond_timedwait(&w->cv, &w->mu, &next) == ETIMEDOUT) break;
    }
    int stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    if (stop) return NULL;
    if (w->failed) continue; /* keep the first error; the final flush reports it */
    uint64_t t0 = psgd_now_ns();
    long n = rec_steplog_flush(w->r, w->run_id, w->l, 0, w->err, sizeof w->err);
    w->busy_ns += psgd_now_ns() - t0;
    if (n < 0) w->failed = 1;
    else w->rows += n;
  }
}

rec_writer *rec_writer_start(rec *r, int64_t run_id, steplog *l, double period_s, char *err,
                             size_t errlen) {
  if (!(period_s > 0)) {
    psgd_err(err, errlen, "%s: writer period %g s must be > 0", rec_path(r), period_s);
    return NULL;
  }
  rec_writer *w = calloc(1, sizeof *w);
  if (!w) {
    psgd_err(err, errlen, "%s: out of memory", rec_path(r));
    return NULL;
  }
  w->l = l;
  w->run_id = run_id;
  w->period_s = period_s;
  w->r = rec_open(rec_path(r), err, errlen);
  if (!w->r) goto out_with_writer;
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
      pthread_cond_init(&w->cv, &ca) != 0) {
    psgd_err(err, errlen, "%s: writer: cannot create a condition variable", rec_path(r));
    goto out_with_rec;
  }
  pthread_condattr_destroy(&ca);
  if (pthread_mutex_init(&w->mu, NULL) != 0) {
    psgd_err(err, errlen, "%s: writer: cannot create a mutex", rec_path(r));
    goto out_with_cv;
  }
  int rc = pthread_create(&w->thread, NULL, writer_main, w);
  if (rc != 0) {
    psgd_err(err, errlen, "%s: writer: cannot start the thread: %s", rec_path(r), strerror(rc));
    goto out_with_mutex;
  }
  return w;
out_with_mutex:
  pthread_mutex_destroy(&w->mu);
out_with_cv:
  pthread_cond_destroy(&w->cv);
out_with_rec:
  rec_close(w->r);
out_with_writer:
  free(w);
  return NULL;
}

int rec_writer_stop(rec_writer *w, rec_writer_stats *st, char *err, size_t errlen) {
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  int rc = 0;
  uint64_t t0 = psgd_now_ns();
  if (w->failed) {
    rc = psgd_err(err, errlen, "%s", w->err);
  } else {
    long n = rec_steplog_flush(w->r, w->run_id, w->l, 1, err, errlen);
    if (n < 0) rc = -1;
    else w->rows += n;
  }
  uint64_t final_ns = psgd_now_ns() - t0;
  if (st) {
    st->rows = w->rows;
    st->final_flush_s = (double)final_ns * 1e-9;
    st->busy_s = (double)(w->busy_ns + final_ns) * 1e-9;
  }
  rec_close(w->r);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
  return rc;
}
