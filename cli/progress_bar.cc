#include "cli/progress_bar.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace smol::cli {
namespace {

// Clear from the cursor to the end of the line (ECMA-48 EL 0).
constexpr std::string_view kClearToEnd = "\x1b[K";

// Estimates are capped here (100 days): beyond it they mean nothing, and
// a double past int64's range would not convert back.
constexpr double kMaxEstimateMillis = 100.0 * 24 * 3600 * 1000;

std::chrono::milliseconds round_up_to_second(std::chrono::milliseconds d) {
  return std::chrono::milliseconds((d.count() + 999) / 1000 * 1000);
}

}  // namespace

std::optional<std::chrono::milliseconds> estimate_remaining(const TaskCounts& c,
                                                            std::chrono::milliseconds elapsed) {
  if (c.total == 0 || c.done == 0 || elapsed.count() <= 0) return std::nullopt;
  if (c.done >= c.total) return std::chrono::milliseconds(0);
  // In floating point: elapsed times the remaining count overflows int64
  // for a task that has run long enough with enough subtasks.
  double left = static_cast<double>(elapsed.count()) * (c.total - c.done) / c.done;
  return std::chrono::milliseconds(std::llround(std::min(left, kMaxEstimateMillis)));
}

std::string format_clock(std::chrono::milliseconds d) {
  int64_t s = std::max<int64_t>(d.count(), 0) / 1000;
  char buf[32];
  if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  }
  return buf;
}

std::string progress_line(const TaskCounts& c, std::chrono::milliseconds elapsed, size_t columns) {
  auto eta = estimate_remaining(c, elapsed);
  std::string text = "  " + std::to_string(c.done) + "/" + std::to_string(c.total) + " done  " +
                     std::to_string(c.failed) + " failed  " + std::to_string(c.running) +
                     " running  " + format_clock(elapsed) + " elapsed  ETA " +
                     (eta ? format_clock(round_up_to_second(*eta)) : "--:--");

  size_t brackets = 2;
  if (columns < text.size() + brackets + kMinBarCells) {
    text.erase(0, 2);  // no bar to keep apart from
    if (text.size() > columns) text.resize(columns);
    return text;
  }
  size_t cells = std::min(columns - text.size() - brackets, kMaxBarCells);
  // 64-bit: cells * done fits easily, and total 0 never divides.
  size_t filled = c.total == 0 ? 0
                               : static_cast<size_t>(uint64_t{cells} * std::min(c.done, c.total) /
                                                     c.total);
  std::string line = "[";
  line.append(filled, '#');
  line.append(cells - filled, '.');
  line += ']';
  return line + text;
}

ProgressBar::ProgressBar(Write write) : write_(std::move(write)) {}

void ProgressBar::draw(std::string line) {
  line_ = std::move(line);
  shown_ = true;
  write_("\r" + line_ + std::string(kClearToEnd));
}

void ProgressBar::print_above(std::string_view text, std::optional<std::string> line) {
  std::string out = "\r" + std::string(kClearToEnd) + std::string(text);
  if (!text.ends_with('\n')) out += '\n';
  if (line) {
    line_ = std::move(*line);
    shown_ = true;
  }
  if (shown_) out += line_ + std::string(kClearToEnd);
  write_(out);
}

void ProgressBar::clear() {
  if (!shown_) return;
  shown_ = false;
  write_("\r" + std::string(kClearToEnd));
}

}  // namespace smol::cli
