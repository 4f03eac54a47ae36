#ifndef LIBCFS_CLIBCFS_H
#define LIBCFS_CLIBCFS_H
#include <stddef.h>
#include <stdint.h>
/* Placeholder: the CRC32C hardware path lands here. */
int cfs_cpu_has_crc32c(void);
#endif
