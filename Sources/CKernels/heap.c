#include "CKernels.h"

#include <stdlib.h> /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void gr_keep_heap(long largest_heap_block, long kept_free) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, (int)largest_heap_block);
    mallopt(M_TRIM_THRESHOLD, (int)kept_free);
#else
    (void)largest_heap_block;
    (void)kept_free;
#endif
}
