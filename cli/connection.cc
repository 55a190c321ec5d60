#include "cli/connection.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <kj/async-unix.h>

#include <cstring>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "base/units.h"

namespace smol::cli {
namespace {

// Connects a blocking Unix stream socket to `path`. Throws SysError.
//
// Blocking on purpose: a Unix-socket connect completes at once unless the
// listener's backlog is full, and then SO_SNDTIMEO bounds the wait (Linux
// applies it to connect on AF_UNIX), so a stuck daemon cannot hang us past
// the timeout. KJ makes the fd non-blocking when it wraps it.
UniqueFd connect_unix(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) throw SysError(ENAMETOOLONG, "connect", path);
  std::memcpy(addr.sun_path, path.data(), path.size());

  UniqueFd fd(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  check_sys(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), "setsockopt");
  check_sys(retry_eintr([&] {
              return ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
            }),
            "connect", path);
  return fd;
}

// What went wrong and what to do about it, for each way a connect fails.
std::string connect_advice(const SysError& e, const std::string& path,
                           std::chrono::milliseconds timeout) {
  switch (e.code()) {
    case ENOENT:
      return "no such socket (is swarmd running? start it with 'swarmd' or "
             "'systemctl start swarmd', or pass --socket)";
    case EACCES:
    case EPERM: return "permission denied (run as root or as a member of the 'smolswarms' group)";
    case ECONNREFUSED: {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
        return "not a socket (pass the path of swarmd's control socket with --socket)";
      }
      return "connection refused (swarmd is not running; a stale socket file is left)";
    }
    case EAGAIN:
    case EINPROGRESS:
      return "no answer within " + format_duration(timeout) +
             " (swarmd is overloaded or stuck; try again or pass a longer --timeout)";
    case ENAMETOOLONG:
      return "path too long for a Unix socket (at most " +
             std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)";
    default: return strerrordesc_np(e.code()) ? strerrordesc_np(e.code()) : "unknown error";
  }
}

kj::Own<kj::AsyncIoStream> open_stream(kj::AsyncIoContext& io, const std::string& path,
                                       std::chrono::milliseconds timeout) {
  try {
    UniqueFd fd = connect_unix(path, timeout);
    return io.lowLevelProvider->wrapSocketFd(fd.release(),
                                             kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  } catch (const SysError& e) {
    throw Failure("cannot connect to " + path + ": " + connect_advice(e, path, timeout));
  }
}

}  // namespace

Connection::Connection(const std::string& socket_path, std::chrono::milliseconds timeout)
    : timeout_(timeout),
      io_(kj::setupAsyncIo()),
      stream_(open_stream(io_, socket_path, timeout)),
      client_(*stream_),
      control_(client_.bootstrap().castAs<rpc::Control>()) {}

bool Connection::pause_for(std::chrono::milliseconds d) {
  auto elapsed =
      io_.provider->getTimer().afterDelay(d.count() * kj::MILLISECONDS).then([] { return true; });
  return first_of(kj::mv(elapsed), interrupted()) != nullptr;
}

kj::Promise<void> Connection::interrupted() {
  // Blocks SIGINT for the thread and has KJ deliver it as an event, so
  // Ctrl-C ends the wait here and the connection is closed in an orderly way.
  kj::UnixEventPort::captureSignal(SIGINT);
  auto ctrl_c = io_.unixEventPort.onSignal(SIGINT).ignoreResult();
  // Once the call has answered, only the connection itself tells us that
  // swarmd went away.
  auto hung_up = client_.onDisconnect().then(
      []() -> kj::Promise<void> { return KJ_EXCEPTION(DISCONNECTED, "swarmd hung up"); });
  return ctrl_c.exclusiveJoin(kj::mv(hung_up));
}

void Connection::fail_timed_out() const {
  throw Failure("no answer from swarmd within " + format_duration(timeout_) +
                " (it may still finish the request: check with 'swarmctl ls'; pass a longer "
                "--timeout to wait longer)");
}

}  // namespace smol::cli
