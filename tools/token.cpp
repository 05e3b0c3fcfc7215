// `peer token ROOM --ttl SECONDS --secret-file F`: prints a token that lets its holder join
// ROOM on a `peer signal --secret-file F` server until it expires (docs/signaling.md).
#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "signal/message.hpp"
#include "signal/token.hpp"

namespace peer::tools {

void add_token(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("token", "mint a room token for a signaling server with --secret-file");
  struct Args {
    std::string room;
    std::int64_t ttl = 3600;
    std::string secret_file;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("room", args->room, "the room the token grants")->required();
  cmd->add_option("--ttl", args->ttl, "seconds until it expires")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--secret-file", args->secret_file, "the server's secret")->required()->check(CLI::ExistingFile);
  cmd->callback([args, &exit_code] {
    try {
      if (!signaling::valid_room(args->room)) throw std::invalid_argument("room must be 1 to 64 of A-Z a-z 0-9 _ . -");
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch()).count();
      std::printf("%s\n", signaling::mint_token(args->room, now + args->ttl, signaling::read_secret_file(args->secret_file)).c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peer token: %s\n", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace peer::tools
