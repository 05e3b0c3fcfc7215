#pragma once
// peer::ice::IceTransport: one ICE agent with one stream and one component, which is all
// WebRTC needs with BUNDLE (RFC 9143) and rtcp-mux (RFC 5761). This is the only layer of
// peer that does network I/O (docs/architecture.md section 2).
//
// Threading (docs/architecture.md section 3): an IceTransport is created, used and destroyed
// on its EventLoop's thread only; every callback runs on that thread. Callbacks are never
// re-entered from inside a method: an event raised while one of its methods is running (e.g.
// host candidates during gather()) is queued and delivered, in order, from the loop right
// after. Destroying the transport from inside one of its callbacks is safe.

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ice/ice_state.hpp"
#include "ice/ice_server.hpp"
#include "runtime/event_loop.hpp"

namespace peer::ice {

struct IceConfig {
  std::vector<IceServer> servers;
  bool relay_only = false;  // RTCIceTransportPolicy "relay": only relay candidates are used
  // Gather only on these local IPs. Empty: every non-loopback interface (127.0.0.1 is never
  // picked on its own; tests pin {"127.0.0.1"}).
  std::vector<std::string> local_addresses;
  bool controlling = false;
  bool udp = true;  // ICE over UDP
  // ICE-TCP (RFC 6544), active and passive host candidates; opt-in. With udp = false, a
  // TCP-only agent.
  bool tcp = false;
  bool udp_gso = true;  // send_batch over a UDP pair with UDP_SEGMENT (udp_gso_sender.hpp)
  // Signal IPv4 host candidates as `<uuid>.local` names and answer mDNS questions for them
  // (mdns_responder.hpp), as browsers do; off by default for native peers.
  bool mdns_names = false;
};

struct IceCallbacks {
  // "candidate:..." with no "a=" prefix and no CRLF, as RTCIceCandidate.candidate.
  std::function<void(const std::string& candidate)> on_candidate;
  std::function<void()> on_gathering_done;
  std::function<void(IceState)> on_state;
  // Each side as "<type> <transport> <ip>:<port>", e.g. "host udp 127.0.0.1:5000",
  // "relay udp 10.0.0.1:49152", "host tcp-active 127.0.0.1:40001". May fire more than once.
  std::function<void(const std::string& local, const std::string& remote)> on_selected_pair;
  // Every datagram that is not STUN. May start before on_state(connected) on the controlled
  // side (the peer can send as soon as it has a pair): keep early packets (docs/performance.md).
  std::function<void(std::span<const std::byte>)> on_receive;
  // Human-readable problems (an unresolvable server, a TURN server that gave no relay
  // candidate). Informational: whether ICE failed is reported by on_state(failed) only.
  std::function<void(const std::string& message)> on_error;
};

// One ICE transport: AgentTransport (core/ice's agent on our own sockets, docs/architecture.md
// section 6.1) behind an interface, so the session above it does not see sockets. The
// EventLoop must outlive the transport.
class IceTransport {
 public:
  static std::unique_ptr<IceTransport> create(runtime::EventLoop& loop, IceConfig config,
                                              IceCallbacks callbacks);
  // No callback after this returns (see each implementation for what closing costs).
  virtual ~IceTransport() = default;

  virtual const std::string& local_ufrag() const = 0;
  virtual const std::string& local_pwd() const = 0;

  // Starts gathering (once). Resolves server hostnames with getaddrinfo on this thread, so
  // prefer numeric IPs in IceConfig::servers when the loop must never block.
  virtual void gather() = 0;
  virtual void set_remote_credentials(const std::string& ufrag, const std::string& pwd) = 0;
  // "candidate:..." or "a=candidate:..." (trailing CR/LF ignored). An empty string is the
  // browsers' end-of-candidates marker and means remote_gathering_done(). Throws
  // peer::Error(Errc::bad_candidate) naming the candidate when it cannot be parsed or it is
  // for a component other than 1. A valid candidate the transport cannot use (e.g. TCP with
  // tcp=false, another address family) is ignored. An mDNS `.local` name is resolved first
  // (agent_transport.hpp).
  virtual void add_remote_candidate(const std::string& candidate) = 0;
  virtual void remote_gathering_done() = 0;

  // One datagram on the selected pair. False when there is no usable pair yet or the socket
  // would block.
  virtual bool send(std::span<const std::byte> datagram) = 0;
  // Several datagrams in one call (docs/performance.md lever 3: flush what DTLS/SCTP emitted once
  // per loop turn). Returns how many were sent, in order.
  virtual std::size_t send_batch(std::span<const std::span<const std::byte>> datagrams) = 0;
  // True while send_batch goes out with UDP_SEGMENT on the selected UDP pair.
  virtual bool sends_with_gso() const noexcept = 0;

  virtual IceState state() const = 0;
  virtual void set_controlling(bool controlling) = 0;  // before checks start
  // ICE restart (RFC 8445 section 9): new local credentials (local_ufrag()/local_pwd()), the
  // local candidates again through on_candidate and on_gathering_done; set_remote_credentials
  // with the remote's new ones completes it (an answerer calls that first, then restart()).
  // The current pair carries the data until a new one is selected.
  virtual void restart() = 0;
};

// The candidate of a remote candidate line as given to add_remote_candidate(): without an
// "a=" prefix and trailing CR, LF or blanks; empty for the end-of-candidates marker.
std::string_view candidate_line(std::string_view line) noexcept;

}  // namespace peer::ice
