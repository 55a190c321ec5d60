#include "cli/commands.h"

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/connection.h"
#include "cli/failure.h"
#include "cli/input.h"
#include "cli/log_sink.h"
#include "cli/output.h"
#include "ipc/wire.h"

namespace smol::cli {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kDefaultTimeout{60000};
// How long past the grace period `down` waits by default for the SIGKILLs
// and the reaping that follow it.
constexpr milliseconds kStopMargin{30000};

Connection open_connection(const GlobalOptions& g) {
  return Connection(g.socket_path, g.timeout.value_or(kDefaultTimeout));
}

std::string agents(uint32_t n) { return std::to_string(n) + (n == 1 ? " agent" : " agents"); }

// What spawnSwarm needs from a spec file.
struct SpecFile {
  std::string toml;
  std::string source_name;  // the file name, for error positions
  std::string base_dir;     // absolute, for relative agent commands
};

SpecFile read_spec(const std::string& file) {
  SpecFile spec;
  spec.toml = read_input(file);
  std::filesystem::path path = std::filesystem::absolute(file).lexically_normal();
  spec.source_name = path.filename();
  spec.base_dir = path.parent_path();
  return spec;
}

struct AgentRef {
  std::string swarm;
  std::string agent;
};

AgentRef parse_agent_ref(const std::string& target) {
  auto slash = target.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == target.size() ||
      target.find('/', slash + 1) != std::string::npos) {
    throw Failure("expected SWARM/AGENT, e.g. hello/worker-1, not '" + target + "'",
                  Failure::kUsage);
  }
  return {target.substr(0, slash), target.substr(slash + 1)};
}

std::string last_exit(rpc::ExitInfo::Reader e) {
  if (e.getReason() == rpc::ExitReason::NONE || e.getDetail().size() == 0) return "-";
  return ipc::text_of(e.getDetail());
}

std::string memory(rpc::AgentInfo::Reader a) {
  std::string m = format_size(a.getMemoryBytes());
  if (a.getMemoryLimit() > 0) m += "/" + format_size(a.getMemoryLimit());
  return m;
}

Table agent_table(capnp::List<rpc::AgentInfo>::Reader list) {
  Table table({"ID", "ROLE", "PID", "STATE", "MEM", "CPU%", "PIDS", "UPTIME", "RESTARTS",
               "LAST-EXIT"});
  for (auto a : list) {
    bool running = a.getState() != rpc::AgentState::EXITED;
    bool usage = running && a.getHasUsage();
    char cpu[16];
    std::snprintf(cpu, sizeof cpu, "%.1f", a.getCpuPercent());
    table.add({ipc::text_of(a.getId()), ipc::text_of(a.getRole()), a.getPid() > 0 ? std::to_string(a.getPid()) : "-",
               enum_name(a.getState()), usage ? memory(a) : "-", usage ? cpu : "-",
               usage ? std::to_string(a.getPids()) : "-",
               running ? format_age(a.getStartedUnixMillis()) : "-",
               std::to_string(a.getRestarts()), last_exit(a.getLastExit())});
  }
  return table;
}

// logs and events: prints the answer's data, or with follow everything
// pushed to the sink until the stream ends or the user presses Ctrl-C.
template <typename Request>
void show_log(const GlobalOptions& g, Connection& conn, Request& req, uint32_t tail_bytes,
              bool follow, const char* what) {
  req.setTailBytes(tail_bytes);
  req.setFollow(follow);
  if (!follow) {
    auto res = conn.wait(req.send());
    if (g.json) return print_json(to_json(res));
    return print(std::string_view(res.getData().asChars().begin(), res.getData().size()));
  }

  FollowedLog followed(g.json);
  req.setSink(followed.make_sink());
  // swarmd may answer at once with the tail and stream the rest to the sink,
  // or stream everything and answer (with no data) at the end; printing the
  // answer's data before waiting for end() keeps the bytes in order either way.
  auto answered = req.send().then([&](auto res) { followed.print(res.getData()); });
  kj::Maybe<FollowEnd> ended = conn.wait_interruptible(followed.until_end(kj::mv(answered)));
  KJ_IF_MAYBE(end, ended) {
    if (end->how != FollowEnd::How::ended) throw Failure(end->reason);
    if (g.json) return print_json({{"reason", end->reason}});
    std::cerr << "swarmctl: " << what << " ended: " << end->reason << std::endl;
  }
}

rpc::MemoryTier parse_tier(const std::string& name) {
  std::string n = name;
  for (char& c : n) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "short-term") return rpc::MemoryTier::SHORT_TERM;
  if (n == "working") return rpc::MemoryTier::WORKING;
  if (n == "long-term") return rpc::MemoryTier::LONG_TERM;
  throw Failure("unknown tier '" + name + "': expected short-term, working or long-term",
                Failure::kUsage);
}

// A tier argument, checked against the agent: short-term entries belong to one.
rpc::MemoryTier tier_arg(const std::string& name, const std::string& agent) {
  rpc::MemoryTier t = parse_tier(name);
  if (t == rpc::MemoryTier::SHORT_TERM && agent.empty()) {
    throw Failure("short-term entries belong to one agent: name it with --agent ID",
                  Failure::kUsage);
  }
  return t;
}

std::string tier_label(rpc::MemoryTier t) {
  switch (t) {
    case rpc::MemoryTier::SHORT_TERM: return "short-term";
    case rpc::MemoryTier::WORKING: return "working";
    case rpc::MemoryTier::LONG_TERM: return "long-term";
  }
  return std::to_string(static_cast<unsigned>(t));
}

// Names one entry in a memGet, memDelete or memConsolidate request.
template <typename Request>
void set_entry(Request& req, const std::string& swarm, rpc::MemoryTier tier,
               const std::string& key, const std::string& agent) {
  req.setSwarm(swarm);
  req.setTier(tier);
  req.setAgent(agent);
  req.setKey(key);
}

std::string joined(capnp::List<capnp::Text>::Reader list) {
  std::string out;
  for (auto t : list) out += (out.empty() ? "" : ",") + ipc::text_of(t);
  return out.empty() ? "-" : out;
}

// The start of a value, for tables (which make it printable), cut at a
// character's boundary.
std::string excerpt(capnp::Data::Reader value, size_t max = 60) {
  std::string_view v(value.asChars().begin(), value.size());
  if (v.size() <= max) return std::string(v);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(v[end]) & 0xC0) == 0x80) --end;
  return std::string(v.substr(0, end)) + "...";
}

}  // namespace

void up(const GlobalOptions& g, const std::string& file) {
  SpecFile spec = read_spec(file);
  Connection conn = open_connection(g);
  auto req = conn.control().spawnSwarmRequest();
  req.setSpecToml(spec.toml);
  req.setSourceName(spec.source_name);
  req.setBaseDir(spec.base_dir);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  auto s = res.getSwarm();
  print("swarm " + ipc::text_of(s.getName()) + " " + enum_name(s.getState()) + ": " +
        agents(s.getAgentsTotal()) + " in " + format_elapsed(res.getReadyMillis()) + "\n");
}

void ls(const GlobalOptions& g) {
  Connection conn = open_connection(g);
  auto res = conn.wait(conn.control().listSwarmsRequest().send());
  if (g.json) return print_json(to_json(res));
  Table table({"NAME", "STATE", "READY", "AGE", "SOURCE"});
  for (auto s : res.getSwarms()) {
    table.add({ipc::text_of(s.getName()), enum_name(s.getState()),
               std::to_string(s.getAgentsReady()) + "/" + std::to_string(s.getAgentsTotal()),
               format_age(s.getCreatedUnixMillis()), ipc::text_of(s.getSourceName())});
  }
  table.print();
}

void ps(const GlobalOptions& g, const std::string& swarm) {
  Connection conn = open_connection(g);
  auto req = conn.control().listAgentsRequest();
  req.setSwarm(swarm);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  agent_table(res.getAgents()).print();
}

void top(const GlobalOptions& g, const std::string& swarm, milliseconds interval,
         uint32_t iterations) {
  Connection conn = open_connection(g);
  const bool redraw = !g.json && ::isatty(STDOUT_FILENO) == 1;
  for (uint32_t i = 0; iterations == 0 || i < iterations; ++i) {
    if (i > 0 && !conn.pause_for(interval)) return;
    auto req = conn.control().listAgentsRequest();
    req.setSwarm(swarm);
    auto res = conn.wait(req.send());
    if (g.json) {
      print_json(to_json(res));
      continue;
    }
    std::string heading = "swarm " + swarm + ", every " + format_elapsed(
                              static_cast<double>(interval.count())) + " (Ctrl-C to quit)\n";
    // Home and clear-to-end: the new table overwrites the old one in place.
    print((redraw ? "\x1b[H\x1b[J" : (i > 0 ? "\n" : "")) + heading);
    agent_table(res.getAgents()).print();
  }
}

void vibe(const GlobalOptions& g, const std::string& swarm, milliseconds deadline) {
  Connection conn(g.socket_path, g.timeout.value_or(std::max(kDefaultTimeout, deadline + kStopMargin)));
  auto req = conn.control().vibeCheckRequest();
  req.setSwarm(swarm);
  req.setDeadlineMillis(static_cast<uint32_t>(deadline.count()));
  auto res = conn.wait(req.send());
  auto c = res.getCheck();
  if (g.json) {
    print_json(to_json(res));
  } else {
    Table table({"AGENT", "HEALTH", "TIME", "NOTE"});
    for (auto a : c.getAgents()) {
      table.add({ipc::text_of(a.getId()), a.getAnswered() ? enum_name(a.getHealth()) : "silent",
                 a.getAnswered() ? format_elapsed(a.getMillis()) : "-", ipc::text_of(a.getNote())});
    }
    table.print();
    print("swarm " + swarm + ": " + std::to_string(c.getOk()) + " ok, " +
          std::to_string(c.getDegraded()) + " degraded, " + std::to_string(c.getFailing()) +
          " failing, " + std::to_string(c.getSilent()) + " silent, in " +
          format_elapsed(c.getTookMillis()) + "\n");
  }
  uint32_t unwell = c.getDegraded() + c.getFailing() + c.getSilent();
  if (unwell > 0) {
    throw Failure("swarm " + swarm + ": " + std::to_string(unwell) + " of " +
                  agents(c.getAgents().size()) + " not ok");
  }
}

void pause(const GlobalOptions& g, const std::string& target, bool paused) {
  AgentRef ref;
  if (target.find('/') == std::string::npos) {
    ref.swarm = target;
  } else {
    ref = parse_agent_ref(target);
  }
  Connection conn = open_connection(g);
  auto req = conn.control().pauseAgentsRequest();
  req.setSwarm(ref.swarm);
  req.setAgent(ref.agent);
  req.setPaused(paused);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  uint32_t n = 0;
  for (auto a : res.getAgents()) n += a.getState() == rpc::AgentState::PAUSED ? 1 : 0;
  print(std::string(paused ? "paused " : "resumed ") + target + " (" + std::to_string(n) + " of " +
        agents(res.getAgents().size()) + " paused)\n");
}

void logs(const GlobalOptions& g, const std::string& target, bool follow, uint32_t tail_bytes) {
  AgentRef ref = parse_agent_ref(target);
  Connection conn = open_connection(g);
  auto req = conn.control().agentLogsRequest();
  req.setSwarm(ref.swarm);
  req.setAgent(ref.agent);
  show_log(g, conn, req, tail_bytes, follow, "log");
}

void events(const GlobalOptions& g, const std::string& swarm, bool follow, uint32_t tail_bytes) {
  Connection conn = open_connection(g);
  auto req = conn.control().swarmEventsRequest();
  req.setSwarm(swarm);
  show_log(g, conn, req, tail_bytes, follow, "event stream");
}

void down(const GlobalOptions& g, const std::string& swarm, uint32_t grace_millis) {
  milliseconds timeout =
      g.timeout.value_or(std::max(kDefaultTimeout, milliseconds(grace_millis) + kStopMargin));
  Connection conn(g.socket_path, timeout);
  auto req = conn.control().stopSwarmRequest();
  req.setSwarm(swarm);
  req.setGraceMillis(grace_millis);
  auto started = std::chrono::steady_clock::now();
  auto res = conn.wait(req.send());
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - started;
  if (g.json) return print_json(to_json(res));
  auto s = res.getSwarm();
  print("swarm " + ipc::text_of(s.getName()) + " " + enum_name(s.getState()) + " (" +
        agents(s.getAgentsTotal()) + ") in " + format_elapsed(took.count()) + "\n");
}

int run(const GlobalOptions& g, const RunOptions& opts) {
  Connection conn = open_connection(g);
  auto req = conn.control().runCommandRequest();
  auto argv = req.initArgv(static_cast<unsigned>(opts.argv.size()));
  for (unsigned i = 0; i < opts.argv.size(); ++i) argv.set(i, opts.argv[i]);
  req.setProfile(opts.profile);
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (!opts.workdir.empty()) req.setWorkdir(std::filesystem::absolute(opts.workdir, ec).string());
  req.setBaseDir(cwd.string());
  FollowedLog followed(g.json);
  req.setSink(followed.make_sink());
  std::optional<capnp::Response<rpc::Control::RunCommandResults>> result;
  auto answered = req.send().then([&](auto res) { result = kj::mv(res); });
  kj::Maybe<FollowEnd> ended;
  try {
    ended = conn.wait_interruptible(followed.until_end(kj::mv(answered)));
  } catch (const Failure& f) {
    // swarmd refused to start it (no such command, not executable, no such
    // profile): as a shell says 127 for a command it cannot run.
    throw Failure(f.what(), 127);
  }
  if (ended == nullptr) {
    std::cerr << "swarmctl: interrupted; the command was killed" << std::endl;
    return 130;
  }
  KJ_IF_MAYBE(end, ended) {
    if (end->how != FollowEnd::How::ended) throw Failure(end->reason);
  }
  auto exit = result->getExit();
  if (g.json) print_json(to_json(*result));
  else std::cerr << "swarmctl: " << ipc::text_of(exit.getDetail()) << std::endl;
  if (exit.getReason() == rpc::ExitReason::SPAWN_FAILED) return 127;
  if (exit.getSignal() != 0) return 128 + exit.getSignal();
  return exit.getCode();
}

void status(const GlobalOptions& g) {
  Connection conn = open_connection(g);
  auto res = conn.wait(conn.control().statusRequest().send());
  if (g.json) return print_json(to_json(res));
  auto s = res.getStatus();
  Table table;
  table.add({"version", ipc::text_of(s.getVersion())});
  table.add({"pid", std::to_string(s.getPid())});
  table.add({"uptime", format_rough(milliseconds(s.getUptimeMillis()))});
  table.add({"socket", ipc::text_of(s.getSocketPath())});
  table.add({"state dir", ipc::text_of(s.getStateDir())});
  table.add({"metrics", ipc::text_of(s.getMetricsAddress())});
  table.add({"swarms", std::to_string(s.getSwarmsTotal()) + " (" +
                           std::to_string(s.getSwarmsRunning()) + " running)"});
  table.add({"agents running", std::to_string(s.getAgentsRunning())});
  table.add({"cgroups", ipc::text_of(s.getCgroups())});
  table.print();
}

void dm(const GlobalOptions& g, const std::string& target, const std::string& topic,
        const std::string& message) {
  auto slash = target.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == target.size()) {
    throw Failure("expected SWARM/AGENT, e.g. hello/worker-1 or hello/worker/1, not '" + target +
                      "'",
                  Failure::kUsage);
  }
  std::string data = message == "-" ? read_input("-") : message;
  Connection conn = open_connection(g);
  auto req = conn.control().sendMessageRequest();
  req.setSwarm(target.substr(0, slash));
  req.setTo(target.substr(slash + 1));
  req.setTopic(topic);
  req.setPayload(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(data.data()), data.size()));
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  print("queued for " + target + " (" + format_size(data.size()) + ")\n");
}

void broadcast(const GlobalOptions& g, const std::string& swarm, const std::string& topic,
               const std::string& message) {
  std::string data = message == "-" ? read_input("-") : message;
  Connection conn = open_connection(g);
  auto req = conn.control().broadcastMessageRequest();
  req.setSwarm(swarm);
  req.setTopic(topic);
  req.setPayload(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(data.data()), data.size()));
  auto res = conn.wait(req.send());
  if (g.json) {
    print_json(to_json(res));
  } else {
    print("queued for " + agents(res.getRecipients()) + " of swarm " + swarm + "\n");
  }
  if (res.getRefused().size() > 0) {
    std::string names;
    for (auto id : res.getRefused()) names += (names.empty() ? "" : ", ") + ipc::text_of(id);
    throw Failure("not delivered to " + names + ": their queues are full");
  }
}

void mem_put(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
             const std::string& key, const std::string& value, const MemPutOptions& opts) {
  rpc::MemoryTier t = tier_arg(tier, opts.agent);
  if (opts.ttl && t != rpc::MemoryTier::SHORT_TERM) {
    throw Failure("--ttl applies to short-term entries only", Failure::kUsage);
  }
  std::string data = value == "-" ? read_input("-") : value;
  Connection conn = open_connection(g);
  auto req = conn.control().memPutRequest();
  req.setSwarm(swarm);
  req.setTier(t);
  req.setAgent(opts.agent);
  req.setKey(key);
  req.setValue(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(data.data()), data.size()));
  auto tags = req.initTags(static_cast<unsigned>(opts.tags.size()));
  for (unsigned i = 0; i < opts.tags.size(); ++i) tags.set(i, opts.tags[i]);
  req.setTtlMillis(opts.ttl ? opts.ttl->count() : 0);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  print("put " + tier_label(t) + " " + key + " in swarm " + swarm + " (" + format_size(data.size()) +
        (res.hasEntry() ? ")\n" : "; expired already, its TTL ran out before it was stored)\n"));
}

void mem_get(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
             const std::string& key, const std::string& agent) {
  rpc::MemoryTier t = tier_arg(tier, agent);
  Connection conn = open_connection(g);
  auto req = conn.control().memGetRequest();
  set_entry(req, swarm, t, key, agent);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  auto v = res.getEntry().getValue();
  print(std::string_view(v.asChars().begin(), v.size()));
}

void mem_ls(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
            const std::string& prefix, const std::string& agent) {
  rpc::MemoryTier t = tier_arg(tier, agent);
  Connection conn = open_connection(g);
  Table table({"KEY", "SIZE", "TAGS", "WRITER", "UPDATED", "RECALLS"});
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  std::string start_after;
  do {
    auto req = conn.control().memListRequest();
    req.setSwarm(swarm);
    req.setTier(t);
    req.setAgent(agent);
    req.setPrefix(prefix);
    req.setStartAfter(start_after);
    auto res = conn.wait(req.send());
    for (auto e : res.getEntries()) {
      if (g.json) {
        all.push_back(to_json(capnp::toDynamic(e)));
        continue;
      }
      table.add({ipc::text_of(e.getKey()), format_size(e.getValueSize()), joined(e.getTags()),
                 e.getWriter().size() > 0 ? ipc::text_of(e.getWriter()) : "-",
                 format_age(e.getUpdatedUnixMillis()), std::to_string(e.getRecallCount())});
    }
    start_after = ipc::text_of(res.getNextStartAfter());
  } while (!start_after.empty());
  if (g.json) return print_json({{"entries", all}});
  table.print();
}

void mem_recall(const GlobalOptions& g, const std::string& swarm, const std::string& query,
                const MemRecallOptions& opts) {
  std::vector<rpc::MemoryTier> tiers;
  for (const auto& t : opts.tiers) tiers.push_back(tier_arg(t, opts.agent));
  Connection conn = open_connection(g);
  auto req = conn.control().memRecallRequest();
  req.setSwarm(swarm);
  req.setAgent(opts.agent);
  req.setQuery(query);
  req.setK(opts.k);
  auto tl = req.initTiers(static_cast<unsigned>(tiers.size()));
  for (unsigned i = 0; i < tiers.size(); ++i) tl.set(i, tiers[i]);
  auto tags = req.initTags(static_cast<unsigned>(opts.tags.size()));
  for (unsigned i = 0; i < opts.tags.size(); ++i) tags.set(i, opts.tags[i]);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  Table table({"SCORE", "TIER", "KEY", "EXCERPT"});
  for (auto h : res.getHits()) {
    char score[32];
    std::snprintf(score, sizeof score, "%.3f", h.getScore());
    auto e = h.getEntry();
    table.add({score, tier_label(e.getTier()), ipc::text_of(e.getKey()), excerpt(e.getValue())});
  }
  table.print();
}

void mem_rm(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
            const std::string& key, const std::string& agent) {
  rpc::MemoryTier t = tier_arg(tier, agent);
  Connection conn = open_connection(g);
  auto req = conn.control().memDeleteRequest();
  set_entry(req, swarm, t, key, agent);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  print("deleted " + tier_label(t) + " " + key + " from swarm " + swarm + "\n");
}

void mem_consolidate(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
                     const std::string& key, const std::string& to, const std::string& agent) {
  rpc::MemoryTier t = tier_arg(tier, agent);
  Connection conn = open_connection(g);
  auto req = conn.control().memConsolidateRequest();
  set_entry(req, swarm, t, key, agent);
  if (!to.empty()) {
    req.setHasTo(true);
    req.setTo(parse_tier(to));
  }
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  print("moved " + key + " from " + tier_label(t) + " to " + tier_label(res.getEntry().getTier()) +
        " in swarm " + swarm + "\n");
}

}  // namespace smol::cli
