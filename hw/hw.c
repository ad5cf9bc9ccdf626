/* hw.c - hwloc topology, placements and binding (contract: hw.h).
 *
 * Placement works on objects and cpusets only, never on arithmetic over CPU
 * numbers: OS PU numbering differs between machines. NUMA nodes
 * are memory children in hwloc 2.x, so a PU's node is found through the
 * nodes' cpusets, and its package through its ancestors. */
#define _GNU_SOURCE
#include "hw.h"

#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hw_topo {
  hwloc_topology_t topo;
  int thissystem;
  int synthetic; /* memory sizes are hwloc's invented defaults: not shown */
  char source[320]; /* "this machine", "synthetic \"...\"", "XML file ..." */
};

static int herr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int herr(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ------------------------------------------------------------ loading --- */

static int looks_synthetic(const char *s) { return strchr(s, ':') && !strchr(s, '/'); }

/* hwloc builds every object of a synthetic topology: pack:64 core:64 pu:64
 * (262,144 PUs) took minutes and gigabytes. Measured here: 16,384 PUs load
 * in 0.9 s and 83 MB. Threads are at most 4,096, so bound the PUs before
 * hwloc sees the description. */
#define HW_MAX_SYNTH_PUS 16384
#define HW_MAX_XML_BYTES (64L << 20)

/* The number of leaves (PUs) desc describes: the product of the level
 * arities ("type:N", attributes in parentheses skipped), saturating at
 * HW_MAX_SYNTH_PUS + 1. Levels it cannot read count 1 (hwloc rejects them). */
static long synth_leaves(const char *desc) {
  long prod = 1;
  const char *p = desc;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    const char *tok = p;
    int depth = 0;
    while (*p && (depth > 0 || (*p != ' ' && *p != '\t'))) {
      if (*p == '(') depth++;
      else if (*p == ')' && depth > 0) depth--;
      p++;
    }
    const char *end = tok;
    while (end < p && *end != '(') end++;
    const char *num = end;
    while (num > tok && num[-1] >= '0' && num[-1] <= '9') num--;
    if (num == end || (num > tok && num[-1] != ':' && num != tok)) continue;
    long n = 0;
    for (const char *d = num; d < end && n <= HW_MAX_SYNTH_PUS; d++) n = n * 10 + (*d - '0');
    if (n < 1) continue;
    prod = n > HW_MAX_SYNTH_PUS || prod * n > HW_MAX_SYNTH_PUS ? HW_MAX_SYNTH_PUS + 1 : prod * n;
  }
  return prod;
}

static int synth_bounded(const char *what, const char *desc, char *err, size_t errlen) {
  if (synth_leaves(desc) <= HW_MAX_SYNTH_PUS) return 0;
  return herr(err, errlen, "%s \"%.200s\": more than %d PUs; refused before hwloc builds it "
              "(the suite places at most 4096 threads)", what, desc, HW_MAX_SYNTH_PUS);
}

/* A topology file must be a regular file (a FIFO would block, a device read
 * forever) of bounded size. */
static int topo_file_ok(const char *path, long max_bytes, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0)
    return herr(err, errlen, "topology %s: cannot open (%s)", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return herr(err, errlen, "topology %s: not a regular file (%s): refused", path,
                S_ISDIR(st.st_mode)    ? "a directory"
                : S_ISFIFO(st.st_mode) ? "a FIFO"
                : S_ISCHR(st.st_mode)  ? "a character device"
                                       : "a special file");
  if (st.st_size > max_bytes)
    return herr(err, errlen, "topology %s: %lld bytes, more than the %ld a topology file may "
                "have", path, (long long)st.st_size, max_bytes);
  return 0;
}

/* This machine, seen from inside an allocation (a Slurm task, taskset, a
 * container without a cgroup cpuset): hwloc hides only the CPUs a cgroup
 * forbids, not those outside the process's affinity mask, so placements could
 * bind workers outside the allocation. When the calling thread's affinity is a
 * strict subset of the machine's PUs, the topology is restricted to it (the
 * recorded XML then shows the allocation). Called before any worker binds:
 * the calling thread's mask is the process's allocation. */
static int restrict_to_allowed(hw_topo *t, char *err, size_t errlen) {
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return 0; /* unknown: keep all */
  hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
  if (!allowed) return herr(err, errlen, "out of memory for a cpuset");
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &mask)) hwloc_bitmap_set(allowed, (unsigned)c);
  hwloc_const_bitmap_t all = hwloc_topology_get_topology_cpuset(t->topo);
  int rc = 0;
  if (hwloc_bitmap_isincluded(all, allowed)) goto out_with_set; /* nothing hidden */
  hwloc_bitmap_and(allowed, allowed, all);
  if (hwloc_bitmap_iszero(allowed)) goto out_with_set; /* mask names no known PU */
  int n_all = hwloc_bitmap_weight(all), n_allowed = hwloc_bitmap_weight(allowed);
  if (hwloc_topology_restrict(t->topo, allowed, 0) != 0) {
    rc = herr(err, errlen, "cannot restrict the topology to the %d allowed CPUs: %s", n_allowed,
              strerror(errno));
    goto out_with_set;
  }
  snprintf(t->source, sizeof t->source, "this machine (the %d of its %d PUs this process may use)",
           n_allowed, n_all);
out_with_set:
  hwloc_bitmap_free(allowed);
  return rc;
}

hw_topo *hw_topo_load(const char *spec, char *err, size_t errlen) {
  hw_topo *t = calloc(1, sizeof *t);
  if (!t) {
    herr(err, errlen, "out of memory for a topology");
    return NULL;
  }
  if (hwloc_topology_init(&t->topo) != 0) {
    herr(err, errlen, "hwloc_topology_init failed: %s", strerror(errno));
    goto out_with_struct;
  }
  if (!spec || !spec[0]) {
    snprintf(t->source, sizeof t->source, "this machine");
  } else if (!strncmp(spec, "synthetic:", 10) || looks_synthetic(spec)) {
    const char *desc = !strncmp(spec, "synthetic:", 10) ? spec + 10 : spec;
    while (*desc == ' ') desc++;
    if (!*desc) {
      herr(err, errlen, "topology 'synthetic:' needs a description, e.g. "
                        "\"synthetic:pack:2 numa:1 core:8 pu:2\"");
      goto out_with_topo;
    }
    if (synth_bounded("topology", desc, err, errlen)) goto out_with_topo;
    if (hwloc_topology_set_synthetic(t->topo, desc) != 0) {
      herr(err, errlen,
           "topology \"%s\": not a valid hwloc synthetic description (expected levels like "
           "\"pack:2 numa:1 l3:1 core:8 pu:2\")",
           desc);
      goto out_with_topo;
    }
    snprintf(t->source, sizeof t->source, "synthetic \"%.290s\"", desc);
    t->synthetic = 1;
  } else if (strlen(spec) > 6 && !strcmp(spec + strlen(spec) - 6, ".synth")) {
    /* a file holding a synthetic description: '#' comment lines, then the
     * description on one line */
    char line[1024], desc[1024] = "";
    int lineno = 0, at = 0;
    if (topo_file_ok(spec, 1L << 20, err, errlen)) goto out_with_topo;
    FILE *f = fopen(spec, "r");
    if (!f) {
      herr(err, errlen, "topology %s: cannot open (%s)", spec, strerror(errno));
      goto out_with_topo;
    }
    while (fgets(line, sizeof line, f)) {
      lineno++;
      char *p = line;
      while (*p == ' ' || *p == '\t') p++;
      p[strcspn(p, "\r\n")] = '\0';
      if (!*p || *p == '#') continue;
      snprintf(desc, sizeof desc, "%s", p);
      at = lineno;
      break;
    }
    fclose(f);
    if (!desc[0]) {
      herr(err, errlen, "topology %s: no synthetic description in the file (only comments)",
           spec);
      goto out_with_topo;
    }
    char what[300];
    snprintf(what, sizeof what, "%.250s:%d: topology", spec, at);
    if (synth_bounded(what, desc, err, errlen)) goto out_with_topo;
    if (hwloc_topology_set_synthetic(t->topo, desc) != 0) {
      herr(err, errlen, "%s:%d: \"%s\" is not a valid hwloc synthetic description", spec, at,
           desc);
      goto out_with_topo;
    }
    snprintf(t->source, sizeof t->source, "%.200s (synthetic \"%.100s\")", spec, desc);
    t->synthetic = 1;
  } else {
    if (topo_file_ok(spec, HW_MAX_XML_BYTES, err, errlen)) goto out_with_topo;
    FILE *f = fopen(spec, "r");
    if (!f) {
      herr(err, errlen, "topology %s: cannot open (%s)", spec, strerror(errno));
      goto out_with_topo;
    }
    fclose(f);
    if (hwloc_topology_set_xml(t->topo, spec) != 0) {
      herr(err, errlen, "topology %s: not a valid lstopo XML topology (hwloc cannot parse it)",
           spec);
      goto out_with_topo;
    }
    snprintf(t->source, sizeof t->source, "XML file %.300s", spec);
  }
  if (hwloc_topology_load(t->topo) != 0) {
    if (spec && spec[0] && !looks_synthetic(spec) && strncmp(spec, "synthetic:", 10) &&
        !strstr(spec, ".synth"))
      herr(err, errlen, "topology %s: not a valid lstopo XML topology (hwloc could not load it)",
           spec);
    else
      herr(err, errlen, "cannot load the topology of %s: %s", t->source, strerror(errno));
    goto out_with_topo;
  }
  if (hwloc_get_nbobjs_by_type(t->topo, HWLOC_OBJ_PU) < 1) {
    herr(err, errlen, "topology of %s has no PUs", t->source);
    goto out_with_topo;
  }
  t->thissystem = hwloc_topology_is_thissystem(t->topo) ? 1 : 0;
  if (t->thissystem && (!spec || !spec[0]) && restrict_to_allowed(t, err, errlen))
    goto out_with_topo;
  return t;
out_with_topo:
  hwloc_topology_destroy(t->topo);
out_with_struct:
  free(t);
  return NULL;
}

void hw_topo_free(hw_topo *t) {
  if (!t) return;
  hwloc_topology_destroy(t->topo);
  free(t);
}

int hw_topo_is_thissystem(const hw_topo *t) { return t->thissystem; }

static int nb(const hw_topo *t, hwloc_obj_type_t ty) {
  int n = hwloc_get_nbobjs_by_type(t->topo, ty);
  return n < 0 ? 0 : n;
}

int hw_n_packages(const hw_topo *t) { return nb(t, HWLOC_OBJ_PACKAGE); }
int hw_n_cores(const hw_topo *t) {
  int n = nb(t, HWLOC_OBJ_CORE);
  return n > 0 ? n : nb(t, HWLOC_OBJ_PU); /* no Core level: each PU is its own core */
}
int hw_n_pus(const hw_topo *t) { return nb(t, HWLOC_OBJ_PU); }

/* The NUMA node a PU belongs to: the first node (logical order) whose cpuset
 * holds it; NULL if none does. */
static hwloc_obj_t pu_node(const hw_topo *t, hwloc_obj_t pu) {
  int n = nb(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < n; i++) {
    hwloc_obj_t nd = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (nd && nd->cpuset && hwloc_bitmap_isset(nd->cpuset, pu->os_index)) return nd;
  }
  return NULL;
}

/* Does some PU belong to node nd (first-covering rule of pu_node)? */
static int node_holds_pus(const hw_topo *t, hwloc_obj_t nd) {
  int n = nb(t, HWLOC_OBJ_PU);
  for (int i = 0; i < n; i++) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_PU, (unsigned)i);
    if (pu_node(t, pu) == nd) return 1;
  }
  return 0;
}

int hw_n_numa(const hw_topo *t) {
  int n = nb(t, HWLOC_OBJ_NUMANODE), k = 0;
  for (int i = 0; i < n; i++)
    if (node_holds_pus(t, hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)i))) k++;
  return k;
}

static hwloc_obj_t pu_core(const hw_topo *t, hwloc_obj_t pu) {
  return hwloc_get_ancestor_obj_by_type(t->topo, HWLOC_OBJ_CORE, pu);
}

/* ------------------------------------------------------------ summary --- */

typedef struct {
  char *buf;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->buf && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
    char *nb2 = realloc(b->buf, cap);
    if (!nb2) {
      b->oom = 1;
      return;
    }
    b->buf = nb2;
    b->cap = cap;
  }
}

static char *sb_done(sbuf *b) {
  if (b->oom || !b->buf) {
    free(b->buf);
    return NULL;
  }
  return b->buf;
}

static void size_str(char *out, size_t cap, unsigned long long bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0)
    snprintf(out, cap, "%llu GiB", bytes >> 30);
  else if (bytes >= (1ull << 20))
    snprintf(out, cap, "%llu MiB", bytes >> 20);
  else
    snprintf(out, cap, "%llu KiB", bytes >> 10);
}

char *hw_topo_summary(const hw_topo *t) {
  sbuf b = {0};
  sb_add(&b, "topology: %s%s\n", t->source,
         t->thissystem ? "" : " (planning only: threads are not bound against it)");
  sb_add(&b, "packages %d, NUMA nodes %d, cores %d, PUs %d\n", hw_n_packages(t), hw_n_numa(t),
         hw_n_cores(t), hw_n_pus(t));
  int n_nodes = nb(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < n_nodes; i++) {
    hwloc_obj_t nd = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (!node_holds_pus(t, nd)) continue;
    hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(t->topo, HWLOC_OBJ_PACKAGE, nd);
    int c_lo = -1, c_hi = -1, n_c = 0, n_p = 0;
    hwloc_bitmap_t pus = hwloc_bitmap_alloc();
    if (!pus) {
      b.oom = 1;
      break;
    }
    int np = nb(t, HWLOC_OBJ_PU);
    for (int k = 0; k < np; k++) {
      hwloc_obj_t pu = hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_PU, (unsigned)k);
      if (pu_node(t, pu) != nd) continue;
      n_p++;
      hwloc_bitmap_set(pus, pu->os_index);
      hwloc_obj_t c = pu_core(t, pu);
      int ci = c ? (int)c->logical_index : (int)pu->logical_index;
      if (c && c->first_child != pu && c->first_child) continue; /* count each core once */
      n_c++;
      if (c_lo < 0 || ci < c_lo) c_lo = ci;
      if (ci > c_hi) c_hi = ci;
    }
    char *list = NULL;
    if (hwloc_bitmap_list_asprintf(&list, pus) < 0) list = NULL;
    char mem[32] = "";
    if (!t->synthetic && nd->attr && nd->attr->numanode.local_memory)
      size_str(mem, sizeof mem, (unsigned long long)nd->attr->numanode.local_memory);
    sb_add(&b, "  NUMA node %d (P#%u%s%s): package %s%d, %d cores (L#%d-%d), %d PUs (P#%s)\n", i,
           nd->os_index, mem[0] ? ", " : "", mem, pk ? "" : "none ",
           pk ? (int)pk->logical_index : -1, n_c, c_lo, c_hi, n_p, list ? list : "?");
    free(list);
    hwloc_bitmap_free(pus);
  }
  static const struct {
    hwloc_obj_type_t ty;
    const char *name;
  } caches[] = {{HWLOC_OBJ_L5CACHE, "L5"}, {HWLOC_OBJ_L4CACHE, "L4"}, {HWLOC_OBJ_L3CACHE, "L3"},
                {HWLOC_OBJ_L2CACHE, "L2"}, {HWLOC_OBJ_L1CACHE, "L1d"}, {HWLOC_OBJ_L1ICACHE, "L1i"}};
  int any = 0;
  for (size_t k = 0; k < sizeof caches / sizeof caches[0]; k++) {
    int n = nb(t, caches[k].ty);
    if (n < 1) continue;
    hwloc_obj_t c = hwloc_get_obj_by_type(t->topo, caches[k].ty, 0);
    char sz[32] = "?";
    if (c->attr && c->attr->cache.size) size_str(sz, sizeof sz, c->attr->cache.size);
    sb_add(&b, "%s%s %d x %s", any ? ", " : "caches: ", caches[k].name, n, sz);
    any = 1;
  }
  sb_add(&b, "%s\n", any ? "" : "caches: none described");
  return sb_done(&b);
}

char *hw_topo_xml(const hw_topo *t) {
  char *xml = NULL;
  int len = 0;
  if (hwloc_topology_export_xmlbuffer(t->topo, &xml, &len, 0) != 0 || !xml) return NULL;
  char *copy = malloc((size_t)len + 1);
  if (copy) {
    memcpy(copy, xml, (size_t)len);
    copy[len] = '\0';
  }
  hwloc_free_xmlbuffer(t->topo, xml);
  return copy;
}

static char version_buf[32];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;
/* The release (2.9.0) is only known to a loaded topology, as the root's
 * "hwlocVersion" info; hwloc_get_api_version() gives the API (2.8.0 for 2.9). */
static void version_init(void) {
  unsigned v = hwloc_get_api_version();
  snprintf(version_buf, sizeof version_buf, "hwloc API %u.%u.%u", v >> 16, (v >> 8) & 0xff,
           v & 0xff);
  hwloc_topology_t t;
  if (hwloc_topology_init(&t) != 0) return;
  if (hwloc_topology_set_synthetic(t, "pu:1") == 0 && hwloc_topology_load(t) == 0) {
    const char *r = hwloc_obj_get_info_by_name(hwloc_get_root_obj(t), "hwlocVersion");
    if (r) snprintf(version_buf, sizeof version_buf, "hwloc %.20s", r);
  }
  hwloc_topology_destroy(t);
}

const char *hw_version(void) {
  if (pthread_once(&version_once, version_init) != 0) return "hwloc ?";
  return version_buf;
}

/* ------------------------------------------------------------ planning --- */

/* One usable PU with what placement needs to know about it. */
typedef struct {
  hwloc_obj_t pu;
  int core;    /* logical core index (the PU's own index when there is no Core level) */
  int rank;    /* position of the PU inside its core: 0 first, 1 its hyperthread, ... */
  int node;    /* dense index into the list of nodes holding PUs */
  int node_logical;
  int package; /* logical, -1 if none */
} cand;

static void fill_cand(const hw_topo *t, hwloc_obj_t pu, cand *c, hwloc_obj_t *nodes, int n_nodes) {
  c->pu = pu;
  hwloc_obj_t co = pu_core(t, pu);
  c->core = co ? (int)co->logical_index : (int)pu->logical_index;
  c->rank = 0;
  if (co) {
    hwloc_obj_t x = NULL;
    while ((x = hwloc_get_next_obj_inside_cpuset_by_type(t->topo, co->cpuset, HWLOC_OBJ_PU, x)) &&
           x != pu)
      c->rank++;
  }
  hwloc_obj_t nd = pu_node(t, pu);
  c->node = 0;
  c->node_logical = nd ? (int)nd->logical_index : -1;
  for (int i = 0; i < n_nodes; i++)
    if (nodes[i] == nd) c->node = i;
  hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(t->topo, HWLOC_OBJ_PACKAGE, pu);
  c->package = pk ? (int)pk->logical_index : -1;
}

/* uma order: rank, then node, then core (one PU per core on node 0, node 1,
 * ..., then the hyperthreads in the same order). */
static int cmp_uma(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->rank != y->rank) return x->rank - y->rank;
  if (x->node != y->node) return x->node - y->node;
  if (x->core != y->core) return x->core - y->core;
  return (int)x->pu->logical_index - (int)y->pu->logical_index;
}

static void set_note(hw_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_note(hw_plan *p, const char *fmt, ...) {
  size_t len = strlen(p->note);
  if (len + 3 >= sizeof p->note) return;
  if (len) {
    memcpy(p->note + len, "; ", 3);
    len += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->note + len, sizeof p->note - len, fmt, ap);
  va_end(ap);
}

/* Parses "list:3,5,7" into OS indexes (caller frees *out). */
static int parse_list(const char *s, int **out, int *n, char *err, size_t errlen) {
  const char *p = s + 5;
  int cap = 8;
  *n = 0;
  *out = NULL;
  if (!*p) return herr(err, errlen, "placement '%s' names no PUs", s);
  int *v = malloc((size_t)cap * sizeof *v);
  if (!v) return herr(err, errlen, "out of memory");
  while (*p) {
    char *end;
    errno = 0;
    long x = strtol(p, &end, 10);
    if (end == p || errno || x < 0 || x > 1 << 20 || (*end && *end != ',') ||
        (*end == ',' && !end[1])) {
      free(v);
      return herr(err, errlen, "placement '%s': not a comma-separated list of PU numbers", s);
    }
    for (int i = 0; i < *n; i++)
      if (v[i] == x) {
        free(v);
        return herr(err, errlen, "placement '%s' names PU %ld twice", s, x);
      }
    if (*n == cap) {
      int *w = realloc(v, (size_t)cap * 2 * sizeof *v);
      if (!w) {
        free(v);
        return herr(err, errlen, "out of memory");
      }
      v = w;
      cap *= 2;
    }
    v[(*n)++] = (int)x;
    p = *end ? end + 1 : end;
  }
  *out = v;
  return 0;
}

/* One planning: the inputs, the usable PUs and the order the policy puts
 * them in; workers then take the order round-robin. */
typedef struct {
  const hw_topo *t;
  const char *placement; /* as written: "numa:2", "list:0,2", ... */
  int want_k;            /* numa:K: K; 0 for all nodes */
  int nearest;           /* HW_PLAN_NEAREST */
  hwloc_obj_t *nodes;    /* the NUMA nodes holding PUs, n_nodes of them */
  int n_nodes;
  cand *cs; /* the usable PUs, by logical index */
  int n_c;
  cand *order; /* the policy's order of PUs (n_order <= n_c) */
  int n_order;
  hw_plan *out;
  char *err;
  size_t errlen;
} plan_ctx;

/* A placement policy: fills c->order from c->cs. 0, or -1 with c->err. */
typedef int (*plan_order_fn)(plan_ctx *c);

/* uma: one PU per core on node 0, node 1, ..., then the hyperthreads. */
static int order_uma(plan_ctx *c) {
  memcpy(c->order, c->cs, (size_t)c->n_c * sizeof *c->cs);
  c->n_order = c->n_c;
  qsort(c->order, (size_t)c->n_order, sizeof *c->order, cmp_uma);
  return 0;
}

/* numa / numa:K: the uma order dealt round-robin over the first K nodes
 * (all with plain numa). Too few nodes: an error, or with HW_PLAN_NEAREST
 * all nodes (uma with one node) and a note. */
static int order_numa(plan_ctx *c) {
  order_uma(c);
  int k = c->want_k ? c->want_k : c->n_nodes;
  if (k > c->n_nodes || c->n_nodes < 2) {
    if (!c->nearest) {
      if (c->n_nodes < 2)
        return herr(c->err, c->errlen,
                    "placement '%s' needs at least 2 NUMA nodes; %s has %d (a synthetic "
                    "description needs a numa level, e.g. \"pack:2 numa:1 core:8 pu:2\"; or run "
                    "it as the nearest equivalent, uma)",
                    c->placement, c->t->source, c->n_nodes);
      return herr(c->err, c->errlen, "placement '%s' asks for %d NUMA nodes; %s has %d",
                  c->placement, k, c->t->source, c->n_nodes);
    }
    c->out->exact = 0;
    if (c->n_nodes < 2) {
      snprintf(c->out->policy, sizeof c->out->policy, "uma");
      set_note(c->out, "'%s' ran as uma: the topology has %d NUMA node", c->placement,
               c->n_nodes);
    } else {
      set_note(c->out, "'%s' ran over all %d NUMA nodes", c->placement, c->n_nodes);
    }
    k = c->n_nodes;
  }
  if (k < 2) return 0;
  /* Round-robin over the first k nodes, one rank (PU per core) at a time:
   * within a rank, the i-th PU taken goes to node i mod k while that node
   * has PUs of that rank left. */
  cand *order = c->order;
  int n_order = c->n_order;
  cand *rr = calloc((size_t)n_order, sizeof *rr);
  int *next = calloc((size_t)k, sizeof *next);
  if (!rr || !next) {
    free(rr);
    free(next);
    return herr(c->err, c->errlen, "out of memory for placement");
  }
  int n_rr = 0;
  for (int lo = 0; lo < n_order;) {
    int hi = lo;
    while (hi < n_order && order[hi].rank == order[lo].rank) hi++;
    /* order[lo..hi) is one rank, sorted by node then core */
    for (int j = 0; j < k; j++) {
      next[j] = lo;
      while (next[j] < hi && order[next[j]].node != j) next[j]++;
    }
    for (int more = 1; more;) {
      more = 0;
      for (int j = 0; j < k; j++) {
        if (next[j] >= hi || order[next[j]].node != j) continue;
        rr[n_rr++] = order[next[j]++];
        more = 1;
      }
    }
    lo = hi;
  }
  memcpy(order, rr, (size_t)n_rr * sizeof *rr);
  c->n_order = n_rr;
  free(rr);
  free(next);
  return 0;
}

/* list:P,P,..: the named PUs (OS indexes) in the order given. A PU not in
 * the topology: an error, or with HW_PLAN_NEAREST left out with a note. */
static int order_list(plan_ctx *c) {
  int *list = NULL, n_list = 0, rc = -1;
  if (parse_list(c->placement, &list, &n_list, c->err, c->errlen)) return -1;
  c->n_order = 0;
  for (int i = 0; i < n_list; i++) {
    int found = -1;
    for (int k = 0; k < c->n_c; k++)
      if ((int)c->cs[k].pu->os_index == list[i]) found = k;
    if (found < 0) {
      if (!c->nearest) {
        herr(c->err, c->errlen, "placement '%s': PU P#%d is not in the topology (%d PUs: %s)",
             c->placement, list[i], hw_n_pus(c->t), c->t->source);
        goto out;
      }
      c->out->exact = 0;
      set_note(c->out, "PU P#%d does not exist, left out", list[i]);
      continue;
    }
    c->order[c->n_order++] = c->cs[found];
  }
  if (c->n_order == 0) {
    herr(c->err, c->errlen, "placement '%s': none of its PUs is in the topology", c->placement);
    goto out;
  }
  rc = 0;
out:
  free(list);
  return rc;
}

/* The placement policies, by the name written in a placement. An entry
 * with has_arg matches "name:ARG" (name holds the colon); order NULL is
 * "os" (no binding: the OS schedules). shown: its form in the list of
 * known placements (NULL: not listed). */
static const struct {
  const char *name;
  const char *policy; /* hw_plan.policy */
  int has_arg;
  int names_pus; /* the placement names its PUs: keep_core_free does not apply */
  plan_order_fn order;
  const char *shown;
} placements[] = {
    {"os", "os", 0, 0, NULL, "os"},
    {"uma", "uma", 0, 0, order_uma, "uma"},
    {"compact", "uma", 0, 0, order_uma, "compact"},
    {"numa", "numa", 0, 0, order_numa, "numa"},
    {"spread", "numa", 0, 0, order_numa, "spread"},
    {"numa:", "numa", 1, 0, order_numa, "numa:K"},
    {"spread:", "numa", 1, 0, order_numa, NULL},
    {"list:", "list", 1, 1, order_list, "list:P,P,.."},
};
#define N_PLACEMENTS ((int)(sizeof placements / sizeof placements[0]))

/* The entry of placement, with numa:K's K in *want_k; -1 (err) if none. */
static int find_placement(const char *placement, int *want_k, char *err, size_t errlen) {
  *want_k = 0;
  for (int i = 0; i < N_PLACEMENTS; i++) {
    const char *name = placements[i].name;
    if (!placements[i].has_arg ? strcmp(placement, name) != 0
                               : strncmp(placement, name, strlen(name)) != 0)
      continue;
    if (placements[i].has_arg && placements[i].order == order_numa) {
      const char *a = placement + strlen(name);
      char *end;
      errno = 0;
      long k = strtol(a, &end, 10);
      if (end == a || *end || errno || k < 2 || k > 4096)
        return herr(err, errlen,
                    "placement '%s': K in numa:K must be a number of NUMA nodes >= 2", placement);
      *want_k = (int)k;
    }
    return i;
  }
  char known[160] = "";
  size_t len = 0;
  for (int i = 0; i < N_PLACEMENTS; i++)
    if (placements[i].shown && len < sizeof known)
      len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "",
                              placements[i].shown);
  return herr(err, errlen, "unknown placement '%s' (known: %s)", placement, known);
}

/* The NUMA nodes that hold PUs (memory-only nodes cannot take a worker). */
static void collect_nodes(plan_ctx *c) {
  const int n_all = nb(c->t, HWLOC_OBJ_NUMANODE);
  c->n_nodes = 0;
  for (int i = 0; i < n_all; i++) {
    hwloc_obj_t nd = hwloc_get_obj_by_type(c->t->topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (node_holds_pus(c->t, nd)) c->nodes[c->n_nodes++] = nd;
  }
}

/* The usable PUs: all, minus the last core's with keep_core_free (which a
 * placement naming its PUs ignores). */
static int collect_pus(plan_ctx *c, int flags, int names_pus) {
  const hw_topo *t = c->t;
  int skip_core = -1;
  if (flags & HW_PLAN_KEEP_CORE_FREE) {
    if (names_pus) {
      set_note(c->out, "keep_core_free ignored: list: names its PUs explicitly");
    } else if (hw_n_cores(t) < 2) {
      if (!c->nearest)
        return herr(c->err, c->errlen,
                    "keep_core_free: the topology has only %d core, none would be left for the "
                    "workers",
                    hw_n_cores(t));
      c->out->exact = 0;
      set_note(c->out, "keep_core_free not honored: only 1 core");
    } else {
      skip_core = hw_n_cores(t) - 1;
    }
  }
  c->n_c = 0;
  for (int i = 0; i < hw_n_pus(t); i++) {
    cand pc;
    fill_cand(t, hwloc_get_obj_by_type(t->topo, HWLOC_OBJ_PU, (unsigned)i), &pc, c->nodes,
              c->n_nodes);
    if (pc.core == skip_core) continue;
    c->cs[c->n_c++] = pc;
  }
  if (skip_core >= 0) set_note(c->out, "core L#%d kept free", skip_core);
  return 0;
}

/* Worker i takes the (i mod n_order)-th PU of the order; shared counts the
 * workers on each PU, and a note says how an oversubscription is spread. */
static void assign_slots(const plan_ctx *c) {
  hw_plan *out = c->out;
  const int m = out->n, n_order = c->n_order;
  for (int i = 0; i < m; i++) {
    const cand *pc = &c->order[i % n_order];
    hw_slot *s = &out->slots[i];
    s->worker = i;
    s->pu_os = (int)pc->pu->os_index;
    s->pu_logical = (int)pc->pu->logical_index;
    s->core = pc->core;
    s->node = pc->node_logical;
    s->package = pc->package;
  }
  for (int i = 0; i < m; i++) {
    int sh = 0;
    for (int j = 0; j < m; j++) sh += out->slots[j].pu_os == out->slots[i].pu_os;
    out->slots[i].shared = sh;
  }
  if (m > n_order) {
    int lo = m / n_order, hi = (m + n_order - 1) / n_order;
    if (lo == hi)
      set_note(out, "oversubscribed: %d workers on %d PUs, %d per PU", m, n_order, lo);
    else
      set_note(out, "oversubscribed: %d workers on %d PUs, %d or %d per PU (%d per PU on the "
                    "first %d in placement order)",
               m, n_order, lo, hi, hi, m % n_order);
  }
}

/* "os": no PU per worker, the OS schedules the threads. */
static void plan_unbound(hw_plan *out, int flags) {
  for (int i = 0; i < out->n; i++) out->slots[i] = (hw_slot){i, -1, -1, -1, -1, -1, 0};
  if (flags & HW_PLAN_KEEP_CORE_FREE)
    set_note(out, "keep_core_free has no effect without binding (placement os)");
}

int hw_plan_make(const hw_topo *t, const char *placement, int m, int flags, hw_plan *out,
                 char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->exact = 1;
  if (m < 1) return herr(err, errlen, "placement needs at least one thread, not %d", m);
  if (!placement || !placement[0]) placement = "os";
  plan_ctx c = {.t = t, .placement = placement, .nearest = (flags & HW_PLAN_NEAREST) != 0,
                .out = out, .err = err, .errlen = errlen};
  int pi = find_placement(placement, &c.want_k, err, errlen);
  if (pi < 0) return -1;
  snprintf(out->policy, sizeof out->policy, "%s", placements[pi].policy);
  out->n = m;
  out->slots = calloc((size_t)m, sizeof *out->slots);
  if (!out->slots) return herr(err, errlen, "out of memory for %d placement slots", m);
  if (!placements[pi].order) {
    plan_unbound(out, flags);
    return 0;
  }

  int rc = -1;
  const int n_pu = hw_n_pus(t), n_all_nodes = nb(t, HWLOC_OBJ_NUMANODE);
  c.nodes = calloc((size_t)(n_all_nodes > 0 ? n_all_nodes : 1), sizeof *c.nodes);
  c.cs = calloc((size_t)n_pu, sizeof *c.cs);
  c.order = calloc((size_t)n_pu, sizeof *c.order);
  if (!c.nodes || !c.cs || !c.order) {
    herr(err, errlen, "out of memory for placement");
    goto out_with_arrays;
  }
  collect_nodes(&c);
  if (collect_pus(&c, flags, placements[pi].names_pus)) goto out_with_arrays;
  if (placements[pi].order(&c)) goto out_with_arrays;
  assign_slots(&c);
  rc = 0;
out_with_arrays:
  free(c.order);
  free(c.cs);
  free(c.nodes);
  if (rc) hw_plan_free(out);
  return rc;
}

void hw_plan_free(hw_plan *p) {
  if (!p) return;
  free(p->slots);
  p->slots = NULL;
  p->n = 0;
}

char *hw_plan_table(const hw_plan *p) {
  sbuf b = {0};
  sb_add(&b, "placement %s, %d worker%s%s%s%s\n", p->policy, p->n, p->n == 1 ? "" : "s",
         p->exact ? "" : " (nearest equivalent)", p->note[0] ? ": " : "", p->note);
  sb_add(&b, "%6s %6s %10s %5s %5s %8s %7s\n", "worker", "pu_os", "pu_logical", "core", "node",
         "package", "shared");
  for (int i = 0; i < p->n; i++) {
    const hw_slot *s = &p->slots[i];
    if (s->pu_os < 0)
      sb_add(&b, "%6d %6s %10s %5s %5s %8s %7s\n", s->worker, "-", "-", "-", "-", "-", "-");
    else
      sb_add(&b, "%6d %6d %10d %5d %5d %8d %7d\n", s->worker, s->pu_os, s->pu_logical, s->core,
             s->node, s->package, s->shared);
  }
  return sb_done(&b);
}

/* ------------------------------------------------------------ binding --- */

int hw_bind_self(const hw_topo *t, const hw_plan *p, int worker, int *bound, char *err,
                 size_t errlen) {
  *bound = 0;
  if (worker < 0 || worker >= p->n)
    return herr(err, errlen, "worker %d has no slot in a plan of %d", worker, p->n);
  const hw_slot *s = &p->slots[worker];
  if (s->pu_os < 0 || !t->thissystem) return 0;
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t->topo, (unsigned)s->pu_os);
  if (!pu) return herr(err, errlen, "PU P#%d is not in this machine's topology", s->pu_os);
  int rc = -1;
  hwloc_bitmap_t want = hwloc_bitmap_dup(pu->cpuset), got = hwloc_bitmap_alloc();
  if (!want || !got) {
    herr(err, errlen, "out of memory for a cpuset");
    goto out_with_sets;
  }
  hwloc_bitmap_singlify(want);
  if (hwloc_set_cpubind(t->topo, want, HWLOC_CPUBIND_THREAD) != 0) {
    herr(err, errlen, "hwloc_set_cpubind to PU P#%d failed: %s", s->pu_os, strerror(errno));
    goto out_with_sets;
  }
  if (hwloc_get_cpubind(t->topo, got, HWLOC_CPUBIND_THREAD) != 0) {
    herr(err, errlen, "hwloc_get_cpubind after binding to PU P#%d failed: %s", s->pu_os,
         strerror(errno));
    goto out_with_sets;
  }
  if (!hwloc_bitmap_isequal(want, got)) {
    char *g = NULL;
    if (hwloc_bitmap_list_asprintf(&g, got) < 0) g = NULL;
    herr(err, errlen, "bound to PU P#%d but the thread's binding reads back as P#%s", s->pu_os,
         g ? g : "?");
    free(g);
    goto out_with_sets;
  }
  /* The kernel migrates the calling thread before sched_setaffinity returns;
   * a few yields cover a migration that is still pending. */
  int where = -1;
  for (int tries = 0; tries < 100; tries++) {
    if (hwloc_get_last_cpu_location(t->topo, got, HWLOC_CPUBIND_THREAD) != 0) {
      herr(err, errlen, "hwloc_get_last_cpu_location failed: %s", strerror(errno));
      goto out_with_sets;
    }
    where = hwloc_bitmap_first(got);
    if (hwloc_bitmap_isincluded(got, want)) break;
    where = -1 - where;
    sched_yield();
  }
  if (where < 0) {
    herr(err, errlen, "bound to PU P#%d but the thread still runs on P#%d", s->pu_os, -1 - where);
    goto out_with_sets;
  }
  /* first touch of this worker's buffers on its own node, not on the node
   * whose policy it may have inherited from its creator */
  if (nb(t, HWLOC_OBJ_NUMANODE) > 1) {
    hwloc_obj_t nd = pu_node(t, pu);
    if (nd && hwloc_set_membind(t->topo, nd->nodeset, HWLOC_MEMBIND_BIND,
                                HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0) {
      herr(err, errlen, "binding worker %d's memory to NUMA node P#%u failed: %s", worker,
           nd->os_index, strerror(errno));
      goto out_with_sets;
    }
  }
  *bound = 1;
  rc = 0;
out_with_sets:
  hwloc_bitmap_free(want);
  hwloc_bitmap_free(got);
  return rc;
}

/* The nodeset of slot 0's node, or (interleave) of every node the plan uses. */
static int plan_nodeset(const hw_topo *t, const hw_plan *p, int interleave, hwloc_nodeset_t ns) {
  hwloc_bitmap_zero(ns);
  for (int i = 0; i < (interleave ? p->n : 1); i++) {
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t->topo, (unsigned)p->slots[i].pu_os);
    hwloc_obj_t nd = pu ? pu_node(t, pu) : NULL;
    if (nd) hwloc_bitmap_or(ns, ns, nd->nodeset);
  }
  return hwloc_bitmap_iszero(ns) ? -1 : 0;
}

int hw_bind_memory(const hw_topo *t, const hw_plan *p, void *addr, size_t len, int interleave,
                   char *err, size_t errlen) {
  if (!t->thissystem || p->n < 1 || p->slots[0].pu_os < 0 || len == 0) return 0;
  hwloc_nodeset_t ns = hwloc_bitmap_alloc();
  if (!ns) return herr(err, errlen, "out of memory for a nodeset");
  int rc = -1;
  if (plan_nodeset(t, p, interleave, ns)) {
    herr(err, errlen, "the plan's PUs belong to no NUMA node");
  } else if (hwloc_set_area_membind(t->topo, addr, len, ns,
                                    interleave ? HWLOC_MEMBIND_INTERLEAVE : HWLOC_MEMBIND_BIND,
                                    HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_MIGRATE) != 0) {
    herr(err, errlen, "binding %zu bytes of memory %s failed: %s", len,
         interleave ? "interleaved" : "to slot 0's NUMA node", strerror(errno));
  } else {
    rc = 0;
  }
  hwloc_bitmap_free(ns);
  return rc;
}

int hw_membind_shared(const hw_topo *t, const hw_plan *p, int interleave, char *desc,
                      size_t desclen, char *err, size_t errlen) {
  if (p->n < 1 || p->slots[0].pu_os < 0) {
    snprintf(desc, desclen, "shared state not bound (placement os: first touch)");
    return 0;
  }
  if (!t->thissystem) {
    snprintf(desc, desclen, "shared state not bound (planning topology, not this machine)");
    return 0;
  }
  if (nb(t, HWLOC_OBJ_NUMANODE) < 2) {
    snprintf(desc, desclen, "shared state on the only NUMA node (nothing to bind)");
    return 0;
  }
  hwloc_nodeset_t ns = hwloc_bitmap_alloc();
  if (!ns) return herr(err, errlen, "out of memory for a nodeset");
  int rc = -1;
  char *list = NULL;
  if (plan_nodeset(t, p, interleave, ns)) {
    herr(err, errlen, "the plan's PUs belong to no NUMA node");
  } else if (hwloc_set_membind(t->topo, ns,
                               interleave ? HWLOC_MEMBIND_INTERLEAVE : HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0) {
    herr(err, errlen, "binding the shared state's memory %s failed: %s",
         interleave ? "interleaved" : "to worker 0's NUMA node", strerror(errno));
  } else {
    if (hwloc_bitmap_list_asprintf(&list, ns) < 0) list = NULL;
    snprintf(desc, desclen, "shared state %s NUMA node%s P#%s", interleave ? "interleaved over" : "bound to",
             hwloc_bitmap_weight(ns) > 1 ? "s" : "", list ? list : "?");
    rc = 0;
  }
  free(list);
  hwloc_bitmap_free(ns);
  return rc;
}

int hw_membind_default(const hw_topo *t, char *err, size_t errlen) {
  if (!t->thissystem || nb(t, HWLOC_OBJ_NUMANODE) < 2) return 0;
  hwloc_const_nodeset_t all = hwloc_topology_get_topology_nodeset(t->topo);
  if (hwloc_set_membind(t->topo, all, HWLOC_MEMBIND_FIRSTTOUCH,
                        HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0)
    return herr(err, errlen, "resetting the memory policy failed: %s", strerror(errno));
  return 0;
}

int hw_current_pu(void) { return sched_getcpu(); }

int hw_pu_locate(const hw_topo *t, int pu_os, int *core, int *node, int *package) {
  *core = *node = *package = -1;
  if (pu_os < 0) return -1;
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t->topo, (unsigned)pu_os);
  if (!pu) return -1;
  hwloc_obj_t co = pu_core(t, pu);
  *core = co ? (int)co->logical_index : (int)pu->logical_index;
  hwloc_obj_t nd = pu_node(t, pu);
  *node = nd ? (int)nd->logical_index : -1;
  hwloc_obj_t pk = hwloc_get_ancestor_obj_by_type(t->topo, HWLOC_OBJ_PACKAGE, pu);
  *package = pk ? (int)pk->logical_index : -1;
  return 0;
}
