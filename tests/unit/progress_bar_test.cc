// The progress line of `swarmctl task run --wait`: its fill, its ETA, how
// it fits a terminal, and how ProgressBar redraws it.
#include "cli/progress_bar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace smol::cli {
namespace {

using std::chrono::milliseconds;

// The bar's cells, between '[' and ']'.
std::string bar_of(const std::string& line) {
  EXPECT_EQ(line.front(), '[') << line;
  return line.substr(1, line.find(']') - 1);
}

size_t filled(const std::string& line) {
  std::string bar = bar_of(line);
  return static_cast<size_t>(std::count(bar.begin(), bar.end(), '#'));
}

TEST(ProgressLine, FillIsProportionalToDone) {
  // A wide terminal: the bar has kMaxBarCells cells.
  std::string line = progress_line({.done = 500, .total = 1000}, milliseconds(1000), 200);
  EXPECT_EQ(bar_of(line).size(), kMaxBarCells);
  EXPECT_EQ(filled(line), kMaxBarCells / 2);
  // Rounded down: 1/3 of 40 cells is 13.
  EXPECT_EQ(filled(progress_line({.done = 1, .total = 3}, milliseconds(1000), 200)), 13u);
}

TEST(ProgressLine, EmptyAtStartFullAtEnd) {
  EXPECT_EQ(filled(progress_line({.done = 0, .total = 10}, milliseconds(0), 200)), 0u);
  EXPECT_EQ(filled(progress_line({.done = 10, .total = 10}, milliseconds(5000), 200)),
            kMaxBarCells);
  // More done than total (counters of two moments) is full, not past it.
  std::string over = progress_line({.done = 12, .total = 10}, milliseconds(5000), 200);
  EXPECT_EQ(bar_of(over), std::string(kMaxBarCells, '#'));
}

TEST(ProgressLine, ShowsTheCounters) {
  std::string line = progress_line({.done = 412, .total = 1000, .failed = 3, .running = 12},
                                   milliseconds(7000), 200);
  EXPECT_NE(line.find("]  412/1000 done  3 failed  12 running  00:07 elapsed  ETA "),
            std::string::npos)
      << line;
}

TEST(ProgressLine, EtaUnknownUntilSomethingIsDone) {
  EXPECT_EQ(estimate_remaining({.done = 0, .total = 1000}, milliseconds(7000)), std::nullopt);
  std::string line = progress_line({.done = 0, .total = 1000}, milliseconds(7000), 200);
  EXPECT_TRUE(line.ends_with("ETA --:--")) << line;
}

TEST(ProgressLine, EtaFollowsTheRateSoFar) {
  // 412 done in 7 s: 588 left at 412 per 7 s is 9.99 s.
  EXPECT_EQ(estimate_remaining({.done = 412, .total = 1000}, milliseconds(7000)),
            milliseconds(9990));
  EXPECT_EQ(estimate_remaining({.done = 1, .total = 4}, milliseconds(60'000)),
            milliseconds(180'000));
  // Shown rounded up: work is left, so not "00:09".
  std::string line = progress_line({.done = 412, .total = 1000}, milliseconds(7000), 200);
  EXPECT_TRUE(line.ends_with("ETA 00:10")) << line;
}

TEST(ProgressLine, EtaIsZeroWhenAllIsDone) {
  EXPECT_EQ(estimate_remaining({.done = 10, .total = 10}, milliseconds(5000)), milliseconds(0));
  EXPECT_TRUE(progress_line({.done = 10, .total = 10}, milliseconds(5000), 200)
                  .ends_with("ETA 00:00"));
}

TEST(ProgressLine, EtaDoesNotOverflowOnLongTasks) {
  // 30 days with 4e9 subtasks left: the product would overflow int64 millis.
  auto eta = estimate_remaining({.done = 1, .total = 4'000'000'000u},
                                milliseconds(30LL * 24 * 3600 * 1000));
  EXPECT_EQ(eta, milliseconds(100LL * 24 * 3600 * 1000));  // capped, not wrapped
}

TEST(ProgressLine, NoDivisionByZeroWithoutSubtasks) {
  EXPECT_EQ(estimate_remaining({.done = 0, .total = 0}, milliseconds(5000)), std::nullopt);
  EXPECT_EQ(estimate_remaining({.done = 3, .total = 0}, milliseconds(5000)), std::nullopt);
  EXPECT_EQ(estimate_remaining({.done = 3, .total = 10}, milliseconds(0)), std::nullopt);
  std::string line = progress_line({.done = 0, .total = 0}, milliseconds(5000), 200);
  EXPECT_EQ(filled(line), 0u);
  EXPECT_TRUE(line.ends_with("ETA --:--")) << line;
}

TEST(ProgressLine, NeverWiderThanTheTerminal) {
  TaskCounts c{.done = 412, .total = 1000, .failed = 3, .running = 12};
  for (size_t columns : {0, 1, 10, 40, 60, 70, 80, 120, 1000}) {
    EXPECT_LE(progress_line(c, milliseconds(7000), columns).size(), columns) << columns;
  }
}

TEST(ProgressLine, BarShrinksToFitThenGoes) {
  TaskCounts c{.done = 412, .total = 1000, .failed = 3, .running = 12};
  std::string wide = progress_line(c, milliseconds(7000), 1000);
  EXPECT_EQ(bar_of(wide).size(), kMaxBarCells);
  size_t text = wide.size() - kMaxBarCells - 2;

  // Room for a 15-cell bar: the line fills the width exactly.
  std::string narrow = progress_line(c, milliseconds(7000), text + 2 + 15);
  EXPECT_EQ(bar_of(narrow).size(), 15u);
  EXPECT_EQ(narrow.size(), text + 2 + 15);

  // Less room than kMinBarCells: no bar, the counters first.
  std::string tight = progress_line(c, milliseconds(7000), text + 2 + kMinBarCells - 1);
  EXPECT_TRUE(tight.starts_with("412/1000 done")) << tight;
}

TEST(FormatClock, MinutesAndSecondsThenHours) {
  EXPECT_EQ(format_clock(milliseconds(0)), "00:00");
  EXPECT_EQ(format_clock(milliseconds(7999)), "00:07");
  EXPECT_EQ(format_clock(milliseconds(754'000)), "12:34");
  EXPECT_EQ(format_clock(milliseconds(3'723'000)), "1:02:03");
  EXPECT_EQ(format_clock(milliseconds(-5000)), "00:00");
}

TEST(ProgressBarTest, RedrawsInPlaceAndPrintsLinesAboveIt) {
  std::string out;
  ProgressBar bar([&](std::string_view s) { out += s; });

  bar.draw("[##..] 1/2");
  EXPECT_EQ(out, "\r[##..] 1/2\x1b[K");

  out.clear();
  bar.print_above("attempt failed: k1");
  // Clear the bar, print the line, draw the bar again under it.
  EXPECT_EQ(out, "\r\x1b[Kattempt failed: k1\n[##..] 1/2\x1b[K");

  // A line above with new counters: the bar comes back with them at once.
  out.clear();
  bar.print_above("subtask failed: k2", "[###.] 2/2");
  EXPECT_EQ(out, "\r\x1b[Ksubtask failed: k2\n[###.] 2/2\x1b[K");

  out.clear();
  bar.clear();
  EXPECT_EQ(out, "\r\x1b[K");

  // Cleared: nothing to remove again, and lines above do not bring it back.
  out.clear();
  bar.clear();
  bar.print_above("done\n");
  EXPECT_EQ(out, "\r\x1b[Kdone\n");
}

}  // namespace
}  // namespace smol::cli
