// The live progress line of `swarmctl task run --wait` on a terminal:
//
//   [#########.........]  412/1000 done  3 failed  12 running  00:07 elapsed  ETA 00:10
//
// Two halves. The pure half (progress_line(), estimate_remaining(),
// format_clock()) turns a task's counters and its elapsed time into that
// text for a given terminal width; it is separate so tests can check the
// arithmetic (fill, ETA, clamping) without a terminal. ProgressBar is the
// other half: it keeps one such line at the bottom of the terminal, redrawn
// in place, and lets whole lines be printed above it.
//
// Everything here is single-threaded and does no I/O of its own:
// ProgressBar writes through the function it is given.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace smol::cli {

// A task's subtask counters, as TaskInfo carries them.
struct TaskCounts {
  uint32_t done = 0;  // succeeded, failed or cancelled
  uint32_t total = 0;
  uint32_t failed = 0;
  uint32_t running = 0;
};

// The bar's cells between the brackets: as many as fit, within these bounds.
// Below kMinBarCells the bar is left out rather than drawn uselessly small.
inline constexpr size_t kMinBarCells = 10;
inline constexpr size_t kMaxBarCells = 40;

// The time still needed at the rate so far: elapsed * (total - done) / done.
// nullopt while that is unknown: nothing done yet, no subtasks at all, or no
// time elapsed. Zero once done reaches total; at most 100 days.
std::optional<std::chrono::milliseconds> estimate_remaining(const TaskCounts& c,
                                                            std::chrono::milliseconds elapsed);

// A duration as a clock, rounded down to the second: "00:07", "12:34",
// "1:02:03" (hours only when there are any). Negative durations show "00:00".
std::string format_clock(std::chrono::milliseconds d);

// The whole progress line for a terminal `columns` wide, never longer than
// that (a longer line would wrap, and "\r" only returns to the start of its
// last row, so each redraw would leave a copy behind). The bar takes the
// room the text leaves, between kMinBarCells and kMaxBarCells; with less
// room it is dropped and the text cut at `columns`. The fill is
// done/total, empty when total is 0, full when done >= total. The ETA is
// estimate_remaining() rounded up to the second ("ETA 00:00" only when all
// is done), or "ETA --:--" while unknown.
std::string progress_line(const TaskCounts& c, std::chrono::milliseconds elapsed, size_t columns);

// One line kept at the bottom of a terminal and redrawn in place with "\r"
// and clear-to-end-of-line. Lines printed with print_above() scroll up
// above it. Writes go through `write` (which may throw; the bar's state is
// then as if the write had happened).
class ProgressBar final {
 public:
  using Write = std::function<void(std::string_view)>;

  explicit ProgressBar(Write write);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Replaces the bar's text with `line` (no newline in it) and shows it.
  void draw(std::string line);

  // Prints `text` (one or more lines; a final newline is added if missing)
  // where the bar is, then draws the bar again below it: with `line` as its
  // new text if given (which also shows a cleared bar), else as it was.
  void print_above(std::string_view text, std::optional<std::string> line = std::nullopt);

  // Removes the bar, leaving the cursor at the start of the empty line, so
  // what is printed next starts there. Draw() shows it again.
  void clear();

 private:
  Write write_;
  std::string line_;
  bool shown_ = false;
};

}  // namespace smol::cli
