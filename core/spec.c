/* spec.c - defaults, canonical JSON and the stable run key of a run spec. */
#define _POSIX_C_SOURCE 200809L
#include "spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src); }
#define SET(field, value) set(s->field, sizeof s->field, value)

void spec_default(run_spec *s) {
  memset(s, 0, sizeof *s);
  s->seed = 1;
  SET(algorithm, "async");
  SET(dispatcher, "async");
  SET(store, "hogwild");
  SET(backoff, "none");
  s->ps_bound = -1;
  SET(y_control, "const");
  s->y0 = 64;
  s->y_decay_k = 4096;
  s->probe_window = 3;
  s->probe_steps = 1024;
  s->exec_steps = 8192;
  s->threads = 1;
  SET(placement, "os");
  SET(dataset, "fashion-mnist");
  SET(data_dir, "data");
  SET(model, "mlp");
  s->n_hidden = 3;
  s->hidden[0] = s->hidden[1] = s->hidden[2] = 128;
  s->batch = 16;
  SET(optimizer, "momentum");
  s->lr = 0.005;
  s->momentum = 0.5;
  s->stop_epochs = 1;
  s->timeout_s = 0;
  s->eval_every_s = 1.0;
  s->record_steps = 1;
  SET(clock, "real");
}

/* JSON writer over a fixed buffer: remembers overflow instead of failing at
 * every call. Strings in a spec are identifiers and paths; quotes, backslashes
 * and control characters are escaped anyway. */
typedef struct {
  char *buf;
  size_t cap, len;
  int overflow;
} jw;

static void jw_raw(jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jw_raw(jw *w, const char *fmt, ...) {
  if (w->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= w->cap - w->len) w->overflow = 1;
  else w->len += (size_t)n;
}

static void jw_key(jw *w, const char *k) { jw_raw(w, "%s\"%s\":", w->len > 1 ? "," : "", k); }

static void jw_str(jw *w, const char *k, const char *v) {
  jw_key(w, k);
  jw_raw(w, "\"");
  for (const char *p = v; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') jw_raw(w, "\\%c", c);
    else if (c < 0x20) jw_raw(w, "\\u%04x", c);
    else jw_raw(w, "%c", c);
  }
  jw_raw(w, "\"");
}

static void jw_int(jw *w, const char *k, long long v) {
  jw_key(w, k);
  jw_raw(w, "%lld", v);
}

static void jw_num(jw *w, const char *k, double v) {
  jw_key(w, k);
  /* %.17g round-trips a double exactly, so equal specs hash equally. */
  jw_raw(w, "%.17g", v);
}

int spec_to_json(const run_spec *s, char *buf, size_t cap) {
  if (cap < 3) return -1;
  jw w = {buf, cap, 0, 0};
  jw_raw(&w, "{");
  jw_str(&w, "experiment", s->experiment);
  jw_str(&w, "label", s->label);
  jw_int(&w, "repetition", s->repetition);
  jw_key(&w, "seed");
  jw_raw(&w, "%llu", (unsigned long long)s->seed);
  jw_str(&w, "algorithm", s->algorithm);
  jw_str(&w, "dispatcher", s->dispatcher);
  jw_str(&w, "store", s->store);
  jw_str(&w, "backoff", s->backoff);
  jw_int(&w, "ps", s->ps_bound);
  jw_str(&w, "y_control", s->y_control);
  jw_int(&w, "y0", s->y0);
  jw_int(&w, "y_decay_k", s->y_decay_k);
  jw_int(&w, "probe_window", s->probe_window);
  jw_int(&w, "probe_steps", s->probe_steps);
  jw_int(&w, "exec_steps", s->exec_steps);
  jw_int(&w, "elastic", s->elastic);
  jw_int(&w, "threads", s->threads);
  jw_str(&w, "placement", s->placement);
  jw_str(&w, "topology", s->topology);
  jw_int(&w, "bind_best_effort", s->bind_best_effort);
  jw_int(&w, "keep_core_free", s->keep_core_free);
  /* written only when set, so the keys of runs from before these settings
   * existed stay the same */
  if (s->placement_nearest) jw_int(&w, "placement_nearest", s->placement_nearest);
  if (s->mem_interleave) jw_int(&w, "mem_interleave", s->mem_interleave);
  jw_str(&w, "dataset", s->dataset);
  jw_str(&w, "data_dir", s->data_dir);
  jw_int(&w, "train_limit", s->train_limit);
  jw_int(&w, "test_limit", s->test_limit);
  jw_str(&w, "model", s->model);
  jw_key(&w, "hidden");
  jw_raw(&w, "[");
  for (int i = 0; i < s->n_hidden && i < 8; i++) jw_raw(&w, "%s%d", i ? "," : "", s->hidden[i]);
  jw_raw(&w, "]");
  jw_int(&w, "batch", s->batch);
  jw_str(&w, "optimizer", s->optimizer);
  jw_num(&w, "lr", s->lr);
  jw_num(&w, "momentum", s->momentum);
  jw_num(&w, "stop_seconds", s->stop_seconds);
  jw_num(&w, "stop_epochs", s->stop_epochs);
  jw_int(&w, "stop_steps", s->stop_steps);
  jw_num(&w, "target_acc", s->target_acc);
  jw_num(&w, "epsilon", s->epsilon);
  jw_num(&w, "timeout_s", s->timeout_s);
  jw_num(&w, "eval_every_s", s->eval_every_s);
  jw_int(&w, "eval_every_steps", s->eval_every_steps);
  jw_int(&w, "eval_test_limit", s->eval_test_limit);
  jw_int(&w, "record_steps", s->record_steps);
  /* written only under the virtual clock, so real-clock run keys stay as
   * they were before the clock existed */
  if (!strcmp(s->clock, "virtual")) {
    jw_str(&w, "clock", s->clock);
    jw_str(&w, "step_time", s->step_time);
  }
  jw_raw(&w, "}");
  return w.overflow ? -1 : (int)w.len;
}

void spec_key(const run_spec *s, char key[17]) {
  char buf[8192];
  int n = spec_to_json(s, buf, sizeof buf);
  if (n < 0) n = (int)strnlen(buf, sizeof buf);
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
  for (int i = 0; i < n; i++) {
    h ^= (unsigned char)buf[i];
    h *= 0x100000001b3ull;
  }
  snprintf(key, 17, "%016llx", (unsigned long long)h);
}
