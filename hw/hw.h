/* hw.h - hardware topology and thread placement on hwloc.
 *
 * Loads a topology (this machine, a synthetic description, or an lstopo XML
 * file), computes where m worker threads go under a placement policy, binds
 * threads and memory, and describes all of it for the run record.
 * hw/ does not include core/: it is usable on its own.
 *
 * Placements (worker i takes the i-th PU of the policy's order):
 *   "os"                no binding; the OS scheduler decides.
 *   "uma" / "compact"   one PU per core first: node 0's cores, then node 1's,
 *                       ...; then the second PUs (hyperthreads) in the same
 *                       order. With m <= cores of node 0 every worker is on
 *                       node 0 (thesis Sec. 3.2: UMA = one socket).
 *   "numa" / "spread"   one PU per core first, round-robin across the NUMA
 *                       nodes (worker 0 on node 0, worker 1 on node 1, ...):
 *                       7 workers on 2 nodes split 4+3, 8 split 4+4.
 *   "numa:K"            the same over the first K nodes only (K >= 2).
 *   "list:3,5,7"        explicit OS PU indexes, in worker order.
 * m larger than the PUs of the order wraps around (oversubscription); each
 * slot says how many workers share its PU and the plan's note says so.
 * A NUMA node here is one that holds at least one PU; a PU covered by several
 * nodes (e.g. DRAM + HBM) belongs to the first.
 *
 * An impossible placement (numa with one node, numa:K with fewer than K
 * nodes, a PU the topology lacks, keep_core_free on one core) fails, or, with
 * HW_PLAN_NEAREST, runs as the nearest equivalent with exact = 0 and a note.
 *
 * Binding happens only on the real machine (hwloc_topology_is_thissystem);
 * against a synthetic/XML topology it is planned but not performed and each
 * slot records bound = 0. Return contract: 0 success, -1 failure with one
 * line in err. */
#ifndef PSGD_HW_H
#define PSGD_HW_H

#include <stddef.h>

typedef struct hw_topo hw_topo;

/* spec: NULL or "" = this machine; "synthetic:pack:2 numa:1 core:8 pu:2" (or
 * any string containing ':' and no '/' that hwloc accepts as synthetic); a
 * path ending in ".synth" (a file: '#' comment lines, then one synthetic
 * description, e.g. hw/machines/); otherwise a path to an lstopo XML file. */
hw_topo *hw_topo_load(const char *spec, char *err, size_t errlen);
void hw_topo_free(hw_topo *t);

int hw_topo_is_thissystem(const hw_topo *t);
int hw_n_packages(const hw_topo *t);
int hw_n_numa(const hw_topo *t); /* NUMA nodes holding PUs */
int hw_n_cores(const hw_topo *t);
int hw_n_pus(const hw_topo *t);

/* Multi-line human summary (source, packages, NUMA nodes, cores, PUs, caches)
 * into a malloc'd string; NULL when out of memory. */
char *hw_topo_summary(const hw_topo *t);
/* Topology exported as XML (malloc'd string), NULL on failure. */
char *hw_topo_xml(const hw_topo *t);
/* "hwloc 2.9.0" (the library the binary runs with) */
const char *hw_version(void);

typedef struct {
  int worker;
  int pu_os, pu_logical;   /* -1 for "os" placement */
  int core;                /* logical core index, -1 if unbound */
  int node;                /* logical NUMA node index, -1 if unbound */
  int package;             /* logical package index, -1 if unbound or none */
  int shared;              /* number of workers on this PU (1 = exclusive) */
} hw_slot;

typedef struct {
  char policy[32];         /* normalized: os | uma | numa | list */
  int n;                   /* number of slots = m */
  hw_slot *slots;          /* malloc'd */
  int exact;               /* 0 if run as the nearest equivalent (see note) */
  char note[256];          /* oversubscription / fallback explanation, "" if none */
} hw_plan;

enum {
  HW_PLAN_KEEP_CORE_FREE = 1, /* leave the last core for evaluator/recorder */
  HW_PLAN_NEAREST = 2,        /* impossible placement: fall back and say so instead of failing */
};

int hw_plan_make(const hw_topo *t, const char *placement, int m, int flags, hw_plan *out,
                 char *err, size_t errlen);
void hw_plan_free(hw_plan *p); /* frees the slots; the struct itself is the caller's */

/* Writes the worker -> PU/core/node/package table of a plan (one line per
 * worker, with a header) into a malloc'd string; NULL when out of memory. */
char *hw_plan_table(const hw_plan *p);

/* Binds the calling thread to the PU of slot `worker` (a single PU, so it
 * cannot wander inside a core), and its future memory allocations to that
 * slot's NUMA node. No-op success with *bound = 0 for "os" or a non-system
 * topology. With real binding, checks that the binding took (hwloc_get_cpubind
 * equals the PU) and that the thread runs there (hwloc_get_last_cpu_location),
 * then sets *bound = 1. Call it before the thread touches its buffers. */
int hw_bind_self(const hw_topo *t, const hw_plan *p, int worker, int *bound, char *err,
                 size_t errlen);

/* Binds memory [addr, addr+len) to the NUMA node of slot 0 (interleave != 0:
 * across all nodes used by the plan), migrating pages already touched.
 * No-op success when not this system or for "os". */
int hw_bind_memory(const hw_topo *t, const hw_plan *p, void *addr, size_t len, int interleave,
                   char *err, size_t errlen);

/* Memory policy of the calling thread for the shared state it is about to
 * allocate and first-touch (theta, counters, momentum): the NUMA node of slot
 * 0, or interleaved over every node the plan uses. Writes what it did into
 * desc (one line, for the run record). No-op success (desc says why) for
 * "os", a non-system topology, or a single NUMA node. Undo with
 * hw_membind_default. */
int hw_membind_shared(const hw_topo *t, const hw_plan *p, int interleave, char *desc,
                      size_t desclen, char *err, size_t errlen);
/* The calling thread's memory policy back to the default (local first touch). */
int hw_membind_default(const hw_topo *t, char *err, size_t errlen);

/* OS index of the PU the calling thread runs on now, -1 if unknown. */
int hw_current_pu(void);

/* Where OS PU pu_os is in topology t: logical core (the PU's own index
 * without a Core level), NUMA node and package (-1 if none). 0, or -1 with
 * all three -1 when t has no such PU. Only meaningful for a PU of the
 * machine t describes (hw_topo_is_thissystem), or a PU of a plan on t. */
int hw_pu_locate(const hw_topo *t, int pu_os, int *core, int *node, int *package);

#endif
