#include "supervisor/daemon.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "base/log.h"
#include "base/sys_error.h"
#include "ipc/event_loop.h"
#include "metrics/exposer.h"
#include "metrics/metrics.h"
#include "storage/lmdb_env.h"
#include "storage/memory_move.h"
#include "storage/swarm_table.h"
#include "supervisor/control_service.h"
#include "supervisor/control_socket.h"
#include "supervisor/memory_service.h"
#include "supervisor/process_setup.h"
#include "supervisor/swarm_factory.h"
#include "supervisor/systemd_integration.h"

namespace smol::supervisor {
namespace {

void make_state_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create state directory " + dir + ": " + ec.message());
  check_sys(::chmod(dir.c_str(), 0750), "chmod", dir);
}

// SIGTERM and SIGINT stay blocked in every thread for the daemon's whole
// life and are read on the loop (signalfd) only while it waits for the first
// one. A second signal during the graceful stop then stays pending instead
// of killing a daemon that is already on its way out.
void capture_shutdown_signals() {
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
}

kj::Promise<void> shutdown_requested(ipc::EventLoop& loop) {
  auto& port = loop.io().unixEventPort;
  return port.onSignal(SIGTERM).exclusiveJoin(port.onSignal(SIGINT)).then([](siginfo_t si) {
    log::notice(std::string("received ") + (si.si_signo == SIGTERM ? "SIGTERM" : "SIGINT") +
                "; shutting down");
  });
}

std::string refusal(const PeerCred& peer, const std::string& group, bool group_exists) {
  std::string who = "uid " + std::to_string(peer.uid);
  if (!group_exists) {
    return "permission denied: " + who + " may not use swarmd; only root may (group '" + group +
           "' does not exist on this machine)";
  }
  return "permission denied: " + who + " may not use swarmd; it admits root and members of group '" +
         group + "' (add the user with: usermod -aG " + group + " USER)";
}

}  // namespace

int run_daemon(const config::Config& config) {
  try {
    capture_shutdown_signals();  // before any thread exists, so all inherit the mask
    prepare_process();
    make_state_dir(config.state_dir);
    storage::LmdbEnv env = storage::LmdbEnv::open(config.state_dir + "/swarmd.mdb", {});
    storage::SwarmTable table(env);
    std::vector<storage::LmdbError> unreadable;
    std::vector<storage::SwarmRecord> crashed;
    for (storage::SwarmRecord& rec : table.list(&unreadable)) {
      if (rec.status == storage::SwarmStatus::active) crashed.push_back(std::move(rec));
    }
    table.mark_active_as_stopped(unix_now_ms());
    for (const auto& e : unreadable) {
      log::warning(std::string("a swarm record cannot be read and is ignored: ") + e.what());
    }

    auto registry = std::make_shared<prometheus::Registry>();
    metrics::Metrics metrics(registry);
    std::optional<metrics::MetricsExposer> exposer;
    if (config.metrics_listen != "off") exposer.emplace(config.metrics_listen, registry);

    ipc::EventLoop loop;
    DaemonInfo info{config.socket_path, config.state_dir, exposer ? exposer->address() : "off",
                    std::chrono::steady_clock::now()};
    std::optional<gid_t> admin_gid = lookup_group(config.admin_group);
    if (!admin_gid) {
      log::notice("group '" + config.admin_group +
                  "' does not exist; only root may use the control socket");
    }
    std::optional<UniqueFd> inherited = inherited_control_socket();
    const bool activated = inherited.has_value();
    UniqueFd listener = activated ? std::move(*inherited)
                                  : bind_control_socket(config.socket_path, config.socket_mode,
                                                        admin_gid);
    if (activated) info.socket_path = unix_socket_path(listener.get());

    // Only now that the socket is ours: a daemon refused for a socket in
    // use must not touch the cgroups of the one that holds it.
    Sandboxes sandboxes(config);
    Cgroups cgroups(loop, config);
    // The swarms' memory has a file of its own, written on a thread of its
    // own. Moved over from swarmd.mdb only now that the control socket is
    // ours: a swarmd refused for a socket in use must not touch the memory
    // of the one that holds it.
    storage::LmdbEnv memory_env = storage::LmdbEnv::open(config.state_dir + "/memory.mdb", {});
    if (size_t moved = storage::memory::move_memory(env, memory_env); moved > 0) {
      log::notice("moved the swarms' memory (" + std::to_string(moved) +
                  " records) from swarmd.mdb to memory.mdb");
    }
    // Before the swarms, which hand its capabilities to their agents.
    MemoryService memory(loop, memory_env, metrics, config);
    TaskLedger tasks(loop, env);
    // Attempts that were running died with the previous swarmd: their
    // subtasks run again when their swarm is back.
    size_t unfinished = tasks.now([](storage::TaskStore& st, storage::Txn& txn) {
      return st.recover(txn, unix_now_ms()).size();
    });
    if (unfinished > 0) {
      log::notice(std::to_string(unfinished) + " unfinished task(s) resume when their swarm is up");
    }
    Runtime rt{loop, metrics, config, sandboxes, cgroups, memory, config.messaging, tasks};
    SwarmFactory factory(rt, table);
    // Before the control socket serves: a client's `up` of the same name
    // finds the swarm already coming back.
    factory.restore(crashed);
    LogArchive logs(loop);
    ControlServer server(
        loop, std::move(listener), admin_gid,
        [&](const PeerCred& peer, bool ok) -> capnp::Capability::Client {
          if (ok) return kj::heap<ControlService>(rt, factory, memory, logs, info);
          return kj::heap<RefusedControl>(metrics,
                                          refusal(peer, config.admin_group, admin_gid.has_value()));
        });
    Watchdog watchdog(loop);

    log::notice(std::string("swarmd ") + SMOL_VERSION + " ready: control socket " +
                info.socket_path + (activated ? " (from systemd)" : "") + ", metrics " +
                info.metrics_address + ", state " + config.state_dir +
                (watchdog.enabled() ? ", watchdog on" : ""));
    auto status_line = [&factory] {
      return "STATUS=serving: " + std::to_string(factory.swarms_running()) + " swarms, " +
             std::to_string(factory.agents_running()) + " agents running";
    };
    notify("READY=1\n" + status_line() + "\nMAINPID=" + std::to_string(getpid()));
    factory.on_change([&] { notify(status_line()); });

    loop.run(shutdown_requested(loop));

    notify("STOPPING=1\nSTATUS=stopping " + std::to_string(factory.swarms_running()) + " swarms");
    server.stop_accepting();
    loop.run(factory.stop_all(config.stop_grace));
    // Followers of events and logs have been told the end (the swarms
    // stopped): a moment for them to take it and hang up, then the rest
    // (a `top`, a task's watcher) are cut off.
    loop.run(server.idle().exclusiveJoin(loop.timer().afterDelay(500 * kj::MILLISECONDS)));
    server.close();
    cgroups.remove_all();
    // A socket from systemd stays: systemd listens on it again for the next start.
    if (!activated) ::unlink(config.socket_path.c_str());
    log::notice("swarmd stopped");
    return 0;
  } catch (const std::exception& e) {
    log::error(e.what());
  } catch (const kj::Exception& e) {
    log::error(e.getDescription().cStr());
  }
  return 1;
}

}  // namespace smol::supervisor
