// Finding the program an agent group runs.
//
// A spec names its command as an absolute path, a path relative to the
// spec file's directory ("./bin/agent"), or a bare name looked up in the
// directory swarmd itself lives in (so a build tree's smol-echo-agent is
// found without installing) and then in the PATH the agent will run with
// (not the daemon's: a program found only through the daemon's PATH, say a
// shim under /root, would not be there, or not work, inside the sandbox). Resolution
// happens once per group, when the swarm is spawned, and the result must be
// an executable regular file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace smol::supervisor {

// The PATH an agent runs with unless its spec sets one.
inline constexpr std::string_view kDefaultAgentPath = "/usr/local/bin:/usr/bin:/bin";

// swarmd's own directory, then each absolute entry of agent_path.
std::vector<std::string> search_dirs(std::string_view agent_path);

// Returns the absolute path to run, or throws std::runtime_error saying
// what was looked for and where.
std::string resolve_command(const std::string& command, const std::string& base_dir,
                            const std::vector<std::string>& search_dirs);

}  // namespace smol::supervisor
