// peer-field-link: a deterministic userspace impaired Ethernet link between network
// namespaces, for tests on a kernel without sch_netem (or the dummy module). Each
// --port NETNS:IFNAME is a TAP device created inside NETNS; frames read from one are
// switched (a learning switch) to the others, IP frames impaired on the way: loss, delay,
// jitter, reordering, duplication, a rate limit with a drop-tail queue (ARP and IPv6
// neighbour discovery pass untouched: see is_impaired). SIGUSR1 toggles an outage;
// SIGTERM/SIGINT print one JSON line of statistics on stdout and exit 0.
//
// The TAP devices are not persistent: the kernel removes them when their fd closes, so
// nothing is left behind whatever way the program ends (SIGKILL included).
//
// Shape: one thread, one epoll loop; a timerfd armed at the earliest pending frame of a
// min-heap keyed by (release time, sequence number). The decisions themselves live in
// impairment.hpp (sans-I/O, unit-tested by impairment_test.cpp).

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "impairment.hpp"

namespace peer::field {
namespace {

constexpr const char* kName = "peer-field-link";
constexpr int kExitUsage = 2;
constexpr std::size_t kMaxFrame = 65536;  // a TAP read never returns more
constexpr int kReadBatch = 64;  // frames per port per wakeup, so one busy port can't starve others
constexpr std::uint32_t kTagSignal = 100;
constexpr std::uint32_t kTagTimer = 101;
constexpr std::uint32_t kTagControl = 102;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kName, message.c_str());
  std::exit(kExitUsage);
}

std::string errno_text(int err) {
  return std::strerror(err);
}

double monotonic_seconds() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

struct PortSpec {
  std::string netns;
  std::string ifname;
  std::string text() const { return netns + ":" + ifname; }
};

struct Options {
  std::vector<PortSpec> ports;
  Settings settings;
  std::optional<std::uint64_t> seed;
  std::string ready_file;
  std::string control;
};

constexpr const char* kUsage =
    "usage: peer-field-link --port NETNS:IFNAME --port NETNS:IFNAME [--port ...] (2 to 8)\n"
    "         [--loss P] [--delay-ms D] [--jitter-ms J] [--reorder P] [--duplicate P]\n"
    "         [--rate-bps R [--queue-bytes Q]] [--seed S] [--ready-file PATH] [--control FIFO]\n"
    "Joins network namespaces by TAP devices with a learning switch; IPv4/IPv6 frames are\n"
    "impaired per egress direction, others (ARP, IPv6 neighbour discovery/MLD) pass at once.\n"
    "SIGUSR1 toggles an outage (all frames dropped); SIGTERM/SIGINT print a JSON line of\n"
    "statistics on stdout and exit 0. The seed is printed on stderr at start.\n"
    "Control FIFO lines: outage on|off|toggle, loss P, duplicate P, reorder P, delay-ms D,\n"
    "jitter-ms J, rate-bps R, queue-bytes Q.\n";

std::optional<double> parse_double(std::string_view text) {
  std::string s(text);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

// A non-negative integer with an optional k/M/G (decimal) suffix: "10M" = 10000000.
std::optional<std::uint64_t> parse_count(std::string_view text, bool suffixes) {
  std::string s(text);
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  std::uint64_t v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0) return std::nullopt;
  std::uint64_t scale = 1;
  if (suffixes && *end != '\0' && end[1] == '\0') {
    switch (*end) {
      case 'k':
      case 'K':
        scale = 1'000;
        break;
      case 'm':
      case 'M':
        scale = 1'000'000;
        break;
      case 'g':
      case 'G':
        scale = 1'000'000'000;
        break;
      default:
        return std::nullopt;
    }
    ++end;
  }
  if (*end != '\0' || v > UINT64_MAX / scale) return std::nullopt;
  return v * scale;
}

// The value checks shared by the command line and the control FIFO: an error message, or
// nothing when `value` was applied to `s`.
std::optional<std::string> apply_setting(Settings& s, std::string_view key,
                                         std::string_view value) {
  auto probability = [&](double& field) -> std::optional<std::string> {
    auto v = parse_double(value);
    if (!v || *v < 0 || *v > 1)
      return "expected a probability in [0, 1], got '" + std::string(value) + "'";
    field = *v;
    return std::nullopt;
  };
  auto millis = [&](std::chrono::nanoseconds& field) -> std::optional<std::string> {
    auto v = parse_double(value);
    if (!v || *v < 0 || *v > 3'600'000)
      return "expected milliseconds >= 0, got '" + std::string(value) + "'";
    field = std::chrono::nanoseconds(std::llround(*v * 1e6));
    return std::nullopt;
  };
  if (key == "loss") return probability(s.loss);
  if (key == "duplicate") return probability(s.duplicate);
  if (key == "reorder") return probability(s.reorder);
  if (key == "delay-ms") return millis(s.delay);
  if (key == "jitter-ms") return millis(s.jitter);
  if (key == "rate-bps") {
    auto v = parse_count(value, true);
    if (!v)
      return "expected bits per second (0: no limit; k/M/G allowed), got '" + std::string(value) +
             "'";
    s.rate_bps = *v;
    return std::nullopt;
  }
  if (key == "queue-bytes") {
    auto v = parse_count(value, true);
    if (!v || *v == 0) return "expected a byte count > 0, got '" + std::string(value) + "'";
    s.queue_bytes = *v;
    return std::nullopt;
  }
  return "unknown setting";
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (!arg.starts_with("--")) die("unexpected argument '" + std::string(arg) + "' (see --help)");
    std::string flag(arg);
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else {
      if (i + 1 >= argc) die(flag + ": missing value");
      value = argv[++i];
    }
    const std::string_view key = std::string_view(flag).substr(2);
    if (key == "port") {
      const auto colon = value.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == value.size())
        die("--port: expected NETNS:IFNAME, got '" + value + "'");
      PortSpec p{value.substr(0, colon), value.substr(colon + 1)};
      if (p.ifname.size() >= IFNAMSIZ || p.ifname.find_first_of("/: \t") != std::string::npos)
        die("--port " + value + ": bad interface name '" + p.ifname + "' (at most " +
            std::to_string(IFNAMSIZ - 1) + " characters, no '/', ':' or space)");
      for (const auto& q : o.ports)
        if (q.netns == p.netns && q.ifname == p.ifname) die("--port " + value + ": given twice");
      o.ports.push_back(std::move(p));
    } else if (key == "seed") {
      auto v = parse_count(value, false);
      if (!v) die("--seed: expected an unsigned 64-bit integer, got '" + value + "'");
      o.seed = *v;
    } else if (key == "ready-file") {
      if (value.empty()) die("--ready-file: empty path");
      o.ready_file = value;
    } else if (key == "control") {
      if (value.empty()) die("--control: empty path");
      o.control = value;
    } else if (auto error = apply_setting(o.settings, key, value)) {
      if (*error == "unknown setting") die("unknown flag " + flag + " (see --help)");
      die(flag + ": " + *error);
    }
  }
  if (o.ports.size() < 2 || o.ports.size() > kMaxPorts)
    die("--port: expected 2 to " + std::to_string(kMaxPorts) + " ports, got " +
        std::to_string(o.ports.size()));
  return o;
}

// Frame bytes, shared by every pending copy of a frame (flooding, duplication) and reused
// once the last copy is gone: no allocation per frame in steady state.
class FramePool {
 public:
  std::uint32_t acquire(std::span<const std::byte> data) {
    std::uint32_t id;
    if (free_.empty()) {
      id = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      id = free_.back();
      free_.pop_back();
    }
    slots_[id].bytes.assign(data.begin(), data.end());  // keeps its capacity from earlier use
    slots_[id].refs = 0;
    return id;
  }
  void ref(std::uint32_t id) { ++slots_[id].refs; }
  void unref(std::uint32_t id) {
    if (--slots_[id].refs == 0) free_.push_back(id);
  }
  std::span<const std::byte> data(std::uint32_t id) const { return slots_[id].bytes; }

 private:
  struct Slot {
    std::vector<std::byte> bytes;
    std::uint32_t refs = 0;
  };
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
};

enum class Stage : std::uint8_t { kDelay, kWire };

struct Pending {
  Clock::time_point at;
  std::uint64_t seq;  // ties at the same time keep the order they were scheduled in
  std::uint32_t slot;
  std::uint8_t ingress;
  std::uint8_t egress;
  Stage stage;
};

struct Later {
  bool operator()(const Pending& a, const Pending& b) const {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};

// Counted per egress copy, except frames_in (per frame read).
struct Stats {
  std::uint64_t frames_in = 0;
  std::uint64_t forwarded = 0;
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_queue = 0;
  std::uint64_t dropped_outage = 0;
  std::uint64_t dropped_write = 0;  // the TAP refused it (e.g. its interface is still down)
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
};

struct Port {
  PortSpec spec;
  int fd = -1;
  bool alive = true;
};

// Creates the TAP device of `spec` inside its namespace, then returns to `home`.
int open_port(const PortSpec& spec, int home) {
  const std::string where = "--port " + spec.text() + ": ";
  const std::string path =
      spec.netns.find('/') != std::string::npos ? spec.netns : "/var/run/netns/" + spec.netns;
  const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) die(where + "cannot open network namespace " + path + ": " + errno_text(errno));
  if (::setns(ns, CLONE_NEWNET) != 0) die(where + "setns(" + path + "): " + errno_text(errno));
  ::close(ns);
  // The device is created in the namespace current when /dev/net/tun is opened.
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  const int open_errno = errno;
  int ioctl_errno = 0;
  if (fd >= 0) {
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, spec.ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) ioctl_errno = errno;
  }
  if (::setns(home, CLONE_NEWNET) != 0)
    die(where + "cannot return to the original network namespace: " + errno_text(errno));
  if (fd < 0) die(where + "open /dev/net/tun: " + errno_text(open_errno));
  if (ioctl_errno != 0) die(where + "TUNSETIFF " + spec.ifname + ": " + errno_text(ioctl_errno));
  return fd;
}

class Link {
 public:
  Link(Options options, std::uint64_t seed)
      : options_(std::move(options)),
        seed_(seed),
        impairment_(seed, options_.ports.size(), options_.settings),
        switch_(options_.ports.size()),
        scratch_(kMaxFrame) {}

  // Everything up to "ready"; any failure exits 2 with a message.
  void open() {
    // signalfd: the signals are blocked and read in the loop, so no handler runs at an
    // arbitrary point. A background job of a non-interactive shell starts with SIGINT
    // ignored, and an ignored signal is discarded even when blocked: restore the default.
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGUSR1, SIGTERM, SIGINT}) {
      ::signal(sig, SIG_DFL);
      sigaddset(&set, sig);
    }
    ::signal(SIGPIPE, SIG_IGN);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) die("sigprocmask: " + errno_text(errno));
    signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) die("signalfd: " + errno_text(errno));

    const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) die("open /proc/self/ns/net: " + errno_text(errno));
    for (const auto& spec : options_.ports) ports_.push_back({spec, open_port(spec, home)});
    ::close(home);

    // Releases a few microseconds late rather than the default 50 us.
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) die("timerfd_create: " + errno_text(errno));
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) die("epoll_create1: " + errno_text(errno));
    for (std::size_t p = 0; p < ports_.size(); ++p)
      watch(ports_[p].fd, static_cast<std::uint32_t>(p));
    watch(signal_fd_, kTagSignal);
    watch(timer_fd_, kTagTimer);
    if (!options_.control.empty()) open_control();

    if (!options_.ready_file.empty()) write_ready_file();
    std::fprintf(stderr, "%s: ready\n", kName);
  }

  void run() {
    std::array<epoll_event, 16> events;
    while (!stop_) {
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("epoll_wait: " + errno_text(errno));
      }
      for (int i = 0; i < n; ++i) {
        const std::uint32_t tag = events[i].data.u32;
        if (tag < ports_.size())
          read_port(tag);
        else if (tag == kTagSignal)
          read_signals();
        else if (tag == kTagTimer)
          clear_timer();
        else if (tag == kTagControl)
          read_control();
      }
      release(Clock::now());
      arm_timer();
    }
  }

  void print_stats() const {
    std::printf(
        "{\"seed\":%" PRIu64 ",\"frames_in\":%" PRIu64 ",\"forwarded\":%" PRIu64
        ",\"dropped_loss\":%" PRIu64 ",\"dropped_queue\":%" PRIu64 ",\"dropped_outage\":%" PRIu64
        ",\"duplicated\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"dropped_write\":%" PRIu64 "}\n",
        seed_, stats_.frames_in, stats_.forwarded, stats_.dropped_loss, stats_.dropped_queue,
        stats_.dropped_outage, stats_.duplicated, stats_.reordered, stats_.dropped_write);
    std::fflush(stdout);
  }

  void close_control() {
    if (control_created_) ::unlink(options_.control.c_str());
  }

 private:
  void watch(int fd, std::uint32_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl: " + errno_text(errno));
  }

  void write_ready_file() {
    // Written whole, then renamed: a harness polling for the file never reads half of it.
    const std::string tmp = options_.ready_file + ".tmp" + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) die("--ready-file " + options_.ready_file + ": " + errno_text(errno));
    std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
    if (std::fclose(f) != 0 || std::rename(tmp.c_str(), options_.ready_file.c_str()) != 0)
      die("--ready-file " + options_.ready_file + ": " + errno_text(errno));
  }

  void open_control() {
    const std::string& path = options_.control;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT || ::mkfifo(path.c_str(), 0600) != 0)
        die("--control " + path + ": " + errno_text(errno));
      control_created_ = true;
    } else if (!S_ISFIFO(st.st_mode)) {
      die("--control " + path + ": exists and is not a FIFO");
    }
    control_fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    // Our own writer keeps the FIFO open, so a writer closing doesn't leave it hung up
    // (epoll would report EPOLLHUP forever).
    if (control_fd_ >= 0) control_keep_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (control_fd_ < 0 || control_keep_ < 0) die("--control " + path + ": " + errno_text(errno));
    watch(control_fd_, kTagControl);
  }

  void read_port(std::uint32_t p) {
    Port& port = ports_[p];
    if (!port.alive) return;
    for (int i = 0; i < kReadBatch; ++i) {
      const ssize_t n = ::read(port.fd, scratch_.data(), scratch_.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        // The device went away under us (deleted by hand): stop using the port.
        std::fprintf(stderr, "%s: --port %s: read: %s; port disabled\n", kName,
                     port.spec.text().c_str(), errno_text(errno).c_str());
        port.alive = false;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, port.fd, nullptr);
        return;
      }
      on_frame(p, std::span<const std::byte>(scratch_.data(), static_cast<std::size_t>(n)),
               Clock::now());
    }
  }

  void on_frame(std::size_t ingress, std::span<const std::byte> frame, Clock::time_point now) {
    ++stats_.frames_in;
    switch_.route(ingress, frame, egress_);
    const bool ip = is_impaired(frame);
    std::optional<std::uint32_t> slot;
    for (std::size_t egress : egress_) {
      if (!ip) {
        // No impairment and no delay, but an outage cuts everything.
        if (impairment_.outage())
          ++stats_.dropped_outage;
        else
          send(egress, frame);
        continue;
      }
      const Decision d = impairment_.decide(ingress, egress, now);
      if (d.fate == Fate::kOutage) {
        ++stats_.dropped_outage;
        continue;
      }
      if (d.fate == Fate::kLost) {
        ++stats_.dropped_loss;
        continue;
      }
      if (d.duplicated) ++stats_.duplicated;
      for (std::uint8_t c = 0; c < d.count; ++c) {
        if (d.copies[c].reordered) ++stats_.reordered;
        if (!slot) slot = pool_.acquire(frame);
        pool_.ref(*slot);
        // Even a copy due now goes through the heap: an earlier copy of its direction due
        // now as well may still be there, and must leave first.
        pending_.push({d.copies[c].exit, seq_++, *slot, static_cast<std::uint8_t>(ingress),
                       static_cast<std::uint8_t>(egress), Stage::kDelay});
      }
    }
  }

  // Sends every pending copy due by `now`, in (time, sequence) order.
  void release(Clock::time_point now) {
    while (!pending_.empty() && pending_.top().at <= now) {
      Pending x = pending_.top();
      pending_.pop();
      const auto data = pool_.data(x.slot);
      if (x.stage == Stage::kDelay && impairment_.settings().rate_bps != 0) {
        // The scheduled time, not `now`: the queue evolves the same however late we woke.
        const auto done = impairment_.serialize(x.ingress, x.egress, x.at, data.size());
        if (!done) {
          ++stats_.dropped_queue;
          pool_.unref(x.slot);
          continue;
        }
        if (*done > x.at) {
          x.at = *done;
          x.seq = seq_++;
          x.stage = Stage::kWire;
          pending_.push(x);
          continue;
        }
      }
      // An outage also stops what was already in flight: nothing leaves a cut link.
      if (impairment_.outage())
        ++stats_.dropped_outage;
      else
        send(x.egress, data);
      pool_.unref(x.slot);
    }
  }

  void send(std::size_t egress, std::span<const std::byte> frame) {
    Port& port = ports_[egress];
    if (port.alive &&
        ::write(port.fd, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()))
      ++stats_.forwarded;
    else
      ++stats_.dropped_write;
  }

  void arm_timer() {
    itimerspec its{};  // all zero: disarmed
    if (!pending_.empty()) {
      const auto ns = std::max<std::int64_t>(
          1,
          std::chrono::duration_cast<std::chrono::nanoseconds>(pending_.top().at.time_since_epoch())
              .count());
      its.it_value.tv_sec = ns / 1'000'000'000;
      its.it_value.tv_nsec = ns % 1'000'000'000;
    }
    if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr) != 0)
      die("timerfd_settime: " + errno_text(errno));
  }

  void clear_timer() {
    std::uint64_t expirations;
    [[maybe_unused]] auto n = ::read(timer_fd_, &expirations, sizeof expirations);
  }

  void read_signals() {
    signalfd_siginfo si;
    while (::read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGUSR1)
        set_outage(!impairment_.outage());
      else
        stop_ = true;
    }
  }

  void set_outage(bool on) {
    impairment_.set_outage(on);
    std::fprintf(stderr, "%s: outage %s (monotonic %.6f)\n", kName, on ? "on" : "off",
                 monotonic_seconds());
  }

  void read_control() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(control_fd_, buf, sizeof buf);
      if (n <= 0) break;
      control_line_.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t nl;
    while ((nl = control_line_.find('\n')) != std::string::npos) {
      std::string line = control_line_.substr(0, nl);
      control_line_.erase(0, nl + 1);
      control(line);
    }
    if (control_line_.size() > 4096) control_line_.clear();  // no newline in sight: junk
  }

  void control(std::string line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return;
    const auto space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "outage") {
      if (value == "on" || value == "off")
        set_outage(value == "on");
      else if (value == "toggle")
        set_outage(!impairment_.outage());
      else
        std::fprintf(stderr, "%s: control: expected 'outage on|off|toggle', got '%s'\n", kName,
                     line.c_str());
      return;
    }
    Settings s = impairment_.settings();
    if (auto error = apply_setting(s, key, value)) {
      if (*error == "unknown setting") *error = "unknown command";
      std::fprintf(stderr, "%s: control: '%s': %s\n", kName, line.c_str(), error->c_str());
      return;
    }
    impairment_.settings() = s;
    std::fprintf(stderr, "%s: %s %s (monotonic %.6f)\n", kName, key.c_str(), value.c_str(),
                 monotonic_seconds());
  }

  Options options_;
  std::uint64_t seed_;
  Impairment impairment_;
  LearningSwitch switch_;
  std::vector<Port> ports_;
  FramePool pool_;
  std::priority_queue<Pending, std::vector<Pending>, Later> pending_;
  std::uint64_t seq_ = 0;
  Stats stats_;
  std::vector<std::byte> scratch_;
  std::vector<std::size_t> egress_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int signal_fd_ = -1;
  int control_fd_ = -1;
  int control_keep_ = -1;
  bool control_created_ = false;
  std::string control_line_;
  bool stop_ = false;
};

std::uint64_t seed_from_time() {
  std::uint64_t x =
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
      static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) << 1 ^
      static_cast<std::uint64_t>(::getpid()) << 32;
  // 53 bits: a JSON reader that parses numbers as doubles (jq) still reads it exactly.
  return Rng::splitmix64(x) & ((std::uint64_t{1} << 53) - 1);
}

}  // namespace
}  // namespace peer::field

int main(int argc, char** argv) {
  using namespace peer::field;
  Options options = parse_options(argc, argv);
  const std::uint64_t seed = options.seed ? *options.seed : seed_from_time();
  // Always, so a failing run can be repeated with --seed.
  std::fprintf(stderr, "%s: seed %" PRIu64 "\n", kName, seed);
  Link link(std::move(options), seed);
  link.open();
  link.run();
  link.print_stats();
  link.close_control();
  return 0;
}
