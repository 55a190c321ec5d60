// ScratchDir: a fresh directory under /tmp for one test fixture, removed
// with everything in it when the fixture goes (the storage tests each run on
// real LMDB files of their own).
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "base/sys_error.h"

namespace smol::test {

class ScratchDir {
 public:
  // The directory is "/tmp/<prefix>-XXXXXX". Throws SysError if it cannot be made.
  explicit ScratchDir(std::string_view prefix) : path_("/tmp/" + std::string(prefix) + "-XXXXXX") {
    if (::mkdtemp(path_.data()) == nullptr) throw SysError(errno, "mkdtemp", path_);
  }
  ~ScratchDir() {
    std::error_code ignored;  // a destructor cannot report; the path says what was left
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace smol::test
