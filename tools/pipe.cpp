// `peer pipe ROOM`: netcat over a data channel. stdin goes to the remote, the remote's
// data to stdout, binary-safe, both directions at once.
//
// Wire (channel "pipe", ordered and reliable; both sides open their own stream of it):
//   binary message   data, at most 64 KiB each
//   text "end"       no more data from this side (our stdin reached EOF): half-close
//   text "done"      all of your data is written to my stdout (sent on your "end")
//   text "fin"       both directions are done for me; I am about to exit
// A side is done when it sent "end", received "end" (then it closes stdout) and received
// "done" (the remote has everything we sent). It sends "fin" and waits for the remote's
// "fin" or the connection to close before closing the peer, so its own "done" is not cut
// off by the SCTP abort of close(). Flow control: stdin is read only while the channel's
// buffered amount is below 4 MiB (resumed at 1 MiB, "bufferedamountlow").
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.hpp"
#include "peer/channel.hpp"
#include "session.hpp"

namespace peer::tools {
namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::size_t kHigh = 4 << 20, kLow = 1 << 20;

struct PipeOptions {
  std::string room;
  std::string server = "ws://127.0.0.1:8787/";
  NetworkOptions net;
  double timeout = 30;
};

bool write_all(int fd, const std::byte* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

int run_pipe(const PipeOptions& o) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout is an error we report, not a silent death
  const auto network = network_or_report("pipe", o.net, o.server);
  if (!network) return kExitUsage;
  Session session("pipe", *network);
  Peer& p = session.peer;
  Channel ch = p.use(channel("pipe"));
  std::vector<Subscription> subs;

  bool got_end = false, got_done = false, got_fin = false, output_failed = false;
  std::uint64_t received = 0;
  CloseOnExit closer{p};  // after everything the callbacks use
  subs.push_back(ch.on_message([&](const Message& m) {
    if (m.binary()) {
      if (output_failed) return;
      if (!write_all(1, m.bytes().data(), m.bytes().size())) {
        std::fprintf(stderr, "peer pipe: writing stdout: %s\n", std::strerror(errno));
        session.waiter.update([&] { output_failed = true; });
      }
      received += m.bytes().size();
      return;
    }
    const std::string_view text = m.text();
    if (text == "end") {
      ::close(1);  // the remote's half is complete: our reader sees EOF
      try {
        ch.send("done");
      } catch (const std::exception& e) {
        std::fprintf(stderr, "peer pipe: %s\n", e.what());
      }
      session.waiter.update([&] { got_end = true; });
    } else if (text == "done") {
      session.waiter.update([&] { got_done = true; });
    } else if (text == "fin") {
      session.waiter.update([&] { got_fin = true; });
    } else {
      std::fprintf(stderr, "peer pipe: unknown control message \"%.*s\" ignored\n", static_cast<int>(text.size()),
                   text.data());
    }
  }));
  subs.push_back(ch.on("bufferedamountlow", [&] { session.waiter.update([] {}); }));
  ch.buffered_amount_low_threshold(kLow);

  if (!session.signal(o.room, o.server)) return kExitUsage;
  if (const int rc = session.wait_connected(o.timeout); rc != kExitOk) return rc;
  std::fprintf(stderr, "peer pipe: connected (%s)\n", p.get("pair").dump().c_str());

  auto broken = [&] { return output_failed || session.connection() != "connected"; };
  // stdin -> remote, with flow control.
  std::vector<std::byte> buffer(kChunk);
  std::uint64_t sent = 0;
  for (;;) {
    if (!session.waiter.wait([&] { return ch.buffered_amount() <= kHigh || broken(); }, 0)) break;
    {
      std::lock_guard lock(session.waiter.mutex);
      if (broken()) break;
    }
    const ssize_t n = ::read(0, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "peer pipe: reading stdin: %s\n", std::strerror(errno));
      return kExitFailed;
    }
    try {
      if (n == 0) {
        ch.send("end");
        break;
      }
      ch.send(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
      sent += static_cast<std::size_t>(n);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peer pipe: sending: %s\n", e.what());
      return kExitFailed;
    }
  }

  session.waiter.wait([&] { return (got_end && got_done) || broken(); }, 0);
  {
    std::lock_guard lock(session.waiter.mutex);
    if (output_failed) return kExitFailed;
    if (!(got_end && got_done)) {
      std::fprintf(stderr,
                   "peer pipe: the connection %s before both directions were done (sent %llu bytes%s, "
                   "received %llu%s)\n",
                   session.connection().c_str(), static_cast<unsigned long long>(sent),
                   got_done ? ", all confirmed" : "", static_cast<unsigned long long>(received),
                   got_end ? ", complete" : "");
      return kExitFailed;
    }
  }
  try {
    ch.send("fin");
  } catch (const std::exception&) {
  }
  // Courtesy: our "done" reaches the remote before close() aborts the association.
  session.waiter.wait([&] { return got_fin || session.connection() != "connected"; }, 10);
  std::fprintf(stderr, "peer pipe: done: sent %llu bytes, received %llu bytes\n",
               static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received));
  return kExitOk;
}

}  // namespace

void add_pipe(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("pipe", "netcat over a data channel: stdin to the remote, the remote to stdout");
  static PipeOptions o;
  cmd->add_option("room", o.room, "room on the signaling server; the other `peer pipe` joins the same")->required();
  cmd->add_option("--server", o.server, "signaling server (`peer signal`)")->capture_default_str();
  add_network_options(cmd, o.net);
  cmd->add_option("--timeout", o.timeout, "seconds to get connected (exit 3 after); 0 waits forever")
      ->capture_default_str();
  cmd->footer("Half-close: at EOF on stdin the remote's stdout is closed; exits 0 once both directions are done.\n"
              "Exit codes: 0 both directions done, 1 connection lost or I/O error, 2 bad argument,\n"
              "3 not connected in time, 4 refused by the signaling server.");
  cmd->callback([&exit_code] { exit_code = run_pipe(o); });
}

}  // namespace peer::tools
