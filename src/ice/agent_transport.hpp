#pragma once
// peer::ice::AgentTransport: the IceTransport on our own agent (core/ice/agent.hpp) and our
// own UDP sockets, one per local address, read with recvmmsg on the peer's EventLoop.
//
// The agent is sans-I/O; this class is its I/O: it opens the sockets, feeds the agent every
// datagram with the time, sends what the agent wants sent, arms one loop timer at the
// agent's next deadline and turns agent events into IceCallbacks (posted, never re-entered
// from inside a method, as IceTransport promises). Data on the selected pair bypasses the
// agent in both directions: received datagrams that are not STUN go straight to on_receive,
// and send()/send_batch() go straight to the socket of the selected route.
//
// TURN over TCP and TLS (RFC 8656 section 3.1): one stream per host address and server,
// connected on first use; what the agent sends to the server is written on it, and each STUN
// message or ChannelData read from it goes to the agent as a datagram from the server. A
// turns: server's stream runs TLS (ice/tls_client.hpp) first; a handshake that fails (an
// untrusted certificate, say) is reported through on_error, and the agent's requests to that
// server then time out like those to an unreachable one.
//
// mDNS (.local) remote candidates (draft-ietf-mmusic-mdns-ice-candidates): the name is
// resolved by one-shot queries (ice/mdns_resolver.hpp; the resolver and its sockets exist
// only once such a candidate arrived) and the candidate is given to the agent with each
// address found; a name nobody answers in 3 s is dropped (debug log). Names stay cached for
// the transport's lifetime. The remote's end-of-candidates reaches the agent only when no
// name is pending.
//
// ICE-TCP (RFC 6544, with `tcp`; docs/architecture.md section 6.1): a non-blocking listening
// socket per host address (the agent's passive candidate; its active one has port 9), accepted
// connections (at most kMaxIceTcpConnections open), and outgoing non-blocking connects when
// the agent first sends on an active pair. Every STUN message and datagram goes as an RFC 4571
// frame (2-byte big-endian length), buffered both ways; the selected pair's data is written
// on its connection by send()/send_batch(), and frames that are not STUN go to on_receive as
// UDP datagrams do. A connection that fails or closes is reported to the agent, whose pairs
// on it fail. `udp = false` makes a TCP-only transport.
// The UDP sockets receive with GRO, cut back into datagrams at the segment size the kernel
// reports. Relayed data goes as
// ChannelData, its 4-byte header gathered with the payload by sendmmsg (no copy).

#include <sys/socket.h>

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ice/agent.hpp"
#include "core/sdp/candidate.hpp"
#include "ice/ice_transport.hpp"
#include "ice/mdns_resolver.hpp"
#include "ice/mdns_responder.hpp"
#include "ice/tls_client.hpp"
#include "ice/udp_gso_sender.hpp"

namespace peer::ice {

class AgentTransport final : public IceTransport {
 public:
  AgentTransport(runtime::EventLoop& loop, IceConfig config, IceCallbacks callbacks);
  ~AgentTransport() override;
  AgentTransport(const AgentTransport&) = delete;
  AgentTransport& operator=(const AgentTransport&) = delete;

  const std::string& local_ufrag() const override { return agent_.local_ufrag(); }
  const std::string& local_pwd() const override { return agent_.local_pwd(); }
  void gather() override;
  void set_remote_credentials(const std::string& ufrag, const std::string& pwd) override;
  void add_remote_candidate(const std::string& candidate) override;
  void remote_gathering_done() override;
  bool send(std::span<const std::byte> datagram) override;
  std::size_t send_batch(std::span<const std::span<const std::byte>> datagrams) override;
  bool sends_with_gso() const noexcept override { return gso_.active(); }
  IceState state() const override { return state_; }
  void set_controlling(bool controlling) override { agent_.set_controlling(controlling); }
  void restart() override;

 private:
  // Accepted ICE-TCP connections a remote can make us hold at once; more are refused.
  static constexpr std::size_t kMaxIceTcpConnections = 32;

  struct Socket {
    int fd = -1;
    Address base;
    runtime::EventLoop::Watch watch;
  };

  // A non-blocking TCP connection and its byte queues: what TURN streams and ICE-TCP
  // connections share (the helpers in agent_transport.cpp work on it).
  struct TcpStream {
    int fd = -1;
    runtime::EventLoop::Watch watch;  // readable; writable too while `wants_write`
    bool wants_write = false;         // connecting, handshaking or `out` waiting
    bool connected = false;
    std::vector<std::byte> out, in;
  };

  // A TCP connection to a TURN server, standing for the host address `base` in the agent.
  struct TurnStream : TcpStream {
    Address base, server;
    const IceServer* tls_server = nullptr;  // turns: the entry in config_.servers
    std::unique_ptr<TlsClient> tls;         // from the TCP connect on, for turns:
    bool write_waits_for_read = false;      // TLS asked to read before it can write
  };

  // An ICE-TCP connection, named as the agent names it (Transmit::tcp): our candidate's base
  // (the listening address that accepted it, or the active candidate's IP with port 0) and the
  // remote address. RFC 4571 frames both ways.
  struct IceTcpConnection : TcpStream {
    Address base, remote;
  };

  // The listening socket of the agent's passive candidate on one host address.
  struct TcpListener {
    int fd = -1;
    Address address;
    runtime::EventLoop::Watch watch;
  };

  void on_stream_event(TurnStream& stream, unsigned ready);
  TurnStream* stream_for(const Address& base, const Address& server);
  void write_stream(TurnStream& stream);
  void read_stream(TurnStream& stream);
  void close_stream(TurnStream& stream);
  void start_tls(TurnStream& stream);
  void continue_handshake(TurnStream& stream);
  // Reports why a stream ended (on_error) and closes it.
  void fail_stream(TurnStream& stream, const std::string& why);
  std::size_t send_on_stream(std::span<const std::span<const std::byte>> datagrams);
  void receive(Socket& socket);
  // ICE-TCP.
  void on_ice_tcp_event(IceTcpConnection& connection, unsigned ready);
  bool open_tcp_host(Time now, const Address& address, uint16_t preference);
  void accept_connections(TcpListener& listener);
  IceTcpConnection* ice_tcp_connection(const Address& base, const Address& remote, bool open);
  IceTcpConnection& add_ice_tcp(int fd, const Address& base, const Address& remote, bool connected);
  void write_ice_tcp(IceTcpConnection& connection);
  void read_ice_tcp(IceTcpConnection& connection);
  // Closes it and tells the agent (`tell_agent`), whose pairs on it fail.
  void close_ice_tcp(IceTcpConnection& connection, bool tell_agent);
  void close_listener(TcpListener& listener);
  std::size_t send_on_ice_tcp(std::span<const std::span<const std::byte>> datagrams);
  void reap_ice_tcp();
  // Sends what the agent queued, turns its events into callbacks and re-arms the timer.
  // `from_loop`: called from the top of the loop (a socket or the timer), so callbacks may
  // run inline; otherwise (inside a public method) they are posted.
  void flush(bool from_loop);
  void deliver_events();
  void post_once(bool& posted, void (AgentTransport::*fn)());
  const Socket* socket_for(const Address& base) const;
  std::vector<Address> wanted_addresses() const;
  bool open_host(Time now, const Address& address);
  bool open_udp_host(Time now, const Address& address);
  static bool is_mdns_name(std::string_view address);
  void add_mdns_candidate(sdp::Candidate candidate);
  void resolve_mdns(const std::string& name);
  void add_resolved(const sdp::Candidate& candidate, const std::vector<Address>& addresses);
  void mdns_done(const std::string& name, const std::vector<Address>& addresses);
  void forget_mdns_candidates();
  void send_transmit(const Transmit& t);
  // The line signalled for a local candidate: a named host address as its name, and a
  // named address as raddr hidden (0.0.0.0 port 0, as browsers do) with config_.mdns_names.
  std::string signalled_line(const Candidate& candidate) const;
  bool update_route();

  runtime::EventLoop& loop_;
  IceConfig config_;
  IceCallbacks callbacks_;
  Agent agent_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::vector<std::unique_ptr<TurnStream>> streams_;
  std::vector<std::unique_ptr<TcpListener>> listeners_;
  std::vector<std::unique_ptr<IceTcpConnection>> ice_tcp_;  // closed ones reaped from the loop
  bool reap_posted_ = false;
  // turns: servers by resolved address, so a stream knows to run TLS and which name to check.
  std::vector<std::pair<Address, const IceServer*>> tls_servers_;
  runtime::EventLoop::Timer timer_;
  std::optional<Time> timer_at_;
  IceState state_ = IceState::new_;
  bool gathered_ = false;
  uint16_t preference_ = 65535;  // local preference of the next host (RFC 8445 5.1.2.1)
  std::deque<std::function<void()>> pending_;
  // mDNS: made with the first .local candidate; the names resolved (lowercased, kept for the
  // transport's lifetime); candidates waiting for their name, in arrival order.
  std::unique_ptr<MdnsResolver> mdns_;
  std::unique_ptr<MdnsResponder> responder_;  // with config_.mdns_names: our host names
  std::unordered_map<std::string, std::vector<Address>> mdns_cache_;
  std::vector<std::pair<std::string, sdp::Candidate>> mdns_waiting_;
  bool remote_done_deferred_ = false;  // end-of-candidates held while names are pending
  std::string remote_ufrag_;
  bool delivery_posted_ = false;

  // The selected route, resolved to a socket and a sockaddr once per change.
  std::optional<Route> route_;
  int route_fd_ = -1;
  IceTcpConnection* route_tcp_ = nullptr;  // an ICE-TCP route's connection
  sockaddr_storage route_to_{};
  socklen_t route_to_length_ = 0;
  UdpGsoSender gso_;  // on the route's socket while config_.udp_gso (docs/performance.md lever 6)
  // send_batch scratch, reused: no allocation per batch once grown.
  std::vector<mmsghdr> batch_;
  std::vector<iovec> batch_iov_;
  std::vector<std::array<std::byte, 4>> batch_headers_;  // ChannelData headers on a relayed route

  // Expires when the transport is destroyed: posted work and event delivery check it.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace peer::ice
