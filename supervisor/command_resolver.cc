#include "supervisor/command_resolver.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace smol::supervisor {
namespace {

// Empty when path is runnable; otherwise why not.
std::string why_not_runnable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "it does not exist";
  if (!S_ISREG(st.st_mode)) return "it is not a regular file";
  if (::access(path.c_str(), X_OK) != 0) return "it is not executable";
  return {};
}

}  // namespace

std::vector<std::string> search_dirs(std::string_view agent_path) {
  std::vector<std::string> dirs;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(self.parent_path().string());
  std::string_view rest = agent_path;
  while (!rest.empty()) {
    size_t colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    if (!dir.empty() && dir.front() == '/') dirs.emplace_back(dir);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  }
  return dirs;
}

std::string resolve_command(const std::string& command, const std::string& base_dir,
                            const std::vector<std::string>& search_dirs) {
  if (command.find('/') != std::string::npos) {
    std::string path = command.front() == '/' ? command : base_dir + "/" + command;
    path = std::filesystem::path(path).lexically_normal().string();
    if (std::string why = why_not_runnable(path); !why.empty()) {
      throw std::runtime_error("command '" + command + "' resolves to " + path + ", but " + why);
    }
    return path;
  }
  for (const auto& dir : search_dirs) {
    std::string path = dir + "/" + command;
    if (why_not_runnable(path).empty()) return path;
  }
  std::string where;
  for (const auto& dir : search_dirs) where += (where.empty() ? "" : ":") + dir;
  throw std::runtime_error("command '" + command + "' not found in " + where +
                           " (swarmd's directory and PATH); give an absolute path");
}

}  // namespace smol::supervisor
