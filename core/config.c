/* config.c - experiment files (EXPERIMENTS.md, "Experiment file reference"):
 * config_load reads a file with its @includes (cfg_include.c), checks every
 * setting against the key schema (cfg_keys.c, cfg_value.c: the settings
 * table) and expands variants x sweep x repeat into fully resolved run specs
 * (cfg_expand.c, cfg_spec.c); cfg.h lists the parts. */
#define _GNU_SOURCE
#include "cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

experiment *config_load(const char *path, const config_opts *opts, char *err, size_t errlen) {
  config_opts dflt = {NULL, 0, 0};
  if (!opts) opts = &dflt;
  const char *scale = opts->scale && opts->scale[0] ? opts->scale : "quick";
  loader L = {0};
  L.err = err;
  L.errlen = errlen;
  cfg_data_cache_reset(); /* files may have changed since the last load */
  L.n_cores = opts->n_cores > 0 ? opts->n_cores : config_n_cores();
  experiment *e = calloc(1, sizeof *e);
  if (!e) {
    psgd_err(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  if (strlen(path) >= sizeof e->path || strlen(scale) >= sizeof e->scale) {
    psgd_err(err, errlen, "%s: path or scale name too long", path);
    goto fail;
  }
  snprintf(e->path, sizeof e->path, "%s", path);
  snprintf(e->scale, sizeof e->scale, "%s", scale);
  e->n_cores = L.n_cores;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t stem = strlen(base);
  if (stem > 4 && !strcmp(base + stem - 4, ".cfg")) stem -= 4;
  if (stem >= sizeof e->name) stem = sizeof e->name - 1;
  snprintf(e->name, sizeof e->name, "%.*s", (int)stem, base);

  if (cfg_load_file(&L, path, NULL, 0)) goto fail;
  if (cfg_expand(&L, e, scale, opts->check_data)) goto fail;
  for (int i = 0; i < L.n_layers; i++) cfg_layer_free(L.layers[i]);
  free(L.layers);
  return e;
fail:
  for (int i = 0; i < L.n_layers; i++) cfg_layer_free(L.layers[i]);
  free(L.layers);
  config_free(e);
  return NULL;
}

void config_free(experiment *e) {
  if (!e) return;
  free(e->runs);
  free(e);
}
