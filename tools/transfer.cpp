// `peer send FILE ROOM` and `peer recv ROOM`: a file over a data channel, met through a
// signaling server (the signal plugin).
//
// Wire (channel "file", ordered and reliable):
//   send -> recv  text {"type":"header","name":N,"size":S}  N: the file's base name
//   recv -> send  text {"type":"accept"} | {"type":"refuse","reason":R}
//   send -> recv  binary chunks of 64 KiB (only after "accept"), then
//                 text {"type":"end","sha256":HEX}
//   recv -> send  text {"type":"result","ok":B,"sha256":HEX}
// The receiver decides before any byte is written: it refuses a name that is not a plain
// base name and an existing file without --force. It writes to a hidden ".NAME.part" next
// to the target and renames it only when the size and sha-256 match, so a failed transfer
// never leaves a half file under the real name.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "peer/channel.hpp"
#include "session.hpp"

namespace peer::tools {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kHigh = 4 << 20, kLow = 1 << 20;

struct TransferOptions {
  std::string file;  // send
  std::string room;
  std::string dir = ".";  // recv
  bool force = false;     // recv
  std::string server = "ws://127.0.0.1:8787/";
  NetworkOptions net;
  double timeout = 30;
  bool quiet = false;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The control messages of one side, as they arrive on the loop thread.
struct Inbox {
  std::vector<json> messages;
  std::optional<json> take(const std::string& type) {
    for (auto it = messages.begin(); it != messages.end(); ++it) {
      if (it->value("type", "") == type) {
        json m = *it;
        messages.erase(it);
        return m;
      }
    }
    return std::nullopt;
  }
};

// Waits for a control message of one of `types` (or the connection going); null if none.
json wait_control(Session& s, Inbox& inbox, std::initializer_list<const char*> types, double seconds) {
  json found;
  s.waiter.wait(
      [&] {
        for (const char* t : types) {
          if (auto m = inbox.take(t)) {
            found = *m;
            return true;
          }
        }
        return s.connection() != "connected";
      },
      seconds);
  return found;
}

void send_text(Channel& ch, const json& m) {
  try {
    ch.send(m.dump());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer: sending %s: %s\n", m.value("type", "").c_str(), e.what());
  }
}

// Control messages (text) go to the inbox; data (binary) to `on_data` on the loop thread.
template <class OnData>
Subscription watch(Session& s, Channel& ch, Inbox& inbox, OnData on_data) {
  return ch.on_message([&s, &inbox, on_data](const Message& m) mutable {
    if (m.binary()) {
      on_data(m.bytes());
      return;
    }
    json j = json::parse(m.text(), nullptr, false);
    if (!j.is_object()) {
      std::fprintf(stderr, "peer: a control message that is not a JSON object was ignored\n");
      return;
    }
    s.waiter.update([&] { inbox.messages.push_back(std::move(j)); });
  });
}

int run_send(const TransferOptions& o) {
  const int fd = ::open(o.file.c_str(), O_RDONLY);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fprintf(stderr, "peer send: %s: %s\n", o.file.c_str(), fd < 0 ? std::strerror(errno) : "not a regular file");
    if (fd >= 0) ::close(fd);
    return kExitUsage;
  }
  struct Fd {
    int fd;
    ~Fd() { ::close(fd); }
  } file{fd};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::string name = fs::path(o.file).filename().string();

  const auto network = network_or_report("send", o.net, o.server);
  if (!network) return kExitUsage;
  Session session("send", *network);
  Channel ch = session.peer.use(channel("file"));
  Inbox inbox;
  std::vector<Subscription> subs;
  CloseOnExit closer{session.peer};
  subs.push_back(watch(session, ch, inbox, [](std::span<const std::byte>) {
    std::fprintf(stderr, "peer send: unexpected data from the receiver ignored\n");
  }));
  subs.push_back(ch.on("bufferedamountlow", [&] { session.waiter.update([] {}); }));
  ch.buffered_amount_low_threshold(kLow);

  if (!session.signal(o.room, o.server)) return kExitUsage;
  if (const int rc = session.wait_connected(o.timeout); rc != kExitOk) return rc;
  send_text(ch, {{"type", "header"}, {"name", name}, {"size", size}});
  const json reply = wait_control(session, inbox, {"accept", "refuse"}, 0);
  if (reply.is_null()) {
    std::fprintf(stderr, "peer send: the connection closed before the receiver answered\n");
    return kExitFailed;
  }
  if (reply["type"] == "refuse") {
    std::fprintf(stderr, "peer send: the receiver refused %s: %s\n", name.c_str(),
                 reply.value("reason", "no reason given").c_str());
    return kExitRefused;
  }

  Sha256 hash;
  Progress progress(size, o.quiet, stderr);
  std::vector<std::byte> buffer(kChunk);
  std::uint64_t sent = 0;
  const auto t0 = Clock::now();
  while (sent < size) {
    session.waiter.wait([&] { return ch.buffered_amount() <= kHigh || session.connection() != "connected"; }, 0);
    if (session.peer.get("connection") != "connected") {
      std::fprintf(stderr, "peer send: the connection closed after %llu of %llu bytes\n",
                   static_cast<unsigned long long>(sent), static_cast<unsigned long long>(size));
      return kExitFailed;
    }
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "peer send: reading %s: %s\n", o.file.c_str(), n < 0 ? std::strerror(errno) : "file shrank");
      return kExitFailed;
    }
    const std::span<const std::byte> piece(buffer.data(), static_cast<std::size_t>(n));
    hash.update(piece);
    ch.send(piece);
    sent += static_cast<std::uint64_t>(n);
    progress.update(sent, seconds_since(t0));
  }
  if (size == 0) progress.update(0, 0);
  const std::string digest = hash.hex();
  send_text(ch, {{"type", "end"}, {"sha256", digest}});
  const json result = wait_control(session, inbox, {"result"}, 0);
  if (result.is_null()) {
    std::fprintf(stderr, "peer send: the connection closed before the receiver confirmed\n");
    return kExitFailed;
  }
  if (!result.value("ok", false)) {
    std::fprintf(stderr, "peer send: the receiver's sha-256 %s does not match ours %s\n",
                 result.value("sha256", "?").c_str(), digest.c_str());
    return kExitFailed;
  }
  std::fprintf(stderr, "peer send: %s: %llu bytes in %.2f s, sha-256 %s (match)\n", name.c_str(),
               static_cast<unsigned long long>(size), seconds_since(t0), digest.c_str());
  return kExitOk;
}

// The name to write: a plain base name, or empty (refused).
std::string safe_name(const json& header) {
  const json n = header.value("name", json());
  if (!n.is_string()) return {};
  std::string name = n.get<std::string>();
  if (const auto slash = name.find_last_of("/\\"); slash != std::string::npos) name = name.substr(slash + 1);
  if (name.empty() || name == "." || name == ".." || name.find('\0') != std::string::npos) return {};
  return name;
}

int run_recv(const TransferOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.dir, ec)) {
    std::fprintf(stderr, "peer recv: %s is not a directory\n", o.dir.c_str());
    return kExitUsage;
  }
  const auto network = network_or_report("recv", o.net, o.server);
  if (!network) return kExitUsage;
  Session session("recv", *network);
  Channel ch = session.peer.use(channel("file"));
  Inbox inbox;
  // Data, on the loop thread: written to the part file as it comes.
  int out = -1;
  bool write_failed = false;
  std::uint64_t received = 0, size = 0;
  Sha256 hash;
  std::optional<Progress> progress;
  Clock::time_point t0;
  std::vector<Subscription> subs;
  CloseOnExit closer{session.peer};

  subs.push_back(watch(session, ch, inbox, [&](std::span<const std::byte> data) {
    if (out < 0 || write_failed) return;
    hash.update(data);
    const std::byte* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(out, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::fprintf(stderr, "peer recv: writing: %s\n", std::strerror(errno));
        write_failed = true;
        return;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    received += data.size();
    if (progress) progress->update(std::min(received, size), seconds_since(t0));
  }));

  if (!session.signal(o.room, o.server)) return kExitUsage;
  if (const int rc = session.wait_connected(o.timeout); rc != kExitOk) return rc;
  const json header = wait_control(session, inbox, {"header"}, 0);
  if (header.is_null()) {
    std::fprintf(stderr, "peer recv: the connection closed before the sender's header\n");
    return kExitFailed;
  }
  // Refusing: tell the sender, then let it close first so the refusal is not cut off.
  auto refuse = [&](const std::string& reason, int code) {
    std::fprintf(stderr, "peer recv: refused: %s\n", reason.c_str());
    send_text(ch, {{"type", "refuse"}, {"reason", reason}});
    session.waiter.wait([&] { return session.connection() != "connected"; }, 10);
    return code;
  };
  const std::string name = safe_name(header);
  const json size_json = header.value("size", json());
  if (name.empty()) return refuse("the name " + header.value("name", json()).dump() + " is not a file name", kExitFailed);
  if (!size_json.is_number_unsigned()) return refuse("the header has no size", kExitFailed);
  size = size_json.get<std::uint64_t>();
  const fs::path target = fs::path(o.dir) / name;
  if (fs::exists(fs::symlink_status(target, ec)) && !o.force)
    return refuse(target.string() + " exists (the receiver may use --force)", kExitRefused);
  const fs::path part = fs::path(o.dir) / ("." + name + ".part");
  {
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      const std::string why = std::strerror(errno);
      return refuse("cannot write " + part.string() + ": " + why, kExitFailed);
    }
    t0 = Clock::now();
    progress.emplace(size, o.quiet, stderr);
    out = fd;  // set before "accept" is sent: no data can arrive earlier
  }
  struct Part {
    const fs::path& path;
    int& fd;
    bool keep = false;
    ~Part() {
      if (fd >= 0) ::close(fd);
      std::error_code ignored;
      if (!keep) fs::remove(path, ignored);
    }
  } part_guard{part, out};
  send_text(ch, {{"type", "accept"}});
  std::fprintf(stderr, "peer recv: receiving %s (%llu bytes)\n", target.c_str(), static_cast<unsigned long long>(size));

  const json end = wait_control(session, inbox, {"end"}, 0);
  if (end.is_null()) {
    std::fprintf(stderr, "peer recv: the connection closed after %llu of %llu bytes\n",
                 static_cast<unsigned long long>(received), static_cast<unsigned long long>(size));
    return kExitFailed;
  }
  // "end" came after every chunk on the ordered channel: the loop thread is done writing.
  const std::string digest = hash.hex();
  const bool ok = !write_failed && received == size && end.value("sha256", "") == digest;
  send_text(ch, {{"type", "result"}, {"ok", ok}, {"sha256", digest}});
  if (ok) {
    ::close(out);
    out = -1;
    fs::rename(part, target, ec);
    if (ec) {
      std::fprintf(stderr, "peer recv: renaming to %s: %s\n", target.c_str(), ec.message().c_str());
      return kExitFailed;
    }
    part_guard.keep = true;
  }
  // The sender closes once it has our result.
  session.waiter.wait([&] { return session.connection() != "connected"; }, 10);
  if (!ok) {
    std::fprintf(stderr, "peer recv: %s: got %llu of %llu bytes, sha-256 %s, the sender's %s (MISMATCH)\n",
                 name.c_str(), static_cast<unsigned long long>(received), static_cast<unsigned long long>(size),
                 digest.c_str(), end.value("sha256", "?").c_str());
    return kExitFailed;
  }
  std::fprintf(stderr, "peer recv: %s: %llu bytes, sha-256 %s (match)\n", target.c_str(),
               static_cast<unsigned long long>(size), digest.c_str());
  return kExitOk;
}

void common_options(CLI::App* cmd, TransferOptions& o) {
  cmd->add_option("--server", o.server, "signaling server (`peer signal`)")->capture_default_str();
  add_network_options(cmd, o.net);
  cmd->add_option("--timeout", o.timeout, "seconds to get connected (exit 3 after); 0 waits forever")
      ->capture_default_str();
  cmd->add_flag("--quiet", o.quiet, "no progress");
}

}  // namespace

void add_transfer(CLI::App& app, int& exit_code) {
  static TransferOptions s, r;
  auto* send = app.add_subcommand("send", "send a file to a `peer recv` in the same room (sha-256 verified)");
  send->add_option("file", s.file, "the file to send")->required();
  send->add_option("room", s.room, "room on the signaling server")->required();
  common_options(send, s);
  send->footer("Exit codes: 0 delivered and verified, 1 failed (connection, I/O, sha-256 mismatch), 2 bad argument,\n"
               "3 not connected in time, 4 refused by the signaling server, 5 the receiver refused the file.");
  send->callback([&exit_code] { exit_code = run_send(s); });

  auto* recv = app.add_subcommand("recv", "receive a file from a `peer send` in the same room");
  recv->add_option("room", r.room, "room on the signaling server")->required();
  recv->add_option("-o,--output", r.dir, "directory to write the file into")->capture_default_str();
  recv->add_flag("--force", r.force, "overwrite an existing file of the same name");
  common_options(recv, r);
  recv->footer("The received name is reduced to its base name. Without --force an existing file is refused\n"
               "before any byte is written. Exit codes: 0 received and verified, 1 failed (connection, I/O,\n"
               "sha-256 mismatch, bad header), 2 bad argument, 3 not connected in time, 4 refused by the\n"
               "signaling server, 5 the file exists (no --force).");
  recv->callback([&exit_code] { exit_code = run_recv(r); });
}

}  // namespace peer::tools
