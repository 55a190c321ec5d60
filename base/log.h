// Logging: one line per event on stderr, with a level.
//
// Under systemd (JOURNAL_STREAM set) each line starts with the "<N>" syslog
// priority prefix that journald parses; on a terminal it reads
// "swarmd: warning: ...". Log once, where the decision is made: library code
// returns errors, the supervisor logs them.
#pragma once

#include <string_view>

namespace smol::log {

enum class Level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// Sets the program name printed on terminals and the least severe level shown.
void init(std::string_view program, Level threshold = Level::info);

void write(Level level, std::string_view message);

inline void error(std::string_view m) { write(Level::error, m); }
inline void warning(std::string_view m) { write(Level::warning, m); }
inline void notice(std::string_view m) { write(Level::notice, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void debug(std::string_view m) { write(Level::debug, m); }

}  // namespace smol::log
