#ifndef LUSTRE_COMPAT_CEXT2FS_H
#define LUSTRE_COMPAT_CEXT2FS_H
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

/* Function-like macros do not import into Swift; these wrap them. */
unsigned int lc_ext2_block_size(ext2_filsys fs);
ext2_ino_t lc_ext2_first_ino(ext2_filsys fs);
/* The unix I/O manager is a mutable C global; a getter keeps Swift 6 concurrency checks quiet. */
io_manager lc_ext2_unix_io_manager(void);
#endif
