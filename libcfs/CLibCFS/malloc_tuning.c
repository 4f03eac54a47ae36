#include <malloc.h>
#include "CLibCFS.h"

void cfs_malloc_keep_on_heap(size_t largest, size_t trim)
{
	mallopt(M_MMAP_THRESHOLD, (int)largest);
	mallopt(M_TRIM_THRESHOLD, (int)trim);
}
