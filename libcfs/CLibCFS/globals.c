#include "CLibCFS.h"

uint32_t libcfs_debug = LIBCFS_D_DEFAULT;
uint32_t cfs_fail_loc;
uint32_t cfs_fail_val;
