#include "CLibCFS.h"

/* LIBCFS_D_DEFAULT: ioctl neterror warning error emerg ha config console lfsck */
uint32_t libcfs_debug = 0x130E0580u;
uint32_t cfs_fail_loc;
uint32_t cfs_fail_val;
