#include "AllocatorSettings.h"

// jemalloc reads its options from this symbol of the executable when the process starts,
// before MALLOC_CONF (so an operator's MALLOC_CONF still wins). glibc's malloc ignores it.
//
// dirty_decay_ms: how long freed pages stay mapped before jemalloc gives them back (default
// 10 s). A worker frees a poll's records and outputs and the fetch buffers behind them
// every few milliseconds; with the default, the pages of the last ten seconds of a storm
// stay resident on top of what it needs: peak resident memory 249-258 MB in
// scripts/bench-worker's rules path and 259 MB in scripts/soak, against 204-206 and 208 MB
// with 1 s, at no measurable CPU cost.
// muzzy_decay_ms: 0, give the pages back at once instead of keeping them lazily freed.
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
