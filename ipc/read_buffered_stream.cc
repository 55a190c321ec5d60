#include "ipc/read_buffered_stream.h"

#include <algorithm>
#include <cstring>

namespace smol::ipc {

constexpr size_t kBufferBytes = 64 * 1024;

ReadBufferedStream::ReadBufferedStream(kj::Own<kj::AsyncIoStream> inner)
    : inner_(kj::mv(inner)), buffer_(kj::heapArray<kj::byte>(kBufferBytes)) {}

size_t ReadBufferedStream::take(kj::byte* out, size_t max) {
  size_t n = std::min(max, end_ - begin_);
  if (n > 0) std::memcpy(out, buffer_.begin() + begin_, n);
  begin_ += n;
  return n;
}

kj::Promise<size_t> ReadBufferedStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  auto* out = static_cast<kj::byte*>(buffer);
  size_t got = take(out, max_bytes);
  if (got >= min_bytes) return got;
  return read_more(out, min_bytes, max_bytes, got);
}

kj::Promise<size_t> ReadBufferedStream::read_more(kj::byte* out, size_t min_bytes,
                                                  size_t max_bytes, size_t got) {
  // The buffer is empty here: take() drained it before coming short.
  if (max_bytes - got >= kBufferBytes) {
    return inner_->tryRead(out + got, min_bytes - got, max_bytes - got).then([got](size_t n) {
      return got + n;
    });
  }
  return inner_->tryRead(buffer_.begin(), 1, buffer_.size())
      .then([this, out, min_bytes, max_bytes, got](size_t n) mutable -> kj::Promise<size_t> {
        begin_ = 0;
        end_ = n;
        if (n == 0) return got;  // end of stream: the caller sees a short read
        got += take(out + got, max_bytes - got);
        if (got >= min_bytes) return got;
        return read_more(out, min_bytes, max_bytes, got);
      });
}

kj::Promise<void> ReadBufferedStream::write(const void* buffer, size_t size) {
  return inner_->write(buffer, size);
}

kj::Promise<void> ReadBufferedStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  return inner_->write(pieces);
}

kj::Promise<void> ReadBufferedStream::whenWriteDisconnected() {
  return inner_->whenWriteDisconnected();
}

void ReadBufferedStream::shutdownWrite() { inner_->shutdownWrite(); }

void ReadBufferedStream::abortRead() { inner_->abortRead(); }

}  // namespace smol::ipc
