/*
 * deny-write-execute: runs a command under the restriction systemd's MemoryDenyWriteExecute=yes
 * puts on a service, so tests can check that `quartet serve` works with it without systemd:
 *
 *   deny-write-execute COMMAND [ARGUMENT...]
 *
 * The seccomp filter is systemd's (src/shared/seccomp-util.c,
 * seccomp_memory_deny_write_execute): mmap with PROT_WRITE and PROT_EXEC together, mprotect and
 * pkey_mprotect adding PROT_EXEC, and shmat with SHM_EXEC fail with EPERM. Where the kernel has
 * it (Linux 6.3+), prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) is set as well, which newer
 * systemd uses instead. Both survive execve. Used by Tests/QuartetCLITests/SystemdNotifyTests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "deny-write-execute: unsupported architecture"
#endif

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif

/* The low 32 bits of argument `n` (prot and shmflg are ints). */
#define ARG_LOW(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(__u64))
#define DENY BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s COMMAND [ARGUMENT...]\n", argv[0]);
        return 64;
    }
    struct sock_filter filter[] = {
        /* Another architecture's system calls (x32, i386 on x86_64): refused, as
         * SystemCallArchitectures=native does. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
        DENY,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 8, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 7, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 10, 0),
        ALLOW,
        /* mmap: deny when prot has both PROT_WRITE and PROT_EXEC. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
        DENY,
        ALLOW,
        /* mprotect, pkey_mprotect: deny when prot has PROT_EXEC. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        DENY,
        ALLOW,
        /* shmat: deny when shmflg has SHM_EXEC. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SHM_EXEC, 0, 1),
        DENY,
        ALLOW,
    };
    struct sock_fprog program = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("deny-write-execute: PR_SET_NO_NEW_PRIVS");
        return 1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("deny-write-execute: PR_SET_SECCOMP");
        return 1;
    }
    if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 && errno != EINVAL) {
        perror("deny-write-execute: PR_SET_MDWE");
        return 1;
    }
    /* Proof that the filter is in force: a writable executable mapping must be refused. */
    void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) {
        fprintf(stderr, "deny-write-execute: a W+X mapping was allowed; the filter is not in force\n");
        return 1;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "deny-write-execute: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
