/* data.c - datasets (see data.h): the registry of names, the IDX reader
 * (plain or gzip, through zlib), the CIFAR binary reader, the synthetic set,
 * normalization, and the stateless per-epoch batch permutation.
 *
 * Every loader checks every read and fills `err` with "<file>: <problem>";
 * nothing here prints. The split arrays are 64-byte aligned (psgd_alloc). */
#define _POSIX_C_SOURCE 200809L
#include "data.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"

/* Refuse absurd headers before allocating: no real IDX or CIFAR file comes
 * near these, and they keep n * dim far from size_t overflow. */
#define DATA_MAX_SAMPLES 100000000u
#define DATA_MAX_SIDE 4096u
#define DATA_MAX_DIM (1u << 22)

void data_opts_default(data_opts *o) {
  memset(o, 0, sizeof *o);
  o->data_dir = "data";
  o->syn_classes = 10;
  o->syn_c = 1;
  o->syn_h = 8;
  o->syn_w = 8;
  o->syn_train = 2048;
  o->syn_test = 512;
  o->syn_seed = 1;
}

static void split_free(data_split *s) {
  psgd_free(s->x);
  psgd_free(s->y);
  memset(s, 0, sizeof *s);
}

void data_free(dataset *ds) {
  if (!ds) return;
  split_free(&ds->train);
  split_free(&ds->test);
}

static int split_alloc(data_split *s, int n, int c, int h, int w, const char *path, char *err,
                       size_t errlen) {
  size_t dim = (size_t)c * h * w;
  s->n = n;
  s->c = c;
  s->h = h;
  s->w = w;
  s->x = psgd_alloc((size_t)n * dim * sizeof(float));
  s->y = psgd_alloc((size_t)n);
  if (!s->x || !s->y) {
    split_free(s);
    return psgd_err(err, errlen, "%s: out of memory for %d samples of %zu floats", path, n, dim);
  }
  return 0;
}

/* A data file must be a regular, non-empty, readable file: stat first, so a
 * FIFO or a device is refused instead of blocking or reading forever, and a
 * directory or a symlink loop gets its own message. st may be NULL. */
static int data_file_ok(const char *path, struct stat *st_out, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ELOOP)
      return psgd_err(err, errlen, "%s: symbolic link loop (too many levels of symbolic links)",
                      path);
    return psgd_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
  }
  if (S_ISDIR(st.st_mode))
    return psgd_err(err, errlen, "%s: is a directory, not a data file", path);
  if (!S_ISREG(st.st_mode))
    return psgd_err(err, errlen, "%s: not a regular file (%s): refused", path,
                    S_ISFIFO(st.st_mode)  ? "a FIFO"
                    : S_ISCHR(st.st_mode) ? "a character device"
                    : S_ISBLK(st.st_mode) ? "a block device"
                    : S_ISSOCK(st.st_mode) ? "a socket"
                                          : "a special file");
  if (st.st_size == 0) return psgd_err(err, errlen, "%s: empty file", path);
  if (access(path, R_OK) != 0)
    return psgd_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
  if (st_out) *st_out = st;
  return 0;
}

/* ---------------------------------------------------------------- IDX ---- */

/* A byte stream over zlib: gzread reads gzip members and, for a file that is
 * not gzip, passes the bytes through unchanged, so one reader serves both.
 * A name ending in ".gz" must really be gzip (else the user has a corrupt
 * download, and reading it raw would give a confusing magic error). */
typedef struct {
  gzFile f;
  const char *path;
} rd;

static int rd_open(rd *r, const char *path, char *err, size_t errlen) {
  r->path = path;
  r->f = NULL;
  if (data_file_ok(path, NULL, err, errlen)) return -1;
  FILE *probe = fopen(path, "rb");
  if (!probe) return psgd_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
  unsigned char m[2] = {0, 0};
  size_t got = fread(m, 1, 2, probe);
  int rerr = ferror(probe);
  fclose(probe);
  if (rerr) return psgd_err(err, errlen, "%s: read error", path);
  int is_gz = got == 2 && m[0] == 0x1f && m[1] == 0x8b;
  size_t len = strlen(path);
  if (len > 3 && !strcmp(path + len - 3, ".gz") && !is_gz)
    return psgd_err(err, errlen, "%s: not a gzip file (bad gzip magic)", path);
  r->f = gzopen(path, "rb");
  if (!r->f) return psgd_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
  if (gzbuffer(r->f, 1 << 18) != 0) {
    gzclose(r->f);
    r->f = NULL;
    return psgd_err(err, errlen, "%s: zlib refused the buffer size", path);
  }
  return 0;
}

static void rd_close(rd *r) {
  if (r->f) gzclose(r->f);
  r->f = NULL;
}

/* zlib's message, without the "<path>: " it prefixes (ours has it already). */
static const char *zmsg(rd *r) {
  int zerr;
  const char *msg = gzerror(r->f, &zerr);
  if (!msg || !*msg) return "unknown zlib error";
  size_t n = strlen(r->path);
  if (!strncmp(msg, r->path, n) && !strncmp(msg + n, ": ", 2)) msg += n + 2;
  return msg;
}

/* Reads exactly n bytes; `what` names the part for the message. */
static int rd_read(rd *r, void *buf, size_t n, const char *what, char *err, size_t errlen) {
  size_t done = 0;
  while (done < n) {
    size_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
    int got = gzread(r->f, (char *)buf + done, (unsigned)chunk);
    if (got < 0)
      return psgd_err(err, errlen, "%s: corrupt gzip data while reading %s: %s", r->path, what,
                      zmsg(r));
    if (got == 0) {
      int zerr;
      gzerror(r->f, &zerr);
      if (zerr != Z_OK && zerr != Z_STREAM_END)
        return psgd_err(err, errlen, "%s: corrupt gzip data while reading %s: %s", r->path,
                        what, zmsg(r));
      return psgd_err(err, errlen, "%s: truncated file: %s needs %zu bytes, only %zu present",
                      r->path, what, n, done);
    }
    done += (size_t)got;
  }
  return 0;
}

/* After the last record: anything left means the header lied. */
static int rd_expect_end(rd *r, char *err, size_t errlen) {
  unsigned char extra;
  int got = gzread(r->f, &extra, 1);
  if (got < 0)
    return psgd_err(err, errlen, "%s: corrupt gzip data at end of file: %s", r->path, zmsg(r));
  if (got > 0)
    return psgd_err(err, errlen, "%s: extra bytes after the records the header announces",
                    r->path);
  return 0;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define IDX_MAGIC_IMAGES 0x00000803u /* unsigned byte, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u /* unsigned byte, 1 dimension */
#define IDX_CLASSES 10

/* Reads an IDX image/label pair into out, pixels scaled to [0, 1]. limit > 0
 * keeps the first `limit` samples (the rest is not read). */
static int load_idx_limit(const char *ipath, const char *lpath, int limit, data_split *out,
                          char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  rd ri = {0}, rl = {0};
  unsigned char *buf = NULL;
  int rc = -1;
  unsigned char h[16];

  if (rd_open(&ri, ipath, err, errlen)) goto out;
  if (rd_open(&rl, lpath, err, errlen)) goto out;
  if (rd_read(&ri, h, 16, "the IDX image header", err, errlen)) goto out;
  uint32_t magic = be32(h), n = be32(h + 4), rows = be32(h + 8), cols = be32(h + 12);
  if (magic != IDX_MAGIC_IMAGES) {
    psgd_err(err, errlen, "%s: wrong magic 0x%08x, expected 0x%08x (IDX unsigned-byte images)",
             ipath, magic, IDX_MAGIC_IMAGES);
    goto out;
  }
  if (n == 0 || n > DATA_MAX_SAMPLES || rows == 0 || cols == 0 || rows > DATA_MAX_SIDE ||
      cols > DATA_MAX_SIDE || (size_t)rows * cols > DATA_MAX_DIM) {
    psgd_err(err, errlen, "%s: implausible dims %u x %u x %u in the IDX header", ipath, n, rows,
             cols);
    goto out;
  }
  if (rd_read(&rl, h, 8, "the IDX label header", err, errlen)) goto out;
  uint32_t lmagic = be32(h), ln = be32(h + 4);
  if (lmagic != IDX_MAGIC_LABELS) {
    psgd_err(err, errlen, "%s: wrong magic 0x%08x, expected 0x%08x (IDX unsigned-byte labels)",
             lpath, lmagic, IDX_MAGIC_LABELS);
    goto out;
  }
  if (ln != n) {
    psgd_err(err, errlen, "%s: label/image count mismatch: %u labels for %u images in %s", lpath,
             ln, n, ipath);
    goto out;
  }
  int keep = (limit > 0 && (uint32_t)limit < n) ? limit : (int)n;
  size_t dim = (size_t)rows * cols;
  if (split_alloc(out, keep, 1, (int)rows, (int)cols, ipath, err, errlen)) goto out;
  out->n_classes = IDX_CLASSES;

  if (rd_read(&rl, out->y, (size_t)keep, "the labels", err, errlen)) goto out;
  for (int i = 0; i < keep; i++)
    if (out->y[i] >= IDX_CLASSES) {
      psgd_err(err, errlen, "%s: label %u of sample %d out of range [0, %d)", lpath, out->y[i], i,
               IDX_CLASSES);
      goto out;
    }

  /* Pixels in blocks, so a 47 MB file never needs a second full-size buffer. */
  const size_t per_block = 4096;
  buf = malloc(per_block * dim);
  if (!buf) {
    psgd_err(err, errlen, "%s: out of memory", ipath);
    goto out;
  }
  for (size_t i0 = 0; i0 < (size_t)keep; i0 += per_block) {
    size_t cnt = (size_t)keep - i0 < per_block ? (size_t)keep - i0 : per_block;
    if (rd_read(&ri, buf, cnt * dim, "the image data", err, errlen)) goto out;
    float *dst = out->x + i0 * dim;
    for (size_t k = 0; k < cnt * dim; k++) dst[k] = (float)buf[k] * (1.0f / 255.0f);
  }
  if (keep == (int)n) {
    if (rd_expect_end(&ri, err, errlen)) goto out;
    if (rd_expect_end(&rl, err, errlen)) goto out;
  }
  rc = 0;
out:
  free(buf);
  rd_close(&ri);
  rd_close(&rl);
  if (rc) split_free(out);
  return rc;
}

int data_load_idx(const char *images_path, const char *labels_path, data_split *out, char *err,
                  size_t errlen) {
  return load_idx_limit(images_path, labels_path, 0, out, err, errlen);
}

/* -------------------------------------------------------------- CIFAR ---- */

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)

/* CIFAR binary: records of <label bytes><3072 pixel bytes>, pixels already
 * channel-major (1024 R, 1024 G, 1024 B), which is our layout. CIFAR-100
 * records carry <coarse label><fine label>; we train on the fine label. */
static int load_cifar_limit(const char *const *paths, int n_paths, int cifar100, int limit,
                            data_split *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  const size_t lab = cifar100 ? 2 : 1, rec = lab + CIFAR_PIXELS;
  const int classes = cifar100 ? 100 : 10;
  long *counts = calloc((size_t)(n_paths > 0 ? n_paths : 1), sizeof *counts);
  unsigned char *buf = NULL;
  FILE *f = NULL;
  int rc = -1;
  if (!counts) return psgd_err(err, errlen, "out of memory");
  if (n_paths <= 0) {
    psgd_err(err, errlen, "CIFAR: no files given");
    goto out;
  }

  size_t total = 0;
  for (int p = 0; p < n_paths; p++) {
    struct stat st;
    if (data_file_ok(paths[p], &st, err, errlen)) goto out;
    if ((size_t)st.st_size % rec != 0) {
      psgd_err(err, errlen,
               "%s: truncated file: size %lld is not a multiple of the %zu-byte CIFAR-%d record",
               paths[p], (long long)st.st_size, rec, classes);
      goto out;
    }
    counts[p] = (long)((size_t)st.st_size / rec);
    total += (size_t)counts[p];
  }
  if (total > DATA_MAX_SAMPLES) {
    psgd_err(err, errlen, "%s: implausibly many records (%zu)", paths[0], total);
    goto out;
  }
  size_t keep = (limit > 0 && (size_t)limit < total) ? (size_t)limit : total;
  if (split_alloc(out, (int)keep, 3, CIFAR_SIDE, CIFAR_SIDE, paths[0], err, errlen)) goto out;
  out->n_classes = classes;

  const size_t per_block = 1024;
  buf = malloc(per_block * rec);
  if (!buf) {
    psgd_err(err, errlen, "%s: out of memory", paths[0]);
    goto out;
  }
  size_t i = 0;
  for (int p = 0; p < n_paths && i < keep; p++) {
    f = fopen(paths[p], "rb");
    if (!f) {
      psgd_err(err, errlen, "%s: cannot open: %s", paths[p], strerror(errno));
      goto out;
    }
    size_t left = (size_t)counts[p];
    while (left > 0 && i < keep) {
      size_t cnt = left < per_block ? left : per_block;
      if (cnt > keep - i) cnt = keep - i;
      size_t got = fread(buf, rec, cnt, f);
      if (got != cnt) {
        psgd_err(err, errlen, "%s: %s after %zu records", paths[p],
                 ferror(f) ? "read error" : "truncated file", (size_t)counts[p] - left + got);
        goto out;
      }
      for (size_t k = 0; k < cnt; k++, i++) {
        const unsigned char *r = buf + k * rec;
        if (cifar100 && r[0] >= 20) {
          psgd_err(err, errlen, "%s: coarse label %u of record %zu out of range [0, 20)",
                   paths[p], r[0], (size_t)counts[p] - left + k);
          goto out;
        }
        unsigned label = r[lab - 1];
        if (label >= (unsigned)classes) {
          psgd_err(err, errlen, "%s: label %u of record %zu out of range [0, %d)", paths[p],
                   label, (size_t)counts[p] - left + k, classes);
          goto out;
        }
        out->y[i] = (uint8_t)label;
        float *dst = out->x + i * CIFAR_PIXELS;
        for (int q = 0; q < CIFAR_PIXELS; q++) dst[q] = (float)r[lab + q] * (1.0f / 255.0f);
      }
      left -= cnt;
    }
    if (fclose(f) != 0) {
      f = NULL;
      psgd_err(err, errlen, "%s: close failed: %s", paths[p], strerror(errno));
      goto out;
    }
    f = NULL;
  }
  rc = 0;
out:
  if (f) fclose(f);
  free(buf);
  free(counts);
  if (rc) split_free(out);
  return rc;
}

int data_load_cifar(const char *const *paths, int n_paths, int cifar100, data_split *out,
                    char *err, size_t errlen) {
  return load_cifar_limit(paths, n_paths, cifar100, 0, out, err, errlen);
}

/* ---------------------------------------------------------- synthetic ---- */

/* Gaussian blobs: class k has a mean vector mu_k with entries N(0, SEP^2),
 * a sample is mu_k + N(0, 1) noise. With SEP = 0.4 and 64 dimensions two
 * means are ~4.5 noise deviations apart: learnable by a small model in a few
 * hundred steps, but not trivially at step 0. Train and test come from one
 * seeded stream (test after train), so they are distinct draws. */
#define SYN_SEP 0.4

static int synth_split(data_split *s, int n, const data_opts *o, const float *means,
                       psgd_rng *rng, char *err, size_t errlen) {
  if (split_alloc(s, n, o->syn_c, o->syn_h, o->syn_w, "synthetic", err, errlen)) return -1;
  s->n_classes = o->syn_classes;
  size_t dim = (size_t)o->syn_c * o->syn_h * o->syn_w;
  for (int i = 0; i < n; i++) {
    int k = (int)psgd_rng_below(rng, (uint64_t)o->syn_classes);
    s->y[i] = (uint8_t)k;
    for (size_t j = 0; j < dim; j++)
      s->x[(size_t)i * dim + j] = means[(size_t)k * dim + j] + (float)psgd_rng_normal(rng);
  }
  return 0;
}

int data_make_synthetic(const data_opts *o, dataset *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "synthetic");
  if (o->syn_classes < 2 || o->syn_classes > 256)
    return psgd_err(err, errlen, "synthetic: classes %d out of range [2, 256]", o->syn_classes);
  if (o->syn_c < 1 || o->syn_h < 1 || o->syn_w < 1 ||
      (size_t)o->syn_c * o->syn_h * o->syn_w > DATA_MAX_DIM)
    return psgd_err(err, errlen, "synthetic: bad shape %dx%dx%d", o->syn_c, o->syn_h, o->syn_w);
  if (o->syn_train < 1 || o->syn_test < 1 || o->syn_train > 10000000 || o->syn_test > 10000000)
    return psgd_err(err, errlen, "synthetic: bad sizes train %d test %d", o->syn_train,
                    o->syn_test);
  size_t dim = (size_t)o->syn_c * o->syn_h * o->syn_w;
  float *means = malloc((size_t)o->syn_classes * dim * sizeof *means);
  if (!means) return psgd_err(err, errlen, "synthetic: out of memory");
  psgd_rng rng;
  psgd_rng_seed(&rng, o->syn_seed);
  for (size_t j = 0; j < (size_t)o->syn_classes * dim; j++)
    means[j] = (float)(SYN_SEP * psgd_rng_normal(&rng));
  int ntr = o->train_limit > 0 && o->train_limit < o->syn_train ? o->train_limit : o->syn_train;
  int nte = o->test_limit > 0 && o->test_limit < o->syn_test ? o->test_limit : o->syn_test;
  int rc = synth_split(&out->train, ntr, o, means, &rng, err, errlen);
  if (!rc) rc = synth_split(&out->test, nte, o, means, &rng, err, errlen);
  free(means);
  if (rc) data_free(out);
  return rc;
}

/* ------------------------------------------------------ normalization ---- */

/* Per-channel standardization with the training set's statistics (computed
 * in double), applied to both splits: the test set must not leak into them. */
static void standardize(dataset *ds) {
  data_split *tr = &ds->train;
  size_t plane = (size_t)tr->h * tr->w, dim = plane * tr->c;
  for (int c = 0; c < tr->c; c++) {
    double sum = 0, sq = 0;
    for (int i = 0; i < tr->n; i++) {
      const float *p = tr->x + (size_t)i * dim + (size_t)c * plane;
      double s1 = 0, s2 = 0;
      for (size_t j = 0; j < plane; j++) {
        s1 += p[j];
        s2 += (double)p[j] * p[j];
      }
      sum += s1;
      sq += s2;
    }
    double cnt = (double)tr->n * plane;
    double mean = sum / cnt, var = sq / cnt - mean * mean;
    float m = (float)mean, inv = (float)(1.0 / sqrt(var > 1e-12 ? var : 1e-12));
    data_split *sp[2] = {&ds->train, &ds->test};
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < sp[k]->n; i++) {
        float *p = sp[k]->x + (size_t)i * dim + (size_t)c * plane;
        for (size_t j = 0; j < plane; j++) p[j] = (p[j] - m) * inv;
      }
  }
}

/* ----------------------------------------------------------- registry ---- */

static int path_join(char *dst, size_t cap, const char *a, const char *b, char *err,
                     size_t errlen) {
  int n = snprintf(dst, cap, "%s/%s", a, b);
  if (n < 0 || (size_t)n >= cap) return psgd_err(err, errlen, "%s/%s: path too long", a, b);
  return 0;
}

/* Picks "<dir>/<base>" or, failing that, "<dir>/<base>.gz". Missing both:
 * the message names both and how to get the data (`hint`). */
static int find_idx_file(char *dst, size_t cap, const char *dir, const char *base,
                         const char *hint, char *err, size_t errlen) {
  char gz[1024];
  struct stat st;
  if (path_join(dst, cap, dir, base, err, errlen)) return -1;
  /* lstat: a dangling link or a link loop is "there" and gets its own
   * message from data_file_ok, not "missing" */
  if (lstat(dst, &st) == 0) return 0;
  int n = snprintf(gz, sizeof gz, "%s.gz", dst);
  if (n < 0 || (size_t)n >= sizeof gz) return psgd_err(err, errlen, "%s: path too long", dst);
  if (lstat(gz, &st) == 0) {
    if ((size_t)n >= cap) return psgd_err(err, errlen, "%s: path too long", gz);
    memcpy(dst, gz, (size_t)n + 1);
    return 0;
  }
  return psgd_err(err, errlen, "%s: missing file (also no %s)%s", dst, gz, hint);
}

static int load_idx_dir(const char *dir, const char *hint, const data_opts *o, dataset *out,
                        char *err, size_t errlen) {
  char ti[1024], tl[1024], si[1024], sl[1024];
  if (find_idx_file(ti, sizeof ti, dir, "train-images-idx3-ubyte", hint, err, errlen) ||
      find_idx_file(tl, sizeof tl, dir, "train-labels-idx1-ubyte", hint, err, errlen) ||
      find_idx_file(si, sizeof si, dir, "t10k-images-idx3-ubyte", hint, err, errlen) ||
      find_idx_file(sl, sizeof sl, dir, "t10k-labels-idx1-ubyte", hint, err, errlen))
    return -1;
  if (load_idx_limit(ti, tl, o->train_limit, &out->train, err, errlen)) return -1;
  if (load_idx_limit(si, sl, o->test_limit, &out->test, err, errlen)) return -1;
  return 0;
}

static int load_fashion(const data_opts *o, dataset *out, char *err, size_t errlen) {
  const char *dir = getenv("PSGD_FASHION_DIR");
  if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
  return load_idx_dir(dir, " (install Debian's dataset-fashion-mnist: `make deps`)", o, out, err,
                      errlen);
}

static const char *data_root(const data_opts *o) {
  return o->data_dir && *o->data_dir ? o->data_dir : "data";
}

static int load_mnist(const data_opts *o, dataset *out, char *err, size_t errlen) {
  char dir[1024];
  if (path_join(dir, sizeof dir, data_root(o), "mnist", err, errlen)) return -1;
  return load_idx_dir(dir, " (run `make data` to download MNIST)", o, out, err, errlen);
}

static int load_cifar_dir(const data_opts *o, const char *sub, const char *const *train_names,
                          int n_train, const char *test_name, int cifar100, const char *what,
                          dataset *out, char *err, size_t errlen) {
  char dir[1024], paths[6][1100];
  const char *ptr[6];
  if (path_join(dir, sizeof dir, data_root(o), sub, err, errlen)) return -1;
  for (int i = 0; i <= n_train; i++) {
    const char *name = i < n_train ? train_names[i] : test_name;
    if (path_join(paths[i], sizeof paths[i], dir, name, err, errlen)) return -1;
    struct stat st;
    if (lstat(paths[i], &st) != 0)
      return psgd_err(err, errlen, "%s: missing file (run `make data` to download %s)", paths[i],
                      what);
    ptr[i] = paths[i];
  }
  if (load_cifar_limit(ptr, n_train, cifar100, o->train_limit, &out->train, err, errlen))
    return -1;
  return load_cifar_limit(ptr + n_train, 1, cifar100, o->test_limit, &out->test, err, errlen);
}

static int load_cifar10(const data_opts *o, dataset *out, char *err, size_t errlen) {
  static const char *const train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                      "data_batch_4.bin", "data_batch_5.bin"};
  return load_cifar_dir(o, "cifar-10-batches-bin", train, 5, "test_batch.bin", 0, "CIFAR-10",
                        out, err, errlen);
}

static int load_cifar100(const data_opts *o, dataset *out, char *err, size_t errlen) {
  static const char *const train[] = {"train.bin"};
  return load_cifar_dir(o, "cifar-100-binary", train, 1, "test.bin", 1, "CIFAR-100", out, err,
                        errlen);
}

static int load_synthetic(const data_opts *o, dataset *out, char *err, size_t errlen) {
  return data_make_synthetic(o, out, err, errlen);
}

/* ---------------------------------------------- checks without loading ---- */

/* The size a gzip file says its content has (ISIZE: the last 4 bytes, the
 * length modulo 2^32). -1 if unreadable. */
static long long gz_isize(const char *path, const struct stat *st) {
  if (st->st_size < 18) return -1; /* header 10 + trailer 8 */
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char t[4];
  int ok = fseeko(f, st->st_size - 4, SEEK_SET) == 0 && fread(t, 1, 4, f) == 4;
  fclose(f);
  if (!ok) return -1;
  return (long long)((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 |
                     (uint32_t)t[3] << 24);
}

/* path holds `want` bytes of content (plain: its size; gzip: its ISIZE). */
static int check_content_size(const char *path, const struct stat *st, int is_gz,
                              unsigned long long want, char *err, size_t errlen) {
  unsigned long long have;
  if (is_gz) {
    long long isz = gz_isize(path, st);
    if (isz >= 0 && (unsigned long long)isz == (want & 0xffffffffull)) return 0;
    if (isz < 0) return psgd_err(err, errlen, "%s: truncated gzip file", path);
    return psgd_err(err, errlen, "%s: truncated or corrupt gzip file: its trailer gives %llu "
                    "bytes of content, the header announces %llu", path,
                    (unsigned long long)isz, want);
  } else {
    have = (unsigned long long)st->st_size;
    if (have == want) return 0;
  }
  return psgd_err(err, errlen, "%s: %s: the header announces %llu bytes, the file has %llu",
                  path, have < want ? "truncated file" : "wrong size", want, have);
}

/* Header and size of one IDX file; dims[0] = count, dims[1..2] = rows, cols
 * (images) or unused (labels). */
static int check_idx_file(const char *path, int images, uint32_t *dims, char *err,
                          size_t errlen) {
  struct stat st;
  if (data_file_ok(path, &st, err, errlen)) return -1;
  rd r = {0};
  if (rd_open(&r, path, err, errlen)) return -1;
  unsigned char h[16];
  int hl = images ? 16 : 8;
  int rc = rd_read(&r, h, (size_t)hl, images ? "the IDX image header" : "the IDX label header",
                   err, errlen);
  int is_gz = gzdirect(r.f) == 0;
  rd_close(&r);
  if (rc) return -1;
  uint32_t magic = be32(h), want = images ? IDX_MAGIC_IMAGES : IDX_MAGIC_LABELS;
  if (magic != want)
    return psgd_err(err, errlen, "%s: wrong magic 0x%08x, expected 0x%08x (IDX unsigned-byte "
                    "%s)", path, magic, want, images ? "images" : "labels");
  dims[0] = be32(h + 4);
  dims[1] = images ? be32(h + 8) : 1;
  dims[2] = images ? be32(h + 12) : 1;
  if (dims[0] == 0 || dims[0] > DATA_MAX_SAMPLES || dims[1] == 0 || dims[2] == 0 ||
      dims[1] > DATA_MAX_SIDE || dims[2] > DATA_MAX_SIDE ||
      (size_t)dims[1] * dims[2] > DATA_MAX_DIM)
    return psgd_err(err, errlen, "%s: implausible dims %u x %u x %u in the IDX header", path,
                    dims[0], dims[1], dims[2]);
  unsigned long long bytes = (unsigned long long)hl +
                             (unsigned long long)dims[0] * dims[1] * dims[2];
  return check_content_size(path, &st, is_gz, bytes, err, errlen);
}

static int check_idx_pair(const char *ipath, const char *lpath, int *n, char *err,
                          size_t errlen) {
  uint32_t di[3], dl[3];
  if (check_idx_file(ipath, 1, di, err, errlen) || check_idx_file(lpath, 0, dl, err, errlen))
    return -1;
  if (di[0] != dl[0])
    return psgd_err(err, errlen, "%s: label/image count mismatch: %u labels for %u images in %s",
                    lpath, dl[0], di[0], ipath);
  *n = (int)di[0];
  return 0;
}

static int check_idx_dir(const char *dir, const char *hint, int *n_train, int *n_test,
                         char *err, size_t errlen) {
  char ti[1024], tl[1024], si[1024], sl[1024];
  if (find_idx_file(ti, sizeof ti, dir, "train-images-idx3-ubyte", hint, err, errlen) ||
      find_idx_file(tl, sizeof tl, dir, "train-labels-idx1-ubyte", hint, err, errlen) ||
      find_idx_file(si, sizeof si, dir, "t10k-images-idx3-ubyte", hint, err, errlen) ||
      find_idx_file(sl, sizeof sl, dir, "t10k-labels-idx1-ubyte", hint, err, errlen))
    return -1;
  return check_idx_pair(ti, tl, n_train, err, errlen) ||
                 check_idx_pair(si, sl, n_test, err, errlen)
             ? -1
             : 0;
}

static int check_cifar(const data_opts *o, const char *sub, const char *const *names, int n_files,
                       int cifar100, const char *what, int *n_train, int *n_test, char *err,
                       size_t errlen) {
  char dir[1024], path[1100];
  const size_t rec = (cifar100 ? 2 : 1) + CIFAR_PIXELS;
  if (path_join(dir, sizeof dir, data_root(o), sub, err, errlen)) return -1;
  *n_train = *n_test = 0;
  for (int i = 0; i < n_files; i++) {
    struct stat st;
    if (path_join(path, sizeof path, dir, names[i], err, errlen)) return -1;
    if (lstat(path, &st) != 0)
      return psgd_err(err, errlen, "%s: missing file (run `make data` to download %s)", path,
                      what);
    if (data_file_ok(path, &st, err, errlen)) return -1;
    if ((size_t)st.st_size % rec != 0)
      return psgd_err(err, errlen, "%s: truncated file: size %lld is not a multiple of the "
                      "%zu-byte CIFAR-%d record", path, (long long)st.st_size, rec,
                      cifar100 ? 100 : 10);
    *(i + 1 < n_files ? n_train : n_test) += (int)((size_t)st.st_size / rec);
  }
  return 0;
}

int data_check(const char *name, const data_opts *opts, int *n_train, int *n_test, char *err,
               size_t errlen) {
  data_opts def;
  if (!opts) {
    data_opts_default(&def);
    opts = &def;
  }
  int tr = 0, te = 0, rc;
  if (data_name_ok(name, err, errlen)) return -1;
  if (!strcmp(name, "synthetic")) {
    tr = opts->syn_train;
    te = opts->syn_test;
    rc = 0;
  } else if (!strcmp(name, "fashion-mnist")) {
    const char *dir = getenv("PSGD_FASHION_DIR");
    if (!dir || !*dir) dir = "/usr/share/datasets/fashion-mnist";
    rc = check_idx_dir(dir, " (install Debian's dataset-fashion-mnist: `make deps`)", &tr, &te,
                       err, errlen);
  } else if (!strcmp(name, "mnist")) {
    char dir[1024];
    rc = path_join(dir, sizeof dir, data_root(opts), "mnist", err, errlen);
    if (!rc) rc = check_idx_dir(dir, " (run `make data` to download MNIST)", &tr, &te, err, errlen);
  } else if (!strcmp(name, "cifar10")) {
    static const char *const f[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    rc = check_cifar(opts, "cifar-10-batches-bin", f, 6, 0, "CIFAR-10", &tr, &te, err, errlen);
  } else {
    static const char *const f[] = {"train.bin", "test.bin"};
    rc = check_cifar(opts, "cifar-100-binary", f, 2, 1, "CIFAR-100", &tr, &te, err, errlen);
  }
  if (rc) return -1;
  if (opts->train_limit > 0 && opts->train_limit < tr) tr = opts->train_limit;
  if (opts->test_limit > 0 && opts->test_limit < te) te = opts->test_limit;
  if (n_train) *n_train = tr;
  if (n_test) *n_test = te;
  return 0;
}

typedef struct {
  const char *name;
  int (*load)(const data_opts *, dataset *, char *, size_t);
  int standardize; /* 1: per-channel standardization from the training set */
  int c, h, w, n_classes; /* the sample layout its loader gives; 0: from data_opts */
} data_source;

#define DATA_N_SOURCES 5
static const data_source sources[] = {
    {"fashion-mnist", load_fashion, 1, 1, 28, 28, IDX_CLASSES},
    {"mnist", load_mnist, 1, 1, 28, 28, IDX_CLASSES},
    {"cifar10", load_cifar10, 1, 3, CIFAR_SIDE, CIFAR_SIDE, 10},
    {"cifar100", load_cifar100, 1, 3, CIFAR_SIDE, CIFAR_SIDE, 100},
    /* already zero-mean unit-noise by construction */
    {"synthetic", load_synthetic, 0, 0, 0, 0, 0},
};
static_assert(sizeof sources / sizeof sources[0] == DATA_N_SOURCES, "one entry per dataset");

int data_load(const char *name, const data_opts *opts, dataset *out, char *err, size_t errlen) {
  data_opts def;
  if (!opts) {
    data_opts_default(&def);
    opts = &def;
  }
  memset(out, 0, sizeof *out);
  for (int i = 0; i < DATA_N_SOURCES; i++) {
    if (strcmp(name, sources[i].name) != 0) continue;
    if (sources[i].load(opts, out, err, errlen)) {
      data_free(out);
      return -1;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    const data_split *a = &out->train, *b = &out->test;
    if (a->c != b->c || a->h != b->h || a->w != b->w || a->n_classes != b->n_classes) {
      psgd_err(err, errlen, "%s: dims mismatch: train %dx%dx%d (%d classes), test %dx%dx%d (%d)",
               name, a->c, a->h, a->w, a->n_classes, b->c, b->h, b->w, b->n_classes);
      data_free(out);
      return -1;
    }
    if (sources[i].standardize) standardize(out);
    return 0;
  }
  return data_name_ok(name, err, errlen);
}

void data_names(char *buf, size_t cap, const char *sep) {
  size_t len = 0;
  if (cap) buf[0] = '\0';
  for (int i = 0; i < DATA_N_SOURCES && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? sep : "", sources[i].name);
}

int data_shape(const char *name, const data_opts *opts, int *c, int *h, int *w, int *n_classes) {
  data_opts def;
  if (!opts) {
    data_opts_default(&def);
    opts = &def;
  }
  for (int i = 0; i < DATA_N_SOURCES; i++) {
    if (strcmp(name, sources[i].name) != 0) continue;
    const data_source *d = &sources[i];
    *c = d->c ? d->c : opts->syn_c;
    *h = d->h ? d->h : opts->syn_h;
    *w = d->w ? d->w : opts->syn_w;
    *n_classes = d->n_classes ? d->n_classes : opts->syn_classes;
    return 0;
  }
  return -1;
}

int data_name_ok(const char *name, char *err, size_t errlen) {
  char names[256] = "";
  for (int i = 0; i < DATA_N_SOURCES; i++) {
    if (name && !strcmp(name, sources[i].name)) return 0;
    strncat(names, sources[i].name, sizeof names - strlen(names) - 1);
    if (i + 1 < DATA_N_SOURCES) strncat(names, ", ", sizeof names - strlen(names) - 1);
  }
  return psgd_err(err, errlen, "unknown dataset '%s' (known: %s)", name ? name : "(null)", names);
}

/* ------------------------------------------------- batches, shuffling ---- */

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A pseudo-random permutation of [0, n) keyed by (seed, epoch): a 4-round
 * balanced Feistel network over [0, 2^bits) (a bijection for any round
 * function; Luby-Rackoff), restricted to [0, n) by cycle walking: re-encrypt
 * until the value falls inside. Since 2^bits < 4n, the expected walk is < 4
 * rounds, so one index costs O(1) and needs no table and no shared state. */
typedef struct {
  uint64_t n, mask;
  unsigned half;
  uint64_t key[4];
} feistel;

static void feistel_init(feistel *f, uint64_t n, uint64_t seed, uint64_t epoch) {
  unsigned bits = 2;
  while (bits < 64 && (1ull << bits) < n) bits++;
  bits += bits & 1;
  f->n = n;
  f->half = bits / 2;
  f->mask = (1ull << f->half) - 1;
  uint64_t base = mix64(seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) ^ mix64(epoch + 1);
  for (int r = 0; r < 4; r++) f->key[r] = mix64(base + (uint64_t)r * 0xd1b54a32d192ed03ull);
}

static uint64_t feistel_apply(const feistel *f, uint64_t x) {
  do {
    uint64_t l = x >> f->half, r = x & f->mask;
    for (int k = 0; k < 4; k++) {
      uint64_t t = l ^ (mix64(r ^ f->key[k]) & f->mask);
      l = r;
      r = t;
    }
    x = l << f->half | r;
  } while (x >= f->n);
  return x;
}

void data_batch_indices(int n, uint64_t seed, uint64_t step, int b, int *idx) {
  PSGD_CHECK(n > 0 && b >= 0);
  feistel f = {0};
  uint64_t cur = UINT64_MAX;
  for (int k = 0; k < b; k++) {
    uint64_t p = step * (uint64_t)b + (uint64_t)k;
    uint64_t epoch = p / (uint64_t)n;
    if (epoch != cur) {
      feistel_init(&f, (uint64_t)n, seed, epoch);
      cur = epoch;
    }
    idx[k] = (int)feistel_apply(&f, p % (uint64_t)n);
  }
}

void data_shuffle(int *perm, int n, uint64_t seed) {
  psgd_rng rng;
  psgd_rng_seed(&rng, seed);
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)psgd_rng_below(&rng, (uint64_t)i + 1);
    int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

void data_gather(const data_split *s, const int *idx, int b, float *x, uint8_t *y) {
  size_t dim = (size_t)data_dim(s);
  for (int k = 0; k < b; k++) {
    memcpy(x + (size_t)k * dim, s->x + (size_t)idx[k] * dim, dim * sizeof(float));
    y[k] = s->y[idx[k]];
  }
}
