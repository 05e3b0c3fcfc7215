#pragma once
// peer::ice::NiceTransport: the IceTransport on libnice, with one stream and one component,
// which is all WebRTC needs with BUNDLE (RFC 9143) and rtcp-mux (RFC 5761).
//
// Threading (docs/architecture.md section 3): created, used and destroyed on its EventLoop's
// thread only; every callback runs on that thread. Callbacks are never re-entered from
// inside a method of this class: an event that libnice raises while one of our methods is
// running (e.g. host candidates during gather()) is queued and delivered, in order, from the
// loop right after. Destroying the transport from inside one of its callbacks is safe.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ice/ice_transport.hpp"
#include "ice/udp_gso_sender.hpp"

typedef struct _NiceAgent NiceAgent;
typedef struct _NiceCandidate NiceCandidate;

namespace peer::ice {

class NiceTransport final : public IceTransport {
 public:
  NiceTransport(runtime::EventLoop& loop, IceConfig config, IceCallbacks callbacks);
  // Closes the agent; no callback after this returns. Without TURN allocations all sockets are
  // closed when it returns. With them, it first releases the allocations (Refresh lifetime 0)
  // and the sockets close when the server answers: one RTT, at most ~3 s if the server is
  // gone. The EventLoop lingers for that even if it is dropped right after (EventLoop::linger).
  ~NiceTransport() override;
  NiceTransport(const NiceTransport&) = delete;
  NiceTransport& operator=(const NiceTransport&) = delete;

  const std::string& local_ufrag() const override { return local_ufrag_; }
  const std::string& local_pwd() const override { return local_pwd_; }

  // Starts gathering (once). Resolves server hostnames with getaddrinfo on this thread, so
  // prefer numeric IPs in IceConfig::servers when the loop must never block.
  void gather() override;
  void set_remote_credentials(const std::string& ufrag, const std::string& pwd) override;
  // "candidate:..." or "a=candidate:..." (trailing CR/LF ignored). An empty string is the
  // browsers' end-of-candidates marker and means remote_gathering_done(). Throws
  // peer::Error(Errc::bad_candidate) naming the candidate when libnice cannot parse it or it
  // is for a component other than 1. A valid candidate libnice cannot use (e.g. TCP with
  // tcp=false, another address family) is ignored.
  void add_remote_candidate(const std::string& candidate) override;
  void remote_gathering_done() override;

  // One datagram on the selected pair. False when there is no usable pair yet or the socket
  // would block.
  bool send(std::span<const std::byte> datagram) override;
  // Several datagrams in one call (nice_agent_send_messages_nonblocking; docs/performance.md lever
  // 3: flush what DTLS/SCTP emitted once per loop turn). Returns how many were sent, in order.
  std::size_t send_batch(std::span<const std::span<const std::byte>> datagrams) override;
  // True while send_batch goes out with UDP_SEGMENT on the selected UDP pair.
  bool sends_with_gso() const noexcept override { return gso_.active(); }

  IceState state() const override { return state_; }
  void set_controlling(bool controlling) override;  // before checks start
  void restart() override;  // not over libnice: throws

 private:
  struct ApiScope;  // marks "inside one of our methods" so libnice events get queued

  static void handle_new_candidate(NiceAgent* agent, NiceCandidate* candidate, void* self);
  static void handle_gathering_done(NiceAgent* agent, unsigned stream_id, void* self);
  static void handle_component_state(NiceAgent* agent, unsigned stream_id, unsigned component_id,
                                     unsigned state, void* self);
  static void handle_selected_pair(NiceAgent* agent, unsigned stream_id, unsigned component_id,
                                   NiceCandidate* local, NiceCandidate* remote, void* self);
  static void handle_receive(NiceAgent* agent, unsigned stream_id, unsigned component_id,
                             unsigned length, char* data, void* self);

  void configure_servers();
  // send_batch scratch, reused: GOutputVector and NiceOutputMessage have the same layout
  // as these (checked in nice_transport.cpp), so this header needs no libnice include.
  struct OutputVector {
    const void* buffer;
    std::size_t size;
  };
  struct OutputMessage {
    OutputVector* buffers;
    int n_buffers;
  };
  std::vector<OutputVector> batch_buffers_;
  UdpGsoSender gso_;
  std::vector<OutputMessage> batch_messages_;
  // Each returns false when a callback it ran destroyed this transport: touch nothing then.
  bool set_state(IceState state);
  bool fail(const std::string& message);
  bool emit(std::function<void()> event);
  void flush_events();
  void configure_selected_socket(NiceCandidate* local, NiceCandidate* remote);

  runtime::EventLoop& loop_;
  IceConfig config_;
  IceCallbacks callbacks_;
  NiceAgent* agent_ = nullptr;
  unsigned stream_id_ = 0;
  std::string local_ufrag_;
  std::string local_pwd_;
  IceState state_ = IceState::new_;
  bool gathering_started_ = false;
  bool have_remote_candidates_ = false;
  bool failed_for_good_ = false;  // e.g. relay_only without a relay candidate
  std::size_t relay_servers_ = 0;
  std::size_t relay_candidates_ = 0;
  std::vector<std::string> relay_names_;
  int api_depth_ = 0;
  bool flush_posted_ = false;
  std::deque<std::function<void()>> pending_events_;
  // Expires when the transport is destroyed: posted work and event delivery check it.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace peer::ice
