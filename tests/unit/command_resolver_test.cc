#include "supervisor/command_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace smol::supervisor {
namespace {

using ::testing::HasSubstr;

class CommandResolver : public ::testing::Test {
 protected:
  CommandResolver() {
    char tmpl[] = "/tmp/resolver-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::filesystem::create_directories(dir_ + "/bin");
    make(dir_ + "/bin/tool", 0755);
    make(dir_ + "/notes.txt", 0644);
  }
  ~CommandResolver() override { std::filesystem::remove_all(dir_); }
  void make(const std::string& path, mode_t mode) {
    std::ofstream(path) << "#!/bin/sh\n";
    ::chmod(path.c_str(), mode);
  }
  std::string dir_;
};

TEST_F(CommandResolver, BareNameIsSearchedInOrder) {
  EXPECT_EQ(resolve_command("tool", "/", {"/nonexistent", dir_ + "/bin"}), dir_ + "/bin/tool");
  EXPECT_EQ(resolve_command("sh", "/", {"/bin"}), "/bin/sh");
}

TEST_F(CommandResolver, RelativePathIsTakenFromTheSpecDirectory) {
  EXPECT_EQ(resolve_command("./bin/tool", dir_, {}), dir_ + "/bin/tool");
  EXPECT_EQ(resolve_command("bin/../bin/tool", dir_, {}), dir_ + "/bin/tool");
}

TEST_F(CommandResolver, MissingCommandSaysWhereItLooked) {
  try {
    resolve_command("nope", "/", {"/a", "/b"});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("command 'nope' not found in /a:/b"));
  }
}

// The message of the error resolve_command throws, or "" if it does not.
std::string resolve_error(const std::string& command, const std::string& base_dir) {
  try {
    resolve_command(command, base_dir, {});
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST_F(CommandResolver, NonExecutableAndDirectoriesAreRefusedWithTheReason) {
  EXPECT_THAT(resolve_error("./notes.txt", dir_), HasSubstr("it is not executable"));
  EXPECT_THAT(resolve_error("./bin", dir_), HasSubstr("it is not a regular file"));
  EXPECT_THAT(resolve_error("./missing", dir_), HasSubstr("it does not exist"));
}

}  // namespace
}  // namespace smol::supervisor
