// BufferedStream over a real socketpair: what the peer on the other end
// sees (bytes, their order, how many arrive together, EOF), and when the
// writer is held back.
#include "ipc/buffered_stream.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <kj/async-io.h>
#include <kj/async-unix.h>

#include <string>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::ipc {
namespace {

class BufferedStreamTest : public ::testing::Test {
 protected:
  // KJ's members may throw from their destructors; gtest's fixture may not.
  ~BufferedStreamTest() noexcept override = default;

  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
              "socketpair");
    peer_ = UniqueFd(fds[1]);
    stream_ = kj::heap<BufferedStream>(io_.lowLevelProvider->wrapSocketFd(
        fds[0], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                    kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                    kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK));
  }

  // Runs the loop until it has nothing left to do but wait.
  void settle() { io_.waitScope.poll(); }

  // What the peer can read now, in one recv (at most max bytes).
  std::string peer_recv(size_t max = 1 << 20) {
    std::string buf(max, '\0');
    ssize_t n = ::recv(peer_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return "";
    check_sys(n, "recv");
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  // Everything the peer can read now.
  std::string peer_drain() {
    std::string all, got;
    while (!(got = peer_recv()).empty()) all += got;
    return all;
  }

  bool peer_readable() {
    pollfd p{peer_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

  kj::AsyncIoContext io_ = kj::setupAsyncIo();
  UniqueFd peer_;
  kj::Own<BufferedStream> stream_;
};

TEST_F(BufferedStreamTest, SmallWritesCompleteAtOnceAndArriveInOrder) {
  kj::Promise<void> a = stream_->write("one,", 4);
  kj::Promise<void> b = a.then([this] { return stream_->write("two,", 4); });
  kj::Promise<void> c = b.then([this] { return stream_->write("three", 5); });
  c.wait(io_.waitScope);
  settle();
  EXPECT_EQ(peer_recv(), "one,two,three");
}

TEST_F(BufferedStreamTest, NothingReachesTheSocketBeforeTheLoopHasRunItsQueue) {
  stream_->write("early", 5).wait(io_.waitScope);
  // The write completed, and the flush waits for the queue to empty.
  EXPECT_FALSE(peer_readable());
  settle();
  EXPECT_EQ(peer_recv(), "early");
}

TEST_F(BufferedStreamTest, PiecesAreWrittenInOrder) {
  std::string x = "head:", y = "body:", z = "tail";
  kj::ArrayPtr<const kj::byte> pieces[] = {
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(x.data()), x.size()),
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(y.data()), y.size()),
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(z.data()), z.size())};
  stream_->write(pieces).wait(io_.waitScope);
  settle();
  EXPECT_EQ(peer_recv(), "head:body:tail");
}

TEST_F(BufferedStreamTest, ABigWriteFollowsWhatWasBufferedBeforeIt) {
  std::string big(256 * 1024, 'B');
  stream_->write("small", 5).wait(io_.waitScope);
  kj::Promise<void> sent = stream_->write(big.data(), big.size());
  std::string got;
  while (got.size() < 5 + big.size()) {
    settle();
    got += peer_drain();
  }
  sent.wait(io_.waitScope);
  EXPECT_EQ(got, "small" + big);
}

TEST_F(BufferedStreamTest, AWriterIsHeldBackWhileThePeerDoesNotReadAndResumesWhenItDoes) {
  std::string chunk(16 * 1024, 'x');
  size_t written = 0;
  kj::Maybe<kj::Promise<void>> held;
  // Fill the socket and the buffer: some write must stop completing.
  for (int i = 0; i < 10000; ++i) {
    kj::Promise<void> w = stream_->write(chunk.data(), chunk.size());
    settle();
    if (!w.poll(io_.waitScope)) {
      held = kj::mv(w);
      break;
    }
    w.wait(io_.waitScope);
    written += chunk.size();
  }
  KJ_IF_MAYBE(w, held) {
    std::string got;
    while (!w->poll(io_.waitScope)) {
      got += peer_drain();
      settle();
    }
    w->wait(io_.waitScope);
    written += chunk.size();
    settle();
    got += peer_drain();
    EXPECT_EQ(got.size(), written);
  } else {
    FAIL() << "160 MiB were accepted without the peer reading: no backpressure";
  }
}

TEST_F(BufferedStreamTest, ShutdownWriteSendsWhatIsBufferedThenEof) {
  stream_->write("last words", 10).wait(io_.waitScope);
  stream_->shutdownWrite();
  settle();
  EXPECT_EQ(peer_recv(), "last words");
  char c;
  EXPECT_EQ(::recv(peer_.get(), &c, 1, MSG_DONTWAIT), 0);  // EOF
}

TEST_F(BufferedStreamTest, WhatIsBufferedIsSentWhenTheStreamIsDestroyed) {
  stream_->write("parting", 7).wait(io_.waitScope);
  stream_ = nullptr;
  EXPECT_EQ(peer_recv(), "parting");
}

TEST_F(BufferedStreamTest, AFailedSocketWriteFailsTheWritesAfterIt) {
  peer_.reset();
  stream_->write("into the void", 13).wait(io_.waitScope);  // buffered: the failure comes later
  settle();
  EXPECT_THROW(stream_->write("again", 5).wait(io_.waitScope), kj::Exception);
}

TEST_F(BufferedStreamTest, ABurstOfSmallMessagesIsReadWhole) {
  std::string burst;
  for (int i = 0; i < 100; ++i) burst += "message " + std::to_string(i) + ";";
  ASSERT_EQ(::send(peer_.get(), burst.data(), burst.size(), 0),
            static_cast<ssize_t>(burst.size()));
  std::string got;
  char buf[7];
  while (got.size() < burst.size()) {
    size_t n = stream_->tryRead(buf, 1, sizeof buf).wait(io_.waitScope);
    ASSERT_GT(n, 0u);
    got.append(buf, n);
  }
  EXPECT_EQ(got, burst);
}

TEST_F(BufferedStreamTest, AReadLargerThanTheBufferGetsAllTheBytes) {
  std::string big(300 * 1024, 'r');
  size_t sent = 0;
  std::string got(big.size(), '\0');
  kj::Promise<size_t> read = stream_->tryRead(got.data(), got.size(), got.size());
  while (sent < big.size()) {
    ssize_t n = ::send(peer_.get(), big.data() + sent, big.size() - sent, MSG_DONTWAIT);
    if (n > 0) sent += static_cast<size_t>(n);
    read.poll(io_.waitScope);
  }
  EXPECT_EQ(read.wait(io_.waitScope), big.size());
  EXPECT_EQ(got, big);
}

TEST_F(BufferedStreamTest, EndOfStreamIsAShortRead) {
  ASSERT_EQ(::send(peer_.get(), "ab", 2, 0), 2);
  peer_.reset();
  char buf[8];
  EXPECT_EQ(stream_->tryRead(buf, 8, 8).wait(io_.waitScope), 2u);
}

}  // namespace
}  // namespace smol::ipc
