// SocketMessageStream over a real socketpair: what the peer on the other end
// sees (messages framed as capnp frames them, their order, how many arrive
// in one recv, EOF), what is read from whatever the peer sends (bursts,
// splits, big messages, hostile segment tables), and when a writer is held
// back.
#include "ipc/socket_message_stream.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <capnp/serialize.h>
#include <kj/async-unix.h>
#include <kj/io.h>
#include <sys/epoll.h>

#include <cstdio>
#include <cstring>
#include <map>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::ipc {
namespace {

// A message whose root is text; first_words forces several segments.
struct Built {
  explicit Built(const std::string& text, unsigned first_words = 1024)
      : builder(first_words, capnp::AllocationStrategy::FIXED_SIZE) {
    builder.getRoot<capnp::AnyPointer>().setAs<capnp::Text>(text);
  }
  capnp::MallocMessageBuilder builder;
};

std::string text_of(capnp::MessageReader& reader) {
  return reader.getRoot<capnp::AnyPointer>().getAs<capnp::Text>();
}

std::string framed(const std::string& text, unsigned first_words = 1024) {
  Built m(text, first_words);
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(m.builder);
  return std::string(reinterpret_cast<const char*>(flat.begin()), flat.size() * sizeof(capnp::word));
}

// The texts of the messages in bytes, read as capnp reads a stream.
std::vector<std::string> parse_all(const std::string& bytes) {
  kj::ArrayInputStream in(kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
  std::vector<std::string> texts;
  while (in.tryGetReadBuffer().size() > 0) {
    capnp::InputStreamMessageReader reader(in);
    texts.push_back(text_of(reader));
  }
  return texts;
}

class SocketMessageStreamTest : public ::testing::Test {
 protected:
  // KJ's members may throw from their destructors; gtest's fixture may not.
  ~SocketMessageStreamTest() noexcept override = default;

  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    connect();
  }

  // A fresh socketpair: the stream on one end, peer_ on the other.
  void connect() {
    int fds[2];
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
    peer_ = UniqueFd(fds[1]);
    stream_fd_ = fds[0];
    stream_ = kj::heap<SocketMessageStream>(io_.unixEventPort, UniqueFd(fds[0]));
  }

  // What this process's epoll sets watch: fd -> event mask (/proc fdinfo).
  static std::map<int, unsigned> watched() {
    std::map<int, unsigned> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (std::filesystem::read_symlink(e.path(), ec).string() != "anon_inode:[eventpoll]") continue;
      std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
      std::string line;
      while (std::getline(info, line)) {
        int fd = 0;
        unsigned events = 0;
        if (std::sscanf(line.c_str(), "tfd: %d events: %x", &fd, &events) == 2) out[fd] = events;
      }
    }
    return out;
  }

  // Runs the loop until it has nothing left to do but wait.
  void settle() { io_.waitScope.poll(); }

  kj::Promise<void> write(Built& m) { return stream_->writeMessage(m.builder); }

  // What the peer can read now, in one recv (at most max bytes).
  std::string peer_recv(size_t max = 1 << 20) {
    std::string buf(max, '\0');
    ssize_t n = ::recv(peer_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "";
    check_sys(n, "recv");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  std::string peer_drain() {
    std::string all, got;
    while (!(got = peer_recv()).empty()) all += got;
    return all;
  }

  bool peer_readable() {
    pollfd p{peer_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

  void peer_send(const std::string& bytes) {
    ASSERT_EQ(::send(peer_.get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }

  using Read = kj::Promise<kj::Maybe<kj::Own<capnp::MessageReader>>>;

  // The text of the message read, or "<eof>".
  std::string text(Read& read) {
    KJ_IF_MAYBE (got, read.wait(io_.waitScope)) { return text_of(**got); }
    return "<eof>";
  }

  // The read fails as the peer's hang-up; says what if it does not.
  void expect_disconnected(Read& read, const char* instead) {
    try {
      read.wait(io_.waitScope);
      ADD_FAILURE() << instead;
    } catch (const kj::Exception& e) {
      EXPECT_EQ(e.getType(), kj::Exception::Type::DISCONNECTED) << e.getDescription().cStr();
    }
  }

  // The next message's text, or "<eof>".
  std::string read(capnp::ReaderOptions options = {}) {
    Read r = stream_->tryReadMessage(options);
    return text(r);
  }

  kj::AsyncIoContext io_ = kj::setupAsyncIo();
  UniqueFd peer_;
  int stream_fd_ = -1;
  kj::Own<SocketMessageStream> stream_;
};

TEST_F(SocketMessageStreamTest, MessagesWrittenInOneTurnLeaveTogetherInOrderAfterTheQueueRan) {
  Built one("one"), two("two", 1), three("three");
  write(one).wait(io_.waitScope);
  write(two).wait(io_.waitScope);
  write(three).wait(io_.waitScope);
  // The writes completed; the flush waits for the queue to empty.
  EXPECT_FALSE(peer_readable());
  settle();
  EXPECT_EQ(parse_all(peer_recv()), (std::vector<std::string>{"one", "two", "three"}));
}

TEST_F(SocketMessageStreamTest, ABigMessageFollowsWhatWasBufferedBeforeIt) {
  Built small("small"), big(std::string(256 * 1024, 'B'));
  write(small).wait(io_.waitScope);
  kj::Promise<void> sent = write(big);
  std::string got;
  while (got.size() < 256 * 1024) {
    settle();
    got += peer_drain();
  }
  sent.wait(io_.waitScope);
  settle();
  got += peer_drain();
  EXPECT_EQ(parse_all(got), (std::vector<std::string>{"small", std::string(256 * 1024, 'B')}));
}

TEST_F(SocketMessageStreamTest, WhatAPeerReadsLateArrivesWholeAndInOrder) {
  // 4 MiB, far more than the socket holds: the writes complete at once, and
  // the rest waits in the stream until the peer reads.
  std::vector<std::string> texts;
  size_t total = 0;
  for (int i = 0; i < 256; ++i) {
    texts.push_back(std::to_string(i) + std::string(16 * 1024, 'x'));
    total += framed(texts.back()).size();
    Built m(texts.back());
    write(m).wait(io_.waitScope);
  }
  settle();
  std::string got;
  while (got.size() < total) {
    got += peer_drain();
    settle();
  }
  got += peer_drain();
  EXPECT_EQ(parse_all(got), texts);
}

// A peer that sends calls and never reads the answers must not grow the
// daemon without end: past the backlog limit the stream fails, its writes
// and its reads (which is what ends capnp's connection), saying why.
TEST_F(SocketMessageStreamTest, APeerThatStopsReadingFailsTheStreamAtTheBacklogLimit) {
  Read pending = stream_->tryReadMessage(capnp::ReaderOptions());
  Built chunk(std::string(64 * 1024, 'x'));
  std::string failure;
  for (int i = 0; i < 1024 && failure.empty(); ++i) {  // up to 64 MiB
    try {
      write(chunk).wait(io_.waitScope);
    } catch (const kj::Exception& e) {
      failure = e.getDescription().cStr();
    }
  }
  EXPECT_NE(failure.find("the peer stopped reading its socket"), std::string::npos) << failure;
  EXPECT_NE(failure.find("the limit is 33554432"), std::string::npos) << failure;
  try {
    pending.wait(io_.waitScope);
    ADD_FAILURE() << "the read went on after the stream failed";
  } catch (const kj::Exception& e) {
    EXPECT_EQ(std::string(e.getDescription().cStr()), failure);
  }
  Read after = stream_->tryReadMessage(capnp::ReaderOptions());
  EXPECT_THROW(after.wait(io_.waitScope), kj::Exception);
}

TEST_F(SocketMessageStreamTest, TheSocketIsWatchedForRoomOnlyWhileASendWaitsForIt) {
  // Watched for room all the time, every read by the peer would wake the
  // writer for nothing.
  auto only_reads = [this] {
    for (const auto& [fd, events] : watched()) {
      if (events & EPOLLOUT) return false;
    }
    return (watched()[stream_fd_] & EPOLLIN) != 0;
  };
  EXPECT_TRUE(only_reads());
  Built chunk(std::string(16 * 1024, 'x'));
  for (int i = 0; i < 64; ++i) write(chunk).wait(io_.waitScope);  // 1 MiB: more than the socket holds
  settle();
  EXPECT_FALSE(only_reads()) << "a send waits for room, and nothing watches for it";
  std::string got;
  while (got.size() < 64 * framed(std::string(16 * 1024, 'x')).size()) {
    got += peer_drain();
    settle();
  }
  settle();
  EXPECT_TRUE(only_reads());
}

TEST_F(SocketMessageStreamTest, EndSendsWhatIsBufferedThenEof) {
  Built last("last words");
  write(last).wait(io_.waitScope);
  stream_->end().wait(io_.waitScope);
  EXPECT_EQ(parse_all(peer_recv()), std::vector<std::string>{"last words"});
  char c;
  EXPECT_EQ(::recv(peer_.get(), &c, 1, MSG_DONTWAIT), 0);  // EOF
}

TEST_F(SocketMessageStreamTest, WhatIsBufferedIsSentWhenTheStreamIsDestroyed) {
  Built parting("parting");
  write(parting).wait(io_.waitScope);
  stream_ = nullptr;
  EXPECT_EQ(parse_all(peer_recv()), std::vector<std::string>{"parting"});
}

TEST_F(SocketMessageStreamTest, AFailedSendFailsTheWritesAfterIt) {
  peer_.reset();
  Built lost("into the void"), again("again");
  write(lost).wait(io_.waitScope);  // buffered: the failure comes with the flush
  settle();
  try {
    write(again).wait(io_.waitScope);
    FAIL() << "a write after a failed send succeeded";
  } catch (const kj::Exception& e) {
    EXPECT_EQ(e.getType(), kj::Exception::Type::DISCONNECTED);
    EXPECT_NE(std::string(e.getDescription().cStr()).find("Broken pipe"), std::string::npos)
        << e.getDescription().cStr();
  }
}

TEST_F(SocketMessageStreamTest, ABurstOfMessagesIsReadWholeAndInOrder) {
  std::string burst;
  for (int i = 0; i < 100; ++i) burst += framed("message " + std::to_string(i), i % 2 ? 1 : 64);
  peer_send(burst);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(read(), "message " + std::to_string(i));
}

TEST_F(SocketMessageStreamTest, AMessageSplitAnywhereIsPutBackTogether) {
  // Sent a byte at a time, with the reader waiting in between: every split,
  // in the segment table and in the segments, and every wait for more data
  // after the socket was found empty.
  std::string first_bytes = framed("split", 1), bytes = first_bytes + framed("again");
  Read first = stream_->tryReadMessage();
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i < first_bytes.size()) {
      EXPECT_FALSE(first.poll(io_.waitScope)) << "a message came after " << i << " of its bytes";
    }
    peer_send(std::string(1, bytes[i]));
  }
  EXPECT_EQ(text(first), "split");
  EXPECT_EQ(read(), "again");
}

TEST_F(SocketMessageStreamTest, AMessageBiggerThanTheReadBufferIsReadWhole) {
  std::string bytes = framed(std::string(300 * 1024, 'r'));
  Read read = stream_->tryReadMessage();
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(peer_.get(), bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT);
    if (n > 0) sent += static_cast<size_t>(n);
    read.poll(io_.waitScope);
  }
  EXPECT_EQ(text(read), std::string(300 * 1024, 'r'));
}

TEST_F(SocketMessageStreamTest, EofBetweenMessagesEndsTheStreamAndInsideOneIsDisconnected) {
  peer_send(framed("whole"));
  peer_.reset();
  EXPECT_EQ(read(), "whole");
  EXPECT_EQ(read(), "<eof>");

  connect();
  std::string bytes = framed("cut short");
  peer_send(bytes.substr(0, bytes.size() - 3));
  peer_.reset();
  Read cut = stream_->tryReadMessage();
  expect_disconnected(cut, "half a message was read");
}

TEST_F(SocketMessageStreamTest, ALastMessageAndTheHangUpComingTogetherAreBothSeen) {
  // One wakeup brings the last bytes and the EOF: the read that returns the
  // bytes comes short, and only the next one sees the end.
  Read first = stream_->tryReadMessage();
  EXPECT_FALSE(first.poll(io_.waitScope));
  peer_send(framed("last") + framed("words"));
  peer_.reset();
  ASSERT_TRUE(first.poll(io_.waitScope));
  EXPECT_EQ(text(first), "last");
  EXPECT_EQ(read(), "words");
  Read end = stream_->tryReadMessage();
  ASSERT_TRUE(end.poll(io_.waitScope)) << "the EOF was not seen: the reader waits forever";
  EXPECT_EQ(text(end), "<eof>");
}

TEST_F(SocketMessageStreamTest, ABigMessageCutShortByAHangUpFailsInsteadOfWaiting) {
  std::string bytes = framed(std::string(300 * 1024, 'c'));
  Read read = stream_->tryReadMessage();
  EXPECT_FALSE(read.poll(io_.waitScope));
  ASSERT_EQ(::send(peer_.get(), bytes.data(), 100 * 1024, 0), 100 * 1024);
  peer_.reset();
  ASSERT_TRUE(read.poll(io_.waitScope)) << "a message cut short waits forever";
  expect_disconnected(read, "a third of a message was read");
}

TEST_F(SocketMessageStreamTest, MessagesAfterPassedFileDescriptorsAreStillRead) {
  // The kernel stops a read where passed fds are; they are dropped, and
  // what follows them is read all the same.
  Read first = stream_->tryReadMessage();
  EXPECT_FALSE(first.poll(io_.waitScope));
  std::string one = framed("with an fd"), two = framed("after it");
  iovec iov{one.data(), one.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int passed = peer_.get();
  std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
  ASSERT_EQ(::sendmsg(peer_.get(), &msg, 0), static_cast<ssize_t>(one.size()));
  peer_send(two);
  ASSERT_TRUE(first.poll(io_.waitScope));
  EXPECT_EQ(text(first), "with an fd");
  Read second = stream_->tryReadMessage();
  ASSERT_TRUE(second.poll(io_.waitScope)) << "the message after the fds is never read";
  EXPECT_EQ(text(second), "after it");
}

TEST_F(SocketMessageStreamTest, AReadGivenUpLosesNoBytes) {
  std::string small = framed("small"), big = framed(std::string(200 * 1024, 'g'));
  {
    Read given_up = stream_->tryReadMessage();
    peer_send(small.substr(0, 10));
    EXPECT_FALSE(given_up.poll(io_.waitScope));
  }
  peer_send(small.substr(10));
  EXPECT_EQ(read(), "small");
  {
    Read given_up = stream_->tryReadMessage();
    peer_send(big.substr(0, 100 * 1024));
    EXPECT_FALSE(given_up.poll(io_.waitScope));
  }
  Read again = stream_->tryReadMessage();
  peer_send(big.substr(100 * 1024));
  EXPECT_EQ(text(again), std::string(200 * 1024, 'g'));
}

TEST_F(SocketMessageStreamTest, SeveralBigMessagesWrittenAtOnceArriveWhole) {
  Built a(std::string(200 * 1024, 'a'), 1), b(std::string(200 * 1024, 'b'), 1);
  kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> both[] = {
      a.builder.getSegmentsForOutput(), b.builder.getSegmentsForOutput()};
  stream_->writeMessages(both).wait(io_.waitScope);
  settle();  // both are under way before the peer reads anything
  std::string got;
  size_t total = framed(std::string(200 * 1024, 'a'), 1).size() * 2;
  while (got.size() < total) {
    got += peer_drain();
    settle();
  }
  got += peer_drain();
  EXPECT_EQ(parse_all(got),
            (std::vector<std::string>{std::string(200 * 1024, 'a'), std::string(200 * 1024, 'b')}));
}

TEST_F(SocketMessageStreamTest, ASegmentTableOverTheLimitsIsRefusedBeforeTheBodyComes) {
  // 4 billion segments: refused from the first word.
  peer_send(std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8));
  try {
    read();
    FAIL() << "a table of 2^32 segments was accepted";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find("too many segments"), std::string::npos)
        << e.getDescription().cStr();
  }
}

TEST_F(SocketMessageStreamTest, AMessageOverTheTraversalLimitIsRefusedFromItsTable) {
  // One segment of 2^31 words announced, and no body: the size alone is
  // refused, without waiting for 16 GiB or allocating them.
  peer_send(std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8));
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 1024;
  try {
    read(options);
    FAIL() << "a message over the traversal limit was accepted";
  } catch (const kj::Exception& e) {
    EXPECT_NE(std::string(e.getDescription().cStr()).find("too large"), std::string::npos)
        << e.getDescription().cStr();
  }
}

}  // namespace
}  // namespace smol::ipc
