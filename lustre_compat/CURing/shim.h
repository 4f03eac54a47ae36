#ifndef LUSTRE_COMPAT_CURING_H
#define LUSTRE_COMPAT_CURING_H
#include <liburing.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysinfo.h>

/* An IORING_OP_URING_CMD on a ring set up with IORING_SETUP_SQE128: `cmd_op` and the 80-byte
 * command area sit in unions of the SQE that Swift does not reach by name. */
static inline void lustre_io_uring_prep_cmd(struct io_uring_sqe *sqe, int fd, __u32 cmd_op,
                                            const void *cmd, size_t cmd_len,
                                            const void *addr, __u32 len, __u64 user_data) {
    memset(sqe, 0, 2 * sizeof(*sqe));
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = fd;
    sqe->cmd_op = cmd_op;
    sqe->addr = (__u64)(unsigned long)addr;
    sqe->len = len;
    sqe->user_data = user_data;
    memcpy(sqe->cmd, cmd, cmd_len < 80 ? cmd_len : 80);
}

/* io_uring_enter(2) waits counted as idle, not iowait (Linux 6.15; liburing 2.3 predates it). */
#define LUSTRE_IORING_ENTER_NO_IOWAIT (1U << 7)
#define LUSTRE_IORING_FEAT_NO_IOWAIT (1U << 17)
#endif
