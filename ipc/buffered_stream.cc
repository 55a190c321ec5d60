#include "ipc/buffered_stream.h"

#include <algorithm>
#include <cstring>

#include <kj/debug.h>

namespace smol::ipc {

constexpr size_t kReadBufferBytes = 64 * 1024;
// A write this big goes straight from the caller's memory; as many bytes
// buffered make the writer wait for the socket.
constexpr size_t kDirectWriteBytes = 64 * 1024;
constexpr size_t kWriteBufferBytes = 64 * 1024;

BufferedStream::BufferedStream(kj::Own<kj::AsyncIoStream> inner)
    : inner_(kj::mv(inner)), in_(kj::heapArray<kj::byte>(kReadBufferBytes)), tasks_(*this) {}

BufferedStream::~BufferedStream() {
  if (writing_ || out_.empty() || failure_ != nullptr) return;
  kj::runCatchingExceptions([this] {
    // A socket stream writes what it can before its write() returns; the
    // promise for the rest, dropped here, is all that is given up.
    kj::Promise<void> rest = inner_->write(out_.data(), out_.size());
  });
}

size_t BufferedStream::take(kj::byte* out, size_t max) {
  size_t n = std::min(max, in_end_ - in_begin_);
  if (n > 0) std::memcpy(out, in_.begin() + in_begin_, n);
  in_begin_ += n;
  return n;
}

kj::Promise<size_t> BufferedStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  auto* out = static_cast<kj::byte*>(buffer);
  size_t got = take(out, max_bytes);
  if (got >= min_bytes) return got;
  return read_more(out, min_bytes, max_bytes, got);
}

kj::Promise<size_t> BufferedStream::read_more(kj::byte* out, size_t min_bytes, size_t max_bytes,
                                              size_t got) {
  // The buffer is empty here: take() drained it before coming short.
  if (max_bytes - got >= kReadBufferBytes) {
    return inner_->tryRead(out + got, min_bytes - got, max_bytes - got).then([got](size_t n) {
      return got + n;
    });
  }
  return inner_->tryRead(in_.begin(), 1, in_.size())
      .then([this, out, min_bytes, max_bytes, got](size_t n) mutable -> kj::Promise<size_t> {
        in_begin_ = 0;
        in_end_ = n;
        if (n == 0) return got;  // end of stream: the caller sees a short read
        got += take(out + got, max_bytes - got);
        if (got >= min_bytes) return got;
        return read_more(out, min_bytes, max_bytes, got);
      });
}

kj::Promise<void> BufferedStream::write(const void* buffer, size_t size) {
  KJ_IF_MAYBE(e, failure_) { return kj::cp(*e); }
  if (size >= kDirectWriteBytes) return direct([this, buffer, size] { return inner_->write(buffer, size); });
  auto* bytes = static_cast<const kj::byte*>(buffer);
  out_.insert(out_.end(), bytes, bytes + size);
  return queued();
}

kj::Promise<void> BufferedStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  KJ_IF_MAYBE(e, failure_) { return kj::cp(*e); }
  size_t size = 0;
  for (const auto& piece : pieces) size += piece.size();
  if (size >= kDirectWriteBytes) return direct([this, pieces] { return inner_->write(pieces); });
  for (const auto& piece : pieces) out_.insert(out_.end(), piece.begin(), piece.end());
  return queued();
}

template <typename Write>
kj::Promise<void> BufferedStream::direct(Write write) {
  return drained().then([this, write = kj::mv(write)]() mutable {
    writing_ = true;
    return kj::evalNow(write).then([this] { write_done(); }, [this](kj::Exception&& e) {
      write_failed(kj::cp(e));
      kj::throwFatalException(kj::mv(e));
    });
  });
}

kj::Promise<void> BufferedStream::queued() {
  if (out_.size() < kWriteBufferBytes) {
    schedule_flush();
    return kj::READY_NOW;
  }
  return drained();
}

void BufferedStream::schedule_flush() {
  if (flush_scheduled_ || writing_) return;  // a write in progress flushes when it is done
  flush_scheduled_ = true;
  tasks_.add(kj::evalLast([this] {
    flush_scheduled_ = false;
    flush();
  }));
}

void BufferedStream::flush() {
  if (writing_ || out_.empty()) return;
  writing_ = true;
  std::swap(out_, sending_);  // sending_ was empty; the two keep their capacity
  tasks_.add(kj::evalNow([this] { return inner_->write(sending_.data(), sending_.size()); })
                 .then([this] { write_done(); },
                       [this](kj::Exception&& e) { write_failed(kj::mv(e)); }));
}

void BufferedStream::write_done() {
  writing_ = false;
  sending_.clear();
  if (!out_.empty()) {
    flush();  // the socket took the last lot: what came meanwhile goes now
    return;
  }
  if (shutdown_pending_) {
    shutdown_pending_ = false;
    inner_->shutdownWrite();
  }
  KJ_IF_MAYBE(waiter, drained_waiter_) {
    (*waiter)->fulfill();
    drained_waiter_ = nullptr;
  }
}

void BufferedStream::write_failed(kj::Exception&& e) {
  writing_ = false;
  shutdown_pending_ = false;
  out_.clear();
  sending_.clear();
  KJ_IF_MAYBE(waiter, drained_waiter_) {
    (*waiter)->reject(kj::cp(e));
    drained_waiter_ = nullptr;
  }
  failure_ = kj::mv(e);
}

kj::Promise<void> BufferedStream::drained() {
  KJ_IF_MAYBE(e, failure_) { return kj::cp(*e); }
  if (!writing_ && out_.empty()) return kj::READY_NOW;
  KJ_REQUIRE(drained_waiter_ == nullptr, "BufferedStream takes one write at a time");
  auto paf = kj::newPromiseAndFulfiller<void>();
  drained_waiter_ = kj::mv(paf.fulfiller);
  flush();
  return kj::mv(paf.promise);
}

void BufferedStream::taskFailed(kj::Exception&& e) { write_failed(kj::mv(e)); }

kj::Promise<void> BufferedStream::whenWriteDisconnected() {
  return inner_->whenWriteDisconnected();
}

void BufferedStream::shutdownWrite() {
  if (writing_ || !out_.empty()) {
    shutdown_pending_ = true;  // after what is buffered
    flush();
    return;
  }
  inner_->shutdownWrite();
}

void BufferedStream::abortRead() { inner_->abortRead(); }

}  // namespace smol::ipc
