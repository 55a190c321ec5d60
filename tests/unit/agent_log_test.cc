#include "supervisor/agent_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace smol::supervisor {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/agent-log-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AgentLog, KeepsEverythingWhileItFits) {
  AgentLog log(64, "", 0);
  log.append("hello ");
  log.append("world\n");
  EXPECT_EQ(log.total(), 12u);
  EXPECT_EQ(log.oldest(), 0u);
  EXPECT_EQ(log.read(0, 100).data, "hello world\n");
  EXPECT_EQ(log.read(6, 3).data, "wor");
}

TEST(AgentLog, RingKeepsOnlyTheNewestBytes) {
  AgentLog log(8, "", 0);
  log.append("0123456789");  // larger than the ring at once
  EXPECT_EQ(log.read(0, 100).data, "23456789");
  log.append("abc");  // wraps around
  AgentLog::Chunk c = log.read(0, 100);
  EXPECT_EQ(c.offset, 5u);  // what was asked for is gone; the chunk says where it starts
  EXPECT_EQ(c.data, "56789abc");
  EXPECT_EQ(log.total(), 13u);
}

TEST(AgentLog, LastLinesIgnoresTheTrailingNewline) {
  AgentLog log(1024, "", 0);
  log.append("one\ntwo\nthree\n");
  EXPECT_EQ(log.last_lines(2), (std::vector<std::string>{"two", "three"}));
  EXPECT_EQ(log.last_lines(10), (std::vector<std::string>{"one", "two", "three"}));
  AgentLog empty(1024, "", 0);
  EXPECT_TRUE(empty.last_lines(3).empty());
}

TEST(AgentLog, FileIsCappedWithOneRotation) {
  TempDir dir;
  std::string file = dir.path() + "/a.log";
  AgentLog log(64, file, 10);
  EXPECT_EQ(log.append("12345678\n"), "");
  EXPECT_EQ(log.append("abcdef\n"), "");  // would pass 10 bytes: rotate first
  EXPECT_EQ(slurp(file + ".1"), "12345678\n");
  EXPECT_EQ(slurp(file), "abcdef\n");
  EXPECT_EQ(log.append("XYZWVUT\n"), "");  // rotates again; the oldest rotation is dropped
  EXPECT_EQ(slurp(file + ".1"), "abcdef\n");
  EXPECT_EQ(slurp(file), "XYZWVUT\n");
}

TEST(AgentLog, UnwritableFileIsReportedOnceAndTheRingGoesOn) {
  AgentLog log(64, "/proc/no-such-dir/a.log", 1024);
  std::string err = log.append("first\n");
  EXPECT_NE(err.find("open(/proc/no-such-dir/a.log)"), std::string::npos) << err;
  EXPECT_EQ(log.append("second\n"), "");
  EXPECT_EQ(log.read(0, 100).data, "first\nsecond\n");
}

TEST(AgentLog, EndIsRemembered) {
  AgentLog log(64, "", 0);
  log.end("exited with code 0");
  EXPECT_TRUE(log.ended());
  EXPECT_EQ(log.end_reason(), "exited with code 0");
  log.reopen();
  EXPECT_FALSE(log.ended());
}

}  // namespace
}  // namespace smol::supervisor
