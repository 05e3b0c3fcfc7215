#pragma once
// PeerImpl: the glue behind peer::Peer. It owns the ICE transport, the DTLS endpoint and the
// JSEP state of one peer, all touched only on the peer's loop thread (docs/architecture.md
// section 3), and writes what happens into the peer's Store.

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/channel_impl.hpp"
#include "api/listener_list.hpp"
#include "api/track_impl.hpp"
#include "core/dtls/certificate.hpp"
#include "core/dtls/dtls_endpoint.hpp"
#include "core/sctp/association.hpp"
#include "core/sdp/description.hpp"
#include "core/session/data_channels.hpp"
#include "core/session/media_description.hpp"
#include "core/session/media_streams.hpp"
#include "core/session/negotiation.hpp"
#include "core/srtp/srtp_session.hpp"
#include "core/session/transport_description.hpp"
#include "ice/ice_transport.hpp"
#include "peer/peer.hpp"
#include "runtime/event_loop.hpp"

namespace peer::detail {

class PeerImpl : public std::enable_shared_from_this<PeerImpl> {
 public:
  explicit PeerImpl(Store store);
  ~PeerImpl();

  // Runs `fn` by the threading rules of the public API: inline on this peer's loop
  // thread, posted from another loop's thread (errors become `error` events), and
  // synchronously (errors thrown to the caller) from any other thread.
  void call(std::function<void()> fn);
  // The loop this peer lives on (the signal plugin posts to it from its client's thread).
  const std::shared_ptr<runtime::EventLoop>& loop() const { return loop_; }

  // The verbs; each runs on the loop thread.
  void create();
  void offer(const Peer::DescriptionCallback& fn, const json& options);
  void restart_ice();
  void on_new_pair();
  void probe_path();
  void answer(const Peer::DescriptionCallback& fn, const json& options);
  void local(const json& description);
  void remote(const json& description);
  void ice(const json& candidate);
  void codec(Peer::SdpFilter filter);
  void close();
  void teardown();  // closes the transports; after close(), never inside an SCTP drain

  // Data channels. channel() runs on the loop; the others may be called from any thread.
  Channel channel(const std::string& label, const ChannelOptions& options);
  // The plugin's entry: inline on this loop, run_sync from a user thread; from another
  // loop's thread it throws Error(invalid_state) (it cannot wait there without risking a
  // deadlock between the two loops, and a channel must be returned).
  Channel channel_from_any_thread(const std::string& label, const ChannelOptions& options);
  void channel_send(const std::shared_ptr<ChannelImpl>& channel, bool binary,
                    std::span<const std::byte> data);
  void channel_close(const std::shared_ptr<ChannelImpl>& channel);
  void channel_threshold(const std::shared_ptr<ChannelImpl>& channel, std::size_t bytes);
  Subscription on_channel(std::function<void(Channel)> fn);

  // Media (peer_media.cpp). add_track: any thread, before the first offer/answer.
  Track add_track(session::MediaKind kind, const VideoOptions* video, const AudioOptions* audio);
  // Peer::remove (any thread).
  void remove_track(const std::shared_ptr<TrackImpl>& track);
  Subscription on_track(std::function<void(Track)> fn) { return track_listeners_.add(std::move(fn)); }

 private:
  // Every event of the store runs on this peer's loop, from the top of the loop: never
  // nested inside the ICE transport, OpenSSL or our protocol code (docs/architecture.md section 3).
  void dispatch_on_loop(Store& store);
  void require_open(const char* verb) const;
  void publish_signaling();  // the "signaling" key, from jsep_
  void set_state(const char* key, std::string_view value);
  void report_error(Errc code, const std::string& message);
  json describe(std::string_view type, const sdp::Description& description) const;
  sdp::Description filtered(const sdp::Description& description) const;
  void apply_local(const sdp::Description& description, session::DescriptionType type);
  void apply_remote_candidate(const json& candidate);
  session::LocalTransport local_transport(std::string setup) const;

  // ICE callbacks.
  void on_candidate(const std::string& candidate);
  void on_gathering_done();
  void on_ice_state(ice::IceState state);
  void on_receive(std::span<const std::byte> datagram);

  // DTLS glue.
  void start_dtls_endpoint(dtls::Role role);
  void after_dtls();  // flush output, publish state changes, re-arm the timer
  void update_connection();

  // SCTP glue: data channels over the DTLS association.
  void start_sctp();
  void process_sctp();  // events to channels, packets to DTLS, DTLS records to ICE
  void arm_sctp_timer();
  session::DataChannels::Callbacks channel_callbacks();
  std::shared_ptr<ChannelImpl> make_channel(const std::string& label, const ChannelOptions& options,
                                            session::ChannelKey key);
  void flush_dtls();

  // Media (peer_media.cpp), loop thread. One line per audio/video m= section.
  struct MediaLine;
  std::vector<sdp::Media> offer_media_sections();  // assigns mids to local tracks
  sdp::Description reoffer_description();          // a subsequent offer (renegotiation)
  std::vector<std::pair<int, sdp::Media>> answer_media_sections(const sdp::Description& offer,
                                                                const session::LocalTransport& transport);
  void read_media_answer(const sdp::Description& answer);
  void media_negotiated();   // streams and remote tracks for what was agreed
  void add_remote_track(MediaLine& line);
  // The remote stopped sending on `line` (BYE, or a description): its track ends.
  void end_remote_track(MediaLine& line);
  // An RTCP BYE for our sender on `line` (RFC 3550 section 6.6), when SRTP runs.
  void send_bye(MediaLine& line);
  void notify_track(const std::shared_ptr<TrackImpl>& track, const char* event);
  // The sender of a line whose agreed direction sends (media_negotiated).
  void start_sender(MediaLine& line);
  void start_media();        // DTLS connected: SRTP keys, the media tick
  void media_tick();
  void on_srtp(std::span<const std::byte> datagram);
  void send_media_packet(std::span<std::byte> buffer, std::size_t length, bool rtcp);
  void poll_media(rtp::TimePoint now);
  void publish_media_stats();
  void stop_media();
  const std::string& media_cname();

  std::vector<std::shared_ptr<TrackImpl>> local_tracks_;
  std::vector<std::shared_ptr<MediaLine>> media_;  // shared_ptr: MediaLine is complete only in peer_media.cpp
  std::optional<srtp::SrtpSession> srtp_;
  runtime::EventLoop::Timer media_timer_;
  std::uint64_t media_ticks_ = 0;
  std::vector<std::byte> srtp_scratch_;
  session::PacketSink media_sink_;
  ListenerList<std::function<void(Track)>> track_listeners_;
  bool data_ = true;  // the negotiated session has a data section
  std::string cname_;           // media_cname()

  Store store_;
  std::shared_ptr<runtime::EventLoop> loop_;
  bool closed_ = false;
  bool created_ = false;

  session::Negotiation jsep_;  // signaling state and descriptions (core/session/negotiation)
  std::optional<dtls::Certificate> certificate_;
  std::unique_ptr<ice::IceTransport> ice_;
  std::unique_ptr<dtls::DtlsEndpoint> dtls_;
  runtime::EventLoop::Timer dtls_timer_;
  std::vector<Peer::SdpFilter> filters_;

  std::string last_ice_error_;
  std::vector<json> early_candidates_;  // candidates received before the remote description
  std::deque<std::vector<std::byte>> early_datagrams_;  // DTLS that arrived before DTLS existed
  std::vector<std::string> gathered_;  // our candidates, for the `ready` description
  bool gathering_started_ = false;
  bool gathering_done_ = false;
  ice::IceState ice_state_ = ice::IceState::new_;
  std::unique_ptr<sctp::Association> sctp_;
  session::DataChannels channels_{session::DataChannels::Callbacks{}};
  runtime::EventLoop::Timer sctp_timer_;  // only while a stream reset waits (arm_sctp_timer)
  std::shared_ptr<void> sctp_clock_;      // keeps the process's SCTP clock running
  std::uint16_t sctp_streams_ = 256;       // "sctp-streams" (create() says why 256)
  runtime::EventLoop::Timer trim_timer_;
  runtime::EventLoop::Timer path_probe_timer_;  // SCTP heartbeats after a new ICE pair
  int path_probes_ = 0;
  // Idle trimming (arm_trim_timer): datagrams seen in either direction, and their count when
  // the check was armed. A connection quiet for a second gives its buffers back.
  std::uint64_t datagrams_ = 0;
  std::uint64_t datagrams_at_check_ = 0;
  session::ChannelKey next_key_ = 1;
  // The peer keeps its channels alive while it is open (a handle may be dropped while the
  // remote still sends on it).
  std::map<session::ChannelKey, std::shared_ptr<ChannelImpl>> channel_by_key_;
  std::map<std::string, std::shared_ptr<ChannelImpl>> local_by_label_;
  // Remote-opened channels no handle of ours has asked for by label yet.
  std::map<std::string, std::shared_ptr<ChannelImpl>> remote_by_label_;
  struct ChannelListener {
    std::function<void(Channel)> fn;
    detail::CallGuard guard;
  };
  std::mutex channel_listeners_mutex_;
  std::vector<std::shared_ptr<ChannelListener>> channel_listeners_;
  std::set<std::shared_ptr<ChannelImpl>> sending_;  // buffered amount to publish
  bool processing_sctp_ = false;
  void arm_trim_timer();
  std::atomic<std::uint64_t> remote_max_message_size_{0};  // 0: unknown or no limit
  std::uint64_t session_id_ = 0;
};

// What a user's Peer handles share: when the last one goes, the peer closes.
class PeerHandle {
 public:
  explicit PeerHandle(std::shared_ptr<PeerImpl> impl) : impl_(std::move(impl)) {}
  ~PeerHandle();
  PeerImpl& impl() const { return *impl_; }

 private:
  std::shared_ptr<PeerImpl> impl_;
};

}  // namespace peer::detail
