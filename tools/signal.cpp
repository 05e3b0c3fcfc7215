// `peer signal`: the signaling server (docs/signaling.md). Runs until SIGTERM or SIGINT,
// then tells every member, closes the connections and exits 0.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <stdexcept>

#include "commands.hpp"
#include "serving.hpp"
#include "server/server.hpp"
#include "signal/token.hpp"

namespace peer::tools {
namespace {

int run_signal(const std::string& listen, const std::string& secret_file, const std::string& log_level,
               int idle_seconds, int heartbeat_ms, int grace_ms, server::ServerOptions options) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e level=%l %v");
  spdlog::set_level(spdlog::level::from_str(log_level));
  parse_listen(listen, options);
  if (!secret_file.empty()) options.secret = signaling::read_secret_file(secret_file);
  options.idle_timeout = std::chrono::seconds(idle_seconds);
  options.heartbeat = std::chrono::milliseconds(heartbeat_ms);
  options.shutdown_grace = std::chrono::milliseconds(grace_ms);
  StopSignals stop_signals;  // before any thread exists
  server::Server server(options);
  server.start();
  std::printf("listening on %s:%u\n", options.address.c_str(), server.port());
  std::fflush(stdout);
  spdlog::info("event=signal signal={}", stop_signals.wait());
  server.stop();
  return 0;
}

}  // namespace

void add_signal(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("signal", "run the signaling server (WebSocket, JSON messages)");
  struct Args {
    std::string listen = "127.0.0.1:8787";
    std::string secret_file;
    std::string log_level = "info";
    int idle_seconds = 60;
    int heartbeat_ms = 2000;
    int grace_ms = 5000;
    server::ServerOptions options;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->options;
  // The three options a deployment sets also come from the environment (empty: unset), so
  // the service reads them from /etc/default/peer-signal (docs/architecture.md section 13).
  cmd->add_option("--listen", args->listen, "address:port to listen on (port 0: any free)")
      ->capture_default_str()
      ->envname("PEER_SIGNAL_LISTEN");
  cmd->add_option("--threads", o.threads, "I/O threads (0: one per core)")->capture_default_str();
  cmd->add_option("--max-message-bytes", o.max_message_bytes, "largest message a client may send")->capture_default_str();
  cmd->add_option("--max-messages-per-second", o.messages_per_second, "per client (0: no limit)")->capture_default_str();
  cmd->add_option("--max-room-members", o.max_room_members, "members per room")->capture_default_str();
  cmd->add_option("--max-rooms", o.max_rooms, "rooms with members on this server")->capture_default_str();
  cmd->add_option("--max-queued-messages", o.max_queued_messages, "outgoing per client before it is dropped")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", args->idle_seconds, "seconds without a frame before a client is closed (pinged at half)")
      ->capture_default_str();
  cmd->add_option("--secret-file", args->secret_file, "HMAC secret: joining needs a token (peer token)")
      ->check(CLI::ExistingFile)
      ->envname("PEER_SIGNAL_SECRET_FILE");
  cmd->add_option("--static", o.static_dir, "serve this folder over HTTP GET")->check(CLI::ExistingDirectory);
  cmd->add_option("--redis", o.redis_url, "share rooms with other servers, e.g. redis://127.0.0.1:6379")
      ->envname("PEER_SIGNAL_REDIS");
  cmd->add_option("--heartbeat-ms", args->heartbeat_ms, "node liveness refresh in Redis (expires after 3x)")
      ->capture_default_str();
  cmd->add_option("--shutdown-grace-ms", args->grace_ms, "on SIGTERM, how long clients may take to close")
      ->capture_default_str();
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  cmd->callback([args, &exit_code] {
    try {
      exit_code = run_signal(args->listen, args->secret_file, args->log_level, args->idle_seconds,
                             args->heartbeat_ms, args->grace_ms, args->options);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peer signal: %s\n", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace peer::tools
