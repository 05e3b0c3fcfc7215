#pragma once
// The subcommands of the `peer` command line, one file each.
#include <CLI/CLI.hpp>

namespace peer::tools {

// `peer demo`: two local peers connect over loopback and print their timeline.
void add_demo(CLI::App& app, int& exit_code);

}  // namespace peer::tools
