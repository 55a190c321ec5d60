// The control socket: where swarmctl reaches the daemon.
//
// bind_control_socket() creates the Unix stream socket with the configured
// mode (0660 by default) and group, refusing to steal the path from a
// daemon that still answers there. ControlServer accepts connections and
// checks each peer with SO_PEERCRED (and SO_PEERGROUPS, for supplementary
// groups): uid 0 and members of the admin group get a ControlService; anyone
// else gets a RefusedControl whose every call fails with a message saying
// who is admitted. A client that hangs up takes its RPC session with it.
//
// Thread: the loop thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "base/unique_fd.h"
#include "ipc/event_loop.h"
#include "ipc/rpc_connection.h"

namespace smol::supervisor {

// Creates, binds and listens on path (making its directory if needed).
// Throws SysError, or std::runtime_error if another daemon answers there.
UniqueFd bind_control_socket(const std::string& path, uint32_t mode,
                             std::optional<gid_t> group);

// The group's gid, or nullopt if the system has no such group.
std::optional<gid_t> lookup_group(const std::string& name);

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

// Who may use the socket: root, and anyone whose primary or supplementary
// groups include admin_gid.
bool admitted(const PeerCred& peer, std::optional<gid_t> admin_gid);

class ControlServer final : public kj::TaskSet::ErrorHandler {
 public:
  // Makes the capability a connection gets: service(peer, is_admitted).
  using ServiceFactory = std::function<capnp::Capability::Client(const PeerCred&, bool)>;

  ControlServer(ipc::EventLoop& loop, UniqueFd listener, std::optional<gid_t> admin_gid,
                ServiceFactory service);
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Accepts no new client; those connected carry on, so that followers of
  // events and logs see the swarms stop at shutdown.
  void stop_accepting();
  // Resolves once every client has hung up.
  kj::Promise<void> idle();
  // Hangs up on every client and stops accepting.
  void close();

  // A client's session failed; it is logged and the others carry on.
  void taskFailed(kj::Exception&& e) override;

 private:
  kj::Promise<void> accept_loop();
  void serve(kj::Own<kj::AsyncIoStream> stream);

  kj::Own<kj::ConnectionReceiver> receiver_;
  std::optional<gid_t> admin_gid_;
  ServiceFactory service_;
  std::list<kj::Own<ipc::RpcConnection>> connections_;
  kj::Own<kj::TaskSet> tasks_;
  kj::Promise<void> accepting_{nullptr};
  kj::Own<kj::PromiseFulfiller<void>> idle_;  // while idle() waits
};

}  // namespace smol::supervisor
