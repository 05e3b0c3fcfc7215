#pragma once
// The subcommands of the `peer` command line, one file each.
#include <CLI/CLI.hpp>

namespace peer::tools {

// `peer demo`: two local peers connect over loopback and print their timeline.
void add_demo(CLI::App& app, int& exit_code);
void add_signal(CLI::App& app, int& exit_code);  // `peer signal`: the signaling server
void add_token(CLI::App& app, int& exit_code);   // `peer token`: a room token for it

}  // namespace peer::tools
