/* data.h - datasets: MNIST-format IDX (plain or .gz), CIFAR-10/100 binary,
 * and a deterministic synthetic set. Each split is one contiguous, 64-byte
 * aligned float array (n x c x h x w, channel-major per sample, normalized)
 * plus one label byte per sample. The dataset owns its arrays.
 *
 * Names accepted by data_load (the registry in data.c is the single source):
 *   "fashion-mnist"  IDX files in $PSGD_FASHION_DIR or /usr/share/datasets/fashion-mnist
 *   "mnist"          IDX files in <data_dir>/mnist
 *   "cifar10"        <data_dir>/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin
 *   "cifar100"       <data_dir>/cifar-100-binary/{train,test}.bin (fine labels)
 *   "synthetic"      generated from data_opts (classes, shape, n, seed)
 * Normalization: the file loaders scale pixels to [0, 1]; data_load then
 * standardizes each channel with the training split's mean and standard
 * deviation (both splits, so no test statistics leak in). The synthetic set
 * is zero-mean Gaussian blobs by construction and is left as generated.
 * Errors name the file and the problem (magic, sizes, truncation, count
 * mismatch); loaders never crash on bad input. */
#ifndef PSGD_DATA_H
#define PSGD_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int n;             /* samples */
  int c, h, w;       /* shape of one sample */
  int n_classes;
  float *x;          /* [n][c*h*w], 64-byte aligned, normalized */
  uint8_t *y;        /* [n] labels in [0, n_classes) */
} data_split;

typedef struct {
  char name[32];
  data_split train, test;
} dataset;

typedef struct {
  const char *data_dir;   /* root for mnist/cifar; NULL -> "data" */
  int train_limit;        /* >0: keep only the first N training samples */
  int test_limit;         /* >0: keep only the first N test samples */
  /* synthetic only */
  int syn_classes, syn_c, syn_h, syn_w, syn_train, syn_test;
  uint64_t syn_seed;
} data_opts;

/* Fills opts with defaults (data_dir "data", no limits, synthetic 10 classes
 * 1x8x8, 2048 train / 512 test, seed 1). */
void data_opts_default(data_opts *opts);

/* 0 if `name` is a dataset data_load knows; else -1 with err listing them. */
int data_name_ok(const char *name, char *err, size_t errlen);

/* The dataset names, in registry order, separated by sep, into buf. */
void data_names(char *buf, size_t cap, const char *sep);

/* The sample layout (channels, height, width) and class count data_load
 * gives for dataset `name` (synthetic: from opts; NULL opts = defaults),
 * without reading a file. 0, or -1 for an unknown name. */
int data_shape(const char *name, const data_opts *opts, int *c, int *h, int *w, int *n_classes);

/* Checks dataset `name` without loading it: every file a regular,
 * non-empty, readable file (a FIFO, device, directory or symlink loop is
 * refused by stat, never opened), IDX magic, dims and label/image counts,
 * and each file's size against its header (plain: the file size; gzip: the
 * content size in its trailer); CIFAR sizes a whole number of records.
 * n_train / n_test (may be NULL) get the sample counts after the limits of
 * opts. 0, or -1 with err naming the file. The loaders refuse the same
 * special files. */
int data_check(const char *name, const data_opts *opts, int *n_train, int *n_test, char *err,
               size_t errlen);

/* Loads dataset `name` into *out. 0 on success, -1 with err filled. */
int data_load(const char *name, const data_opts *opts, dataset *out, char *err, size_t errlen);

/* Lower-level loaders, exposed for tests. Each fills one split, pixels in
 * [0, 1]; free with data_free on a dataset holding the split. */
int data_load_idx(const char *images_path, const char *labels_path, data_split *out,
                  char *err, size_t errlen);
/* Reads one or more CIFAR binary files (label bytes per record: 1 for
 * CIFAR-10, 2 for CIFAR-100 where the fine label is used). */
int data_load_cifar(const char *const *paths, int n_paths, int cifar100, data_split *out,
                    char *err, size_t errlen);
int data_make_synthetic(const data_opts *opts, dataset *out, char *err, size_t errlen);

/* Frees the arrays of a dataset (NULL is a no-op). */
void data_free(dataset *ds);

/* Minibatch of SGD step `step` (the dispatcher's start index i; paper Alg. 1
 * line 5, GETBATCH(i)): writes b sample indices into idx. Sample position
 * p = step*b + k walks the training set epoch by epoch (epoch = p / n); within
 * an epoch the order is a seeded pseudo-random permutation of [0, n) keyed by
 * (seed, epoch), computed in O(1) per sample without shared state, so any
 * thread can draw any step's batch and the sequence is the same for every
 * dispatcher and thread count. */
void data_batch_indices(int n, uint64_t seed, uint64_t step, int b, int *idx);

/* Seeded Fisher-Yates permutation of [0, n) into perm. */
void data_shuffle(int *perm, int n, uint64_t seed);

/* Copies samples idx[0..b) of split s into contiguous x (b x dim) and y. */
void data_gather(const data_split *s, const int *idx, int b, float *x, uint8_t *y);

static inline int data_dim(const data_split *s) { return s->c * s->h * s->w; }

#endif
