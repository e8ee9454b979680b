// The GNU extensions of glibc that QuartetHarness needs. Swift's Glibc module is built without
// _GNU_SOURCE, so they are wrapped here, in a file compiled with it (shim.c).
#ifndef C_QUARTET_HARNESS_H
#define C_QUARTET_HARNESS_H

#include <spawn.h>
#include <stddef.h>

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start, so a child started by another
/// thread at the same moment never inherits them.
int quartet_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child closes every descriptor from
/// `from` up, after the earlier file actions.
int quartet_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// POSIX_SPAWN_SETSID (glibc 2.26): the child starts a new session.
short quartet_spawn_setsid_flag(void);

/// A new pseudo-terminal (posix_openpt, grantpt, unlockpt, ptsname_r): returns the master
/// descriptor (close-on-exec) and writes the device's path to `device`; -1 with errno on failure.
int quartet_open_pseudo_terminal(char *device, size_t size);

/// No core dump of this process, and none of its memory read through ptrace or /proc by other
/// processes of its user: setrlimit(RLIMIT_CORE, 0) and prctl(PR_SET_DUMPABLE, 0). 0, or -1 with
/// errno (prctl is variadic, so Swift cannot call it).
int quartet_forbid_core_dumps(void);

/// Whether prctl(PR_GET_DUMPABLE) says this process is dumpable (1), is not (0), or -1 with errno.
int quartet_is_dumpable(void);

#endif
