#include "CExt2fs.h"

unsigned int lc_ext2_block_size(ext2_filsys fs) { return EXT2_BLOCK_SIZE(fs->super); }
ext2_ino_t lc_ext2_first_ino(ext2_filsys fs) { return EXT2_FIRST_INO(fs->super); }
io_manager lc_ext2_unix_io_manager(void) { return unix_io_manager; }
