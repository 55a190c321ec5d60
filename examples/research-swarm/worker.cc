// smol-research-worker: a worker of the research swarm (swarm.toml beside
// this file). Each subtask names one document, a byte range of a file the
// worker can read in its sandbox (lead.cc says how the corpus is split):
//
//   doc GPL-3
//   path /usr/share/common-licenses/GPL-3
//   offset 0
//   length 35149        (0: to the end of the file)
//
// It reads the range, splits it into words (runs of ASCII letters,
// lowercased; everything else separates), keeps the terms (words of at
// least kMinLength letters that are not stop words) and answers with the
// document's counts and every term it kept, most frequent first:
//
//   doc GPL-3
//   words 5644
//   kept 2710
//   t program 77
//   t work 66
//   ...
//
// The stop words are the swarm's context, not the worker's: the lead puts
// them in working memory ("research/stopwords", words separated by white
// space) before it delegates, and every worker reads them from there, so
// one list holds for C++ and Python workers alike (worker.py does exactly
// what this file does). An agent that called a model here would report its
// tokens with SubtaskContext::report_usage; this one needs none.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "agent_runtime/memory.h"
#include "agent_runtime/smolagent.h"

namespace {

using smol::agent::AgentSession;
using smol::agent::Memory;
using smol::agent::SubtaskContext;
using smol::agent::Tier;

// Shorter words ("of", "an", "is") say nothing about a document.
constexpr size_t kMinLength = 3;
constexpr const char* kStopWordsKey = "research/stopwords";

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

struct Document {
  std::string name;
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;  // 0: to the end
};

// The subtask's input: "key value" lines; doc and path are required.
Document parse_input(const std::string& input) {
  Document d;
  std::istringstream in(input);
  std::string line;
  while (std::getline(in, line)) {
    size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    std::string key = line.substr(0, space), value = line.substr(space + 1);
    if (key == "doc") d.name = value;
    else if (key == "path") d.path = value;
    else if (key == "offset") d.offset = std::stoull(value);
    else if (key == "length") d.length = std::stoull(value);
  }
  if (d.name.empty() || d.path.empty()) {
    throw std::runtime_error("subtask input needs 'doc NAME' and 'path PATH' lines, got: " + input);
  }
  return d;
}

std::string read_range(const Document& d) {
  std::ifstream in(d.path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + d.path + " (is it readable in the sandbox?)");
  in.seekg(static_cast<std::streamoff>(d.offset));
  std::string text;
  if (d.length == 0) {
    std::ostringstream all;
    all << in.rdbuf();
    text = all.str();
  } else {
    text.resize(d.length);
    in.read(text.data(), static_cast<std::streamsize>(d.length));
    text.resize(static_cast<size_t>(in.gcount()));
  }
  return text;
}

std::set<std::string> stop_words(Memory* memory) {
  if (memory == nullptr) throw std::runtime_error("this role may not read the swarm's memory");
  auto entry = memory->get(Tier::working, kStopWordsKey);
  if (!entry) {
    throw std::runtime_error(std::string("no ") + kStopWordsKey +
                             " in working memory: the lead puts it there before delegating");
  }
  std::set<std::string> words;
  std::istringstream in(entry->value);
  for (std::string w; in >> w;) words.insert(w);
  return words;
}

struct Counts {
  uint64_t words = 0;
  uint64_t kept = 0;
  std::map<std::string, uint64_t> terms;
};

Counts count_terms(const std::string& text, const std::set<std::string>& stop) {
  Counts c;
  std::string word;
  auto end_word = [&] {
    if (word.empty()) return;
    ++c.words;
    if (word.size() >= kMinLength && !stop.contains(word)) {
      ++c.kept;
      ++c.terms[word];
    }
    word.clear();
  };
  for (char ch : text) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x80 && std::isalpha(u)) {
      word += static_cast<char>(std::tolower(u));
    } else {
      end_word();
    }
  }
  end_word();
  return c;
}

std::string answer(const Document& d, const Counts& c) {
  std::vector<std::pair<std::string, uint64_t>> ranked(c.terms.begin(), c.terms.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out = "doc " + d.name + "\nwords " + std::to_string(c.words) + "\nkept " +
                    std::to_string(c.kept) + "\n";
  for (const auto& [term, n] : ranked) out += "t " + term + " " + std::to_string(n) + "\n";
  return out;
}

std::string work(AgentSession& session, SubtaskContext& sub) {
  Document d = parse_input(sub.input());
  sub.progress(0.1f, "reading " + d.name);
  std::set<std::string> stop = stop_words(session.memory());
  std::string text = read_range(d);
  sub.progress(0.5f, "read " + std::to_string(text.size()) + " bytes of " + d.name);
  Counts c = count_terms(text, stop);
  std::string note = d.name + ": " + std::to_string(c.words) + " words, " +
                     std::to_string(c.terms.size()) + " distinct terms";
  sub.progress(1.0f, note);
  say(note);
  return answer(d, c);
}

}  // namespace

int main() {
  try {
    AgentSession session;
    session.on_subtask([&session](SubtaskContext& sub) { return work(session, sub); });
    auto me = session.hello();
    say(me.agent_id + ": research worker (C++) ready in swarm " + me.swarm);
    session.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-research-worker: %s\n", e.what());
    return 1;
  }
}
