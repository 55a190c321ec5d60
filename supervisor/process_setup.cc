#include "supervisor/process_setup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>

#include "base/log.h"
#include "base/sys_error.h"

namespace smol::supervisor {

void prepare_process() {
  signal(SIGPIPE, SIG_IGN);
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      int null_fd = check_sys(::open("/dev/null", O_RDWR), "open", "/dev/null");
      if (null_fd != fd) ::close(null_fd);  // lower fds got opened first; fd is still free
    }
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      log::warning(describe_errno(errno, "setrlimit", "RLIMIT_NOFILE") + "; ignoring");
    }
  }
}

}  // namespace smol::supervisor
