// What swarmctl reads from the operator's files and stdin: a spec, a
// message, a memory value, a task's input.
//
// Reading stops at a bound instead of at the end, because the input may be
// endless (`swarmctl dm s/a - < /dev/zero`) and nothing bigger than one
// control call's message (16 MiB, ipc/rpc_connection.cc) can reach swarmd
// anyway; the daemon's own, smaller limits (max_payload, memory values,
// task inputs) then answer with errors that name them.
#pragma once

#include <string>

namespace smol::cli {

inline constexpr size_t kMaxInputBytes = 16 << 20;

// All of `path` ("-": stdin). Throws Failure naming the file (or stdin) if
// it cannot be read or holds more than kMaxInputBytes.
std::string read_input(const std::string& path);

}  // namespace smol::cli
