// The shipped monitoring (monitoring/: Prometheus scrape configuration, alert
// rules, Grafana dashboard) checked with real components:
//
//   - promtool checks the configuration and the rules, and runs the rules'
//     unit tests (alerts_test.yml);
//   - the dashboard is a Grafana dashboard whose every PromQL expression (and
//     every alert rule's) names only metrics, and labels, that a running
//     swarmd exports, and whose panels cover every smolswarms_ family;
//   - a real Prometheus server scrapes a real swarmd with the shipped
//     configuration, sees its agents, evaluates the shipped rules (an alert
//     fires for a failing vibe check and a seccomp violation, another for the
//     daemon going down) and answers every dashboard expression.
//
// Everything runs on loopback in a temp dir; the daemon and Prometheus are
// children of the test, found by their recorded pids, killed and reaped when
// the test ends (and Prometheus with PDEATHSIG if the test dies).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

const std::string kMonitoring = SMOL_MONITORING_DIR;
const std::string kTestDir = SMOL_MONITORING_TEST_DIR;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A program from the Debian package `prometheus` (scripts/setup installs it).
std::string prometheus_tool(const std::string& name) {
  std::string path = ::getenv("PATH") ? ::getenv("PATH") : "/usr/bin:/bin";
  std::istringstream dirs(path + ":/usr/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string p = dir + "/" + name;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

#define REQUIRE_TOOL(var, name)                                                     \
  const std::string var = prometheus_tool(name);                                    \
  ASSERT_FALSE(var.empty()) << name                                                 \
                            << " not found: install the Debian package prometheus " \
                               "(scripts/setup does)"

// ---------------------------------------------------------------------------
// PromQL, as far as names go.

struct Selector {
  std::string metric;               // "" for a selector without a name: {job="x"}
  std::vector<std::string> labels;  // label names its matchers use
};

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t skip_ws(std::string_view e, size_t i) {
  while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
  return i;
}

// e[i] is a quote; returns the index past the closing one.
size_t skip_string(std::string_view e, size_t i) {
  char q = e[i++];
  while (i < e.size() && e[i] != q) i += (e[i] == '\\' && q != '`') ? 2 : 1;
  if (i >= e.size()) throw std::invalid_argument("unterminated string in: " + std::string(e));
  return i + 1;
}

// e[i] is open; returns the index past its matching close (strings skipped).
size_t skip_group(std::string_view e, size_t i, char open, char close) {
  int depth = 0;
  while (i < e.size()) {
    char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = skip_string(e, i);
      continue;
    }
    if (c == open) ++depth;
    if (c == close && --depth == 0) return i + 1;
    ++i;
  }
  throw std::invalid_argument(std::string("unbalanced ") + open + " in: " + std::string(e));
}

// e[i] is '{': reads the matchers' label names; returns the index past '}'.
size_t read_matchers(std::string_view e, size_t i, std::vector<std::string>& labels) {
  ++i;
  for (;;) {
    i = skip_ws(e, i);
    if (i >= e.size()) break;
    if (e[i] == '}') return i + 1;
    if (e[i] == ',') {
      ++i;
      continue;
    }
    if (!ident_start(e[i])) break;
    size_t start = i;
    while (i < e.size() && ident_char(e[i])) ++i;
    labels.emplace_back(e.substr(start, i - start));
    i = skip_ws(e, i);
    while (i < e.size() && (e[i] == '=' || e[i] == '!' || e[i] == '~')) ++i;
    i = skip_ws(e, i);
    if (i >= e.size() || (e[i] != '"' && e[i] != '\'' && e[i] != '`')) break;
    i = skip_string(e, i);
  }
  throw std::invalid_argument("bad label matchers in: " + std::string(e));
}

// The vector selectors of a PromQL expression, Grafana variables allowed
// ($swarm in label values, $__rate_interval in ranges). Not a parser: it
// knows functions (a name before '('), aggregation operators, keywords, the
// label lists of by/without/on/ignoring/group_*, strings, numbers and
// durations, and takes every other name for a metric.
std::vector<Selector> selectors(std::string_view e) {
  static const std::set<std::string> kKeywords = {
      "sum",   "min",          "max",     "avg",  "group",    "stddev",     "stdvar",
      "count", "count_values", "bottomk", "topk", "quantile", "limitk",     "limit_ratio",
      "and",   "or",           "unless",  "bool", "offset",   "atan2",      "inf",
      "nan",   "by",           "without", "on",   "ignoring", "group_left", "group_right"};
  static const std::set<std::string> kLabelLists = {"by",       "without",    "on",
                                                    "ignoring", "group_left", "group_right"};
  std::vector<Selector> out;
  size_t i = 0;
  while (i < e.size()) {
    char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = skip_string(e, i);
    } else if (c == '[') {
      i = skip_group(e, i, '[', ']');  // ranges, subqueries, [$__rate_interval]
    } else if (c == '$') {             // a Grafana variable: $name or ${name}
      ++i;
      if (i < e.size() && e[i] == '{') {
        i = skip_group(e, i, '{', '}');
      } else {
        while (i < e.size() && ident_char(e[i])) ++i;
      }
    } else if (c == '{') {
      Selector s;
      i = read_matchers(e, i, s.labels);
      out.push_back(std::move(s));
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      while (i < e.size() && (std::isalnum(static_cast<unsigned char>(e[i])) || e[i] == '.')) ++i;
    } else if (ident_start(c)) {
      size_t start = i;
      while (i < e.size() && ident_char(e[i])) ++i;
      std::string word(e.substr(start, i - start));
      size_t j = skip_ws(e, i);
      bool call = j < e.size() && e[j] == '(';
      if (kLabelLists.count(lower(word))) {
        if (call) i = skip_group(e, j, '(', ')');
      } else if (kKeywords.count(lower(word)) || call) {
        // an operator, keyword or function
      } else {
        Selector s{word, {}};
        if (j < e.size() && e[j] == '{') i = read_matchers(e, j, s.labels);
        out.push_back(std::move(s));
      }
    } else {
      ++i;
    }
  }
  return out;
}

TEST(PromqlScanner, FindsMetricsAndLabelsAndIgnoresFunctionsKeywordsAndVariables) {
  auto s = selectors(
      "histogram_quantile(0.99, sum by (le, swarm) (rate(a_bucket{instance=~\"$instance\", "
      "swarm=~\"$swarm\"}[$__rate_interval]))) / on (swarm) group_left b_total offset 5m "
      "or (c unless c offset 10m) > bool 1e-3 or vector(0) or sum without (x) (d{y!~'z'}[5m:1m])"
      " or {__name__=\"e\"} or max(f) by (g)");
  std::vector<std::string> names;
  for (const auto& x : s) names.push_back(x.metric);
  EXPECT_THAT(names, ::testing::ElementsAre("a_bucket", "b_total", "c", "c", "d", "", "f"));
  EXPECT_THAT(s[0].labels, ::testing::ElementsAre("instance", "swarm"));
  EXPECT_THAT(s[4].labels, ::testing::ElementsAre("y"));
  EXPECT_THAT(s[5].labels, ::testing::ElementsAre("__name__"));
  EXPECT_TRUE(selectors("vector(1) + 2").empty());
  EXPECT_THROW(selectors("a{b=\"c\""), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// The shipped files.

json dashboard() { return json::parse(slurp(kMonitoring + "/smolswarms-dashboard.json")); }

// Every panel, rows' collapsed panels included.
std::vector<json> all_panels(const json& d) {
  std::vector<json> out;
  for (const auto& p : d.at("panels")) {
    out.push_back(p);
    if (p.contains("panels")) {
      for (const auto& inner : p["panels"]) out.push_back(inner);
    }
  }
  return out;
}

struct Expr {
  std::string where;  // "panel 'Title' target A"
  std::string expr;
};

std::vector<Expr> dashboard_exprs(const json& d) {
  std::vector<Expr> out;
  for (const auto& p : all_panels(d)) {
    if (!p.contains("targets")) continue;
    for (const auto& t : p["targets"]) {
      out.push_back({"panel '" + p.value("title", "") + "' target " + t.value("refId", "?"),
                     t.value("expr", "")});
    }
  }
  return out;
}

// The expr of every rule in the rules file: `expr: ...` on one line, or a
// block scalar (`expr: |`) of the lines indented below it. The file keeps to
// those two forms; the count is checked against the rules it declares.
std::vector<Expr> rule_exprs(int* rules_declared = nullptr) {
  std::istringstream in(slurp(kMonitoring + "/smolswarms-alerts.yml"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::vector<Expr> out;
  std::string name;
  int declared = 0;
  auto indent = [](const std::string& l) { return l.find_first_not_of(' '); };
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    size_t at = indent(l);
    if (at == std::string::npos) continue;
    std::string_view rest = std::string_view(l).substr(at);
    for (std::string_view key : {"- alert:", "- record:"}) {
      if (rest.starts_with(key)) {
        ++declared;
        name = std::string(rest.substr(key.size()));
        name.erase(0, name.find_first_not_of(' '));
      }
    }
    if (!rest.starts_with("expr:")) continue;
    std::string value(rest.substr(5));
    value.erase(0, value.find_first_not_of(' '));
    if (value == "|" || value == "|-" || value == ">" || value == ">-") {
      value.clear();
      while (i + 1 < lines.size() &&
             (indent(lines[i + 1]) == std::string::npos || indent(lines[i + 1]) > at)) {
        value += lines[++i] + "\n";
      }
    } else if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) {
      value = value.substr(1, value.size() - 2);
    }
    out.push_back({"rule " + name, value});
  }
  if (rules_declared) *rules_declared = declared;
  return out;
}

// ---------------------------------------------------------------------------
// 1. promtool and the files themselves.

TEST(Promtool, ShippedConfigAndRulesPassItsChecks) {
  REQUIRE_TOOL(promtool, "promtool");
  RunResult config = run({promtool, "check", "config", kMonitoring + "/prometheus.yml"});
  EXPECT_EQ(config.status, 0) << config.out << config.err;
  EXPECT_THAT(config.out + config.err, HasSubstr("is valid prometheus config file"));
  RunResult rules = run({promtool, "check", "rules", kMonitoring + "/smolswarms-alerts.yml"});
  EXPECT_EQ(rules.status, 0) << rules.out << rules.err;
  int declared = 0;
  size_t found = rule_exprs(&declared).size();
  EXPECT_GE(declared, 6);
  EXPECT_EQ(found, static_cast<size_t>(declared)) << "every rule's expr must be readable here";
  EXPECT_THAT(rules.out + rules.err, HasSubstr(std::to_string(declared) + " rules found"));
}

TEST(Promtool, AlertRuleUnitTestsPass) {
  REQUIRE_TOOL(promtool, "promtool");
  RunResult r = run({promtool, "test", "rules", kTestDir + "/alerts_test.yml"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_THAT(r.out + r.err, HasSubstr("SUCCESS"));
}

TEST(Dashboard, IsAGrafanaDashboardOnAPrometheusDatasourceVariable) {
  json d = dashboard();
  EXPECT_EQ(d.value("uid", ""), "smolswarms");
  EXPECT_GE(d.value("schemaVersion", 0), 36) << "Grafana 9/10 schema";
  std::map<std::string, json> vars;
  for (const auto& v : d.at("templating").at("list")) vars[v.at("name")] = v;
  ASSERT_TRUE(vars.count("datasource"));
  EXPECT_EQ(vars["datasource"]["type"], "datasource");
  EXPECT_EQ(vars["datasource"]["query"], "prometheus");
  ASSERT_TRUE(vars.count("swarm"));
  const json& swarm = vars["swarm"];
  EXPECT_EQ(swarm["type"], "query");
  std::string q = swarm["query"].is_string() ? swarm["query"].get<std::string>()
                                             : swarm["query"].value("query", "");
  EXPECT_EQ(q, "label_values(smolswarms_agents, swarm)");
  EXPECT_EQ(swarm["datasource"]["uid"], "${datasource}");

  std::set<int> ids;
  std::vector<json> boxes;
  int panels = 0;
  for (const auto& p : all_panels(d)) {
    std::string title = p.value("title", "");
    EXPECT_TRUE(ids.insert(p.at("id").get<int>()).second) << "duplicate id, panel " << title;
    const json& g = p.at("gridPos");
    EXPECT_LE(g["x"].get<int>() + g["w"].get<int>(), 24) << title;
    for (const auto& b : boxes) {
      bool overlap = g["x"] < b["x"].get<int>() + b["w"].get<int>() &&
                     b["x"] < g["x"].get<int>() + g["w"].get<int>() &&
                     g["y"] < b["y"].get<int>() + b["h"].get<int>() &&
                     b["y"] < g["y"].get<int>() + g["h"].get<int>();
      EXPECT_FALSE(overlap) << "panel '" << title << "' overlaps another";
    }
    boxes.push_back(g);
    if (p["type"] == "row") continue;
    ++panels;
    EXPECT_EQ(p.at("datasource").at("uid"), "${datasource}") << title;
    EXPECT_FALSE(p.value("description", "").empty()) << title;
    ASSERT_FALSE(p.at("targets").empty()) << title;
    std::set<std::string> refs;
    for (const auto& t : p["targets"]) {
      EXPECT_TRUE(refs.insert(t.at("refId").get<std::string>()).second) << title;
      EXPECT_EQ(t.at("datasource").at("uid"), "${datasource}") << title;
      EXPECT_FALSE(t.value("expr", "").empty()) << title;
    }
  }
  EXPECT_GE(panels, 12);
}

TEST(Install, PutsTheMonitoringFilesUnderShareSmolswarms) {
  TempDir dir;
  RunResult r = run({SMOL_CMAKE_COMMAND, "--install", SMOL_BUILD_DIR, "--prefix", dir.path(),
                     "--component", "monitoring"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const char* f :
       {"prometheus.yml", "smolswarms-alerts.yml", "smolswarms-dashboard.json", "README.md"}) {
    std::string installed = dir.path() + "/share/smolswarms/monitoring/" + f;
    ASSERT_TRUE(fs::exists(installed)) << installed;
    EXPECT_EQ(slurp(installed), slurp(kMonitoring + "/" + f)) << f;
  }
}

// ---------------------------------------------------------------------------
// A daemon with something in every family.

std::string metrics_address(const Daemon& daemon) {
  return daemon.ctl_json({"status"})["status"]["metrics_address"];
}

void up(const Daemon& daemon, const std::string& spec) {
  RunResult r = daemon.ctl({"up", spec});
  ASSERT_EQ(r.status, 0) << r.err;
}

// A swarm of echo agents, one of which answers vibe checks with "failing".
std::string moody_spec(const TempDir& dir) {
  return dir.write("moody.toml",
                   "name = \"moody\"\n[[agents]]\nrole = \"fine\"\ncommand = [\"" +
                       bin("smol-echo-agent") + "\"]\n[[agents]]\nrole = \"sad\"\ncommand = [\"" +
                       bin("smol-echo-agent") + "\", \"--vibe\", \"failing:no model\"]\n");
}

// A swarm in a pool with every kind of limit, so the pool and cgroup series exist.
std::string pool_spec(const TempDir& dir) {
  return dir.write("pool.toml",
                   "name = \"pool\"\n[limits]\nmemory = \"256MiB\"\npids = 64\n"
                   "cpu = 0.5\n[[agents]]\nrole = \"worker\"\ncommand = [\"" +
                       bin("smol-echo-agent") +
                       "\"]\ncount = 2\n[agents.limits]\nmemory = \"64MiB\"\n");
}

// A swarm that messages, so the messaging series exist: a dm, a role sending
// where its [agents.permissions] do not reach (permission denied), and an
// agent writing garbage on its connection when told to (protocol_error: a
// refused message and an exit).
std::string chat_spec(const TempDir& dir) {
  auto agent = [](const std::string& role, const std::string& args, const std::string& extra) {
    return "[[agents]]\nrole = \"" + role + "\"\ncommand = [\"" + bin("smol-chat-agent") + "\"" +
           args + "]\n" + extra;
  };
  return dir.write("chat.toml",
                   "name = \"chat\"\n" + agent("sink", "", "") +
                       agent("nosy", ", \"dm\", \"sink-0\", \"hi\", \"dm\", \"noise-0\", \"psst\"",
                             "[agents.permissions]\ndm = [\"sink\"]\n") +
                       agent("noise", ", \"await\", \"garbage\"", ""));
}

// A swarm that takes tasks, so the task series exist: its lead hands
// subtask "a" to worker-0, which reports tokens and hands "b" to worker-1,
// which tries to delegate to itself and to worker-0 (refused:
// self_delegation, cycle) and answers; the task succeeds.
std::string tasks_spec(const TempDir& dir) {
  return dir.write("work.toml",
                   "name = \"work\"\n[tasks]\nlead = \"lead\"\nworkers = [\"worker\"]\n"
                   "max_depth = 3\n[[agents]]\nrole = \"lead\"\ncommand = [\"" +
                       bin("smol-task-agent") + "\"]\n[[agents]]\nrole = \"worker\"\n"
                       "command = [\"" + bin("smol-task-agent") + "\", \"--tokens\", \"7\"]\n"
                       "count = 2\n");
}

// The metrics swarmd exports: the label names of each sample's series (so a
// histogram shows up as name_bucket, name_sum, name_count), and its families.
struct Exported {
  std::map<std::string, std::set<std::string>> labels;  // by sample name
  std::map<std::string, std::string> families;          // name -> type
};

Exported parse_exposition(const std::string& text) {
  Exported out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# TYPE ")) {
      std::istringstream w(line.substr(7));
      std::string name, type;
      w >> name >> type;
      out.families[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    size_t end = 0;
    while (end < line.size() && ident_char(line[end])) ++end;
    auto& labels = out.labels[line.substr(0, end)];
    if (end < line.size() && line[end] == '{') {
      std::vector<std::string> names;
      read_matchers(line, end, names);
      labels.insert(names.begin(), names.end());
    }
  }
  return out;
}

// Every selector of the expression names an exported metric with labels it
// has (instance and job are the target labels Prometheus adds; `up` is
// Prometheus' own per target); returns what is wrong, "" if nothing.
std::string check_names(const Expr& e, const Exported& exported) {
  static const std::set<std::string> kTargetLabels = {"instance", "job"};
  std::vector<Selector> sel;
  try {
    sel = selectors(e.expr);
  } catch (const std::exception& ex) {
    return e.where + ": " + ex.what() + "\n";
  }
  if (sel.empty()) return e.where + ": no metric in: " + e.expr + "\n";
  std::string problems;
  for (const auto& s : sel) {
    if (s.metric == "up") {
      for (const auto& l : s.labels) {
        if (!kTargetLabels.count(l)) problems += e.where + ": up has no label " + l + "\n";
      }
      continue;
    }
    auto it = exported.labels.find(s.metric);
    if (it == exported.labels.end()) {
      problems += e.where + ": swarmd exports no metric '" + s.metric + "' (in: " + e.expr + ")\n";
      continue;
    }
    for (const auto& l : s.labels) {
      if (!it->second.count(l) && !kTargetLabels.count(l)) {
        problems += e.where + ": " + s.metric + " has no label '" + l + "'\n";
      }
    }
  }
  return problems;
}

// 2. Every name in the dashboard and the rules is one a real swarmd exports.
TEST(LiveNames, DashboardAndRulesUseOnlyMetricsAndLabelsSwarmdExports) {
  TempDir dir;
  Daemon daemon(dir);
  up(daemon, SMOL_EXAMPLES_DIR "/hello.toml");
  up(daemon, pool_spec(dir));
  ASSERT_EQ(daemon.ctl({"vibe", "hello"}).status, 0);
  // A seccomp violation, attributed to the swarm "(run)".
  RunResult strict = daemon.ctl({"run", "--profile", "strict", "--", "sh", "-c", "/bin/true"});
  ASSERT_THAT(strict.err, HasSubstr("seccomp violation"));
  // A memory write: its ops, entries and commit series.
  ASSERT_EQ(daemon.ctl({"mem", "put", "hello", "working", "k", "v"}).status, 0);
  // Messages: delivered, refused, denied; the garbage only once the swarm
  // is up (an agent failing at start fails the whole `up`).
  up(daemon, chat_spec(dir));
  ASSERT_EQ(daemon.ctl({"dm", "chat/noise-0", "--topic", "go", "now"}).status, 0);
  // A task: tasks, subtask attempts and in flight, refusals, tokens.
  up(daemon, tasks_spec(dir));
  RunResult task =
      daemon.ctl({"task", "run", "work", "--input", dir.write("chain.txt", "chain"), "--wait"});
  ASSERT_EQ(task.status, 0) << task.out << task.err;

  std::string address = metrics_address(daemon);
  std::string text;
  // The cgroup series come with the first sample (every 2 s).
  ASSERT_TRUE(eventually(
      [&] {
        text = http_get(address, "/metrics");
        return text.find("smolswarms_pool_cpu_limit_cores{swarm=\"pool\"}") != std::string::npos &&
               text.find("smolswarms_agent_memory_bytes{agent=\"worker-0\",swarm=\"pool\"}") !=
                   std::string::npos &&
               text.find("smolswarms_cpu_throttled_seconds_total{swarm=\"pool\"}") !=
                   std::string::npos &&
               text.find("smolswarms_messages_total{kind=\"dm\",swarm=\"chat\"}") !=
                   std::string::npos &&
               text.find(
                   "smolswarms_messages_refused_total{reason=\"protocol_error\","
                   "swarm=\"chat\"}") != std::string::npos &&
               text.find(
                   "smolswarms_permission_denied_total{op=\"dm\",role=\"nosy\","
                   "swarm=\"chat\"}") != std::string::npos &&
               text.find("smolswarms_tasks_total{outcome=\"succeeded\",swarm=\"work\"}") !=
                   std::string::npos;
      },
      std::chrono::seconds(15)))
      << text;
  Exported exported = parse_exposition(text);

  std::string problems;
  json d = dashboard();
  std::vector<Expr> exprs = dashboard_exprs(d);
  ASSERT_FALSE(exprs.empty());
  for (const auto& e : exprs) problems += check_names(e, exported);
  for (const auto& e : rule_exprs()) problems += check_names(e, exported);
  // The template variables: label_values(metric, label).
  for (const auto& v : d["templating"]["list"]) {
    if (v["type"] != "query") continue;
    std::string q =
        v["query"].is_string() ? v["query"].get<std::string>() : v["query"].value("query", "");
    std::string inner = q.substr(q.find('(') + 1, q.rfind(')') - q.find('(') - 1);
    std::string metric = inner.substr(0, inner.find(','));
    std::string label = inner.substr(inner.find(',') + 1);
    label.erase(0, label.find_first_not_of(' '));
    ASSERT_TRUE(q.starts_with("label_values(")) << q;
    problems += check_names(
        {"variable " + v["name"].get<std::string>(), metric + "{" + label + "=\"x\"}"}, exported);
  }
  EXPECT_EQ(problems, "");

  // And the dashboard shows every family swarmd has.
  std::set<std::string> used;
  for (const auto& e : exprs) {
    for (const auto& s : selectors(e.expr)) used.insert(s.metric);
  }
  int families = 0;
  for (const auto& [name, type] : exported.families) {
    if (!name.starts_with("smolswarms_")) continue;
    ++families;
    bool shown = type == "histogram" ? used.count(name + "_bucket") || used.count(name + "_count")
                                     : used.count(name) > 0;
    EXPECT_TRUE(shown) << "no panel of monitoring/smolswarms-dashboard.json shows " << name << " ("
                       << type << ")";
  }
  EXPECT_GE(families, 30) << text;
}

// ---------------------------------------------------------------------------
// 3. A real Prometheus server.

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// A free loopback TCP port, as the kernel hands them out.
int free_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  return ntohs(addr.sin_port);
}

// `prometheus` on a free loopback port with its TSDB under dir, started in
// the constructor (which returns once /-/ready says so, within 30 s) and
// stopped (SIGTERM, then SIGKILL) and reaped in the destructor.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& binary, const std::string& dir, const std::string& config)
      : log_path_(dir + "/prometheus.log") {
    for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the port first
      address_ = "127.0.0.1:" + std::to_string(free_port());
      start({binary, "--config.file=" + config, "--storage.tsdb.path=" + dir + "/tsdb",
             "--web.listen-address=" + address_, "--log.level=info"});
      bool ready = eventually(
          [&] {
            return !alive() || http_get(address_, "/-/ready").find("Ready") != std::string::npos;
          },
          std::chrono::seconds(30));
      if (ready && alive()) return;
      stop();
      if (log().find("address already in use") == std::string::npos) break;
    }
    throw std::runtime_error("prometheus did not become ready:\n" + log());
  }
  ~PrometheusServer() { stop(); }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  const std::string& address() const { return address_; }
  std::string log() const {
    try {
      return slurp(log_path_);
    } catch (const std::exception&) {
      return {};
    }
  }

  // GET /api/v1/...; the parsed answer, or null if there was none.
  json api(const std::string& path_and_query) const {
    std::string body = http_get(address_, path_and_query);
    return json::parse(body, nullptr, /*allow_exceptions=*/false);
  }
  json query(const std::string& promql) const {
    return api("/api/v1/query?query=" + url_encode(promql));
  }

 private:
  void start(std::vector<std::string> argv) {
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot open " + log_path_);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test, whatever happens to it
      if (::getppid() != parent) _exit(126);
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execv(cargv[0], cargv.data());
      _exit(127);
    }
    ::close(log_fd);
    if (pid < 0) throw std::runtime_error("fork failed");
    pid_ = pid;
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void stop() {
    if (!alive()) return;
    ::kill(pid_, SIGTERM);
    if (!wait_gone(pid_, std::chrono::seconds(10))) ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  std::string log_path_;
  std::string address_;
  pid_t pid_ = -1;
};

// The shipped prometheus.yml, pointed at the test daemon and made quick:
// each replaced text must be there exactly once.
std::string test_config(const std::string& daemon_address) {
  std::string text = slurp(kMonitoring + "/prometheus.yml");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = text.find(from);
    if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
      throw std::runtime_error("monitoring/prometheus.yml: expected '" + from + "' once");
    }
    text.replace(at, from.size(), to);
  };
  replace("\"127.0.0.1:9464\"", "\"" + daemon_address + "\"");
  replace("scrape_interval: 15s", "scrape_interval: 1s");
  replace("evaluation_interval: 15s", "evaluation_interval: 1s");
  return text;
}

// The samples of an instant query's vector, as "label=value,..." -> value.
std::map<std::string, std::string> samples(const json& answer) {
  std::map<std::string, std::string> out;
  if (!answer.is_object() || answer.value("status", "") != "success") return out;
  for (const auto& r : answer["data"]["result"]) {
    std::string key;
    for (const auto& [k, v] : r["metric"].items()) {
      if (k != "instance" && k != "job")
        key += (key.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    }
    out[key] = r["value"][1].get<std::string>();
  }
  return out;
}

// The alerts now pending or firing: "name{label=value,...}" -> state.
std::map<std::string, std::string> active_alerts(const PrometheusServer& prom) {
  std::map<std::string, std::string> out;
  json a = prom.api("/api/v1/alerts");
  if (!a.is_object() || a.value("status", "") != "success") return out;
  for (const auto& alert : a["data"]["alerts"]) {
    std::string key = alert["labels"].value("alertname", "") + "{";
    std::string sep;
    for (const auto& [k, v] : alert["labels"].items()) {
      if (k == "alertname" || k == "instance" || k == "job" || k == "severity") continue;
      key += sep + k + "=" + v.get<std::string>();
      sep = ",";
    }
    out[key + "}"] = alert.value("state", "");
  }
  return out;
}

std::string state_of(const std::map<std::string, std::string>& alerts, const std::string& key) {
  auto it = alerts.find(key);
  return it == alerts.end() ? "" : it->second;
}

// The query of a loaded alerting rule, from the rules API.
std::string rule_query(const PrometheusServer& prom, const std::string& alert) {
  json r = prom.api("/api/v1/rules?type=alert");
  for (const auto& g : r["data"]["groups"]) {
    for (const auto& rule : g["rules"]) {
      if (rule.value("name", "") == alert) return rule.value("query", "");
    }
  }
  return {};
}

std::string dump(const std::map<std::string, std::string>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += "  " + k + " = " + v + "\n";
  return s.empty() ? "  (nothing)\n" : s;
}

TEST(LivePrometheus, ScrapesSwarmdEvaluatesTheShippedRulesAndAnswersTheDashboard) {
  REQUIRE_TOOL(binary, "prometheus");
  TempDir dir;
  Daemon daemon(dir);
  up(daemon, SMOL_EXAMPLES_DIR "/hello.toml");
  up(daemon, moody_spec(dir));
  ASSERT_EQ(daemon.ctl({"vibe", "hello"}).status, 0);
  ASSERT_EQ(daemon.ctl({"vibe", "moody"}).status, 1) << "one agent answers failing";
  std::string daemon_address = metrics_address(daemon);

  std::string prom_dir = dir.path() + "/prometheus";
  fs::create_directories(prom_dir);
  fs::copy_file(kMonitoring + "/smolswarms-alerts.yml", prom_dir + "/smolswarms-alerts.yml");
  std::ofstream(prom_dir + "/prometheus.yml") << test_config(daemon_address);
  PrometheusServer prom(binary, prom_dir, prom_dir + "/prometheus.yml");
  auto on_failure = [&] { return "prometheus log:\n" + prom.log(); };

  // Scraped: the hello swarm's four agents are ready.
  std::map<std::string, std::string> got;
  ASSERT_TRUE(eventually(
      [&] {
        got = samples(prom.query("smolswarms_agents{state=\"ready\",swarm=\"hello\"}"));
        return got == std::map<std::string, std::string>{
                          {"__name__=smolswarms_agents,state=ready,swarm=hello", "4"}};
      },
      std::chrono::seconds(30)))
      << dump(got) << on_failure();
  EXPECT_EQ(samples(prom.query("up{job=\"smolswarms\"}")),
            (std::map<std::string, std::string>{{"__name__=up", "1"}}));

  // The shipped rules load and evaluate cleanly against the real series.
  json groups;
  ASSERT_TRUE(eventually(
      [&] {
        groups = prom.api("/api/v1/rules")["data"]["groups"];
        if (!groups.is_array() || groups.empty()) return false;
        for (const auto& g : groups) {
          for (const auto& r : g["rules"]) {
            if (r.value("health", "") != "ok") return false;
          }
        }
        return true;
      },
      std::chrono::seconds(15)))
      << groups.dump(2) << on_failure();
  int declared = 0;
  rule_exprs(&declared);
  size_t loaded = 0;
  for (const auto& g : groups) loaded += g["rules"].size();
  EXPECT_EQ(loaded, static_cast<size_t>(declared));

  // The vibe check rule's expression finds the failing agent of moody, and
  // only it; its alert fires.
  std::string vibe_query = rule_query(prom, "SmolSwarmsVibeCheckFailing");
  ASSERT_FALSE(vibe_query.empty());
  EXPECT_EQ(samples(prom.query(vibe_query)),
            (std::map<std::string, std::string>{
                {"__name__=smolswarms_vibe_agents,health=failing,swarm=moody", "1"}}))
      << vibe_query;
  std::map<std::string, std::string> alerts;
  EXPECT_TRUE(eventually(
      [&] {
        alerts = active_alerts(prom);
        return state_of(alerts, "SmolSwarmsVibeCheckFailing{health=failing,swarm=moody}") ==
               "firing";
      },
      std::chrono::seconds(15)))
      << dump(alerts);
  EXPECT_FALSE(alerts.count("SmolSwarmsVibeCheckFailing{health=failing,swarm=hello}"));

  // A seccomp violation after Prometheus started: its first one creates the
  // series at 1, and the rule must still see it.
  RunResult strict = daemon.ctl({"run", "--profile", "strict", "--", "sh", "-c", "/bin/true"});
  ASSERT_THAT(strict.err, HasSubstr("seccomp violation: vfork"));
  EXPECT_TRUE(eventually(
      [&] {
        alerts = active_alerts(prom);
        return state_of(alerts,
                        "SmolSwarmsSeccompViolations{action=kill,swarm=(run),syscall=vfork}") ==
               "firing";
      },
      std::chrono::seconds(15)))
      << dump(alerts);

  // Every dashboard expression is valid PromQL to Prometheus, with Grafana's
  // variables as "All" would fill them in; the swarm variable's values and
  // the agents panel come back with data.
  for (const auto& e : dashboard_exprs(dashboard())) {
    std::string q = e.expr;
    for (auto [var, value] : {std::pair{"$__rate_interval", "1m"}, std::pair{"$instance", ".*"},
                              std::pair{"$swarm", ".*"}}) {
      for (size_t at; (at = q.find(var)) != std::string::npos;) {
        q.replace(at, std::string_view(var).size(), value);
      }
    }
    json answer = prom.query(q);
    EXPECT_EQ(answer.value("status", ""), "success") << e.where << ": " << q << "\n"
                                                     << answer.dump();
    if (e.where.starts_with("panel 'Agents by state'")) {
      EXPECT_EQ(samples(answer)["state=ready,swarm=hello"], "4") << answer.dump();
    }
  }
  json swarms = prom.api("/api/v1/label/swarm/values?" + url_encode("match[]") + "=" +
                         url_encode("smolswarms_agents"));
  std::vector<std::string> swarm_values;
  if (swarms.is_object() && swarms["data"].is_array()) {
    for (const auto& v : swarms["data"]) swarm_values.push_back(v.get<std::string>());
  }
  EXPECT_THAT(swarm_values, ::testing::IsSupersetOf({"hello", "moody"})) << swarms.dump();

  // The daemon goes away: the daemon-down rule's expression sees it at the
  // next scrape, and its alert is pending (it fires after its minute).
  std::string down_query = rule_query(prom, "SmolSwarmsDaemonDown");
  ASSERT_FALSE(down_query.empty());
  EXPECT_TRUE(samples(prom.query(down_query)).empty());
  EXPECT_FALSE(active_alerts(prom).count("SmolSwarmsDaemonDown{}"));
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
  EXPECT_TRUE(eventually(
      [&] {
        return samples(prom.query(down_query)) ==
               std::map<std::string, std::string>{{"__name__=up", "0"}};
      },
      std::chrono::seconds(15)))
      << on_failure();
  EXPECT_TRUE(eventually(
      [&] {
        alerts = active_alerts(prom);
        return state_of(alerts, "SmolSwarmsDaemonDown{}") == "pending";
      },
      std::chrono::seconds(15)))
      << dump(alerts);
}

}  // namespace
}  // namespace smol::test
