#ifndef LUSTRE_COMPAT_CFUSE3_H
#define LUSTRE_COMPAT_CFUSE3_H
/* Must precede the include: C defines from cSettings do not reach the Swift importer. */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#endif
