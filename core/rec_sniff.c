/* rec_sniff.c - what a file is before SQLite opens it: a directory, a
 * device, a PNG or a text file given as the database, or an SQLite file
 * truncated behind its header, each named in one line (rec_sniff_check). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "rec_db.h"

static const char *describe_content(const unsigned char *b, size_t n) {
  if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "a PNG image";
  if (n >= 4 && !memcmp(b, "%PDF", 4)) return "a PDF document";
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return "gzip data";
  if (n >= 4 && !memcmp(b, "\x7f" "ELF", 4)) return "an executable";
  size_t text = 0;
  for (size_t i = 0; i < n; i++)
    if (b[i] == '\n' || b[i] == '\t' || b[i] == '\r' || (b[i] >= 0x20 && b[i] < 0x7f) ||
        b[i] >= 0x80)
      text++;
  return text == n ? "a text file" : "unknown binary data";
}

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 0 if path is absent, empty, or starts like an SQLite database whose size
 * agrees with its header; -1 with a message naming the file otherwise. */
int rec_sniff_check(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) return 0; /* SQLite creates it (or says why it cannot) */
  if (S_ISDIR(st.st_mode)) return psgd_err(err, errlen, "%s: is a directory, not a database", path);
  if (!S_ISREG(st.st_mode))
    return psgd_err(err, errlen, "%s: not a regular file (%s), not a database: give a file name",
                    path, S_ISCHR(st.st_mode)    ? "a character device"
                          : S_ISBLK(st.st_mode)  ? "a block device"
                          : S_ISFIFO(st.st_mode) ? "a FIFO"
                          : S_ISSOCK(st.st_mode) ? "a socket"
                                                 : "a special file");
  if (st.st_size == 0) return 0;      /* SQLite treats an empty file as a new database */
  FILE *f = fopen(path, "rb");
  if (!f) return psgd_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
  unsigned char h[100];
  size_t n = fread(h, 1, sizeof h, f);
  fclose(f);
  if (n < 16 || memcmp(h, "SQLite format 3", 16) != 0)
    return psgd_err(err, errlen, "%s: not an SQLite database (%s); give a results database "
                    "or a new file name", path, describe_content(h, n));
  if (n < 100)
    return psgd_err(err, errlen, "%s: truncated SQLite database: %zu bytes, its header alone "
                    "has 100", path, n);
  unsigned ps = be16(h + 16);
  uint64_t page = ps == 1 ? 65536 : ps;
  if (page < 512 || (page & (page - 1)))
    return psgd_err(err, errlen, "%s: corrupt SQLite header (page size %u)", path, ps);
  /* The header's page count is valid when its change counter matches
   * version-valid-for (file format, section 1.3.7). Only compare when no
   * -wal file exists: with one, another connection may be checkpointing and
   * the file grows behind its already written first page. */
  char wal[4096];
  snprintf(wal, sizeof wal, "%s-wal", path);
  uint32_t pages = be32(h + 28);
  if (be32(h + 24) == be32(h + 92) && pages > 0 && access(wal, F_OK) != 0 &&
      (uint64_t)st.st_size < pages * page)
    return psgd_err(err, errlen, "%s: truncated SQLite database: header says %u pages of %llu "
                    "bytes (%llu bytes), the file has %lld", path, pages,
                    (unsigned long long)page, (unsigned long long)(pages * page),
                    (long long)st.st_size);
  return 0;
}
