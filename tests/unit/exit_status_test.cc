#include "supervisor/exit_status.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace smol::supervisor {
namespace {

TEST(ExitStatus, CleanExitWithCodeIsExited) {
  ExitInfo i = classify_exit({false, 3, false}, Intent::none, 42);
  EXPECT_EQ(i.reason, ExitReason::exited);
  EXPECT_EQ(i.code, 3);
  EXPECT_EQ(i.signal, 0);
  EXPECT_EQ(i.detail, "exited with code 3");
  EXPECT_EQ(i.at_unix_ms, 42);
}

TEST(ExitStatus, UnrequestedSignalIsCrash) {
  ExitInfo i = classify_exit({true, SIGKILL, false}, Intent::none, 0);
  EXPECT_EQ(i.reason, ExitReason::crashed);
  EXPECT_EQ(i.signal, SIGKILL);
  EXPECT_EQ(i.detail, "killed by SIGKILL");
}

TEST(ExitStatus, CoreDumpIsMentioned) {
  ExitInfo i = classify_exit({true, SIGSEGV, true}, Intent::none, 0);
  EXPECT_EQ(i.reason, ExitReason::crashed);
  EXPECT_EQ(i.detail, "killed by SIGSEGV (core dumped)");
}

TEST(ExitStatus, SignalAfterStopRequestIsStopped) {
  ExitInfo i = classify_exit({true, SIGTERM, false}, Intent::stop_requested, 0);
  EXPECT_EQ(i.reason, ExitReason::stopped);
  EXPECT_EQ(i.detail, "stopped; killed by SIGTERM");
  EXPECT_EQ(classify_exit({false, 0, false}, Intent::stop_requested, 0).reason,
            ExitReason::stopped);
}

TEST(ExitStatus, KillAfterMissedHelloIsStartTimeout) {
  ExitInfo i = classify_exit({true, SIGKILL, false}, Intent::start_timed_out, 0);
  EXPECT_EQ(i.reason, ExitReason::start_timeout);
  EXPECT_EQ(i.detail, "never said hello; killed by SIGKILL");
}

TEST(ExitStatus, ReasonNamesAreMetricLabels) {
  EXPECT_EQ(reason_name(ExitReason::start_timeout), "start_timeout");
  EXPECT_EQ(reason_name(ExitReason::crashed), "crashed");
  EXPECT_EQ(signal_name(200), "signal 200");
}

}  // namespace
}  // namespace smol::supervisor
