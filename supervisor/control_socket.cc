#include "supervisor/control_socket.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "base/log.h"
#include "base/sys_error.h"

namespace smol::supervisor {
namespace {

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    throw std::runtime_error("control socket path too long (max " +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes): " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True if a daemon accepts connections at path now.
bool someone_listens(const sockaddr_un& addr) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

PeerCred peer_cred(kj::AsyncIoStream& stream) {
  PeerCred p;
  ucred cred{};
  uint len = sizeof cred;
  stream.getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
  p.pid = cred.pid;
  p.uid = cred.uid;
  p.gid = cred.gid;
  gid_t groups[256];
  len = sizeof groups;
  try {
    stream.getsockopt(SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    p.groups.assign(groups, groups + len / sizeof(gid_t));
  } catch (const kj::Exception&) {
    // More than 256 groups (ERANGE): judge by the primary group alone.
  }
  return p;
}


}  // namespace

std::optional<gid_t> lookup_group(const std::string& name) {
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

UniqueFd bind_control_socket(const std::string& path, uint32_t mode, std::optional<gid_t> group) {
  sockaddr_un addr = unix_address(path);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (someone_listens(addr)) {
    throw std::runtime_error("another swarmd is already listening on " + path +
                             "; stop it first, or give this one another --socket");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw SysError(errno, "unlink", path);

  UniqueFd fd(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
                        "socket", path));
  // Bind under a umask that already gives the final mode, so the socket is
  // never reachable with wider permissions, not even for an instant.
  mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  ::umask(old);
  if (rc != 0) throw SysError(bind_errno, "bind", path);
  if (group) check_sys(::chown(path.c_str(), static_cast<uid_t>(-1), *group), "chown", path);
  check_sys(::chmod(path.c_str(), mode), "chmod", path);
  check_sys(::listen(fd.get(), SOMAXCONN), "listen", path);
  return fd;
}

bool admitted(const PeerCred& peer, std::optional<gid_t> admin_gid) {
  if (peer.uid == 0) return true;
  if (!admin_gid) return false;
  return peer.gid == *admin_gid ||
         std::find(peer.groups.begin(), peer.groups.end(), *admin_gid) != peer.groups.end();
}

ControlServer::ControlServer(ipc::EventLoop& loop, UniqueFd listener,
                             std::optional<gid_t> admin_gid, ServiceFactory service)
    : receiver_(loop.low_level().wrapListenSocketFd(
          listener.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                  kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                  kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK)),
      admin_gid_(admin_gid),
      service_(std::move(service)),
      tasks_(kj::heap<kj::TaskSet>(*this)) {
  accepting_ = accept_loop().eagerlyEvaluate([](kj::Exception&& e) {
    log::error(std::string("control socket: accept failed: ") + e.getDescription().cStr());
  });
}

kj::Promise<void> ControlServer::accept_loop() {
  return receiver_->accept().then([this](kj::Own<kj::AsyncIoStream> stream) {
    try {
      serve(kj::mv(stream));
    } catch (const kj::Exception& e) {
      log::warning(std::string("control socket: dropping a client: ") +
                   e.getDescription().cStr());
    }
    return accept_loop();
  });
}

void ControlServer::serve(kj::Own<kj::AsyncIoStream> stream) {
  PeerCred peer = peer_cred(*stream);
  bool ok = admitted(peer, admin_gid_);
  if (!ok) {
    log::notice("control socket: refusing uid " + std::to_string(peer.uid) + " (pid " +
                std::to_string(peer.pid) + ")");
  }
  auto conn = kj::heap<ipc::RpcConnection>(kj::mv(stream), service_(peer, ok));
  auto disconnected = conn->on_disconnect();
  connections_.push_back(kj::mv(conn));
  auto it = std::prev(connections_.end());
  tasks_->add(disconnected.then([this, it] {
    connections_.erase(it);
    if (connections_.empty() && idle_) idle_->fulfill();
  }));
}

void ControlServer::taskFailed(kj::Exception&& e) {
  log::warning(std::string("control connection: ") + e.getDescription().cStr());
}

void ControlServer::stop_accepting() { accepting_ = nullptr; }

kj::Promise<void> ControlServer::idle() {
  if (connections_.empty()) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  idle_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

void ControlServer::close() {
  stop_accepting();
  tasks_ = kj::heap<kj::TaskSet>(*this);
  connections_.clear();
  receiver_ = nullptr;
}

}  // namespace smol::supervisor
