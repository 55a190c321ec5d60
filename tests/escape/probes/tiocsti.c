// probe-tiocsti: ioctl(TIOCSTI) pushes a byte into a terminal's input, as
// if typed: on a terminal shared with a shell outside, the agent would type
// commands into it. The probe uses fd 0 if it is a terminal, else /dev/tty,
// else fd 0 anyway (the call is made either way; the byte is a space).
// ESCAPED: the ioctl returned 0.
// Confined: killed, seccomp violation "ioctl" (TIOCSTI and TIOCLINUX are a
// violation in every profile).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  int fd = isatty(0) ? 0 : open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) fd = 0;
  const char byte = ' ';
  probe_try("ioctl(TIOCSTI)", ioctl(fd, TIOCSTI, &byte));
  probe_escaped("TIOCSTI pushed a byte into the input of the terminal on fd %d", fd);
}
