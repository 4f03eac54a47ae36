#define _GNU_SOURCE
#include <unistd.h>
#include <sys/syscall.h>
#include "CLibCFS.h"

int cfs_cpu_has_crc32c(void)
{
#if defined(__x86_64__)
	/* __builtin_cpu_supports needs the cpu model initialised; it is done by
	 * a constructor in libgcc/compiler-rt, but call it explicitly so this
	 * also works from other constructors. */
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
#else
	return 0;
#endif
}

int cfs_gettid(void)
{
	return (int)syscall(SYS_gettid);
}
