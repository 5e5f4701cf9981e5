#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stdint.h>

/// Number of malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign calls
/// made by this process since it started (only counted on glibc, else always 0).
uint64_t malloc_counter_allocations(void);

#endif
