/*
 * Checksum kernels for libcfs: CRC32C with the SSE4.2 crc32 instruction,
 * and slice-by-8 table versions of CRC32C and CRC32 plus Adler-32 for CPUs
 * (or checksum types) without hardware help.
 *
 * They live in C rather than Swift so that a debug build (which compiles
 * Swift without optimisation) still checksums bulk data at a usable rate.
 */
#include <string.h>
#include "CLibCFS.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY	0x82F63B78u	/* Castagnoli, reflected */
#define CRC32_POLY	0xEDB88320u	/* IEEE 802.3, reflected */

static uint32_t crc32c_table[8][256];
static uint32_t crc32_table[8][256];

/* Operators that advance a CRC32C register over LONG or SHORT zero bytes,
 * one table per byte of the register, used to join the three interleaved
 * hardware streams. */
#define CRC32C_LONG	8192
#define CRC32C_SHORT	256
static uint32_t crc32c_long_shift[4][256];
static uint32_t crc32c_short_shift[4][256];

static void slice8_init(uint32_t table[8][256], uint32_t poly)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			table[k][i] = (table[k - 1][i] >> 8) ^
				      table[0][table[k - 1][i] & 0xff];
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));	/* unaligned-safe; one mov on x86 */
	return v;
}

static uint32_t slice8(const uint32_t t[8][256], uint32_t crc,
		       const unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t w = load64(p) ^ crc;	/* little-endian hosts only */
		uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);

		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
	return crc;
}

/* The register update is linear over GF(2), so advancing any register over
 * n zero bytes is the XOR of the advanced images of its set bits. */
static void shift_init(uint32_t shift[4][256], size_t n)
{
	static const unsigned char zeros[CRC32C_LONG];
	uint32_t basis[32];

	for (int j = 0; j < 32; j++)
		basis[j] = slice8(crc32c_table, 1u << j, zeros, n);
	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t v = 0;
			for (int j = 0; j < 8; j++)
				if (b & (1u << j))
					v ^= basis[8 * k + j];
			shift[k][b] = v;
		}
}

static inline uint32_t shift_apply(const uint32_t shift[4][256], uint32_t crc)
{
	return shift[0][crc & 0xff] ^ shift[1][(crc >> 8) & 0xff] ^
	       shift[2][(crc >> 16) & 0xff] ^ shift[3][crc >> 24];
}

__attribute__((constructor))
static void cfs_checksum_init(void)
{
	slice8_init(crc32c_table, CRC32C_POLY);
	slice8_init(crc32_table, CRC32_POLY);
	shift_init(crc32c_long_shift, CRC32C_LONG);
	shift_init(crc32c_short_shift, CRC32C_SHORT);
}

uint32_t cfs_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return slice8(crc32c_table, crc, buf, len);
}

uint32_t cfs_crc32_sw(uint32_t crc, const void *buf, size_t len)
{
	return slice8(crc32_table, crc, buf, len);
}

#if defined(__x86_64__)
/*
 * Three independent crc32 streams over p[0,blk), p[blk,2blk), p[2blk,3blk).
 * The instruction has a latency of 3 cycles and a throughput of 1, so three
 * streams keep the unit busy.  The loop is written in assembly so that it
 * stays tight when SwiftPM compiles this file at -O0 in debug builds.
 */
static void crc32c_3way(uint64_t *c0, uint64_t *c1, uint64_t *c2,
			const unsigned char *p, size_t blk)
{
	uint64_t a = *c0, b = *c1, c = *c2;
	const unsigned char *end = p + blk;

	__asm__ volatile(
		"1:\n\t"
		"crc32q (%[p]), %[a]\n\t"
		"crc32q (%[p],%[blk]), %[b]\n\t"
		"crc32q (%[p],%[blk],2), %[c]\n\t"
		"addq $8, %[p]\n\t"
		"cmpq %[end], %[p]\n\t"
		"jb 1b\n\t"
		: [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [p] "+r"(p)
		: [blk] "r"(blk), [end] "r"(end)
		: "cc", "memory");
	*c0 = a;
	*c1 = b;
	*c2 = c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw_tail(uint32_t crc32, const unsigned char *p,
			       size_t len)
{
	uint64_t crc = crc32;

	while (len >= 8) {
		crc = _mm_crc32_u64(crc, load64(p));
		p += 8;
		len -= 8;
	}
	crc32 = (uint32_t)crc;
	while (len--)
		crc32 = _mm_crc32_u8(crc32, *p++);
	return crc32;
}

__attribute__((target("sse4.2")))
uint32_t cfs_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len >= 3 * CRC32C_LONG) {
		uint64_t a = crc, b = 0, c = 0;

		crc32c_3way(&a, &b, &c, p, CRC32C_LONG);
		crc = shift_apply(crc32c_long_shift, (uint32_t)a) ^ (uint32_t)b;
		crc = shift_apply(crc32c_long_shift, crc) ^ (uint32_t)c;
		p += 3 * CRC32C_LONG;
		len -= 3 * CRC32C_LONG;
	}
	while (len >= 3 * CRC32C_SHORT) {
		uint64_t a = crc, b = 0, c = 0;

		crc32c_3way(&a, &b, &c, p, CRC32C_SHORT);
		crc = shift_apply(crc32c_short_shift, (uint32_t)a) ^ (uint32_t)b;
		crc = shift_apply(crc32c_short_shift, crc) ^ (uint32_t)c;
		p += 3 * CRC32C_SHORT;
		len -= 3 * CRC32C_SHORT;
	}
	return crc32c_hw_tail(crc, p, len);
}
#else
uint32_t cfs_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return cfs_crc32c_sw(crc, buf, len);
}
#endif

/* zlib's Adler-32: sums modulo 65521, folded every NMAX bytes, the largest
 * run for which the 32-bit sums cannot overflow. */
#define ADLER_BASE	65521u
#define ADLER_NMAX	5552

uint32_t cfs_adler32(uint32_t adler, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t a = adler & 0xffff, b = adler >> 16;

	while (len > 0) {
		size_t n = len < ADLER_NMAX ? len : ADLER_NMAX;

		len -= n;
		while (n >= 8) {
			a += p[0]; b += a; a += p[1]; b += a;
			a += p[2]; b += a; a += p[3]; b += a;
			a += p[4]; b += a; a += p[5]; b += a;
			a += p[6]; b += a; a += p[7]; b += a;
			p += 8;
			n -= 8;
		}
		while (n--) {
			a += *p++;
			b += a;
		}
		a %= ADLER_BASE;
		b %= ADLER_BASE;
	}
	return (b << 16) | a;
}
