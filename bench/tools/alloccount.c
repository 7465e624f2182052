// LD_PRELOAD counter (BENCHMARKS.md, the inquiry stage, round 3): malloc/calloc/realloc/free calls of a process,
// printed to stderr at _exit/exit with the pid. Not built by CMake: gcc -O2 -shared -fPIC -o alloccount.so alloccount.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void __libc_free(void*);
static atomic_long n_malloc, n_free, n_realloc;
void* malloc(size_t n) { atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed); return __libc_malloc(n); }
void* calloc(size_t a, size_t b) { atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed); return __libc_calloc(a, b); }
void* realloc(void* p, size_t n) { atomic_fetch_add_explicit(&n_realloc, 1, memory_order_relaxed); return __libc_realloc(p, n); }
void free(void* p) { if (p) atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed); __libc_free(p); }
static void report(void) {
  char buf[160];
  int len = snprintf(buf, sizeof buf, "ALLOCCOUNT pid=%d malloc=%ld free=%ld realloc=%ld\n", getpid(), atomic_load(&n_malloc), atomic_load(&n_free), atomic_load(&n_realloc));
  write(2, buf, len);
}
void _exit(int rc) { report(); void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "_exit"); real(rc); for(;;); }
__attribute__((destructor)) static void at_end(void) { report(); }
