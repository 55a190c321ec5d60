// swarmd: the SmolSwarms supervisor daemon. Runs in the foreground, with an
// embedded default configuration; see `swarmd --help` and `--print-config`.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "base/log.h"
#include "supervisor/config.h"
#include "supervisor/daemon.h"
#include "supervisor/toml_check.h"

namespace {

constexpr int kUsageError = 2;

std::optional<smol::log::Level> parse_level(const std::string& s) {
  using L = smol::log::Level;
  if (s == "error") return L::error;
  if (s == "warning") return L::warning;
  if (s == "notice") return L::notice;
  if (s == "info") return L::info;
  if (s == "debug") return L::debug;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"swarmd: the SmolSwarms supervisor. Runs swarms of agent processes and serves "
               "swarmctl on a Unix control socket."};
  std::string config_file, state_dir, socket, metrics, log_level;
  bool print_config = false;
  app.add_option("--config", config_file, "TOML configuration file (default: embedded defaults)");
  app.add_option("--state-dir", state_dir, "state directory (default /var/lib/smolswarms)");
  app.add_option("--socket", socket, "control socket path (default /run/smolswarms/swarmd.sock)");
  app.add_option("--metrics", metrics, "metrics listen address host:port, or 'off' (default 127.0.0.1:9464)");
  app.add_option("--log-level", log_level, "error, warning, notice, info or debug");
  app.add_flag("--print-config", print_config, "print the effective configuration as TOML and exit");
  app.set_version_flag("--version", std::string("swarmd ") + SMOL_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsageError;
  }

  smol::config::Config config;
  try {
    if (!config_file.empty()) {
      std::ifstream in(config_file);
      if (!in) {
        std::cerr << "swarmd: cannot read config file " << config_file << "\n";
        return kUsageError;
      }
      std::stringstream text;
      text << in.rdbuf();
      config = smol::config::parse_config(text.str(), config_file);
    }
    // Flags override the file; they go through the same validation.
    std::string overrides;
    using smol::toml_check::quote;
    if (!state_dir.empty()) overrides += "state_dir = " + quote(state_dir) + "\n";
    if (!log_level.empty()) overrides += "log_level = " + quote(log_level) + "\n";
    if (!socket.empty()) overrides += "[control]\nsocket = " + quote(socket) + "\n";
    if (!metrics.empty()) overrides += "[metrics]\nlisten = " + quote(metrics) + "\n";
    if (!overrides.empty()) config = smol::config::parse_config(overrides, "command line", config);
  } catch (const smol::config::ConfigError& e) {
    std::cerr << "swarmd: " << e.what() << "\n";
    return kUsageError;
  }

  if (print_config) {
    std::cout << smol::config::to_toml(config);
    return 0;
  }
  smol::log::init("swarmd", parse_level(config.log_level).value_or(smol::log::Level::info));
  return smol::supervisor::run_daemon(config);
}
