/* test_config_corpus.c - the bad experiment-file corpus: every
 * tests/bad_cfg/NAME.cfg must fail to load with exactly the message its first
 * line announces.
 *
 * First line format: "# expect: LINE: message" (error in the file itself) or
 * "# expect: other.cfg:LINE: message" (error in an included file, path
 * relative to tests/bad_cfg/). Run from the repository top (make test does). */
#define _POSIX_C_SOURCE 200809L
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"
#include "algo.h"
#include "config.h"

#define CORPUS "tests/bad_cfg"

static void test_bad_file(void **state) {
  const char *path = *state;
  char first[1024] = "", expect[1500];
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  if (!fgets(first, sizeof first, f)) first[0] = '\0';
  fclose(f);
  first[strcspn(first, "\n")] = '\0';
  const char *tag = "# expect: ";
  if (strncmp(first, tag, strlen(tag)) != 0) fail_msg("%s: first line lacks '# expect: '", path);
  const char *e = first + strlen(tag);
  /* {algorithms}: the '|'-list of algorithm names, from the registries */
  char names[256], line[1200];
  algo_names(names, sizeof names, "|");
  const char *hole = strstr(e, "{algorithms}");
  if (hole)
    snprintf(line, sizeof line, "%.*s%s%s", (int)(hole - e), e, names, hole + strlen("{algorithms}"));
  else
    snprintf(line, sizeof line, "%s", e);
  if (*line >= '0' && *line <= '9') snprintf(expect, sizeof expect, "%s:%s", path, line);
  else snprintf(expect, sizeof expect, "%s/%s", CORPUS, line);

  char err[PSGD_ERRLEN] = "";
  config_opts o = {NULL, 2, 1};
  experiment *ex = config_load(path, &o, err, sizeof err);
  if (ex) {
    config_free(ex);
    fail_msg("%s: loaded without error, expected: %s", path, expect);
  }
  if (strcmp(err, expect) != 0) fail_msg("%s:\n  got:      %s\n  expected: %s", path, err, expect);
}

/* The corpus must stay large enough to mean something (issue 6: >= 20). */
static void test_corpus_size(void **state) {
  int n = *(int *)*state;
  if (n < 20) fail_msg("only %d files in %s, want >= 20", n, CORPUS);
}

int main(void) {
  glob_t g;
  if (glob(CORPUS "/*.cfg", 0, NULL, &g) != 0) {
    fprintf(stderr, "no files in %s (run from the repository top)\n", CORPUS);
    return 1;
  }
  static int n_files;
  n_files = (int)g.gl_pathc;
  struct CMUnitTest *tests = calloc(g.gl_pathc + 1, sizeof *tests);
  if (!tests) return 1;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    tests[i].name = g.gl_pathv[i];
    tests[i].test_func = test_bad_file;
    tests[i].initial_state = g.gl_pathv[i];
  }
  tests[g.gl_pathc].name = "corpus_size";
  tests[g.gl_pathc].test_func = test_corpus_size;
  tests[g.gl_pathc].initial_state = &n_files;
  int rc = _cmocka_run_group_tests("config_corpus", tests, g.gl_pathc + 1, NULL, NULL);
  free(tests);
  globfree(&g);
  return rc;
}
