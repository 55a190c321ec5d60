#include "sandbox/seccomp_handoff.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace smol::sandbox {
namespace {

bool cloexec(int fd) { return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// Forks a child that sends `fd` on the handoff and exits; returns its exit code.
int send_from_child(const ListenerHandoff& h, int fd) {
  pid_t pid = fork();
  if (pid == 0) _exit(send_fd(h.child_end(), fd) == 0 ? 0 : 1);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(SeccompHandoff, CarriesAnFdFromAChildThatHasExited) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  UniqueFd read_end(p[0]), write_end(p[1]);
  ListenerHandoff h = ListenerHandoff::create();
  ASSERT_EQ(send_from_child(h, write_end.get()), 0);
  write_end.reset();  // now only the handed-off copy can write
  UniqueFd received = h.receive();
  ASSERT_TRUE(received);
  EXPECT_TRUE(cloexec(received.get()));
  ASSERT_EQ(write(received.get(), "x", 1), 1);
  received.reset();
  char buf[2] = {};
  EXPECT_EQ(read(read_end.get(), buf, sizeof buf), 1);  // then EOF: no other copy
  EXPECT_EQ(buf[0], 'x');
  EXPECT_EQ(read(read_end.get(), buf, sizeof buf), 0);
}

TEST(SeccompHandoff, NothingSentIsAnEmptyFdAtOnce) {
  ListenerHandoff h = ListenerHandoff::create();
  EXPECT_FALSE(h.receive());
}

TEST(SeccompHandoff, EachMessageCarriesOneFd) {
  ListenerHandoff h = ListenerHandoff::create();
  ASSERT_EQ(send_from_child(h, STDIN_FILENO), 0);
  ASSERT_EQ(send_from_child(h, STDERR_FILENO), 0);
  EXPECT_TRUE(h.receive());
  EXPECT_TRUE(h.receive());
  EXPECT_FALSE(h.receive());
}

TEST(SeccompHandoff, TheChildEndIsCloseOnExec) {
  ListenerHandoff h = ListenerHandoff::create();
  EXPECT_TRUE(cloexec(h.child_end()));
}

TEST(SeccompHandoff, SendingOnABadSocketFailsWithErrno) {
  errno = 0;
  EXPECT_EQ(send_fd(-1, STDIN_FILENO), -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace smol::sandbox
