/* rec_files.c - the database files this process holds open through rec
 * handles (see rec_db.h and the comment below for why rec_open needs it). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "rec_db.h"

/* Database files this process holds open through rec handles, by device and
 * inode. rec_sniff_check() reads a file with fopen/fclose, and closing any descriptor
 * of a file drops every POSIX lock this process holds on it (fcntl semantics;
 * sqlite.org/howtocorrupt.html, section 2.2). Done while another handle of
 * this process is open on the file (the engine's writer thread opens a second
 * one), that silently removes the first handle's SHARED lock; another
 * process's last connection may then checkpoint and delete the WAL file
 * while we still append to it, and later commits are lost. So a file that is
 * open here already is not prechecked again, and the check-then-open of
 * rec_open is serialized by g_open_mu (rec_files_lock). */
#define REC_MAX_OPEN_FILES 64
static struct {
  dev_t dev;
  ino_t ino;
  int n;
  char path[1024]; /* the path it was first opened by ("" if longer) */
} g_open[REC_MAX_OPEN_FILES];
static pthread_mutex_t g_open_mu = PTHREAD_MUTEX_INITIALIZER;

void rec_files_lock(void) { pthread_mutex_lock(&g_open_mu); }
void rec_files_unlock(void) { pthread_mutex_unlock(&g_open_mu); }

/* With g_open_mu held: the slot of (dev, ino), or -1. */
static int open_slot(dev_t dev, ino_t ino) {
  for (int i = 0; i < REC_MAX_OPEN_FILES; i++)
    if (g_open[i].n > 0 && g_open[i].dev == dev && g_open[i].ino == ino) return i;
  return -1;
}

/* With g_open_mu held: 1 if path names a file some rec handle holds open. */
int rec_files_held(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && open_slot(st.st_dev, st.st_ino) >= 0;
}

/* With g_open_mu held: -1 (err filled) if this process holds path open
 * and the file at path is gone or another one now. Opening it would create
 * a new, empty database there (a sweep's second connection, e.g. the step
 * writer's, after the file was deleted), and its rows would be lost. */
int rec_files_vanished(const char *path, char *err, size_t errlen) {
  for (int i = 0; i < REC_MAX_OPEN_FILES; i++) {
    if (g_open[i].n == 0 || strcmp(g_open[i].path, path) != 0) continue;
    struct stat st;
    if (stat(path, &st) != 0)
      return psgd_err(err, errlen, "%s: the database was deleted while open (%s): not "
                      "creating a new one", path, strerror(errno));
    if (st.st_dev != g_open[i].dev || st.st_ino != g_open[i].ino)
      return psgd_err(err, errlen, "%s: the database was replaced by another file while open",
                      path);
  }
  return 0;
}

/* With g_open_mu held: counts r's file as open (r->db is open, nothing read
 * yet, so SQLite has taken no lock). */
int rec_files_register(rec *r, char *err, size_t errlen) {
  struct stat st;
  if (stat(r->path, &st) != 0)
    return psgd_err(err, errlen, "%s: cannot stat after opening: %s", r->path, strerror(errno));
  int i = open_slot(st.st_dev, st.st_ino);
  for (int j = 0; i < 0 && j < REC_MAX_OPEN_FILES; j++)
    if (g_open[j].n == 0) i = j;
  if (i < 0)
    return psgd_err(err, errlen, "%s: more than %d database files open in one process", r->path,
                    REC_MAX_OPEN_FILES);
  if (g_open[i].n == 0 && snprintf(g_open[i].path, sizeof g_open[i].path, "%s", r->path) >=
                              (int)sizeof g_open[i].path)
    g_open[i].path[0] = '\0';
  g_open[i].dev = st.st_dev;
  g_open[i].ino = st.st_ino;
  g_open[i].n++;
  r->dev = st.st_dev;
  r->ino = st.st_ino;
  r->registered = 1;
  return 0;
}

void rec_files_unregister(rec *r) {
  if (!r->registered) return;
  pthread_mutex_lock(&g_open_mu);
  int i = open_slot(r->dev, r->ino);
  if (i >= 0) g_open[i].n--;
  pthread_mutex_unlock(&g_open_mu);
  r->registered = 0;
}

/* With g_open_mu held: whether this process holds a handle opened by path. */
int rec_files_path_held(const char *path) {
  for (int i = 0; i < REC_MAX_OPEN_FILES; i++)
    if (g_open[i].n > 0 && !strcmp(g_open[i].path, path)) return 1;
  return 0;
}
