// The swarmctl subcommands, one function each.
//
// Each connects to swarmd, makes its one call, and prints the answer: a
// table or sentence for people, or with --json one JSON document (logs -f:
// one per line) mirroring the schema's results. Each throws Failure, with
// exit status 2 for malformed arguments and 1 for everything else; none
// prints an error itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace smol::cli {

// Options every subcommand takes.
struct GlobalOptions {
  bool json = false;
  std::string socket_path;
  // Bound on the whole call; unset means the command's own default.
  std::optional<std::chrono::milliseconds> timeout;
};

// Sends the spec file's text, its file name and its absolute directory to
// spawnSwarm and waits until every agent is ready.
void up(const GlobalOptions& g, const std::string& file);

// Lists swarms: NAME STATE READY AGE SOURCE.
void ls(const GlobalOptions& g);

// Lists a swarm's agents: ID ROLE PID STATE MEM CPU% PIDS UPTIME RESTARTS
// LAST-EXIT; MEM, CPU% and PIDS are what the agent's cgroup uses now ("-"
// without one), MEM against its own limit where it has one.
void ps(const GlobalOptions& g, const std::string& swarm);

// ps, refreshed every `interval` until Ctrl-C, or `iterations` times if
// that is above 0. On a terminal the screen is redrawn; otherwise (and with
// --json) each refresh is printed after the previous one.
void top(const GlobalOptions& g, const std::string& swarm, std::chrono::milliseconds interval,
         uint32_t iterations);

// Asks every agent of a swarm how it is doing (one vibe check, waiting at
// most `deadline`; 0: swarmd's default) and prints AGENT HEALTH TIME NOTE
// and a summary. Throws Failure (exit 1) unless every agent answered ok,
// so it serves as a health check in scripts.
void vibe(const GlobalOptions& g, const std::string& swarm, std::chrono::milliseconds deadline);

// Sends one message from the operator to an agent (`target` is
// SWARM/AGENT, AGENT an id or role/index) and returns once swarmd queued
// it; waits while the agent's queue is full. MSG "-" reads stdin.
void dm(const GlobalOptions& g, const std::string& target, const std::string& topic,
        const std::string& message);

// Sends one message from the operator to every agent of the swarm and says
// how many it reached; agents whose queue was full are named, and make it
// exit 1.
void broadcast(const GlobalOptions& g, const std::string& swarm, const std::string& topic,
               const std::string& message);

// Freezes (pause) or thaws (resume) a running agent, or every running agent
// of a swarm: `target` is SWARM or SWARM/AGENT.
void pause(const GlobalOptions& g, const std::string& target, bool paused);

// Prints an agent's captured stdout/stderr; `target` is SWARM/AGENT.
// tail_bytes 0 means all that swarmd keeps. With follow, keeps printing new
// output, without timeout, until swarmd ends the log or the user presses
// Ctrl-C (both a success).
void logs(const GlobalOptions& g, const std::string& target, bool follow, uint32_t tail_bytes);

// Prints the swarm's event stream (one timestamped line per event), like
// logs: the last tail_bytes (0: all swarmd keeps), and with follow the rest
// as it comes, until the swarm is replaced, the daemon stops, or Ctrl-C.
void events(const GlobalOptions& g, const std::string& swarm, bool follow, uint32_t tail_bytes);

// Stops a swarm and waits until every agent is gone. grace_millis 0 leaves
// the grace period to the daemon.
void down(const GlobalOptions& g, const std::string& swarm, uint32_t grace_millis);

// Shows the daemon's version, pid, uptime, paths and counts.
void status(const GlobalOptions& g);

// What `swarmctl run` asks for.
struct RunOptions {
  std::vector<std::string> argv;
  std::string profile;  // empty: swarmd's default
  std::string workdir;  // empty: a fresh one; made absolute here otherwise
};

// Runs one command in the agent sandbox, streaming its stdout and stderr to
// stdout until it ends, with no timeout (Ctrl-C kills it). Prints how it
// ended on stderr ("swarmctl: killed: seccomp violation: ptrace") and
// returns the status to exit with: its exit code, 128+signal when killed,
// 127 when it could not be started, 130 on Ctrl-C.
int run(const GlobalOptions& g, const RunOptions& opts);

// --- swarm memory (`swarmctl mem ...`) ---
// TIER arguments are short-term, working or long-term (short_term etc. too);
// anything else, or short-term without an agent, is a usage error (exit 2).
// agent is the owner of short-term entries, else only the recorded writer.

struct MemPutOptions {
  std::string agent;
  std::vector<std::string> tags;
  std::optional<std::chrono::milliseconds> ttl;  // short-term only
};

// Puts VALUE ("-": all of stdin) under KEY; answers once durable.
void mem_put(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
             const std::string& key, const std::string& value, const MemPutOptions& opts);

// Prints the value as it is (--json: the entry with its provenance).
void mem_get(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
             const std::string& key, const std::string& agent);

// Lists a tier's keys: KEY SIZE TAGS WRITER UPDATED RECALLS, every page.
void mem_ls(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
            const std::string& prefix, const std::string& agent);

struct MemRecallOptions {
  uint32_t k = 0;                   // 0: swarmd's default, 10
  std::vector<std::string> tiers;   // empty: all
  std::vector<std::string> tags;
  std::string agent;
};

// The best entries for QUERY: SCORE TIER KEY EXCERPT.
void mem_recall(const GlobalOptions& g, const std::string& swarm, const std::string& query,
                const MemRecallOptions& opts);

void mem_rm(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
            const std::string& key, const std::string& agent);

// Moves an entry up a tier (to: "" = the next one up), keeping its provenance.
void mem_consolidate(const GlobalOptions& g, const std::string& swarm, const std::string& tier,
                     const std::string& key, const std::string& to, const std::string& agent);

}  // namespace smol::cli
