#ifndef BREAKWATER_ALLOCATOR_SETTINGS_H
#define BREAKWATER_ALLOCATOR_SETTINGS_H

/// jemalloc's options for the `breakwater` executable (see malloc_conf.c), read by jemalloc
/// itself at start; MemoryTuning reports what jemalloc made of them.
extern const char *malloc_conf;

#endif
