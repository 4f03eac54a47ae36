#ifndef LUSTRE_COMPAT_CURING_H
#define LUSTRE_COMPAT_CURING_H
#include <liburing.h>
#endif
