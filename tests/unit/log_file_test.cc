#include "supervisor/log_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "ipc/event_loop.h"

namespace smol::supervisor {
namespace {

class LogFileTest : public ::testing::Test {
 protected:
  LogFileTest() {
    char tmpl[] = "/tmp/log-file-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~LogFileTest() override { std::filesystem::remove_all(dir_); }

  std::string slurp(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void flush(LogFile& f) { loop_->run(f.flushed()); }

  std::string dir_;
  std::optional<ipc::EventLoop> loop_{std::in_place};  // one KJ loop per thread at most
};

TEST_F(LogFileTest, AppendsInOrder) {
  LogFile f(*loop_, dir_ + "/a.log", 1 << 20);
  for (int i = 0; i < 100; ++i) f.append("line " + std::to_string(i) + "\n");
  flush(f);
  std::string all = slurp("a.log");
  EXPECT_EQ(all.substr(0, 14), "line 0\nline 1\n");
  EXPECT_EQ(all.substr(all.size() - 8), "line 99\n");
}

TEST_F(LogFileTest, RotatesOnceTheCapWouldBePassed) {
  LogFile f(*loop_, dir_ + "/a.log", 10);
  f.append("12345678\n");
  flush(f);
  f.append("abcdef\n");
  flush(f);
  EXPECT_EQ(slurp("a.log.1"), "12345678\n");
  EXPECT_EQ(slurp("a.log"), "abcdef\n");
  f.append("XYZWVUT\n");
  flush(f);
  EXPECT_EQ(slurp("a.log.1"), "abcdef\n");  // only one old file is kept
  EXPECT_EQ(slurp("a.log"), "XYZWVUT\n");
}

TEST_F(LogFileTest, ContinuesAnExistingFileAndCountsItsSize) {
  std::ofstream(dir_ + "/a.log") << "from before\n";
  LogFile f(*loop_, dir_ + "/a.log", 20);
  f.append("new 1\n");
  flush(f);
  EXPECT_EQ(slurp("a.log"), "from before\nnew 1\n");
  f.append("new 2\n");  // 18 + 6 > 20: rotate first
  flush(f);
  EXPECT_EQ(slurp("a.log.1"), "from before\nnew 1\n");
  EXPECT_EQ(slurp("a.log"), "new 2\n");
}

TEST_F(LogFileTest, UnwritablePathGivesUpWithoutBlockingOrCrashing) {
  LogFile f(*loop_, "/proc/no-such-dir/a.log", 1024);
  f.append("lost\n");
  flush(f);
  f.append("also lost\n");
  flush(f);  // resolves: a failed file never holds anyone up
  EXPECT_FALSE(std::filesystem::exists("/proc/no-such-dir/a.log"));
}

TEST_F(LogFileTest, DestroyingItStillWritesWhatWasQueued) {
  loop_.reset();
  {
    ipc::EventLoop loop;
    LogFile f(loop, dir_ + "/a.log", 1 << 20);
    f.append("last words\n");
  }  // the loop finishes the file's pending requests as it closes
  EXPECT_EQ(slurp("a.log"), "last words\n");
}

}  // namespace
}  // namespace smol::supervisor
