// smol-research-lead: the lead of the research swarm (swarm.toml beside
// this file). Given a corpus, it has the workers count the terms of each
// document, and builds a keyword index, which it keeps in the swarm's
// long-term memory, and a short report, which it returns as the task's
// result (swarmd keeps that in long-term memory too, as task/ID).
//
// The task's input: "key value" lines, all optional (a line that is just a
// path is the corpus):
//
//   corpus /usr/share/common-licenses   a directory: each regular file is a
//                                       document (symlinks are skipped: on
//                                       Debian they are aliases, GPL -> GPL-3);
//                                       a file: chunks of its paragraphs
//                                       (/var/lib/dpkg/status: of packages)
//   top 15                              terms in the report's overall list
//   distinctive 5                       tf-idf terms shown per document
//   chunk 100                           paragraphs per document, for a file
//
// The steps, in order:
//   1. put the stop words in working memory ("research/stopwords"): the
//      context every worker, C++ or Python, reads before it counts;
//   2. split the corpus, one subtask per document, keyed by its name, each
//      naming a byte range of a file (worker.cc has the format);
//   3. delegate them all to any worker and read the outcomes as they come;
//   4. aggregate: total counts and document frequencies per term; per
//      document, its most frequent term and its most distinctive ones
//      (count * ln(documents / documents with the term));
//   5. put the keyword index (the most frequent terms, each with the
//      documents it occurs in most) in working memory
//      ("research/index/TASK-ID") and consolidate it to long-term, where
//      `swarmctl mem recall` finds it;
//   6. return the report.
// A resumed task (after a restart) delegates the same keys, so only the
// documents not yet counted are counted again.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "agent_runtime/memory.h"
#include "agent_runtime/smolagent.h"

namespace {

namespace fs = std::filesystem;
using smol::agent::AgentSession;
using smol::agent::Delegation;
using smol::agent::Memory;
using smol::agent::SubtaskOutcome;
using smol::agent::SubtaskSpec;
using smol::agent::TaskContext;
using smol::agent::Tier;

constexpr const char* kDefaultCorpus = "/usr/share/common-licenses";
constexpr const char* kStopWordsKey = "research/stopwords";
constexpr const char* kIndexPrefix = "research/index/";
constexpr size_t kIndexTerms = 500;  // terms in the keyword index
constexpr size_t kIndexDocs = 8;     // documents listed per term

// Common English words, and the ones every legal text is made of. Workers
// also drop words shorter than three letters.
constexpr const char* kStopWords =
    "the and for are but not you your yours all any can had her was one our out has him his how "
    "its may new now old see two who did get let put say she too use via per "
    "about above after again against also among another because been before being below "
    "between both cannot could does doing down during each either else ever every few from "
    "further here hers herself himself into itself just more most much must myself neither "
    "nor off once only other otherwise ought ours ourselves over own same shall should some "
    "such than that their theirs them themselves then there these they this those through "
    "thus under unless until upon very were what whatever when where whether which while "
    "whom whose why will with within without would yet yourself yourselves "
    "herein hereby thereof therein whereas mean means";

struct Params {
  std::string corpus = kDefaultCorpus;
  size_t top = 15;
  size_t distinctive = 5;
  size_t chunk = 100;
};

Params parse_params(const std::string& input) {
  Params p;
  std::istringstream in(input);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key.empty() || key[0] == '#') continue;
    auto number = [&] {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0') throw std::runtime_error(key + ": not a number: " + value);
      return static_cast<size_t>(n);
    };
    if (key[0] == '/' && value.empty()) p.corpus = key;
    else if (key == "corpus") p.corpus = value;
    else if (key == "top") p.top = number();
    else if (key == "distinctive") p.distinctive = number();
    else if (key == "chunk") p.chunk = std::max<size_t>(1, number());
    else throw std::runtime_error("unknown input line: " + line +
                                  " (keys: corpus, top, distinctive, chunk)");
  }
  return p;
}

struct Part {
  std::string name;
  std::string path;
  uint64_t offset = 0, length = 0;
};

// A directory: its regular files, by name.
std::vector<Part> split_directory(const std::string& dir) {
  std::vector<Part> parts;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.is_symlink()) continue;
    std::string name = e.path().filename().string();
    if (name.starts_with('.')) continue;
    parts.push_back({name, e.path().string(), 0, 0});
  }
  std::sort(parts.begin(), parts.end(),
            [](const Part& a, const Part& b) { return a.name < b.name; });
  return parts;
}

// A file: chunks of `chunk` paragraphs (separated by blank lines), named
// FILE[first-last] by paragraph number.
std::vector<Part> split_file(const std::string& path, size_t chunk) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path +
                             " (is it readable in the sandbox? see read_only in swarm.toml)");
  }
  std::ostringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  std::string base = fs::path(path).filename().string();
  std::vector<Part> parts;
  size_t start = 0, paragraphs = 0, first = 1;
  auto close = [&](size_t end) {
    if (end <= start) return;
    parts.push_back({base + "[" + std::to_string(first) + "-" + std::to_string(paragraphs) + "]",
                     path, start, end - start});
    start = end;
    first = paragraphs + 1;
  };
  size_t after_last = 0;  // where the text after the last blank line starts
  for (size_t at = 0; (at = text.find("\n\n", at)) != std::string::npos;) {
    at += 2;
    after_last = at;
    if (++paragraphs % chunk == 0) close(at);
  }
  if (after_last < text.size()) ++paragraphs;  // the last one, with no blank line after it
  close(text.size());
  return parts;
}

std::string subtask_input(const Part& p) {
  return "doc " + p.name + "\npath " + p.path + "\noffset " + std::to_string(p.offset) +
         "\nlength " + std::to_string(p.length) + "\n";
}

// One worker's answer (worker.cc's format).
struct DocCounts {
  std::string name, worker;
  uint64_t words = 0, kept = 0;
  std::vector<std::pair<std::string, uint64_t>> terms;  // most frequent first
};

DocCounts parse_counts(const SubtaskOutcome& o) {
  DocCounts d;
  d.name = o.key;
  d.worker = o.worker;
  std::istringstream in(o.result);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind;
    f >> kind;
    if (kind == "words") f >> d.words;
    else if (kind == "kept") f >> d.kept;
    else if (kind == "t") {
      std::string term;
      uint64_t n = 0;
      if (f >> term >> n) d.terms.emplace_back(term, n);
    }
  }
  return d;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string rpad(const std::string& s, size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

// The corpus as the workers counted it.
struct Aggregate {
  std::vector<DocCounts> docs;                  // in corpus order
  std::map<std::string, uint64_t> total, df;    // per term: occurrences, documents
  std::vector<std::pair<std::string, uint64_t>> ranked;  // by occurrences, then term
  uint64_t words = 0, kept = 0;
  std::map<std::string, size_t> by_worker;      // documents each worker counted
};

Aggregate aggregate(std::vector<DocCounts> docs) {
  Aggregate a;
  a.docs = std::move(docs);
  for (const auto& d : a.docs) {
    a.words += d.words;
    a.kept += d.kept;
    ++a.by_worker[d.worker];
    for (const auto& [term, n] : d.terms) {
      a.total[term] += n;
      ++a.df[term];
    }
  }
  a.ranked.assign(a.total.begin(), a.total.end());
  std::stable_sort(a.ranked.begin(), a.ranked.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  return a;
}

std::string report(const Params& p, const Aggregate& a, const std::vector<std::string>& failed,
                   size_t stop_count) {
  size_t name_width = 8;
  for (const auto& d : a.docs) name_width = std::max(name_width, d.name.size());
  std::string out = "Research report: " + p.corpus + "\n";
  out += std::to_string(a.docs.size()) + " documents, " + std::to_string(a.words) + " words, " +
         std::to_string(a.kept) + " terms kept, " + std::to_string(a.total.size()) +
         " distinct (words of 3+ letters, less " + std::to_string(stop_count) + " stop words)\n";
  out += "Counted by:";
  for (const auto& [worker, n] : a.by_worker) out += " " + worker + " (" + std::to_string(n) + ")";
  out += "\n";
  if (!failed.empty()) {
    out += "Not counted (" + std::to_string(failed.size()) + "):";
    for (const auto& f : failed) out += "\n  " + f;
    out += "\n";
  }

  out += "\nTop terms overall (occurrences, documents):\n";
  for (size_t i = 0; i < std::min(p.top, a.ranked.size()); ++i) {
    const auto& [term, n] = a.ranked[i];
    out += rpad(std::to_string(i + 1), 4) + ". " + pad(term, 16) + rpad(std::to_string(n), 6) +
           rpad(std::to_string(a.df.at(term)), 5) + "\n";
  }

  // Distinctive: count * ln(N / df); a term in every document scores 0.
  const double n_docs = static_cast<double>(a.docs.size());
  out += "\nPer document (words; most frequent term; most distinctive terms by tf-idf):\n";
  for (const auto& d : a.docs) {
    std::vector<std::pair<double, std::string>> scored;
    for (const auto& [term, n] : d.terms) {
      double idf = std::log(n_docs / static_cast<double>(a.df.at(term)));
      if (double score = static_cast<double>(n) * idf; score > 0) scored.emplace_back(-score, term);
    }
    std::sort(scored.begin(), scored.end());
    std::string top = d.terms.empty()
                          ? "-"
                          : d.terms[0].first + " (" + std::to_string(d.terms[0].second) + ")";
    std::string distinct;
    for (size_t i = 0; i < std::min(p.distinctive, scored.size()); ++i) {
      distinct += (i ? ", " : "") + scored[i].second;
    }
    out += "  " + pad(d.name, name_width) + rpad(std::to_string(d.words), 7) + " words  top: " +
           pad(top, 18) + " distinctive: " + (distinct.empty() ? "-" : distinct) + "\n";
  }
  return out;
}

// The keyword index: the kIndexTerms most frequent terms, each with the
// documents it occurs in most, one line each:
//   license 673: GPL-3 102, GFDL-1.3 75, MPL-2.0 69, ...
std::string keyword_index(const Params& p, const Aggregate& a, const std::string& task_id) {
  std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> where;
  for (size_t i = 0; i < std::min(kIndexTerms, a.ranked.size()); ++i) where[a.ranked[i].first];
  for (const auto& d : a.docs) {
    for (const auto& [term, n] : d.terms) {
      if (auto it = where.find(term); it != where.end()) it->second.emplace_back(n, d.name);
    }
  }
  std::string out = "Keyword index of " + p.corpus + " (task " + task_id + "): the " +
                    std::to_string(where.size()) + " most frequent of " +
                    std::to_string(a.total.size()) + " terms in " +
                    std::to_string(a.docs.size()) + " documents\n";
  for (size_t i = 0; i < where.size(); ++i) {
    const auto& [term, n] = a.ranked[i];
    auto& docs = where[term];
    std::stable_sort(docs.begin(), docs.end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
    out += term + " " + std::to_string(n) + ":";
    for (size_t j = 0; j < std::min(kIndexDocs, docs.size()); ++j) {
      out += (j ? ", " : " ") + docs[j].second + " " + std::to_string(docs[j].first);
    }
    if (docs.size() > kIndexDocs) out += ", ...";
    out += "\n";
  }
  return out;
}

// Steps 1 and 5 need the role's memory grant (swarm.toml).
Memory& memory_of(AgentSession& session) {
  Memory* m = session.memory();
  if (m == nullptr || !m->can_write(Tier::working) || !m->can_write(Tier::long_term)) {
    throw std::runtime_error("the lead needs write access to working and long-term memory "
                             "([agents.permissions] memory in swarm.toml)");
  }
  return *m;
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string run_task(AgentSession& session, TaskContext& task) {
  Params p = parse_params(task.input());
  Memory& memory = memory_of(session);
  std::istringstream stop_in(kStopWords);
  size_t stop_count = 0;
  for (std::string w; stop_in >> w;) ++stop_count;
  memory.put(Tier::working, kStopWordsKey, kStopWords, {"research", "stopwords"});

  std::vector<Part> parts = fs::is_directory(p.corpus) ? split_directory(p.corpus)
                                                       : split_file(p.corpus, p.chunk);
  if (parts.empty()) throw std::runtime_error("no documents in " + p.corpus);
  say("task " + task.task_id() + (task.resumed() ? " (resumed)" : "") + ": " +
      std::to_string(parts.size()) + " documents in " + p.corpus);

  std::vector<SubtaskSpec> specs;
  for (const auto& part : parts) specs.push_back({part.name, subtask_input(part), ""});
  Delegation delegation = task.delegate(specs);
  std::vector<std::string> failed;
  for (const auto& r : delegation.refused()) {
    failed.push_back(specs[r.index].key + ": refused (" + r.reason + "): " + r.message);
  }
  std::map<std::string, DocCounts> counted;  // by name: the report lists them in order
  while (auto o = delegation.next()) {
    if (o->ok()) {
      counted.emplace(o->key, parse_counts(*o));
    } else {
      failed.push_back(o->key + ": " + o->error);
    }
  }
  if (counted.empty()) throw std::runtime_error("no document was counted: " + failed.front());
  std::vector<DocCounts> docs;
  for (auto& part : parts) {
    auto it = counted.find(part.name);
    if (it != counted.end()) docs.push_back(std::move(it->second));
  }
  Aggregate a = aggregate(std::move(docs));

  // The index goes to working memory, then on to long-term, which keeps it
  // after the swarm and the daemon are gone. (The report needs no put: a
  // task's result is kept in long-term memory as task/ID by swarmd.)
  std::string key = kIndexPrefix + task.task_id();
  if (!memory.get(Tier::long_term, key)) {  // a resumed task may have kept it already
    memory.put(Tier::working, key, keyword_index(p, a, task.task_id()), {"research", "index"});
    memory.consolidate(Tier::working, key, Tier::long_term);
  }
  say("task " + task.task_id() + ": " + std::to_string(a.docs.size()) +
      " documents counted; keyword index kept in long-term memory as " + key);
  return report(p, a, failed, stop_count);
}

}  // namespace

int main() {
  try {
    AgentSession session;
    session.on_task([&session](TaskContext& task) { return run_task(session, task); });
    auto me = session.hello();
    say(me.agent_id + ": research lead ready in swarm " + me.swarm);
    session.run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smol-research-lead: %s\n", e.what());
    return 1;
  }
}
