#include "supervisor/log_files.h"
#include "supervisor/log_archive.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "base/sys_error.h"
#include "ipc/event_loop.h"
#include "tests/unit/scratch_dir.h"

namespace smol::supervisor {
namespace {

class LogFilesTest : public ::testing::Test {
 protected:
  void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  std::string log() const { return dir_.path() + "/a-0.log"; }

  test::ScratchDir dir_{"smol-log-files"};
};

TEST_F(LogFilesTest, PathsAreUnderTheSwarmsDirectory) {
  EXPECT_EQ(agent_log_path("/var/lib/s", "hello", "greeter-1"), "/var/lib/s/logs/hello/greeter-1.log");
  EXPECT_EQ(events_log_path("/var/lib/s", "hello"), "/var/lib/s/logs/hello/events.log");
}

TEST_F(LogFilesTest, NoFileIsNoLog) {
  EXPECT_EQ(read_log_tail(log(), 0, 1 << 20), std::nullopt);
}

TEST_F(LogFilesTest, TheRotatedPartComesFirstAndTheTailMaySpanBoth) {
  write(log() + ".1", "one\ntwo\n");
  write(log(), "three\n");
  EXPECT_EQ(read_log_tail(log(), 0, 1 << 20), "one\ntwo\nthree\n");
  EXPECT_EQ(read_log_tail(log(), 9, 1 << 20), "wo\nthree\n");
  EXPECT_EQ(read_log_tail(log(), 3, 1 << 20), "ee\n");
  EXPECT_EQ(read_log_tail(log(), 100, 1 << 20), "one\ntwo\nthree\n");
}

TEST_F(LogFilesTest, AtMostMaxBytesFromTheEnd) {
  write(log(), "0123456789");
  EXPECT_EQ(read_log_tail(log(), 0, 4), "6789");
  EXPECT_EQ(read_log_tail(log(), 8, 4), "6789");
}

TEST_F(LogFilesTest, OnlyTheRotatedPartLeftStillReads) {
  write(log() + ".1", "older\n");
  EXPECT_EQ(read_log_tail(log(), 0, 1 << 20), "older\n");
}

TEST_F(LogFilesTest, AnUnreadableLogSaysWhichFile) {
  ASSERT_EQ(::mkdir(log().c_str(), 0700), 0);  // a directory where the file should be
  try {
    read_log_tail(log(), 0, 1 << 20);
    FAIL() << "no error";
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find(log()), std::string::npos) << e.what();
  }
}

TEST_F(LogFilesTest, TheArchiveReadsOneLogAfterAnotherOffTheLoop) {
  write(log(), "first log\n");
  write(dir_.path() + "/b-0.log", "second log\n");
  ipc::EventLoop loop;
  LogArchive archive(loop);
  auto a = archive.read(log(), 0);
  auto b = archive.read(dir_.path() + "/b-0.log", 4);
  auto none = archive.read(dir_.path() + "/c-0.log", 0);
  EXPECT_EQ(loop.run(kj::mv(b)), "log\n");
  EXPECT_EQ(loop.run(kj::mv(a)), "first log\n");
  EXPECT_EQ(loop.run(kj::mv(none)), std::nullopt);
}

TEST_F(LogFilesTest, AnArchiveReadThatFailsSaysWhyAndTheNextOneRuns) {
  ASSERT_EQ(::mkdir(log().c_str(), 0700), 0);
  write(dir_.path() + "/b-0.log", "fine\n");
  ipc::EventLoop loop;
  LogArchive archive(loop);
  auto bad = archive.read(log(), 0);
  auto good = archive.read(dir_.path() + "/b-0.log", 0);
  try {
    loop.run(kj::mv(bad));
    FAIL() << "no error";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find(log()), std::string::npos);
  }
  EXPECT_EQ(loop.run(kj::mv(good)), "fine\n");
}

}  // namespace
}  // namespace smol::supervisor
