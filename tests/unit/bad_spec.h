// Table-driven tests of what parse_swarm_spec reports, shared by the spec
// tests (swarm_spec_test.cc, sandbox_spec_test.cc): a file lists BadSpec
// cases and instantiates BadSpecTest with them. Each *_test.cc is an
// executable of its own, so the one TEST_P below is defined once in each.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/swarm_spec.h"

namespace smol::spec {

// The problems parse_swarm_spec reports for text, which must be rejected;
// messages call it "hello.toml".
inline std::vector<std::string> problems_of(std::string_view text) {
  try {
    parse_swarm_spec(text, "hello.toml");
  } catch (const SpecError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

// A spec with one mistake and the exact line it must be reported with.
struct BadSpec {
  std::string behaviour;  // the test's name
  std::string text;
  std::string problem;
};

// Lets gtest show a case by its name rather than its bytes.
inline void PrintTo(const BadSpec& bad, std::ostream* os) { *os << bad.behaviour; }

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, IsReportedWithPositionAndRule) {
  EXPECT_THAT(problems_of(GetParam().text), ::testing::ElementsAre(GetParam().problem));
}

// INSTANTIATE_TEST_SUITE_P(Prefix, BadSpecTest, ::testing::ValuesIn(cases), bad_spec_name);
inline std::string bad_spec_name(const ::testing::TestParamInfo<BadSpec>& info) {
  return info.param.behaviour;
}

}  // namespace smol::spec
