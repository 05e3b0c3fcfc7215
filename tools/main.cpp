// `peer`: the command line of the peer library.
#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

#include "commands.hpp"

namespace peer::tools {
std::string_view version_string();  // generated (cmake/git_version.cmake)
}

int main(int argc, char** argv) {
  CLI::App app{"peer: WebRTC peer connections from the command line"};
  app.set_version_flag("--version", std::string(peer::tools::version_string()),
                       "Print the version and the git commit, then exit");
  app.require_subcommand(1);
  int exit_code = 0;
  peer::tools::add_demo(app, exit_code);
  peer::tools::add_signal(app, exit_code);
  peer::tools::add_token(app, exit_code);
  peer::tools::add_echo(app, exit_code);
  peer::tools::add_pipe(app, exit_code);
  peer::tools::add_transfer(app, exit_code);
  peer::tools::add_serve(app, exit_code);
  peer::tools::add_recv_video(app, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
