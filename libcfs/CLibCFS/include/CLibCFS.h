#ifndef LIBCFS_CLIBCFS_H
#define LIBCFS_CLIBCFS_H
/*
 * CLibCFS: the few things libcfs does in C because Swift cannot say them
 * (CPU feature detection, the SSE4.2 crc32 instruction) or because they must
 * stay fast even in a debug (-O0) build (the table-driven checksum loops).
 *
 * Every checksum routine here works on the raw CRC register: callers do the
 * pre- and post-inversion, so incremental updates compose by passing the
 * previous register value back in.
 */
#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU has a crc32 instruction for CRC32C (x86-64 SSE4.2), else 0. */
int cfs_cpu_has_crc32c(void);

/* The calling thread's kernel id (what Lustre prints as the pid). */
int cfs_gettid(void);

/* CRC32C (Castagnoli) register update with the crc32 instruction.
 * Only call when cfs_cpu_has_crc32c() returned 1. */
uint32_t cfs_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* CRC32C register update, slice-by-8 tables (any CPU). */
uint32_t cfs_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* CRC32 (IEEE 802.3 / zlib, reflected 0xEDB88320) register update, slice-by-8. */
uint32_t cfs_crc32_sw(uint32_t crc, const void *buf, size_t len);

/* Adler-32 update as zlib defines it (start from 1). */
uint32_t cfs_adler32(uint32_t adler, const void *buf, size_t len);


/*
 * The two words every hot path tests before doing anything: the debug mask
 * (`lctl set_param debug`) and the fault-injection location (`fail_loc`).
 * They are plain C globals read with one relaxed atomic load from inline
 * functions, so a disabled CDEBUG or fail_loc check is a load and a branch
 * with no lazy-initialisation guard in front of it.
 */
/* LIBCFS_D_DEFAULT: ioctl neterror warning error emerg ha config console lfsck */
#define LIBCFS_D_DEFAULT 0x130E0580u
extern uint32_t libcfs_debug;		/* DebugMask bits */
extern uint32_t cfs_fail_loc;		/* FailLoc.value */
extern uint32_t cfs_fail_val;		/* FailLoc.failValue */

static inline uint32_t cfs_atomic_load32(const uint32_t *word)
{
	return __atomic_load_n(word, __ATOMIC_RELAXED);
}

static inline void cfs_atomic_store32(uint32_t *word, uint32_t value)
{
	__atomic_store_n(word, value, __ATOMIC_RELAXED);
}

/* Returns 1 and stores desired if *word was *expected; else loads *expected. */
static inline int cfs_atomic_cas32(uint32_t *word, uint32_t *expected,
				   uint32_t desired)
{
	return __atomic_compare_exchange_n(word, expected, desired, 0,
					   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* Sets bits, returns the previous value. */
static inline uint32_t cfs_atomic_or32(uint32_t *word, uint32_t bits)
{
	return __atomic_fetch_or(word, bits, __ATOMIC_RELAXED);
}

/* Swift calls these rather than touching the globals, which strict
 * concurrency checking would reject. */
static inline uint32_t libcfs_debug_get(void) { return cfs_atomic_load32(&libcfs_debug); }
static inline int libcfs_debug_cas(uint32_t *expected, uint32_t desired)
{
	return cfs_atomic_cas32(&libcfs_debug, expected, desired);
}
static inline void libcfs_debug_set(uint32_t mask) { cfs_atomic_store32(&libcfs_debug, mask); }

static inline uint32_t cfs_fail_loc_get(void) { return cfs_atomic_load32(&cfs_fail_loc); }
static inline void cfs_fail_loc_set(uint32_t loc) { cfs_atomic_store32(&cfs_fail_loc, loc); }
static inline uint32_t cfs_fail_loc_or(uint32_t bits) { return cfs_atomic_or32(&cfs_fail_loc, bits); }
static inline uint32_t cfs_fail_val_get(void) { return cfs_atomic_load32(&cfs_fail_val); }
static inline void cfs_fail_val_set(uint32_t val) { cfs_atomic_store32(&cfs_fail_val, val); }

/* Serve allocations up to `largest` bytes from the heap rather than fresh
 * mmap()s, and keep up to `trim` bytes of freed heap (mallopt). */
void cfs_malloc_keep_on_heap(size_t largest, size_t trim);

#endif
