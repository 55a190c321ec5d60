#include "base/log.h"

#include <cstdlib>
#include <string>
#include <unistd.h>

namespace smol::log {
namespace {

std::string g_program = "smolswarms";
Level g_threshold = Level::info;
bool g_journal = false;

const char* level_name(Level l) {
  switch (l) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "info";
}

}  // namespace

void init(std::string_view program, Level threshold) {
  g_program = program;
  g_threshold = threshold;
  g_journal = std::getenv("JOURNAL_STREAM") != nullptr;
}

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) > static_cast<int>(g_threshold)) return;
  std::string line;
  line.reserve(message.size() + 32);
  if (g_journal) {
    line += '<';
    line += std::to_string(static_cast<int>(level));
    line += '>';
  } else {
    line += g_program;
    line += ": ";
    line += level_name(level);
    line += ": ";
  }
  for (char c : message) {
    if (c == '\n') {
      line += " \\ ";  // keep one event on one line; journald splits at newlines
    } else {
      line += c;
    }
  }
  line += '\n';
  // One write() per line keeps lines whole when several processes share stderr.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace smol::log
