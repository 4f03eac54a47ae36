#ifndef LUSTRE_COMPAT_CFUSE3_H
#define LUSTRE_COMPAT_CFUSE3_H
/* Must precede the include: C defines from cSettings do not reach the Swift importer. */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdint.h>

/* FUSE over io_uring (protocol 7.42, Linux 6.14): libfuse 3.14's fuse_kernel.h predates it, so
 * the kernel's structures are spelled here, under our own names. */
#define LUSTRE_FUSE_OVER_IO_URING_FLAGS2 512u /* bit 41 of the flags: bit 9 of flags2 */
#define LUSTRE_FUSE_IO_URING_CMD_REGISTER 1u
#define LUSTRE_FUSE_IO_URING_CMD_COMMIT_AND_FETCH 2u

struct lustre_fuse_uring_ent_in_out {
    uint64_t flags;
    uint64_t commit_id;   /* the request's unique, echoed in the commit */
    uint32_t payload_sz;  /* bytes of the payload buffer in use, either way */
    uint32_t padding;
    uint64_t reserved;
};

/* iov[0] of a ring entry: fuse_in_header (request) or fuse_out_header (reply), the opcode's own
 * header (in_args[0]), then the entry's sizes. */
struct lustre_fuse_uring_req_header {
    char in_out[128];
    char op_in[128];
    struct lustre_fuse_uring_ent_in_out ring_ent_in_out;
};

/* The command area of the SQE. */
struct lustre_fuse_uring_cmd_req {
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};
#endif
