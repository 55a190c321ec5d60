// The research swarm of examples/research-swarm, as shipped, on a real
// swarmd: its lead splits a corpus present on every Debian machine, its
// C++ and Python workers count the terms, and the report it returns and
// the keyword index it keeps in long-term memory must agree with the
// corpus as this test counts it itself, by the rules worker.cc states:
// words are runs of ASCII letters, lowercased; terms are words of 3+
// letters that are not among the stop words the lead put in working
// memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

const std::string kSpec = std::string(SMOL_SOURCE_DIR) + "/examples/research-swarm/swarm.toml";
const std::string kLicenses = "/usr/share/common-licenses";
const std::string kDpkgStatus = "/var/lib/dpkg/status";

// s matched literally in a std::regex ("Apache-2.0").
std::string literal(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One document as counted here.
struct Counted {
  uint64_t words = 0;
  uint64_t kept = 0;
  std::map<std::string, uint64_t> terms;

  // The most frequent term, the alphabetically first of a tie.
  std::pair<std::string, uint64_t> top() const {
    std::pair<std::string, uint64_t> best;
    for (const auto& [t, n] : terms) {
      if (n > best.second) best = {t, n};
    }
    return best;
  }
};

Counted count(const std::string& text, const std::set<std::string>& stop) {
  Counted c;
  std::string word;
  for (size_t i = 0; i <= text.size(); ++i) {
    unsigned char ch = i < text.size() ? static_cast<unsigned char>(text[i]) : ' ';
    if (ch < 0x80 && std::isalpha(ch)) {
      word += static_cast<char>(std::tolower(ch));
      continue;
    }
    if (word.empty()) continue;
    ++c.words;
    if (word.size() >= 3 && !stop.contains(word)) {
      ++c.kept;
      ++c.terms[word];
    }
    word.clear();
  }
  return c;
}

class ResearchSwarm : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult up = daemon.ctl({"up", kSpec});
    ASSERT_EQ(up.status, 0) << up.err;
    EXPECT_THAT(up.out, HasSubstr("swarm research ready: 5 agents"));
  }

  // Runs a task with this input to the end; returns its result (stdout).
  std::string run_task(const std::string& input) {
    RunResult r = daemon.ctl({"task", "run", "research", "--input", dir.write("input", input),
                              "--wait"});
    EXPECT_EQ(r.status, 0) << r.err << "\n" << r.out << "\n" << logs("lead-0")
                           << logs("pyworker-0") << logs("worker-0");
    return r.out;
  }

  std::string logs(const std::string& agent) const {
    return daemon.ctl({"logs", "research/" + agent}).out;
  }

  // The stop words as the lead left them in working memory.
  std::set<std::string> stop_words() const {
    RunResult r = daemon.ctl({"mem", "get", "research", "working", "research/stopwords"});
    EXPECT_EQ(r.status, 0) << r.err;
    std::set<std::string> words;
    std::istringstream in(r.out);
    for (std::string w; in >> w;) words.insert(w);
    return words;
  }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(ResearchSwarm, ReportOnTheLicensesAgreesWithTheCorpus) {
  std::string report = run_task("corpus " + kLicenses + "\n");
  ASSERT_THAT(report, StartsWith("Research report: " + kLicenses + "\n"));

  std::set<std::string> stop = stop_words();
  ASSERT_GT(stop.size(), 50u);
  EXPECT_TRUE(stop.contains("the"));
  // The corpus as counted here: regular files only (GPL -> GPL-3 is an alias).
  std::map<std::string, Counted> docs;
  for (const auto& e : fs::directory_iterator(kLicenses)) {
    if (e.is_regular_file() && !e.is_symlink()) {
      docs[e.path().filename().string()] = count(read_file(e.path().string()), stop);
    }
  }
  ASSERT_GE(docs.size(), 5u) << "a Debian machine has its licenses in " << kLicenses;
  uint64_t words = 0, kept = 0;
  std::map<std::string, uint64_t> total;
  std::map<std::string, uint64_t> df;
  for (const auto& [name, c] : docs) {
    words += c.words;
    kept += c.kept;
    for (const auto& [t, n] : c.terms) {
      total[t] += n;
      ++df[t];
    }
  }
  EXPECT_THAT(report, HasSubstr("\n" + std::to_string(docs.size()) + " documents, " +
                                std::to_string(words) + " words, " + std::to_string(kept) +
                                " terms kept, " + std::to_string(total.size()) + " distinct "))
      << report;

  // Every document's own line: its words and its most frequent term.
  for (const auto& [name, c] : docs) {
    auto [term, n] = c.top();
    std::regex line("\n  " + literal(name) + " +" + std::to_string(c.words) +
                    " words  top: " + term + " \\(" + std::to_string(n) + "\\) ");
    EXPECT_TRUE(std::regex_search(report, line)) << name << ": " << term << " " << n << "\n"
                                                 << report;
  }
  // The first term of the index: the most frequent over the corpus.
  std::pair<std::string, uint64_t> first;
  for (const auto& [t, n] : total) {
    if (n > first.second) first = {t, n};
  }
  std::regex first_line("\n +1\\. " + first.first + " +" + std::to_string(first.second) + " +" +
                        std::to_string(df[first.first]) + "\n");
  EXPECT_TRUE(std::regex_search(report, first_line)) << first.first << "\n" << report;

  // The work was shared by C++ and Python workers.
  EXPECT_THAT(report, HasSubstr(" worker-"));
  EXPECT_THAT(report, HasSubstr(" pyworker-"));

  // The keyword index went through working memory to long-term, where
  // recall finds it beside the report (which swarmd keeps as task/ID).
  nlohmann::json recall =
      daemon.ctl_json({"mem", "recall", "research", "license", "--tier", "long-term"});
  std::string index_key, report_key;
  for (const auto& hit : recall["hits"]) {
    std::string key = hit["entry"]["key"];
    EXPECT_EQ(hit["entry"]["tier"], "long_term");
    if (key.starts_with("research/index/t-")) index_key = key;
    if (key.starts_with("task/t-")) report_key = key;
  }
  ASSERT_FALSE(index_key.empty()) << recall.dump();
  std::string id = index_key.substr(std::string("research/index/").size());
  EXPECT_EQ(report_key, "task/" + id) << recall.dump();
  EXPECT_EQ(daemon.ctl({"mem", "get", "research", "long-term", "task/" + id}).out, report);

  nlohmann::json index =
      daemon.ctl_json({"mem", "get", "research", "long-term", index_key})["entry"];
  EXPECT_EQ(index["writer"], "lead-0");
  ASSERT_EQ(index["tiers_passed"].size(), 2u) << index.dump();
  EXPECT_EQ(index["tiers_passed"][0]["tier"], "working");
  EXPECT_EQ(index["tiers_passed"][1]["tier"], "long_term");
  EXPECT_NE(daemon.ctl({"mem", "get", "research", "working", index_key}).status, 0);
  // Its first term, with the document that has it most (ties: by name).
  std::pair<std::string, uint64_t> most;
  for (const auto& [name, c] : docs) {
    auto it = c.terms.find(first.first);
    if (it != c.terms.end() && it->second > most.second) most = {name, it->second};
  }
  std::string value = index["value"];
  EXPECT_THAT(value, StartsWith("Keyword index of " + kLicenses + " (task " + id + "): the "));
  EXPECT_THAT(value, HasSubstr("\n" + first.first + " " + std::to_string(first.second) + ": " +
                               most.first + " " + std::to_string(most.second) + ", "))
      << value.substr(0, 400);

  RunResult show = daemon.ctl({"task", "show", id});
  ASSERT_EQ(show.status, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("succeeded"));
  for (const auto& [name, c] : docs) EXPECT_THAT(show.out, HasSubstr("\n" + name + " "));
}

TEST_F(ResearchSwarm, AFileCorpusIsSplitIntoChunksOfParagraphs) {
  // dpkg's status file: one paragraph per package, granted read-only to
  // the agents by the spec. (Installing packages while this runs would
  // change it under the test.)
  const std::string text = read_file(kDpkgStatus);
  ASSERT_FALSE(text.empty());
  std::string report = run_task("corpus " + kDpkgStatus + "\nchunk 200\n");
  ASSERT_THAT(report, StartsWith("Research report: " + kDpkgStatus + "\n"));

  size_t paragraphs = 0, after_last = 0;
  for (size_t at = 0; (at = text.find("\n\n", at)) != std::string::npos; at += 2) {
    ++paragraphs;
    after_last = at + 2;
  }
  if (after_last < text.size()) ++paragraphs;
  size_t chunks = (paragraphs + 199) / 200;
  Counted all = count(text, stop_words());
  EXPECT_THAT(report, HasSubstr("\n" + std::to_string(chunks) + " documents, " +
                                std::to_string(all.words) + " words, " +
                                std::to_string(all.kept) + " terms kept, " +
                                std::to_string(all.terms.size()) + " distinct "))
      << report;
  EXPECT_THAT(report, HasSubstr("\n  status[1-200] "));
  EXPECT_THAT(report, HasSubstr("-" + std::to_string(paragraphs) + "] "));
}

}  // namespace
}  // namespace smol::test
