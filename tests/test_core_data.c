/* test_core_data.c - dataset loaders on small files generated into a
 * temporary directory (IDX plain and gzip, CIFAR-10/100 binary), a corpus of
 * bad inputs each with the message it must produce, the dataset registry
 * (missing data, limits, standardization, train/test dims mismatch), the
 * synthetic set, and the batch permutation (a true permutation per epoch,
 * consistent across batch sizes, seeded). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"
#include "data.h"

static char tmpdir[256];

static void path(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Writes bytes to tmpdir/name, gzip-compressed if gz. */
static void write_file(const char *name, const void *data, size_t n, int gz) {
  char p[512];
  path(p, sizeof p, name);
  if (gz) {
    gzFile f = gzopen(p, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
  }
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* An IDX image file of n rows x cols images with pixel (i, j) = (7i + j) % 256,
 * and a label file with label i % 10. Returns malloc'd buffers and sizes. */
static unsigned char *idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                                 size_t *len) {
  *len = 16 + (size_t)n * rows * cols;
  unsigned char *b = malloc(*len);
  assert_non_null(b);
  put32(b, magic);
  put32(b + 4, n);
  put32(b + 8, rows);
  put32(b + 12, cols);
  for (size_t i = 0; i < (size_t)n; i++)
    for (size_t j = 0; j < (size_t)rows * cols; j++)
      b[16 + i * rows * cols + j] = (unsigned char)((7 * i + j) % 256);
  return b;
}

static unsigned char *idx_labels(uint32_t magic, uint32_t n, size_t *len) {
  *len = 8 + n;
  unsigned char *b = malloc(*len);
  assert_non_null(b);
  put32(b, magic);
  put32(b + 4, n);
  for (uint32_t i = 0; i < n; i++) b[8 + i] = (unsigned char)(i % 10);
  return b;
}

/* Writes a matching IDX pair under the given names. */
static void write_idx_pair(const char *iname, const char *lname, uint32_t n, uint32_t rows,
                           uint32_t cols, int gz) {
  size_t li, ll;
  unsigned char *im = idx_images(0x803, n, rows, cols, &li), *lb = idx_labels(0x801, n, &ll);
  write_file(iname, im, li, gz);
  write_file(lname, lb, ll, gz);
  free(im);
  free(lb);
}

static void test_idx_plain_and_gzip(void **state) {
  (void)state;
  for (int gz = 0; gz < 2; gz++) {
    const char *iname = gz ? "img.idx.gz" : "img.idx", *lname = gz ? "lab.idx.gz" : "lab.idx";
    write_idx_pair(iname, lname, 5, 4, 3, gz);
    char ip[512], lp[512], err[PSGD_ERRLEN];
    path(ip, sizeof ip, iname);
    path(lp, sizeof lp, lname);
    data_split s;
    int rc = data_load_idx(ip, lp, &s, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.c, 1);
    assert_int_equal(s.h, 4);
    assert_int_equal(s.w, 3);
    assert_int_equal(s.n_classes, 10);
    assert_int_equal((uintptr_t)s.x % 64, 0);
    for (int i = 0; i < 5; i++) {
      assert_int_equal(s.y[i], i % 10);
      for (int j = 0; j < 12; j++)
        assert_true(fabsf(s.x[i * 12 + j] - (float)((7 * i + j) % 256) / 255.0f) < 1e-7f);
    }
    dataset ds = {.train = s};
    data_free(&ds);
  }
}

/* ---------------------------------------------------------- bad IDX ---- */

typedef struct {
  const char *name;
  const char *expect; /* substring of the error message */
} bad_case;

/* Builds the bad case k into tmpdir/bad_img(.gz) + bad_lab and loads it. */
static void run_bad_idx(int k, char *err, size_t errlen, int *rc) {
  size_t li, ll;
  unsigned char *im = idx_images(0x803, 6, 5, 4, &li), *lb = idx_labels(0x801, 6, &ll);
  const char *iname = "bad_img", *lname = "bad_lab";
  int gz = 0;
  switch (k) {
    case 0: put32(im, 0x801); break;                 /* wrong image magic */
    case 1: put32(lb, 0x803); break;                 /* wrong label magic */
    case 2: li -= 7; break;                          /* truncated images */
    case 3: put32(lb + 4, 5); ll -= 1; break;        /* count mismatch */
    case 4: lb[8 + 3] = 10; break;                   /* label out of range */
    case 5: iname = "bad_img.gz"; break;             /* .gz name, plain bytes */
    case 6: put32(im + 8, 0); break;                 /* zero rows */
    case 7: put32(im + 4, 0x7fffffff); break;        /* absurd count */
    case 8: iname = "no_such_file"; break;           /* missing */
    case 9: ll += 0; break;                          /* extra bytes: below */
    case 10: gz = 1; iname = "bad_img.gz"; break;    /* corrupt gzip: below */
    case 11: gz = 1; iname = "bad_img.gz"; li -= 9; break; /* short data, valid gzip */
    case 12: gz = 1; iname = "bad_img.gz"; break;    /* cut gzip stream: below */
  }
  if (k != 8) {
    if (k == 9) {
      unsigned char *more = realloc(im, li + 3);
      assert_non_null(more);
      im = more;
      memset(im + li, 1, 3);
      li += 3;
    }
    write_file(iname, im, li, gz);
    if (k == 10) {
      /* keep the gzip header, overwrite the deflate stream with garbage */
      char p[512];
      path(p, sizeof p, iname);
      FILE *f = fopen(p, "r+b");
      assert_non_null(f);
      assert_int_equal(fseek(f, 12, SEEK_SET), 0);
      unsigned char junk[32];
      for (int i = 0; i < 32; i++) junk[i] = (unsigned char)(0xff - 13 * i);
      assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
      assert_int_equal(fclose(f), 0);
    }
    if (k == 12) {
      char p[512];
      path(p, sizeof p, iname);
      struct stat st;
      assert_int_equal(stat(p, &st), 0);
      assert_int_equal(truncate(p, st.st_size / 2), 0);
    }
  }
  write_file(lname, lb, ll, 0);
  char ip[512], lp[512];
  path(ip, sizeof ip, iname);
  path(lp, sizeof lp, lname);
  data_split s;
  err[0] = 0;
  *rc = data_load_idx(ip, lp, &s, err, errlen);
  if (*rc == 0) {
    dataset ds = {.train = s};
    data_free(&ds);
  }
  free(im);
  free(lb);
}

static void test_idx_bad_corpus(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"wrong image magic", "wrong magic 0x00000801, expected 0x00000803"},
      {"wrong label magic", "wrong magic 0x00000803, expected 0x00000801"},
      {"truncated images", "truncated file"},
      {"label count", "label/image count mismatch: 5 labels for 6 images"},
      {"label range", "label 10 of sample 3 out of range"},
      {"not gzip", "not a gzip file"},
      {"zero rows", "implausible dims"},
      {"absurd count", "implausible dims"},
      {"missing", "no_such_file: cannot open"},
      {"extra bytes", "extra bytes"},
      {"corrupt gzip", "corrupt gzip"},
      {"short data in gzip", "bad_img.gz: truncated file: the image data needs 120 bytes"},
      {"cut gzip stream", "bad_img.gz: corrupt gzip data while reading the image data: unexpected end of file"},
  };
  for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
    char err[PSGD_ERRLEN];
    int rc;
    run_bad_idx(k, err, sizeof err, &rc);
    if (getenv("PSGD_TEST_VERBOSE")) fprintf(stderr, "%s: %s\n", cases[k].name, err);
    char again[300];
    snprintf(again, sizeof again, ": %s", tmpdir);
    if (rc != -1 || !strstr(err, cases[k].expect) || strstr(err, again)) {
      fprintf(stderr, "case '%s': rc %d, message '%s', expected '%s'\n", cases[k].name, rc, err,
              cases[k].expect);
      fail();
    }
    /* every message names the file it is about, once (not again inside a
     * zlib message) */
    assert_non_null(strstr(err, tmpdir));
  }
}

/* ------------------------------------------------------------ CIFAR ---- */

/* n records; record i: coarse = i % 20 (CIFAR-100 only), label = i % classes,
 * pixel q = (i + 3q) % 256. */
static unsigned char *cifar_records(int n, int cifar100, size_t *len) {
  size_t rec = (cifar100 ? 2 : 1) + 3072;
  *len = rec * n;
  unsigned char *b = malloc(*len);
  assert_non_null(b);
  for (int i = 0; i < n; i++) {
    unsigned char *r = b + rec * i;
    if (cifar100) {
      r[0] = (unsigned char)(i % 20);
      r[1] = (unsigned char)((i * 7) % 100);
    } else {
      r[0] = (unsigned char)(i % 10);
    }
    for (int q = 0; q < 3072; q++) r[rec - 3072 + q] = (unsigned char)((i + 3 * q) % 256);
  }
  return b;
}

static void test_cifar(void **state) {
  (void)state;
  char err[PSGD_ERRLEN], p1[512], p2[512];
  size_t len;
  /* CIFAR-10 over two files: records are concatenated in order */
  unsigned char *a = cifar_records(3, 0, &len);
  write_file("c10_a.bin", a, len, 0);
  free(a);
  a = cifar_records(2, 0, &len);
  write_file("c10_b.bin", a, len, 0);
  free(a);
  path(p1, sizeof p1, "c10_a.bin");
  path(p2, sizeof p2, "c10_b.bin");
  const char *paths[] = {p1, p2};
  data_split s;
  int rc = data_load_cifar(paths, 2, 0, &s, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(s.n, 5);
  assert_int_equal(s.c, 3);
  assert_int_equal(s.h, 32);
  assert_int_equal(s.n_classes, 10);
  int src[5] = {0, 1, 2, 0, 1}; /* record index within its file */
  for (int i = 0; i < 5; i++) {
    assert_int_equal(s.y[i], src[i] % 10);
    /* channel-major: pixel q of the record is element q of the sample */
    for (int q = 0; q < 3072; q += 511)
      assert_true(fabsf(s.x[i * 3072 + q] - (float)((src[i] + 3 * q) % 256) / 255.0f) < 1e-7f);
  }
  dataset ds = {.train = s};
  data_free(&ds);

  /* CIFAR-100: the fine label (second byte) */
  a = cifar_records(4, 1, &len);
  write_file("c100.bin", a, len, 0);
  free(a);
  path(p1, sizeof p1, "c100.bin");
  const char *p100[] = {p1};
  rc = data_load_cifar(p100, 1, 1, &s, err, sizeof err);
  assert_int_equal(rc, 0);
  assert_int_equal(s.n_classes, 100);
  for (int i = 0; i < 4; i++) assert_int_equal(s.y[i], (i * 7) % 100);
  assert_true(fabsf(s.x[2 * 3072 + 5] - (float)((2 + 15) % 256) / 255.0f) < 1e-7f);
  ds.train = s;
  data_free(&ds);
}

static void test_cifar_bad_corpus(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"truncated", "truncated file: size 6145 is not a multiple of the 3073-byte CIFAR-10"},
      {"label range", "label 10 of record 1 out of range [0, 10)"},
      {"fine range", "label 100 of record 0 out of range [0, 100)"},
      {"coarse range", "coarse label 20 of record 0 out of range"},
      {"empty", "empty file"},
      {"missing", "cannot open"},
  };
  for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
    size_t len;
    int c100 = k == 2 || k == 3;
    unsigned char *a = cifar_records(2, c100, &len);
    if (k == 0) len -= 1;
    if (k == 1) a[3073] = 10;
    if (k == 2) a[1] = 100;
    if (k == 3) a[0] = 20;
    if (k == 4) len = 0;
    if (k != 5) write_file("bad_cifar.bin", a, len, 0);
    free(a);
    char p[512], err[PSGD_ERRLEN] = "";
    path(p, sizeof p, k == 5 ? "absent.bin" : "bad_cifar.bin");
    const char *paths[] = {p};
    data_split s;
    int rc = data_load_cifar(paths, 1, c100, &s, err, sizeof err);
    if (rc != -1 || !strstr(err, cases[k].expect) || !strstr(err, tmpdir)) {
      fprintf(stderr, "case '%s': rc %d, message '%s'\n", cases[k].name, rc, err);
      fail();
    }
  }
}

/* --------------------------------------------------------- registry ---- */

static void test_registry(void **state) {
  (void)state;
  data_opts o;
  data_opts_default(&o);
  o.data_dir = tmpdir;
  dataset ds;
  char err[PSGD_ERRLEN];
  assert_int_equal(data_load("imagenet", &o, &ds, err, sizeof err), -1);
  assert_non_null(strstr(err, "unknown dataset 'imagenet'"));
  assert_non_null(strstr(err, "fashion-mnist, mnist, cifar10, cifar100, synthetic"));
  /* nothing downloaded: say how to get it */
  assert_int_equal(data_load("mnist", &o, &ds, err, sizeof err), -1);
  assert_non_null(strstr(err, "make data"));
  assert_non_null(strstr(err, "mnist/train-images-idx3-ubyte"));
  assert_int_equal(data_load("cifar10", &o, &ds, err, sizeof err), -1);
  assert_non_null(strstr(err, "cifar-10-batches-bin/data_batch_1.bin: missing file"));
  assert_non_null(strstr(err, "make data"));
  assert_int_equal(data_load("cifar100", &o, &ds, err, sizeof err), -1);
  assert_non_null(strstr(err, "cifar-100-binary/train.bin: missing file"));

  /* an MNIST directory: train plain, test gzip; limits; standardization */
  char d[512];
  path(d, sizeof d, "mnist");
  assert_int_equal(mkdir(d, 0700), 0);
  write_idx_pair("mnist/train-images-idx3-ubyte", "mnist/train-labels-idx1-ubyte", 40, 6, 5, 0);
  write_idx_pair("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", 9, 6, 5,
                 1);
  int rc = data_load("mnist", &o, &ds, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  assert_string_equal(ds.name, "mnist");
  assert_int_equal(ds.train.n, 40);
  assert_int_equal(ds.test.n, 9);
  double sum = 0, sq = 0;
  for (int i = 0; i < 40 * 30; i++) {
    sum += ds.train.x[i];
    sq += (double)ds.train.x[i] * ds.train.x[i];
  }
  double mean = sum / 1200, var = sq / 1200 - mean * mean;
  assert_true(fabs(mean) < 1e-5 && fabs(var - 1) < 1e-4);
  data_free(&ds);
  o.train_limit = 7;
  o.test_limit = 3;
  assert_int_equal(data_load("mnist", &o, &ds, err, sizeof err), 0);
  assert_int_equal(ds.train.n, 7);
  assert_int_equal(ds.test.n, 3);
  assert_int_equal(ds.train.y[6], 6);
  data_free(&ds);

  /* fashion-mnist from $PSGD_FASHION_DIR, with test dims unlike train */
  path(d, sizeof d, "fashion");
  assert_int_equal(mkdir(d, 0700), 0);
  write_idx_pair("fashion/train-images-idx3-ubyte.gz", "fashion/train-labels-idx1-ubyte.gz", 8,
                 6, 5, 1);
  write_idx_pair("fashion/t10k-images-idx3-ubyte.gz", "fashion/t10k-labels-idx1-ubyte.gz", 4, 5,
                 6, 1);
  assert_int_equal(setenv("PSGD_FASHION_DIR", d, 1), 0);
  assert_int_equal(data_load("fashion-mnist", &o, &ds, err, sizeof err), -1);
  assert_non_null(strstr(err, "dims mismatch"));
  assert_int_equal(unsetenv("PSGD_FASHION_DIR"), 0);
}

/* The Debian package's real files, when installed: first samples only. */
static void test_fashion_mnist_installed(void **state) {
  (void)state;
  if (access("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
    fprintf(stderr, "dataset-fashion-mnist not installed: skipped\n");
    skip();
  }
  data_opts o;
  data_opts_default(&o);
  o.train_limit = 500;
  o.test_limit = 200;
  dataset ds;
  char err[PSGD_ERRLEN];
  int rc = data_load("fashion-mnist", &o, &ds, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(ds.train.n, 500);
  assert_int_equal(ds.test.n, 200);
  assert_int_equal(ds.train.h * ds.train.w, 784);
  int seen[10] = {0};
  for (int i = 0; i < 500; i++) seen[ds.train.y[i]]++;
  for (int k = 0; k < 10; k++) assert_true(seen[k] > 20);
  data_free(&ds);
}

/* -------------------------------------------------------- synthetic ---- */

static void test_synthetic(void **state) {
  (void)state;
  data_opts o;
  data_opts_default(&o);
  dataset a, b;
  char err[PSGD_ERRLEN];
  assert_int_equal(data_load("synthetic", &o, &a, err, sizeof err), 0);
  assert_int_equal(data_load("synthetic", &o, &b, err, sizeof err), 0);
  assert_int_equal(a.train.n, 2048);
  assert_int_equal(a.test.n, 512);
  assert_int_equal(a.train.c * a.train.h * a.train.w, 64);
  assert_int_equal(a.train.n_classes, 10);
  assert_memory_equal(a.train.x, b.train.x, sizeof(float) * 2048 * 64);
  assert_memory_equal(a.test.y, b.test.y, 512);
  int seen[10] = {0};
  for (int i = 0; i < 2048; i++) seen[a.train.y[i]]++;
  for (int k = 0; k < 10; k++) assert_true(seen[k] > 100);
  data_free(&b);
  o.syn_seed = 2;
  assert_int_equal(data_load("synthetic", &o, &b, err, sizeof err), 0);
  assert_memory_not_equal(a.train.x, b.train.x, sizeof(float) * 64);
  data_free(&a);
  data_free(&b);
  o.syn_classes = 1;
  assert_int_equal(data_load("synthetic", &o, &a, err, sizeof err), -1);
  assert_non_null(strstr(err, "classes 1 out of range"));
}

/* ------------------------------------------------------ permutation ---- */

static void check_epoch_is_permutation(int n, uint64_t seed, uint64_t epoch) {
  char *hit = calloc((size_t)n, 1);
  assert_non_null(hit);
  for (int i = 0; i < n; i++) {
    int idx;
    data_batch_indices(n, seed, epoch * (uint64_t)n + (uint64_t)i, 1, &idx);
    assert_true(idx >= 0 && idx < n);
    assert_int_equal(hit[idx], 0);
    hit[idx] = 1;
  }
  free(hit);
}

static void test_batch_permutation(void **state) {
  (void)state;
  const int ns[] = {1, 2, 3, 5, 7, 16, 17, 100, 1000, 4097, 60000};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
    for (uint64_t e = 0; e < 3; e++) check_epoch_is_permutation(ns[k], 42 + k, e);
  /* batches of b walk the same sequence as b = 1, also across epoch ends */
  const int n = 1000, b = 16;
  int batch[16], one;
  for (uint64_t step = 0; step < 200; step += 7) {
    data_batch_indices(n, 9, step, b, batch);
    for (int k = 0; k < b; k++) {
      data_batch_indices(n, 9, step * b + (uint64_t)k, 1, &one);
      assert_int_equal(batch[k], one);
    }
  }
  /* epochs and seeds give different orders; the order is not the identity */
  int a0[64], a1[64], s2[64];
  for (int i = 0; i < 64; i++) {
    data_batch_indices(n, 9, (uint64_t)i, 1, &a0[i]);
    data_batch_indices(n, 9, (uint64_t)(n + i), 1, &a1[i]);
    data_batch_indices(n, 10, (uint64_t)i, 1, &s2[i]);
  }
  assert_memory_not_equal(a0, a1, sizeof a0);
  assert_memory_not_equal(a0, s2, sizeof a0);
  int fixed = 0;
  for (int i = 0; i < 64; i++) fixed += a0[i] == i;
  assert_true(fixed < 8);
  /* roughly uniform: the first 10% of an epoch lands across all deciles */
  int dec[10] = {0};
  for (int i = 0; i < n / 10; i++) {
    data_batch_indices(n, 3, (uint64_t)i, 1, &one);
    dec[one * 10 / n]++;
  }
  for (int k = 0; k < 10; k++) assert_true(dec[k] > 0);
}

static void test_shuffle_and_gather(void **state) {
  (void)state;
  int p[50], q[50];
  data_shuffle(p, 50, 5);
  data_shuffle(q, 50, 5);
  assert_memory_equal(p, q, sizeof p);
  char hit[50] = {0};
  for (int i = 0; i < 50; i++) {
    assert_true(p[i] >= 0 && p[i] < 50 && !hit[p[i]]);
    hit[p[i]] = 1;
  }
  float xs[4 * 3];
  uint8_t ys[4] = {3, 1, 4, 1};
  for (int i = 0; i < 12; i++) xs[i] = (float)i;
  data_split s = {4, 1, 1, 3, 5, xs, ys};
  int idx[3] = {2, 0, 2};
  float x[9];
  uint8_t y[3];
  data_gather(&s, idx, 3, x, y);
  const float want[9] = {6, 7, 8, 0, 1, 2, 6, 7, 8};
  assert_memory_equal(x, want, sizeof want);
  assert_int_equal(y[0], 4);
  assert_int_equal(y[1], 3);
}

static int setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/psgd_data_XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idx_plain_and_gzip), cmocka_unit_test(test_idx_bad_corpus),
      cmocka_unit_test(test_cifar),              cmocka_unit_test(test_cifar_bad_corpus),
      cmocka_unit_test(test_registry),           cmocka_unit_test(test_fashion_mnist_installed),
      cmocka_unit_test(test_synthetic),          cmocka_unit_test(test_batch_permutation),
      cmocka_unit_test(test_shuffle_and_gather),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
