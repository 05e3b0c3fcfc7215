#pragma once
// The subcommands of the `peer` command line, one file each.
#include <CLI/CLI.hpp>

namespace peer::tools {

// `peer demo`: two local peers connect over loopback and print their timeline.
void add_demo(CLI::App& app, int& exit_code);
int run_video_demo(const std::string& address, double seconds, double timeout_s);  // demo --video
void add_signal(CLI::App& app, int& exit_code);  // `peer signal`: the signaling server
void add_token(CLI::App& app, int& exit_code);   // `peer token`: a room token for it
void add_echo(CLI::App& app, int& exit_code);    // `peer echo`: a test partner
void add_pipe(CLI::App& app, int& exit_code);    // `peer pipe`: netcat over a data channel
void add_transfer(CLI::App& app, int& exit_code);  // `peer send` and `peer recv`
void add_serve(CLI::App& app, int& exit_code);
void add_recv_video(CLI::App& app, int& exit_code);  // `peer recv-video`: record to Y4M     // `peer serve`: server + page + bots

}  // namespace peer::tools
