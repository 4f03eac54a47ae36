#ifndef LUSTRE_COMPAT_CAIO_H
#define LUSTRE_COMPAT_CAIO_H
#include <libaio.h>
#endif
