#include "supervisor/log_file.h"

#include <fcntl.h>

#include <vector>

#include "base/log.h"
#include "base/sys_error.h"

namespace smol::supervisor {

// Lives as long as the LogFile or any request in flight, whichever is longer.
struct LogFile::State : std::enable_shared_from_this<State> {
  ipc::EventLoop* loop;
  std::string path;
  uint64_t max_bytes;

  uv_fs_t req{};
  std::shared_ptr<State> self_while_busy;  // set while req is in flight
  uv_file fd = -1;
  bool stat_done = false;
  uint64_t size = 0;
  std::string pending;
  std::string writing;
  uint64_t dropped = 0;
  bool rotate_on_close = false;  // the close in flight is for rotation
  bool rotating = false;         // closed for rotation; rename comes next
  bool closing = false;
  bool failed = false;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> flush_waiters;

  bool busy() const { return self_while_busy != nullptr; }

  // Starts the next step if none is in flight.
  void next() {
    if (busy()) return;
    if (failed || (closing && pending.empty())) {
      if (fd >= 0) return start(uv_fs_close(loop->uv(), &req, fd, done), "close");
      return settle();
    }
    if (rotating) {
      std::string rotated = path + ".1";
      return start(uv_fs_rename(loop->uv(), &req, path.c_str(), rotated.c_str(), done), "rename");
    }
    if (pending.empty()) return settle();
    if (fd < 0) {
      return start(uv_fs_open(loop->uv(), &req, path.c_str(),
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640, done),
                   "open");
    }
    if (!stat_done) return start(uv_fs_fstat(loop->uv(), &req, fd, done), "fstat");
    if (size > 0 && size + pending.size() > max_bytes) {
      rotate_on_close = true;
      return start(uv_fs_close(loop->uv(), &req, fd, done), "close");
    }
    writing = std::move(pending);
    pending.clear();
    uv_buf_t buf = uv_buf_init(writing.data(), static_cast<unsigned>(writing.size()));
    start(uv_fs_write(loop->uv(), &req, fd, &buf, 1, -1, done), "write");
  }

  void start(int rc, const char* step) {
    if (rc < 0) {
      fail(-rc, step);
      return next();  // close what is open, wake flush waiters
    }
    req.data = this;
    self_while_busy = shared_from_this();
    loop->wake();
  }

  static void done(uv_fs_t* r) {
    auto* self = static_cast<State*>(r->data);
    std::shared_ptr<State> keep = std::move(self->self_while_busy);
    try {
      self->finish(r->fs_type, r->result, r->statbuf.st_size);
    } catch (const std::exception& e) {
      log::error("log file " + self->path + ": " + e.what());
    }
    uv_fs_req_cleanup(r);
    self->next();
  }

  void finish(uv_fs_type type, ssize_t result, uint64_t stat_size) {
    if (result < 0) {
      return fail(static_cast<int>(-result), uv_fs_type_name(type));
    }
    switch (type) {
      case UV_FS_OPEN:
        fd = static_cast<uv_file>(result);
        break;
      case UV_FS_FSTAT:
        size = stat_size;
        stat_done = true;
        break;
      case UV_FS_WRITE:
        size += static_cast<uint64_t>(result);
        if (static_cast<size_t>(result) < writing.size()) {
          pending.insert(0, writing, static_cast<size_t>(result));
        }
        writing.clear();
        break;
      case UV_FS_CLOSE:
        fd = -1;
        stat_done = false;
        rotating = rotate_on_close && !failed;
        rotate_on_close = false;
        break;
      case UV_FS_RENAME:
        rotating = false;
        break;
      default:
        break;
    }
  }

  static const char* uv_fs_type_name(uv_fs_type t) {
    switch (t) {
      case UV_FS_OPEN: return "open";
      case UV_FS_FSTAT: return "fstat";
      case UV_FS_WRITE: return "write";
      case UV_FS_CLOSE: return "close";
      case UV_FS_RENAME: return "rename";
      default: return "fs";
    }
  }

  void fail(int code, const char* step) {
    if (!failed) {
      log::warning("agent log file: " + describe_errno(code, step, path) +
                   "; its output is kept in memory only");
    }
    failed = true;  // next() closes the file, if open
    pending.clear();
  }

  void settle() {
    auto waiters = std::move(flush_waiters);
    flush_waiters.clear();
    for (auto& w : waiters) w->fulfill();
  }
};

LogFile::LogFile(ipc::EventLoop& loop, std::string path, uint64_t max_bytes)
    : state_(std::make_shared<State>()) {
  state_->loop = &loop;
  state_->path = std::move(path);
  state_->max_bytes = max_bytes;
}

LogFile::~LogFile() { close(); }

void LogFile::close() {
  state_->closing = true;
  state_->next();
}

void LogFile::append(std::string_view data) {
  State& s = *state_;
  if (s.failed || data.empty()) return;
  s.closing = false;
  s.pending.append(data);
  if (s.pending.size() > kMaxPending) {
    size_t drop = s.pending.size() - kMaxPending / 2;
    s.dropped += drop;
    s.pending.erase(0, drop);
    s.pending.insert(0, "[... " + std::to_string(s.dropped) +
                            " bytes dropped: the disk fell behind ...]\n");
  }
  s.next();
}

kj::Promise<void> LogFile::flushed() {
  if (!state_->busy() && state_->pending.empty()) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  state_->flush_waiters.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

}  // namespace smol::supervisor
