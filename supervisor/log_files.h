// The log files swarmd keeps under its state dir, which outlive it:
//   logs/SWARM/AGENT.log   an agent's stdout and stderr (LogFile, which
//                          rotates it to AGENT.log.1)
//   logs/SWARM/events.log  the swarm's event stream, likewise
// Agent ids are role-index, so no agent's file is events.log.
//
// read_log_tail() serves `swarmctl logs` and `events` for swarms the running
// daemon has no record of (they stopped before it started): the previous
// daemon's memory of them went with it, the files did not. It reads files,
// so the daemon runs it on the thread pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smol::supervisor {

std::string swarm_log_dir(const std::string& state_dir, std::string_view swarm);
std::string agent_log_path(const std::string& state_dir, std::string_view swarm,
                           std::string_view agent);
std::string events_log_path(const std::string& state_dir, std::string_view swarm);

// The last tail_bytes (0: all) of the log at path, with path.1 before it,
// and at most the last max_bytes; nullopt when neither file exists. Throws
// SysError naming the call and the file for any other failure.
std::optional<std::string> read_log_tail(const std::string& path, uint64_t tail_bytes,
                                         uint64_t max_bytes);

}  // namespace smol::supervisor
