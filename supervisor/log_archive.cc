#include "supervisor/log_archive.h"

#include <memory>
#include <utility>

#include "ipc/thread_pool.h"
#include "supervisor/log_files.h"

namespace smol::supervisor {

kj::Promise<std::optional<std::string>> LogArchive::read(std::string path, uint64_t tail_bytes) {
  // The text goes through a shared slot, not the forked promise, which would
  // copy it for each of its branches.
  auto out = std::make_shared<std::optional<std::string>>();
  auto done = last_.addBranch()
                  .then([this, path = std::move(path), tail_bytes, out] {
                    return ipc::on_thread_pool<std::optional<std::string>>(
                               loop_, [path, tail_bytes] {
                                 return read_log_tail(path, tail_bytes, kMaxRead);
                               })
                        .then([out](std::optional<std::string> text) { *out = std::move(text); });
                  })
                  .fork();
  // The next read waits for this one, whether it fails or its caller goes.
  last_ = done.addBranch().catch_([](kj::Exception&&) {}).fork();
  return done.addBranch().then([out] { return std::move(*out); });
}

}  // namespace smol::supervisor
