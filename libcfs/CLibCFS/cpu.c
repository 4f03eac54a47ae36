#include "CLibCFS.h"
int cfs_cpu_has_crc32c(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2");
#else
    return 0;
#endif
}
