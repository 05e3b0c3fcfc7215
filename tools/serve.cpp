// `peer serve`: what a person tries first. The signaling server, the browser page (web/,
// built into the binary) and a native bot per visited room (bots.hpp): open the printed
// address in a browser and chat with the bot over a data channel.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "bots.hpp"
#include "commands.hpp"
#include "network_options.hpp"
#include "server/server.hpp"
#include "serving.hpp"

namespace peer::tools {

std::map<std::string, std::string_view, std::less<>> web_files();  // generated from web/

namespace {

struct ServeArgs {
  std::string listen = "127.0.0.1:8787";
  std::string web_dir;
  std::string bot_address;
  std::size_t max_bots = 100;
  std::string bot_video = "640x480";
  std::string log_level = "info";
  NetworkOptions
      bot_network;  // the bots' STUN/TURN servers (its --address is unused: --bot-address)
};

bool any_address(const std::string& a) {
  return a == "0.0.0.0" || a == "::";
}

int run_serve(const ServeArgs& args) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e level=%l %v");
  spdlog::set_level(spdlog::level::from_str(args.log_level));
  server::ServerOptions options;
  parse_listen(args.listen, options);
  if (args.web_dir.empty()) {
    options.files = web_files();
  } else {
    options.static_dir = args.web_dir;
  }
  // Bots gather ICE candidates where the page reaches the server: on a loopback or other
  // single address only there (a page on this machine), on every interface for 0.0.0.0.
  BotOptions bot_options;
  bot_options.max_bots = args.max_bots;
  if (args.bot_video == "off") {
    bot_options.video_width = bot_options.video_height = 0;
  } else if (std::sscanf(args.bot_video.c_str(), "%dx%d", &bot_options.video_width,
                         &bot_options.video_height) != 2 ||
             bot_options.video_width <= 0 || bot_options.video_height <= 0 ||
             bot_options.video_width % 2 || bot_options.video_height % 2) {
    throw std::invalid_argument("--bot-video must be WIDTHxHEIGHT (even numbers) or off, not " +
                                args.bot_video);
  }
  const std::string bot_address = args.bot_address.empty() ? options.address : args.bot_address;
  bot_options.network = resolve_network(args.bot_network, "");  // throws UsageError
  bot_options.network.addresses = any_address(bot_address) ? json() : json::array({bot_address});
  Bots bots(bot_options);
  options.on_membership = [&bots](const server::MembershipEvent& e) { bots.on_membership(e); };

  StopSignals stop_signals;  // before any thread exists
  server::Server server(options);
  server.start();
  const bool v6 = options.address.find(':') != std::string::npos;
  const std::string host = any_address(options.address)
                               ? (v6 ? "[::1]" : "127.0.0.1")
                               : (v6 ? "[" + options.address + "]" : options.address);
  const std::string where = host + ":" + std::to_string(server.port());
  bots.start("ws://" + where);
  std::printf("listening on %s:%u\nopen http://%s/ in a browser (a bot answers in each room)\n",
              options.address.c_str(), server.port(), where.c_str());
  std::fflush(stdout);
  spdlog::info("event=signal signal={}", stop_signals.wait());
  bots.stop();  // the bots leave while the server still relays their goodbyes
  server.stop();
  return 0;
}

}  // namespace

void add_serve(CLI::App& app, int& exit_code) {
  auto* cmd =
      app.add_subcommand("serve", "signaling server + browser page + a native bot per room");
  auto args = std::make_shared<ServeArgs>();
  cmd->add_option("--listen", args->listen, "address:port to listen on (port 0: any free)")
      ->capture_default_str();
  cmd->add_option("--web", args->web_dir, "serve this folder instead of the built-in page")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--bot-address", args->bot_address,
                  "local address the bots' ICE gathers on (default: the --listen address; 0.0.0.0: "
                  "every interface)");
  cmd->add_option("--max-bots", args->max_bots, "rooms served by a bot at once")
      ->capture_default_str();
  cmd->add_option(
         "--bot-video", args->bot_video,
         "the test pattern a bot sends when the page asks for video (WxH, or off; VP8 at 1 Mbit/s, "
         "30 fps: about a fifth of a core per bot)")
      ->capture_default_str();
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  add_network_options(cmd, args->bot_network, /*with_address=*/false);  // for the bots
  cmd->footer(
      "Runs until SIGTERM or SIGINT, then closes the bots, tells every member and exits 0.");
  cmd->callback([args, &exit_code] {
    try {
      exit_code = run_serve(*args);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "peer serve: %s\n", e.what());
      exit_code = 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peer serve: %s\n", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace peer::tools
