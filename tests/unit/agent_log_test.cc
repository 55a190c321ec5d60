#include "supervisor/agent_log.h"

#include <gtest/gtest.h>

namespace smol::supervisor {
namespace {

TEST(AgentLog, KeepsEverythingWhileItFits) {
  AgentLog log(64);
  log.append("hello ");
  log.append("world\n");
  EXPECT_EQ(log.total(), 12u);
  EXPECT_EQ(log.oldest(), 0u);
  EXPECT_EQ(log.read(0, 100).data, "hello world\n");
  EXPECT_EQ(log.read(6, 3).data, "wor");
}

TEST(AgentLog, RingKeepsOnlyTheNewestBytes) {
  AgentLog log(8);
  log.append("0123456789");  // larger than the ring at once
  EXPECT_EQ(log.read(0, 100).data, "23456789");
  log.append("abc");  // wraps around
  AgentLog::Chunk c = log.read(0, 100);
  EXPECT_EQ(c.offset, 5u);  // what was asked for is gone; the chunk says where it starts
  EXPECT_EQ(c.data, "56789abc");
  EXPECT_EQ(log.total(), 13u);
}

TEST(AgentLog, LastLinesIgnoresTheTrailingNewline) {
  AgentLog log(1024);
  log.append("one\ntwo\nthree\n");
  EXPECT_EQ(log.last_lines(2), (std::vector<std::string>{"two", "three"}));
  EXPECT_EQ(log.last_lines(10), (std::vector<std::string>{"one", "two", "three"}));
  AgentLog empty(1024);
  EXPECT_TRUE(empty.last_lines(3).empty());
}

TEST(AgentLog, EndIsRemembered) {
  AgentLog log(64);
  log.end("exited with code 0");
  EXPECT_TRUE(log.ended());
  EXPECT_EQ(log.end_reason(), "exited with code 0");
  log.reopen();
  EXPECT_FALSE(log.ended());
}

}  // namespace
}  // namespace smol::supervisor
