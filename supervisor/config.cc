#include "supervisor/config.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <optional>

#include "supervisor/toml_check.h"
#include "base/units.h"

namespace smol::config {
namespace {

using namespace std::chrono_literals;
using toml_check::Problems;
using toml_check::TableReader;

// Below this a timer is noise; the daemon cannot honour it.
constexpr std::chrono::milliseconds kMinDuration = 10ms;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

constexpr uint32_t kMaxSocketMode = 0777;
// sun_path holds the path and its terminating NUL.
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
constexpr size_t kMaxGroupName = 32;

// Agents' uids start at or above this: below are the system's own accounts
// (Debian's policy), whose files an agent must not own.
constexpr int64_t kMinAgentUid = 1000;
// Agents' uids end below this: (uid_t)-1 means "no uid" to setresuid and
// chown, and (uid_t)-2 was "nfsnobody" on older systems.
constexpr int64_t kAgentUidLimit = 0xFFFF'FFFE;

const std::initializer_list<std::string_view> kLogLevels = {"error", "warning", "notice", "info",
                                                            "debug"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

const std::string* absolute_path(const TableReader& table, std::string_view key) {
  const std::string* path = table.string(key);
  if (!path) return nullptr;
  if (!path->starts_with('/')) {
    table.bad(key, "must be an absolute path, starting with '/'");
  } else if (path->find('\0') != std::string::npos) {
    table.bad(key, "must not contain NUL bytes");
  } else {
    return path;
  }
  return nullptr;
}

bool is_group_name(std::string_view s) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
           c == '.' || c == '-';
  };
  return !s.empty() && s.size() <= kMaxGroupName && s[0] != '-' &&
         std::all_of(s.begin(), s.end(), allowed);
}

// "0660", "660" or "0" -> the mode; anything else, or above 0777, -> nullopt.
std::optional<uint32_t> parse_mode(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  uint32_t mode = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  return mode <= kMaxSocketMode ? std::optional(mode) : std::nullopt;
}

// What is wrong with a metrics listen address, or nullopt when nothing is.
std::optional<std::string> listen_problem(std::string_view s) {
  if (s == "off") return std::nullopt;
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || s.find('\0') != std::string_view::npos) {
    return "must be \"off\" or host:port, like \"127.0.0.1:9464\" or \"[::1]:9464\"";
  }
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit) ||
      std::stoul(std::string(port)) > 65535) {
    return "the port must be a number from 0 to 65535";
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr address;
    if (inet_pton(AF_INET6, std::string(host.substr(1, host.size() - 2)).c_str(), &address) != 1) {
      return "the address in brackets must be an IPv6 address, like \"[::1]:9464\"";
    }
    return std::nullopt;
  }
  if (host.find(':') != std::string_view::npos) {
    return "an IPv6 address must be in brackets, like \"[::1]:9464\"";
  }
  auto host_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '-';
  };
  if (host.empty() || !std::all_of(host.begin(), host.end(), host_char)) {
    return "the host must be a host name or an IPv4 address, like \"127.0.0.1\"";
  }
  return std::nullopt;
}

// A byte size within [min, max], or 0 when zero_means_none.
void read_size(const TableReader& table, std::string_view key, uint64_t min, uint64_t max,
               bool zero_means_none, uint64_t& out) {
  std::optional<uint64_t> bytes = table.bytes(key);
  if (!bytes) return;
  if ((*bytes == 0 && zero_means_none) || (*bytes >= min && *bytes <= max)) {
    out = *bytes;
    return;
  }
  std::string range = "between " + format_bytes(min) + " and " + format_bytes(max);
  table.bad(key, zero_means_none ? "must be 0 (no file) or " + range : "must be " + range);
}

void read_top(const TableReader& top, Config& c) {
  if (const std::string* dir = absolute_path(top, "state_dir")) c.state_dir = *dir;
  if (auto level = top.one_of("log_level", kLogLevels)) c.log_level = kLogLevels.begin()[*level];
}

void read_control(const TableReader& control, Config& c) {
  if (const std::string* socket = absolute_path(control, "socket")) {
    if (socket->size() > kMaxSocketPath) {
      control.bad("socket", "must be at most " + std::to_string(kMaxSocketPath) +
                                " bytes long, the limit of a Unix socket address");
    } else {
      c.socket_path = *socket;
    }
  }
  if (const std::string* group = control.string("group")) {
    if (is_group_name(*group)) {
      c.admin_group = *group;
    } else {
      control.bad("group", "must be a group name: 1 to " + std::to_string(kMaxGroupName) +
                               " letters, digits, '_', '.' or '-', not starting with '-'");
    }
  }
  if (const toml::node* mode = control.find("socket_mode")) {
    // A TOML integer would be read as decimal (0660 is even a syntax error),
    // so only a string says unambiguously that the digits are octal.
    std::optional<uint32_t> parsed =
        mode->is_string() ? parse_mode(**mode->as_string()) : std::nullopt;
    if (parsed) {
      c.socket_mode = *parsed;
    } else {
      control.bad("socket_mode", "must be an octal string like \"0660\", at most \"0777\"");
    }
  }
}

void read_metrics(const TableReader& metrics, Config& c) {
  if (const std::string* listen = metrics.string("listen")) {
    if (std::optional<std::string> problem = listen_problem(*listen)) {
      metrics.bad("listen", *problem);
    } else {
      c.metrics_listen = *listen;
    }
  }
}

void read_agents(const TableReader& agents, Config& c) {
  if (auto d = agents.duration("ready_timeout", kMinDuration)) c.ready_timeout = *d;
  if (auto d = agents.duration("stop_grace", kMinDuration)) c.stop_grace = *d;
  read_size(agents, "log_ring", 4 * kKiB, 16 * kMiB, false, c.log_ring_bytes);
  read_size(agents, "log_file_max", 64 * kKiB, kGiB, true, c.log_file_bytes);
}

void read_sandbox(const TableReader& sandbox, Config& c) {
  std::optional<int64_t> base = sandbox.integer("uid_base", kMinAgentUid, kAgentUidLimit - 1);
  std::optional<int64_t> count = sandbox.integer("uid_count", 1, kAgentUidLimit - kMinAgentUid);
  // Each layer may move either end, so the range is checked as it results.
  if (base.value_or(c.agent_uid_base) + count.value_or(c.agent_uid_count) > kAgentUidLimit) {
    std::string rule = "uid_base + uid_count must be at most " + std::to_string(kAgentUidLimit) +
                       ": the last two uids are not usable";
    sandbox.bad(count ? "uid_count" : "uid_base", rule);
    return;
  }
  if (base) c.agent_uid_base = static_cast<uint32_t>(*base);
  if (count) c.agent_uid_count = static_cast<uint32_t>(*count);
}

void read_cgroups(const TableReader& cgroups, Config& c) {
  if (const std::string* base = cgroups.string("base")) {
    // Letters, digits, '-', '_' and '.': a directory name in every cgroup
    // hierarchy, that no cgroup interface file can be mistaken for.
    bool ok = !base->empty() && base->size() <= 64 && base->front() != '.' &&
              std::all_of(base->begin(), base->end(), [](char ch) {
                return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
                       ch == '-' || ch == '_' || ch == '.';
              });
    if (ok) {
      c.cgroup_base = *base;
    } else {
      cgroups.bad("base", "must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'");
    }
  }
}

void read_messaging(const TableReader& messaging, Config& c) {
  if (auto n = messaging.integer("queue_messages", 1, 1'000'000)) {
    c.messaging.mailbox.messages = static_cast<size_t>(*n);
  }
  uint64_t bytes = c.messaging.mailbox.bytes;
  read_size(messaging, "queue_bytes", 64 * kKiB, kGiB, false, bytes);
  c.messaging.mailbox.bytes = static_cast<size_t>(bytes);
  uint64_t payload = c.messaging.max_payload;
  read_size(messaging, "max_payload", kKiB, 8 * kMiB, false, payload);
  c.messaging.max_payload = static_cast<uint32_t>(payload);
  if (auto d = messaging.duration("request_timeout", kMinDuration)) {
    c.messaging.default_request_deadline = *d;
  }
}

// In Config::Durability's order.
const std::initializer_list<std::string_view> kDurabilities = {"fsync", "batch", "none"};

void read_memory(const TableReader& memory, Config& c) {
  if (auto d = memory.one_of("durability", kDurabilities)) {
    c.memory_durability = static_cast<Config::Durability>(*d);
  }
  if (auto d = memory.duration("batch_sync", 1ms, 10s)) c.memory_batch_sync = *d;
}

}  // namespace

Config parse_config(std::string_view toml_text, std::string_view source_name, Config base) {
  Problems problems(source_name);
  if (std::optional<toml::table> doc =
          toml_check::parse_document(toml_text, source_name, problems)) {
    TableReader top(*doc, "", {"state_dir", "log_level", "control", "metrics", "agents", "sandbox",
                                  "cgroups", "messaging", "memory"},
                    problems);
    read_top(top, base);
    if (const toml::table* t = top.table("control")) {
      read_control(TableReader(*t, "control", {"socket", "group", "socket_mode"}, problems), base);
    }
    if (const toml::table* t = top.table("metrics")) {
      read_metrics(TableReader(*t, "metrics", {"listen"}, problems), base);
    }
    if (const toml::table* t = top.table("agents")) {
      read_agents(
          TableReader(*t, "agents", {"ready_timeout", "stop_grace", "log_ring", "log_file_max"},
                      problems),
          base);
    }
    if (const toml::table* t = top.table("sandbox")) {
      read_sandbox(TableReader(*t, "sandbox", {"uid_base", "uid_count"}, problems), base);
    }
    if (const toml::table* t = top.table("cgroups")) {
      read_cgroups(TableReader(*t, "cgroups", {"base"}, problems), base);
    }
    if (const toml::table* t = top.table("memory")) {
      read_memory(TableReader(*t, "memory", {"durability", "batch_sync"}, problems), base);
    }
    if (const toml::table* t = top.table("messaging")) {
      read_messaging(TableReader(*t, "messaging",
                                 {"queue_messages", "queue_bytes", "max_payload", "request_timeout"},
                                 problems),
                     base);
    }
  }
  if (!problems.empty()) throw ConfigError(toml_check::join_lines(problems.lines()));
  return base;
}

std::string_view durability_name(Config::Durability d) {
  return kDurabilities.begin()[static_cast<size_t>(d)];
}

std::string to_toml(const Config& c) {
  std::string out =
      "# swarmd configuration. Every key is optional: a key left out keeps its default.\n";
  std::string_view section = "-";
  // value_toml is the value as TOML: quoted for a string, bare for a number.
  auto put_toml = [&](std::string_view in, std::string_view comment, std::string_view key,
                      const std::string& value_toml) {
    if (in != section) {
      out += in.empty() ? "\n" : "\n[" + std::string(in) + "]\n";
      section = in;
    }
    out += "# " + std::string(comment) + "\n" + std::string(key) + " = " + value_toml + "\n";
  };
  auto put = [&](std::string_view in, std::string_view comment, std::string_view key,
                 const std::string& value) {
    put_toml(in, comment, key, toml_check::quote(value));
  };
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(c.socket_mode));

  put("", "Where swarmd keeps its database and the agents' log files.", "state_dir", c.state_dir);
  put("", "The least severe messages logged: error, warning, notice, info or debug.", "log_level",
      c.log_level);
  put("control", "The Unix socket swarmctl connects to.", "socket", c.socket_path);
  put("control", "Members of this group (and root) may use the control socket.", "group",
      c.admin_group);
  put("control", "The socket file's permissions, in octal.", "socket_mode", mode);
  put("metrics", "Where Prometheus scrapes: host:port, [v6]:port, or \"off\".", "listen",
      c.metrics_listen);
  put("agents", "How long a new agent may take to say hello; a swarm spec may override it.",
      "ready_timeout", format_duration(c.ready_timeout));
  put("agents", "How long a stopping agent may take to exit before it is killed.", "stop_grace",
      format_duration(c.stop_grace));
  put("agents", "Each agent's most recent output kept in memory.", "log_ring",
      format_bytes(c.log_ring_bytes));
  put("agents",
      "Each agent's output, and each swarm's events, kept on disk, with one rotation; 0: no files.",
      "log_file_max", format_bytes(c.log_file_bytes));
  put_toml("sandbox", "Agents run as uids and gids from here, one each; no account may use them.",
           "uid_base", std::to_string(c.agent_uid_base));
  put_toml("sandbox", "How many such uids: the most agents that can run at once.", "uid_count",
           std::to_string(c.agent_uid_count));
  put("cgroups",
      "The cgroup, below swarmd's own, that holds every swarm's pool; one name per daemon.",
      "base", c.cgroup_base);
  put_toml("messaging", "Messages queued for one agent before its senders are held back.",
           "queue_messages", std::to_string(c.messaging.mailbox.messages));
  put("messaging", "Bytes queued for one agent before its senders are held back.", "queue_bytes",
      format_bytes(c.messaging.mailbox.bytes));
  put("messaging", "The largest message payload; a bigger one is a protocol error.",
      "max_payload", format_bytes(c.messaging.max_payload));
  put("messaging", "How long a request waits for its answer unless the sender says.",
      "request_timeout", format_duration(c.messaging.default_request_deadline));
  put("memory",
      "When swarm memory writes are answered: fsync (once on disk), batch (committed, synced "
      "within batch_sync) or none (committed; the kernel syncs).",
      "durability", std::string(durability_name(c.memory_durability)));
  put("memory", "batch only: how long an answered write may wait for its sync.", "batch_sync",
      format_duration(c.memory_batch_sync));
  return out;
}

}  // namespace smol::config
