// Finding the program an agent group runs.
//
// A spec names its command as an absolute path, a path relative to the
// spec file's directory ("./bin/agent"), or a bare name looked up in the
// directory swarmd itself lives in (so a build tree's smol-echo-agent is
// found without installing) and then in the daemon's PATH. Resolution
// happens once per group, when the swarm is spawned, and the result must be
// an executable regular file.
#pragma once

#include <string>
#include <vector>

namespace smol::supervisor {

// swarmd's own directory, then each entry of $PATH.
std::vector<std::string> default_search_dirs();

// Returns the absolute path to run, or throws std::runtime_error saying
// what was looked for and where.
std::string resolve_command(const std::string& command, const std::string& base_dir,
                            const std::vector<std::string>& search_dirs);

}  // namespace smol::supervisor
