#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include "CQuartetHarness.h"

int quartet_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int quartet_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

short quartet_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }
