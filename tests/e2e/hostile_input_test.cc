// Peers that send anything at all: the daemon drops them and carries on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <random>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;

// Connects to the control socket and writes `bytes` as they are.
void send_raw(const std::string& socket_path, const std::string& bytes) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // The daemon may hang up before all is written; that is its right.
  (void)!::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(HostileInput, GarbageOnTheControlSocketLeavesTheDaemonServing) {
  TempDir dir;
  Daemon d(dir);
  send_raw(d.socket(), random_bytes(64 * 1024, 1));
  // A Cap'n Proto frame header claiming 2^32-1 segments, then one claiming a
  // 4 GiB segment: the reader must refuse, not allocate.
  send_raw(d.socket(), std::string("\xff\xff\xff\xff", 4) + std::string(64, '\0'));
  send_raw(d.socket(), std::string("\x00\x00\x00\x00\xff\xff\xff\x7f", 8));
  send_raw(d.socket(), "");
  RunResult st = d.ctl({"status"});
  EXPECT_EQ(st.status, 0) << st.err;
  EXPECT_TRUE(d.running());
}

TEST(HostileInput, AgentWritingGarbageOnItsSocketIsCutOffAndOthersCarryOn) {
  TempDir dir;
  Daemon d(dir);
  std::string good = "name = \"good\"\n[[agents]]\nrole = \"g\"\ncommand = [\"smol-echo-agent\"]\n";
  ASSERT_EQ(d.ctl({"up", dir.write("good.toml", good)}).status, 0);
  std::string bad =
      "name = \"noise\"\n[[agents]]\nrole = \"n\"\n"
      "command = [\"/bin/sh\", \"-c\", \"head -c 262144 /dev/urandom >&3; exec sleep 600\"]\n"
      "ready_timeout = \"500ms\"\n";
  RunResult up = d.ctl({"up", dir.write("noise.toml", bad)});
  EXPECT_EQ(up.status, 1);
  // What swarmd could not read says why, though it came before hello.
  EXPECT_THAT(up.err, HasSubstr("agent n-0 killed: protocol error: sent what swarmd cannot accept: "));
  EXPECT_THAT(up.err, HasSubstr("before saying hello"));
  auto ps = d.ctl_json({"ps", "good"});
  EXPECT_EQ(ps["agents"][0]["state"], "ready");
}

}  // namespace
}  // namespace smol::test
