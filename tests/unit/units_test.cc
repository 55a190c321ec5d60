#include "base/units.h"

#include <gtest/gtest.h>

#include <limits>

namespace smol {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, ReadsEachUnit) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("10s"), milliseconds(10'000));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(ParseDuration, ReadsDecimalsThatAreWholeMilliseconds) {
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("0.25m"), milliseconds(15'000));
  EXPECT_EQ(parse_duration("1.001s"), milliseconds(1001));
  EXPECT_EQ(parse_duration("1.0005s"), std::nullopt);
  EXPECT_EQ(parse_duration("0.5ms"), std::nullopt);
}

TEST(ParseDuration, ReadsSumsOfTerms) {
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("1m0.5s"), milliseconds(60'500));
}

TEST(ParseDuration, RejectsWhatIsNotADuration) {
  for (const char* bad : {"", "10", "s", "1.s", ".5s", "-1s", "+1s", "1 s", " 1s", "1s ", "1sec",
                          "1d", "1S", "1e3ms", "1,5s", "1h 30m", "0x10s"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(ParseDuration, RejectsOverflowInsteadOfWrapping) {
  EXPECT_EQ(parse_duration("99999999999999999999h"), std::nullopt);
  EXPECT_EQ(parse_duration("9223372036854775808ms"), std::nullopt);
  EXPECT_EQ(parse_duration("9223372036854775807ms"),
            milliseconds(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(parse_duration("5124095576030431h"), std::nullopt);
}

TEST(FormatDuration, WritesTheShortestForm) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(500)), "500ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_duration(milliseconds(10'000)), "10s");
  EXPECT_EQ(format_duration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(format_duration(milliseconds(7'200'000)), "2h");
  EXPECT_EQ(format_duration(milliseconds(3'600'250)), "1h0.25s");
  EXPECT_EQ(format_duration(milliseconds(-1500)), "-1.5s");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{1001},
                     int64_t{59'999}, int64_t{60'001}, int64_t{3'599'999}, int64_t{86'400'000},
                     int64_t{123'456'789}, std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
}

TEST(ParseBytes, ReadsPlainAndBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_bytes("512"), 512u);
  EXPECT_EQ(parse_bytes("512B"), 512u);
  EXPECT_EQ(parse_bytes("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_bytes("64K"), 64u * 1024);
  EXPECT_EQ(parse_bytes("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_bytes("1M"), 1024u * 1024);
  EXPECT_EQ(parse_bytes("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_bytes("1TiB"), 1ull << 40);
  EXPECT_EQ(parse_bytes("10kB"), 10'000u);
  EXPECT_EQ(parse_bytes("10MB"), 10'000'000u);
  EXPECT_EQ(parse_bytes("3GB"), 3'000'000'000u);
  EXPECT_EQ(parse_bytes("0"), 0u);
}

TEST(ParseBytes, ReadsFractionsThatAreWholeBytes) {
  EXPECT_EQ(parse_bytes("1.5KiB"), 1536u);
  EXPECT_EQ(parse_bytes("0.5MB"), 500'000u);
  EXPECT_EQ(parse_bytes("1.5B"), std::nullopt);
  EXPECT_EQ(parse_bytes("0.0001KiB"), std::nullopt);
}

TEST(ParseBytes, RejectsWhatIsNotASize) {
  for (const char* bad :
       {"", "KiB", "-1", "1 KiB", "1kib", "1Kib", "1Ki", "1KiBs", "1.KiB", "0x10", "1e6", "12b"}) {
    EXPECT_EQ(parse_bytes(bad), std::nullopt) << bad;
  }
}

TEST(ParseBytes, RejectsOverflowInsteadOfWrapping) {
  EXPECT_EQ(parse_bytes("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_bytes("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_bytes("16777216TiB"), std::nullopt);
  EXPECT_EQ(parse_bytes("99999999999999999999999"), std::nullopt);
}

TEST(FormatBytes, UsesTheLargestExactBinaryUnit) {
  EXPECT_EQ(format_bytes(0), "0B");
  EXPECT_EQ(format_bytes(1000), "1000B");
  EXPECT_EQ(format_bytes(65536), "64KiB");
  EXPECT_EQ(format_bytes(1536), "1.5KiB");
  EXPECT_EQ(format_bytes(1024 * 1024), "1MiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3GiB");
  EXPECT_EQ(format_bytes(1025), "1025B");
}

TEST(FormatBytes, RoundTripsThroughParse) {
  for (uint64_t b : {uint64_t{0}, uint64_t{1}, uint64_t{1023}, uint64_t{1024}, uint64_t{1536},
                     uint64_t{10'000'000}, uint64_t{1} << 40, (uint64_t{1} << 40) + 1,
                     std::numeric_limits<uint64_t>::max()}) {
    EXPECT_EQ(parse_bytes(format_bytes(b)), b) << b;
  }
}

}  // namespace
}  // namespace smol
