// swarmd's configuration, in three layers: embedded defaults (the member
// initializers below, enough to run with no file at all), then a TOML file
// given with --config, then command-line flags. Each layer is a TOML
// document applied by parse_config() on top of the one before, so a flag
// is checked exactly as the same key in a file would be.
//
//   state_dir = "/var/lib/smolswarms"
//   log_level = "info"                  # error|warning|notice|info|debug
//   [control]
//   socket = "/run/smolswarms/swarmd.sock"
//   group = "smolswarms"
//   socket_mode = "0660"                # octal string, at most "0777"
//   [metrics]
//   listen = "127.0.0.1:9464"           # host:port, [v6]:port, or "off"
//   [agents]
//   ready_timeout = "10s"               # at least 10ms
//   stop_grace = "5s"                   # at least 10ms
//   log_ring = "64KiB"                  # 4KiB..16MiB
//   log_file_max = "1MiB"               # 0 (no file) or 64KiB..1GiB
//   [sandbox]
//   uid_base = 1879048192               # agents run as uids and gids
//   uid_count = 65536                   # uid_base .. uid_base + uid_count - 1
//   [cgroups]
//   base = "smolswarms"                 # the cgroup swarms' pools go in
//   [messaging]
//   queue_messages = 1024               # queued for one agent, 1..1000000
//   queue_bytes = "4MiB"                # queued for one agent, 64KiB..1GiB
//   max_payload = "1MiB"                # one message, 1KiB..8MiB
//   request_timeout = "30s"             # a request's default deadline
//   [memory]
//   durability = "fsync"                # fsync | batch | none (memory_store.h says
//                                       # what each can lose in a crash)
//   batch_sync = "50ms"                 # batch: an answered write's longest wait
//                                       # for its sync, 1ms..10s
//
// main() builds the Config once and passes it down; nothing here is global.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "supervisor/messaging_limits.h"

namespace smol::config {

struct Config {
  std::string state_dir = "/var/lib/smolswarms";
  std::string socket_path = "/run/smolswarms/swarmd.sock";
  std::string admin_group = "smolswarms";  // members (and uid 0) may use the control socket
  uint32_t socket_mode = 0660;
  std::string metrics_listen = "127.0.0.1:9464";  // "off" disables
  std::string log_level = "info";                 // error|warning|notice|info|debug
  std::chrono::milliseconds ready_timeout{10000};
  std::chrono::milliseconds stop_grace{5000};
  uint64_t log_ring_bytes = 64 * 1024;    // per agent, in memory
  uint64_t log_file_bytes = 1024 * 1024;  // per agent, on disk (one rotation kept); 0: none
  // The host uids (and gids, the same numbers) agents run as, one per
  // running agent: [agent_uid_base, agent_uid_base + agent_uid_count). No
  // account and no /etc/subuid range of the host may use any of them, or an
  // agent could reach files that are not its own. Never below 1000 (system
  // accounts), never past 4294967293.
  uint32_t agent_uid_base = 1879048192;
  uint32_t agent_uid_count = 65536;
  // The cgroup (one path component) swarmd makes its swarms' pools in, below
  // its own cgroup (sandbox/cgroup.h). Whatever is in it when swarmd starts
  // is a crashed predecessor's, and is killed and removed: two daemons on
  // one machine need two names.
  std::string cgroup_base = "smolswarms";
  // Bounds on the messages agents send each other (messaging.h). The
  // payload bound stays well below the RPC reader's limit on one message
  // (ipc/rpc_connection.h), so a legal message never trips it.
  supervisor::MessagingLimits messaging;
  // How the swarms' memory reaches the disk (storage/memory_store.h,
  // Durability): fsync answers a write once synced; batch once committed,
  // syncing at least every memory_batch_sync; none leaves syncing to the
  // kernel.
  enum class Durability { fsync, batch, none };
  Durability memory_durability = Durability::fsync;
  std::chrono::milliseconds memory_batch_sync{50};

  friend bool operator==(const Config&, const Config&) = default;
};

// Every problem in one layer, one per line in file order, each
// "file:line:col: key = value: rule" (e.g. "swarmd.toml:4:10:
// control.socket_mode = \"0999\": must be an octal string ..."). Text from
// the input is escaped, so the message is safe to print.
class ConfigError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// Applies the settings present in toml_text on top of base and returns the
// result; keys left out keep base's values. source_name is what messages
// call the input ("/etc/smolswarms/swarmd.toml", "command line").
// Throws ConfigError for syntax errors, unknown keys (with a suggestion when
// one is close), wrong types and values out of range.
Config parse_config(std::string_view toml_text, std::string_view source_name, Config base = {});

// "fsync", "batch" or "none", as the config spells it.
std::string_view durability_name(Config::Durability d);

// The whole config as a commented TOML document, every key present, in a
// fixed order; parse_config(to_toml(c), ...) == c for any c that
// parse_config returned.
std::string to_toml(const Config& config);

}  // namespace smol::config
