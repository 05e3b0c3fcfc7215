#pragma once
// Helpers shared by the `peer` subcommands: sha-256, a progress bar, exit codes, and a
// wait-for-events helper.
#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <span>
#include <string>

#include <fmt/format.h>

namespace peer::tools {

// Exit codes of echo, pipe, send and recv (README "Exit codes"). Command-line errors exit
// with CLI11's codes (100 and above).
enum Exit : int {
  kExitOk = 0,
  kExitFailed = 1,     // the connection failed or closed early, data did not match, I/O error
  kExitUsage = 2,      // a bad argument (file missing, bad url or room)
  kExitTimeout = 3,    // not connected within --timeout
  kExitSignaling = 4,  // the signaling server refused us (unauthorized, room full, ...)
  kExitRefused = 5,    // recv: the file exists (no --force); send: the receiver refused it
};

// Incremental SHA-256 (OpenSSL EVP), hex digest at the end.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  std::string hex() {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    std::string out;
    for (unsigned i = 0; i < n; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// A progress bar with speed and time left on a terminal; plain lines every 10% otherwise.
class Progress {
 public:
  Progress(std::uint64_t total, bool quiet, std::FILE* out = stdout)
      : total_(total), out_(out), tty_(isatty(fileno(out)) == 1), quiet_(quiet) {}
  void update(std::uint64_t done, double seconds) {
    if (quiet_) return;
    const int percent = total_ == 0 ? 100 : static_cast<int>(done * 100 / total_);
    const double mbps = seconds > 0 ? static_cast<double>(done) / 1e6 / seconds : 0;
    const double left = mbps > 0 ? static_cast<double>(total_ - done) / 1e6 / mbps : 0;
    if (tty_) {
      const int width = 40, filled = percent * width / 100;
      std::fprintf(out_, "\r  [%s%s] %3d%%  %7.1f MB/s  %5.0f s left", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), percent, mbps, left);
      if (done == total_) std::fprintf(out_, "\n");
      std::fflush(out_);
    } else if (percent / 10 != last_ / 10 || done == total_) {
      std::fprintf(out_, "  %3d%%  %.1f MB/s  %.0f s left\n", percent, mbps, left);
      std::fflush(out_);
    }
    last_ = percent;
  }

 private:
  std::uint64_t total_;
  std::FILE* out_;
  bool tty_;
  bool quiet_;
  int last_ = -1;
};

// A mutex and condition variable for tools that wait on events from the peer's loop.
struct Waiter {
  std::mutex mutex;
  std::condition_variable changed;
  template <class Pred>
  bool wait(Pred pred, double seconds) {
    std::unique_lock lock(mutex);
    if (seconds <= 0) {
      changed.wait(lock, pred);
      return true;
    }
    return changed.wait_for(lock, std::chrono::duration<double>(seconds), pred);
  }
  template <class Fn>
  void update(Fn fn) {
    std::lock_guard lock(mutex);
    fn();
    changed.notify_all();
  }
};

}  // namespace peer::tools
