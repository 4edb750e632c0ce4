// Counts heap allocations for RouteBench (which reads the count through dlsym when this is preloaded).
//   clang -O2 -shared -fPIC -o /tmp/malloc_count.so bench/malloc_count.c
//   LD_PRELOAD=/tmp/malloc_count.so .build/release/RouteBench
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);

static _Atomic unsigned long long allocations;
static void counted(void) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); }

void *malloc(size_t n) { counted(); return __libc_malloc(n); }
void *calloc(size_t c, size_t n) { counted(); return __libc_calloc(c, n); }
void *realloc(void *p, size_t n) { counted(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { counted(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    counted();
    void *p = __libc_memalign(a, n);
    if (!p) return 12; // ENOMEM
    *out = p;
    return 0;
}
unsigned long long flaks_malloc_count(void) { return allocations; }
