#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include "CQuartetHarness.h"

int quartet_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int quartet_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

short quartet_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int quartet_open_pseudo_terminal(char *device, size_t size) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return -1;
    if (grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, device, size) != 0) {
        int saved = errno;
        close(master);
        errno = saved;
        return -1;
    }
    return master;
}

int quartet_forbid_core_dumps(void) {
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) != 0) return -1;
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int quartet_is_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
