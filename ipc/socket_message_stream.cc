#include "ipc/socket_message_stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>
#include <bit>
#include <cerrno>
#include <cstring>

#include <capnp/serialize.h>
#include <kj/debug.h>

namespace smol::ipc {
namespace {

static_assert(std::endian::native == std::endian::little,
              "capnp's segment table is little-endian, and is copied as is");

constexpr size_t kWord = sizeof(capnp::word);
constexpr size_t kReadBufferBytes = 64 * 1024;
// Bytes written and not yet taken by the socket, past which the peer is
// taken to have stopped reading: twice the biggest message a reader's
// default traversal limit (what swarmd's agent sockets use) admits.
constexpr size_t kMaxBacklogBytes = 32 << 20;
// capnp's own reader refuses 512 segments or more.
constexpr uint64_t kMaxSegments = 511;

uint32_t u32_at(const kj::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A peer that went away is DISCONNECTED, as KJ's own streams report it; the
// text keeps strerror's words ("Connection reset by peer", "Broken pipe"),
// which the daemon tells hang-ups by.
kj::Exception socket_error(int err, const char* call) {
  bool gone = err == ECONNRESET || err == EPIPE || err == ENOTCONN;
  return kj::Exception(gone ? kj::Exception::Type::DISCONNECTED : kj::Exception::Type::FAILED,
                       __FILE__, __LINE__, kj::str(call, "() on an RPC socket: ", strerror(err)));
}

// capnp's framing: the segment count minus one, then each segment's size in
// words, as 32-bit values, padded to a whole word.
size_t table_bytes(size_t segments) { return (segments / 2 + 1) * kWord; }

void fill_table(kj::byte* out, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  std::memset(out, 0, table_bytes(segments.size()));
  uint32_t n = static_cast<uint32_t>(segments.size() - 1);
  std::memcpy(out, &n, sizeof n);
  for (size_t i = 0; i < segments.size(); ++i) {
    uint32_t words = static_cast<uint32_t>(segments[i].size());
    std::memcpy(out + 4 + 4 * i, &words, sizeof words);
  }
}

}  // namespace

SocketMessageStream::SocketMessageStream(kj::UnixEventPort& port, UniqueFd fd)
    : fd_(std::move(fd)),
      port_(port),
      observer_(port, fd_.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ),
      in_(kj::heapArray<capnp::word>(kReadBufferBytes / kWord)),
      tasks_(*this) {
  int flags = 0;
  KJ_SYSCALL(flags = ::fcntl(fd_.get(), F_GETFL));
  if ((flags & O_NONBLOCK) == 0) {
    KJ_SYSCALL(::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK));
  }
}

SocketMessageStream::~SocketMessageStream() {
  if (writing_ || out_.empty() || failure_ != nullptr) return;
  // What capnp wrote last still goes, as far as the socket takes it now: a
  // plain stream would have written it already.
  ssize_t sent = ::send(fd_.get(), out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  static_cast<void>(sent);  // nothing to do about a peer that is gone
}

// ---- reading ----

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> SocketMessageStream::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd>, capnp::ReaderOptions options, kj::ArrayPtr<capnp::word>) {
  KJ_IF_MAYBE (e, read_failure_) { return kj::cp(*e); }
  return reads_.wrap(kj::evalNow([&] { return read_message(options); }))
      .then(
          [](Message m) -> kj::Maybe<capnp::MessageReaderAndFds> {
            KJ_IF_MAYBE (reader, m) {
              return capnp::MessageReaderAndFds{kj::mv(*reader), nullptr};
            }
            return nullptr;
          },
          [this](kj::Exception&& e) -> kj::Maybe<capnp::MessageReaderAndFds> {
            if (read_failure_ == nullptr) read_failure_ = kj::cp(e);
            kj::throwFatalException(kj::mv(e));
          });
}

kj::Promise<SocketMessageStream::Message> SocketMessageStream::read_message(
    capnp::ReaderOptions options) {
  if (big_.size() > 0) return read_big(options);
  auto* base = reinterpret_cast<kj::byte*>(in_.begin());
  size_t capacity = in_.size() * kWord;
  KJ_IF_MAYBE (bytes, framed_size(options)) {
    if (in_end_ - in_begin_ >= *bytes) return Message(take_message(*bytes, options));
    if (*bytes > capacity) {
      start_big(*bytes);
      return read_big(options);
    }
  }
  if (eof_) {
    if (in_end_ == in_begin_) return Message(nullptr);
    return KJ_EXCEPTION(DISCONNECTED, "Premature EOF: the peer hung up inside a message");
  }
  // The rest of the message goes after what is unread, moved to the front.
  std::memmove(base, base + in_begin_, in_end_ - in_begin_);
  in_end_ -= in_begin_;
  in_begin_ = 0;
  return fill(base + in_end_, capacity - in_end_, in_end_).then([this, options] {
    return read_message(options);
  });
}

kj::Maybe<size_t> SocketMessageStream::framed_size(const capnp::ReaderOptions& options) const {
  const kj::byte* p = reinterpret_cast<const kj::byte*>(in_.begin()) + in_begin_;
  size_t have = in_end_ - in_begin_;
  if (have < 4) return nullptr;
  uint64_t segments = uint64_t{u32_at(p)} + 1;
  KJ_REQUIRE(segments <= kMaxSegments, "Message has too many segments.", segments);
  size_t table = table_bytes(segments);
  if (have < table) return nullptr;
  uint64_t words = 0;
  for (uint64_t i = 0; i < segments; ++i) words += u32_at(p + 4 + 4 * i);
  KJ_REQUIRE(words <= options.traversalLimitInWords,
             "Message is too large. To increase the limit on the receiving end, see "
             "capnp::ReaderOptions.",
             words, options.traversalLimitInWords);
  return table + words * kWord;
}

kj::Own<capnp::MessageReader> SocketMessageStream::take_message(
    size_t bytes, const capnp::ReaderOptions& options) {
  auto words = kj::heapArray<capnp::word>(bytes / kWord);
  std::memcpy(words.begin(), reinterpret_cast<kj::byte*>(in_.begin()) + in_begin_, bytes);
  in_begin_ += bytes;
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  auto reader = kj::heap<capnp::FlatArrayMessageReader>(words, options);
  return reader.attach(kj::mv(words));
}

void SocketMessageStream::start_big(size_t bytes) {
  big_ = kj::heapArray<capnp::word>(bytes / kWord);
  big_have_ = in_end_ - in_begin_;
  std::memcpy(big_.begin(), reinterpret_cast<kj::byte*>(in_.begin()) + in_begin_, big_have_);
  in_begin_ = in_end_ = 0;
}

kj::Promise<SocketMessageStream::Message> SocketMessageStream::read_big(
    capnp::ReaderOptions options) {
  size_t total = big_.size() * kWord;
  if (big_have_ == total) {
    kj::Array<capnp::word> words = kj::mv(big_);
    big_have_ = 0;
    auto reader = kj::heap<capnp::FlatArrayMessageReader>(words, options);
    return Message(reader.attach(kj::mv(words)));
  }
  if (eof_) return KJ_EXCEPTION(DISCONNECTED, "Premature EOF: the peer hung up inside a message");
  auto* out = reinterpret_cast<kj::byte*>(big_.begin());
  return fill(out + big_have_, total - big_have_, big_have_).then([this, options] {
    return read_big(options);
  });
}

kj::Promise<void> SocketMessageStream::fill(kj::byte* out, size_t max, size_t& count) {
  if (!may_be_readable_) {
    return readable_.addBranch().then([this, out, max, &count] { return fill(out, max, count); });
  }
  for (;;) {
    ssize_t n = ::read(fd_.get(), out, max);
    if (n > 0) {
      count += static_cast<size_t>(n);
      return kj::READY_NOW;
    }
    if (n == 0) {
      eof_ = true;
      return kj::READY_NOW;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return socket_error(errno, "read");
    mark_drained();
    return readable_.addBranch().then([this, out, max, &count] { return fill(out, max, count); });
  }
}

void SocketMessageStream::mark_drained() {
  may_be_readable_ = false;
  // Asked now, in the same turn as the read that found the socket empty:
  // epoll reports new data once, and a report nobody waits for is lost.
  readable_ = observer_.whenBecomesReadable().then([this] { may_be_readable_ = true; }).fork();
}

// ---- writing ----

kj::Promise<void> SocketMessageStream::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  KJ_REQUIRE(fds.size() == 0, "this connection does not carry file descriptors");
  KJ_REQUIRE(segments.size() > 0, "a Cap'n Proto message has at least one segment");
  KJ_IF_MAYBE (e, failure_) { return kj::cp(*e); }
  size_t table = table_bytes(segments.size());
  size_t bytes = table;
  for (const auto& s : segments) bytes += s.size() * kWord;
  if (out_.size() + sending_.size() + bytes > kMaxBacklogBytes) {
    stall(out_.size() + sending_.size() + bytes);
    return kj::cp(KJ_ASSERT_NONNULL(failure_));
  }
  size_t at = out_.size();
  out_.resize(at + bytes);
  fill_table(out_.data() + at, segments);
  at += table;
  for (const auto& s : segments) {
    std::memcpy(out_.data() + at, s.begin(), s.size() * kWord);
    at += s.size() * kWord;
  }
  schedule_flush();
  return kj::READY_NOW;
}

void SocketMessageStream::stall(size_t backlog) {
  auto e = kj::Exception(
      kj::Exception::Type::FAILED, __FILE__, __LINE__,
      kj::str("the peer stopped reading its socket: ", backlog,
              " bytes would wait for it, the limit is ", kMaxBacklogBytes));
  out_.clear();
  out_.shrink_to_fit();
  failure_ = kj::cp(e);
  // capnp ends a connection on a failed read only, not on a failed write.
  if (read_failure_ == nullptr) read_failure_ = kj::cp(e);
  reads_.cancel(e);
}

kj::Promise<void> SocketMessageStream::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  for (auto segments : messages) {
    // Done or failed at once (a write never waits); failure_ says which.
    writeMessage(nullptr, segments);
    KJ_IF_MAYBE (e, failure_) { return kj::cp(*e); }
  }
  return kj::READY_NOW;
}

kj::Maybe<int> SocketMessageStream::getSendBufferSize() {
  int size = 0;
  socklen_t len = sizeof size;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &size, &len) != 0) return nullptr;
  return size;
}

kj::Promise<void> SocketMessageStream::end() {
  return drained().then([this] {
    if (::shutdown(fd_.get(), SHUT_WR) != 0 && errno != ENOTCONN) {
      return kj::Promise<void>(socket_error(errno, "shutdown"));
    }
    return kj::Promise<void>(kj::READY_NOW);
  });
}

void SocketMessageStream::schedule_flush() {
  if (flush_scheduled_ || writing_) return;  // a send in progress flushes when it is done
  flush_scheduled_ = true;
  tasks_.add(kj::evalLast([this] {
    flush_scheduled_ = false;
    flush();
  }));
}

void SocketMessageStream::flush() {
  if (writing_ || out_.empty()) return;
  writing_ = true;
  std::swap(out_, sending_);  // sending_ was empty; the two keep their capacity
  tasks_.add(send_from(0)
                 .then([this] { write_done(); },
                       [this](kj::Exception&& e) { write_failed(kj::mv(e)); }));
}

kj::Promise<void> SocketMessageStream::send_from(size_t sent) {
  while (sent < sending_.size()) {
    ssize_t n = ::send(fd_.get(), sending_.data() + sent, sending_.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return socket_error(errno, "send");
    return writable().then([this, sent] { return send_from(sent); });
  }
  return kj::READY_NOW;
}

kj::Promise<void> SocketMessageStream::writable() {
  // The socket's own registration is for reads only: registered for writes
  // too, every read by the peer would report room and wake this process for
  // nothing. A full socket is rare; while a send waits for room, a duplicate
  // of the fd (made the first time, then kept) is registered for that alone.
  if (!room_fd_) {
    room_fd_ = UniqueFd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!room_fd_) return socket_error(errno, "fcntl(F_DUPFD_CLOEXEC)");
  }
  auto watch = kj::heap<kj::UnixEventPort::FdObserver>(
      port_, room_fd_.get(), kj::UnixEventPort::FdObserver::OBSERVE_WRITE);
  auto room = watch->whenBecomesWritable();
  return room.attach(kj::mv(watch));
}

void SocketMessageStream::write_done() {
  writing_ = false;
  sending_.clear();
  if (!out_.empty()) {
    flush();  // the socket took the last lot: what came meanwhile goes now
    return;
  }
  KJ_IF_MAYBE (waiter, drained_waiter_) {
    (*waiter)->fulfill();
    drained_waiter_ = nullptr;
  }
}

void SocketMessageStream::write_failed(kj::Exception&& e) {
  writing_ = false;
  out_.clear();
  sending_.clear();
  KJ_IF_MAYBE (waiter, drained_waiter_) {
    (*waiter)->reject(kj::cp(e));
    drained_waiter_ = nullptr;
  }
  failure_ = kj::mv(e);
}

kj::Promise<void> SocketMessageStream::drained() {
  KJ_IF_MAYBE (e, failure_) { return kj::cp(*e); }
  if (!writing_ && out_.empty()) return kj::READY_NOW;
  KJ_REQUIRE(drained_waiter_ == nullptr, "SocketMessageStream::end() called twice");
  auto paf = kj::newPromiseAndFulfiller<void>();
  drained_waiter_ = kj::mv(paf.fulfiller);
  flush();
  return kj::mv(paf.promise);
}

void SocketMessageStream::taskFailed(kj::Exception&& e) { write_failed(kj::mv(e)); }

}  // namespace smol::ipc
