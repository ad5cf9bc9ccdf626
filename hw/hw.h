/* hw.h - hardware topology and thread placement on hwloc.
 *
 * Loads a topology (this machine, a synthetic description, or an lstopo XML
 * file), computes where m worker threads go under a placement policy, binds
 * threads and memory, and describes all of it for the run record.
 * hw/ does not include core/: it is usable on its own.
 *
 * Placements: "os" (no binding), "uma"/"compact" (fill one NUMA node's cores,
 * one PU per core first, then hyperthreads, then the next node), "numa"/
 * "spread" (round-robin across NUMA nodes), "list:3,5,7" (explicit OS PU
 * indexes). m larger than the PUs wraps around (oversubscription) and the plan
 * says how PUs are shared.
 *
 * Binding happens only on the real machine (hwloc_topology_is_thissystem);
 * against a synthetic/XML topology it is planned but not performed and each
 * slot records bound = 0. Return contract: 0 success, -1 failure with err. */
#ifndef PSGD_HW_H
#define PSGD_HW_H

#include <stddef.h>

typedef struct hw_topo hw_topo;

/* spec: NULL or "" = this machine; "synthetic:pack:2 numa:1 core:8 pu:2" (or
 * any string containing ':' and no '/' that hwloc accepts as synthetic);
 * otherwise a path to an lstopo XML file. */
hw_topo *hw_topo_load(const char *spec, char *err, size_t errlen);
void hw_topo_free(hw_topo *t);

int hw_topo_is_thissystem(const hw_topo *t);
int hw_n_packages(const hw_topo *t);
int hw_n_numa(const hw_topo *t);
int hw_n_cores(const hw_topo *t);
int hw_n_pus(const hw_topo *t);

/* Multi-line human summary (packages, NUMA nodes, cores, PUs, caches) into
 * a malloc'd string. */
char *hw_topo_summary(const hw_topo *t);
/* Topology exported as XML (malloc'd string), NULL on failure. */
char *hw_topo_xml(const hw_topo *t);
/* "hwloc 2.9.0" */
const char *hw_version(void);

typedef struct {
  int worker;
  int pu_os, pu_logical;   /* -1 for "os" placement */
  int core;                /* logical core index, -1 if unbound */
  int node;                /* logical NUMA node index, -1 if unbound */
  int package;             /* logical package index, -1 if unbound */
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
void hw_plan_free(hw_plan *p);

/* Binds the calling thread to slot `worker` of the plan (no-op success for
 * "os" or a non-system topology, with *bound = 0). On success with real
 * binding, verifies the thread runs on that PU and sets *bound = 1. */
int hw_bind_self(const hw_topo *t, const hw_plan *p, int worker, int *bound, char *err,
                 size_t errlen);

/* Binds memory [addr, addr+len) to the NUMA node of slot 0 (interleave != 0:
 * across all nodes used by the plan). No-op success when not this system. */
int hw_bind_memory(const hw_topo *t, const hw_plan *p, void *addr, size_t len, int interleave,
                   char *err, size_t errlen);

/* OS index of the PU the calling thread runs on now, -1 if unknown. */
int hw_current_pu(void);

#endif
