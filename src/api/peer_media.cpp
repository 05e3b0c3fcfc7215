// PeerImpl's media: tracks, their m= sections, SRTP, and the per-section pipelines of
// core/session/media_streams.hpp, all on the peer's loop thread.
//
// Timing: one tick every 5 ms while media flows. It captures from the sources that are
// due (a video frame every 1/fps, 20 ms of audio), runs the RTP senders' and receivers'
// timers and sends their RTCP. Encoding and decoding run on the loop too (VP8 640x480:
// ~2-9 ms a frame, media_streams.hpp's numbers), which a later change can move to a worker.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <optional>
#include <string_view>
#include <random>
#include <set>

#include "api/peer_impl.hpp"
#include "core/demux.hpp"
#include "core/rtp/rtcp.hpp"
#include "core/rtp/rtp.hpp"
#include "api/peer_encode_job.hpp"
#include "media/audio_source.hpp"
#include "media/test_pattern.hpp"
#include "media/y4m.hpp"

namespace peer::detail {

using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kMediaTick = std::chrono::milliseconds(5);
constexpr int kStatsTicks = 200;  // once a second

std::uint32_t random_ssrc() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uint32_t v = 0;
  while (v == 0) v = rng();
  return v;
}

std::string random_id() { return fmt::format("{:08x}{:08x}", random_ssrc(), random_ssrc()); }

std::string codec_name(const session::Codec& c) {
  std::string s = fmt::format("{}/{}", c.name, c.clock_rate);
  if (c.channels) s += fmt::format("/{}", *c.channels);
  return s;
}

// A section negotiated again: the remote's sender as the new description names it (a new
// one after a removal); what it leaves out stays as agreed before.
void adopt_remote_sender(session::NegotiatedMedia& agreed, const session::NegotiatedMedia& again) {
  if (!again.remote_ssrcs.empty()) agreed.remote_ssrcs = again.remote_ssrcs;
  if (!again.remote_stream_id.empty()) agreed.remote_stream_id = again.remote_stream_id;
  if (!again.remote_track_id.empty()) agreed.remote_track_id = again.remote_track_id;
}

}  // namespace

struct PeerImpl::MediaLine {
  std::string mid;
  int index = 0;
  session::MediaKind kind = session::MediaKind::video;
  std::shared_ptr<TrackImpl> local;   // what we send, if anything
  std::shared_ptr<TrackImpl> remote;  // what we receive, once agreed
  std::optional<session::NegotiatedMedia> agreed;
  std::uint32_t local_ssrc = random_ssrc();
  std::uint32_t remote_ssrc = 0;  // from the remote's a=ssrc, or learnt from its first packet
  bool started = false;           // media_negotiated() built its streams (a renegotiation keeps them)
  bool remote_muted = false;      // the remote's sender said BYE; its next packet unmutes
  std::string receive_codec;      // what the remote sends: "VP8" or "H264"
  std::unique_ptr<session::VideoSender> video_sender;
  // A raw source's VP8 encoder, on the worker pool (peer_encode_job.hpp): the sender then
  // only packetizes what it delivers.
  std::shared_ptr<VideoEncodeJob> encode_job;
  std::unique_ptr<session::VideoReceiver> video_receiver;
  std::unique_ptr<session::AudioSender> audio_sender;
  std::unique_ptr<session::AudioReceiver> audio_receiver;
  // The local track's source.
  std::optional<media::TestPattern> pattern;
  std::optional<media::Y4mSource> y4m;
  std::optional<media::ToneGenerator> tone;
  std::optional<media::WavSource> wav;
  media::VideoFrame frame;
  std::vector<std::int16_t> pcm;
  Clock::time_point next_capture{};
  Clock::time_point first_capture{};
  bool captured_any = false;

  MediaLine() = default;
  MediaLine(const MediaLine&) = delete;
  MediaLine& operator=(const MediaLine&) = delete;
  ~MediaLine() {
    if (encode_job) encode_job->cancel();
  }

  session::LocalMedia our_section(const std::string& cname) const {
    session::LocalMedia m;
    m.mid = mid;
    m.kind = kind;
    m.direction = local ? sdp::Direction::sendrecv : sdp::Direction::recvonly;
    if (local) {
      m.stream_id = local->stream;
      m.track_id = local->id;
      m.ssrc = local_ssrc;
    }
    m.cname = cname;
    m.codecs = session::supported_codecs(kind);
    // The track's codec first: the answerer takes the offer's order of preference.
    if (local && kind == session::MediaKind::video) {
      std::stable_partition(m.codecs.begin(), m.codecs.end(),
                            [&](const session::Codec& c) { return c.name == local->video.codec; });
    }
    return m;
  }
};

// RTCP CNAME (RFC 3550 section 6.5.1): one per peer, from its certificate's fingerprint;
// made once (on_srtp needs it for a receiver created by the first packet of a stream).
const std::string& PeerImpl::media_cname() {
  if (cname_.empty()) cname_ = certificate_->fingerprint().substr(0, 16);
  return cname_;
}

// --- tracks --------------------------------------------------------------------------------

namespace {
// "tone:HZ" -> HZ when it is a plain number within 1-20000 (no trailing text, no exponent
// games): checked once when the track is added.
std::optional<double> tone_frequency(std::string_view source) {
  source.remove_prefix(std::string_view("tone:").size());
  double hz = 0;
  const auto [end, error] = std::from_chars(source.data(), source.data() + source.size(), hz,
                                            std::chars_format::fixed);
  if (error != std::errc() || end != source.data() + source.size() || !(hz >= 1 && hz <= 20000)) return std::nullopt;
  return hz;
}
}  // namespace

Track PeerImpl::add_track(session::MediaKind kind, const VideoOptions* video, const AudioOptions* audio) {
  const std::string stream = video ? video->stream : audio->stream;
  auto track = std::make_shared<TrackImpl>(kind, random_id(), stream, true);
  // Its events run from the top of the loop, as the peer's (docs/architecture.md section 3):
  // a listener may close the peer, which must not happen in the middle of our own work.
  dispatch_on_loop(track->store);
  if (video) {
    if (video->width <= 0 || video->height <= 0 || video->width % 2 || video->height % 2 || video->fps <= 0 ||
        video->fps > 120 || video->bitrate_kbps <= 0) {
      throw Error(Errc::invalid_argument, "video(): width and height must be even and positive, fps 1-120, "
                                          "bitrate_kbps positive");
    }
    if (video->source != "pattern" && video->source != "push" && video->source != "none" &&
        video->source != "encoded" && !video->source.starts_with("y4m:")) {
      throw Error(Errc::invalid_argument,
                  fmt::format("video(): source \"{}\" is not pattern, push, encoded, none or y4m:PATH", video->source));
    }
    // A file is opened once here, so a bad one is an error at the call, not later in the
    // media tick (where it could only be an `error` event).
    if (video->source.starts_with("y4m:")) {
      if (auto opened = media::Y4mSource::open(video->source.substr(4)); !opened.ok()) {
        throw Error(Errc::invalid_argument, fmt::format("video(): source \"{}\": {}", video->source, opened.message()));
      }
    }
    if (video->codec != "VP8" && video->codec != "H264") {
      throw Error(Errc::invalid_argument, fmt::format("video(): codec \"{}\" is not VP8 or H264", video->codec));
    }
    if (video->codec == "H264" && video->source != "encoded" && video->source != "none") {
      throw Error(Errc::invalid_argument,
                  "video(): H264 needs source \"encoded\" (frames the application encodes; peer has no H264 encoder)");
    }
    track->video = *video;
  } else {
    if (audio->channels != 1 && audio->channels != 2) throw Error(Errc::invalid_argument, "audio(): channels must be 1 or 2");
    if (audio->bitrate_kbps < 6 || audio->bitrate_kbps > 510) {
      throw Error(Errc::invalid_argument,
                  fmt::format("audio(): bitrate_kbps {} is not within 6-510 (Opus, RFC 6716)", audio->bitrate_kbps));
    }
    if (audio->source != "push" && audio->source != "none" && !audio->source.starts_with("tone:") &&
        !audio->source.starts_with("wav:")) {
      throw Error(Errc::invalid_argument,
                  fmt::format("audio(): source \"{}\" is not tone:HZ, wav:PATH, push or none", audio->source));
    }
    if (audio->source.starts_with("tone:") && !tone_frequency(audio->source)) {
      throw Error(Errc::invalid_argument,
                  fmt::format("audio(): source \"{}\": the frequency must be a number of Hz within 1-20000",
                              audio->source));
    }
    if (audio->source.starts_with("wav:")) {
      auto opened = media::WavSource::open(audio->source.substr(4));
      if (!opened.ok()) {
        throw Error(Errc::invalid_argument, fmt::format("audio(): source \"{}\": {}", audio->source, opened.message()));
      }
      if (opened->info().sample_rate != 48000 || opened->info().channels != audio->channels) {
        throw Error(Errc::invalid_argument,
                    fmt::format("audio(): source \"{}\": the WAV file is {} Hz with {} channel(s); it must be 48000 Hz "
                                "with the track's {}", audio->source, opened->info().sample_rate,
                                opened->info().channels, audio->channels));
      }
    }
    track->audio = *audio;
  }
  // By value: from another peer's loop thread call() posts, and this frame is gone by then.
  call([this, track, verb = video ? "video" : "audio"] {
    require_open(verb);
    jsep_.check_stable_for_tracks();
    local_tracks_.push_back(track);
    // Added after a negotiation, it goes into the next offer (renegotiation, JSEP 4.1.8).
    if (jsep_.remote()) store_.queue("negotiationneeded");
  });
  return track->handle();
}

void PeerImpl::remove_track(const std::shared_ptr<TrackImpl>& track) {
  call([this, track] {
    require_open("remove");
    const auto it = std::find(local_tracks_.begin(), local_tracks_.end(), track);
    if (it == local_tracks_.end()) {
      throw Error(Errc::invalid_argument, "remove(): not a local track of this peer, or removed already");
    }
    jsep_.check_stable_for_tracks();
    local_tracks_.erase(it);
    bool negotiated = false;
    for (auto& line : media_) {
      if (line->local != track) continue;
      negotiated = negotiated || line->agreed.has_value();
      send_bye(*line);
      line->video_sender.reset();
      line->audio_sender.reset();
      line->pattern.reset();
      line->y4m.reset();
      line->tone.reset();
      line->wav.reset();
      line->local = nullptr;  // the section stays; the next offer says it no longer sends
    }
    track->feeds.clear();  // a forwarded track (Peer::stream) stops taking its source's frames
    notify_track(track, "ended");
    if (negotiated) store_.queue("negotiationneeded");
  });
}

void PeerImpl::send_bye(MediaLine& line) {
  if (!srtp_ || closed_ || (!line.video_sender && !line.audio_sender)) return;
  std::array<std::byte, 128 + session::kSrtpRoom> buffer{};
  rtp::RtcpWriter writer(std::span<std::byte>(buffer.data(), 128));
  const std::uint32_t ssrc = line.local_ssrc;
  writer.receiver_report(ssrc);  // a compound starts with a report (RFC 3550 section 6.1)
  writer.sdes_cname(ssrc, media_cname());
  writer.bye(std::span<const std::uint32_t>(&ssrc, 1));
  if (writer.error()) return;
  send_media_packet(buffer, writer.size(), true);
}

void PeerImpl::end_remote_track(MediaLine& line) {
  if (!line.remote) return;
  notify_track(line.remote, "ended");  // its listeners run later, from the top of the loop
  line.remote = nullptr;  // sending again later brings a new track (new SSRC, new id)
  line.remote_muted = false;
  line.video_receiver.reset();
  line.audio_receiver.reset();
  line.remote_ssrc = 0;
  if (line.agreed) {  // the next description says who sends next
    line.agreed->remote_ssrcs.clear();
    line.agreed->remote_track_id.clear();
    line.agreed->remote_stream_id.clear();
  }
}

// A track's state change and its event: "ended" (state "ended"), "mute" / "unmute"
// (key "muted"). Track stores dispatch on the loop, so listeners run after our work.
void PeerImpl::notify_track(const std::shared_ptr<TrackImpl>& track, const char* event) {
  const std::string_view e = event;
  if (e == "ended") {
    track->store.set("state", "ended");
  } else {
    track->store.set("muted", e == "mute");
  }
  track->store.emit(event);
  // A posted event holds its store weakly, and the application may hold only a
  // subscription, not the Track: keep the track until the events above have run (the
  // loop runs posted work in order).
  loop_->post([track] {});
}

// --- negotiation ---------------------------------------------------------------------------

std::vector<sdp::Media> PeerImpl::offer_media_sections() {
  std::vector<sdp::Media> sections;
  media_.clear();  // a second offer() before the answer describes the same tracks again
  const auto transport = local_transport("actpass");
  for (const auto& track : local_tracks_) {
    auto line = std::make_shared<MediaLine>();
    line->mid = std::to_string(media_.size());
    line->index = static_cast<int>(media_.size());
    line->kind = track->kind;
    if (track->sends()) line->local = track;  // "none": a receive-only section (recvonly)
    sections.push_back(session::media_section(transport, line->our_section(media_cname())));
    media_.push_back(std::move(line));
  }
  return sections;
}

// A subsequent offer (JSEP 5.2.2): every m= section of the current local description in its
// place and with its mid, our transport attributes refreshed (a=setup:actpass, RFC 8842
// section 5.5; the DTLS association and ICE stay), then one new section per track added
// since. Lines of the last negotiation keep their streams.
sdp::Description PeerImpl::reoffer_description() {
  const auto transport = local_transport("actpass");
  const std::string& cname = media_cname();
  sdp::Description d = *jsep_.local_description();
  d.origin.session_version = jsep_.session_version();
  // Lines offered but never agreed (a second offer() before an answer) are offered again.
  std::erase_if(media_, [](const auto& l) { return !l->agreed; });
  // The ICE credentials are the agent's now: new ones after an ICE restart (RFC 8445
  // section 9), wherever the previous description had them.
  if (!d.ice_ufrag.empty()) {
    d.ice_ufrag = transport.ice_ufrag;
    d.ice_pwd = transport.ice_pwd;
  }
  for (auto& m : d.media) {
    if (!m.ice_ufrag.empty()) {
      m.ice_ufrag = transport.ice_ufrag;
      m.ice_pwd = transport.ice_pwd;
    }
    if (m.port == 0 && !m.bundle_only) continue;  // rejected: stays rejected
    m.setup = sdp::Setup::actpass;
    m.candidates.clear();
    m.end_of_candidates = false;
    const auto line = std::find_if(media_.begin(), media_.end(), [&](const auto& l) { return l->mid == m.mid; });
    if (line != media_.end() && (*line)->agreed) {
      session::LocalMedia ours = session::answer_media(*(*line)->agreed, (*line)->our_section(cname));
      // Our direction (JSEP 5.2.2, from the transceiver): we always take what the remote
      // sends, and send while the section has a local track (a removed one no longer does).
      ours.direction = (*line)->local ? sdp::Direction::sendrecv : sdp::Direction::recvonly;
      m = session::media_section(transport, ours);
    }
  }
  sdp::Group* bundle = nullptr;
  for (auto& g : d.groups) {
    if (g.semantics == "BUNDLE") bundle = &g;
  }
  std::set<std::string> mids;
  for (const auto& m : d.media) mids.insert(m.mid);
  int next = 0;
  const auto fresh_mid = [&] {
    while (mids.contains(std::to_string(next))) ++next;
    mids.insert(std::to_string(next));
    return std::to_string(next);
  };
  for (const auto& track : local_tracks_) {
    const bool placed = std::any_of(media_.begin(), media_.end(), [&](const auto& l) { return l->local == track; });
    const bool asked = !track->sends() && std::any_of(media_.begin(), media_.end(), [&](const auto& l) {
      return !l->local && l->kind == track->kind && l->agreed;
    });
    if (placed || asked) continue;
    auto line = std::make_shared<MediaLine>();
    line->mid = fresh_mid();
    line->index = static_cast<int>(d.media.size());
    line->kind = track->kind;
    if (track->sends()) line->local = track;
    d.media.push_back(session::media_section(transport, line->our_section(cname)));
    if (bundle != nullptr) bundle->mids.push_back(line->mid);
    media_.push_back(std::move(line));
  }
  return d;
}

std::vector<std::pair<int, sdp::Media>> PeerImpl::answer_media_sections(const sdp::Description& offer,
                                                                        const session::LocalTransport& transport) {
  std::vector<std::pair<int, sdp::Media>> accepted;
  std::vector<std::shared_ptr<TrackImpl>> unsent;
  for (const auto& t : local_tracks_) {
    const bool placed = std::any_of(media_.begin(), media_.end(), [&](const auto& l) { return l->local == t; });
    if (t->sends() && !placed) unsent.push_back(t);
  }
  const std::string& cname = media_cname();
  for (std::size_t i = 0; i < offer.media.size(); ++i) {
    const sdp::Media& m = offer.media[i];
    const auto kind = session::media_kind(m.kind);
    if (!kind) continue;
    // A section of the last negotiation (a re-offer): answered as agreed then, streams kept.
    const auto known = std::find_if(media_.begin(), media_.end(), [&](const auto& l) { return l->mid == m.mid; });
    if (known != media_.end()) {
      auto& line = **known;
      if (!line.agreed) continue;
      if (m.port == 0 && !m.bundle_only) {
        line.agreed->direction = sdp::Direction::inactive;  // stopped (RFC 8829 5.2.2): ends both ways
        continue;
      }
      // Negotiated again: the remote may have changed its direction (started sending).
      std::string why;
      if (auto again = session::negotiate_offered(m, static_cast<int>(i), line.local != nullptr, true, &why)) {
        line.agreed->direction = again->direction;
        adopt_remote_sender(*line.agreed, *again);
      }
      accepted.emplace_back(static_cast<int>(i),
                            session::media_section(transport, session::answer_media(*line.agreed, line.our_section(cname))));
      continue;
    }
    const auto mine = std::find_if(unsent.begin(), unsent.end(), [&](const auto& t) { return t->kind == *kind; });
    std::string why;
    auto agreed = session::negotiate_offered(m, static_cast<int>(i), mine != unsent.end(), true, &why);
    if (!agreed) {
      spdlog::info("peer: rejecting {}", why);
      continue;
    }
    auto line = std::make_shared<MediaLine>();
    line->mid = m.mid;
    line->index = static_cast<int>(i);
    line->kind = *kind;
    if (agreed->sends()) {
      line->local = *mine;
      unsent.erase(mine);
    }
    session::LocalMedia sender = line->our_section(cname);
    accepted.emplace_back(line->index, session::media_section(transport, session::answer_media(*agreed, sender)));
    line->agreed = std::move(agreed);
    media_.push_back(std::move(line));
  }
  return accepted;
}

void PeerImpl::read_media_answer(const sdp::Description& answer) {
  for (auto& line : media_) {
    const sdp::Media* ours = nullptr;
    if (jsep_.local_description() && line->index < static_cast<int>(jsep_.local_description()->media.size())) {
      ours = &jsep_.local_description()->media[static_cast<std::size_t>(line->index)];
    }
    const sdp::Media* theirs = sdp::find_media(answer, line->mid);
    if (ours == nullptr || theirs == nullptr) {
      report_error(Errc::bad_sdp, fmt::format("remote answer: no section for our mid \"{}\"", line->mid));
      continue;
    }
    std::string why;
    auto agreed = session::negotiate_answered(*ours, *theirs, line->index, &why);
    if (line->started) {
      // Agreed before: the streams stay; only the directions may have changed (either side
      // stopped or started sending).
      if (line->agreed && theirs->port == 0 && !theirs->bundle_only) {
        line->agreed->direction = sdp::Direction::inactive;  // the remote stopped the section
      } else if (agreed && line->agreed) {
        line->agreed->direction = agreed->direction;
        adopt_remote_sender(*line->agreed, *agreed);
      } else if (!agreed) {
        spdlog::info("peer: the answer to our re-offer did not take {}", why);
      }
      continue;
    }
    line->agreed = std::move(agreed);
    if (!line->agreed) spdlog::info("peer: the answer did not take {}", why);
  }
}

void PeerImpl::add_remote_track(MediaLine& line) {
  const auto& a = *line.agreed;
  line.remote = std::make_shared<TrackImpl>(line.kind, a.remote_track_id.empty() ? "remote-" + line.mid : a.remote_track_id,
                                            a.remote_stream_id.empty() ? "-" : a.remote_stream_id, false);
  dispatch_on_loop(line.remote->store);  // events from the top of the loop, as add_track's
  line.remote->store.set("muted", false);
  line.remote->store.set("mid", line.mid);
  line.remote->store.set("direction", std::string(sdp::to_string(a.direction)));
  line.remote->store.set("codec", codec_name(a.codecs.front()));
  if (!a.remote_ssrcs.empty()) line.remote_ssrc = a.remote_ssrcs.front();
  const json description = {{"id", line.remote->stream},
                            {"tracks", json::array({{{"kind", std::string(session::to_string(line.kind))},
                                                     {"id", line.remote->id},
                                                     {"mid", line.mid}}})}};
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  line.remote->keyframe_requester = [weak, mid = line.mid] {
    auto self = weak.lock();
    if (!self) return;
    self->loop_->post([weak, mid] {
      auto peer = weak.lock();
      if (!peer || peer->closed_) return;
      for (auto& l : peer->media_) {
        if (l->mid == mid && l->video_receiver) {
          const auto now = Clock::now();
          l->video_receiver->request_keyframe(now);
          l->video_receiver->poll(now, peer->media_sink_);
        }
      }
    });
  };
  store_.queue("remote stream", {description});
  // on_track from the top of the loop too: we are inside negotiation (or a packet) here.
  std::weak_ptr<PeerImpl> self_weak = weak_from_this();
  loop_->post([self_weak, track = line.remote] {
    auto self = self_weak.lock();
    if (self && !self->closed_) self->track_listeners_.call(track->handle());
  });
}

// The sender of a line that sends: in the track's codec when the remote took it (video: VP8
// or H264), else an error saying so.
void PeerImpl::start_sender(MediaLine& line) {
  const auto& a = *line.agreed;
  const std::string& cname = media_cname();
  const std::string want = line.kind == session::MediaKind::video ? line.local->video.codec : "opus";
  const auto chosen = std::find_if(a.codecs.begin(), a.codecs.end(),
                                   [&](const session::Codec& c) { return session::named(c, want); });
  if (chosen == a.codecs.end()) {
    report_error(Errc::bad_sdp, fmt::format("mid \"{}\": the remote did not take {}; the track sends nothing",
                                            line.mid, want));
    return;
  }
  const session::Codec& codec = *chosen;
  session::SenderConfig c;
  c.ssrc = line.local_ssrc;
  c.payload_type = static_cast<std::uint8_t>(codec.payload_type);
  c.cname = cname;
  c.mid = line.mid;
  c.mid_extension = a.extensions.mid;
  if (line.kind == session::MediaKind::video) {
    const auto& v = line.local->video;
    c.codec = v.codec;
    // Raw sources are encoded on the worker pool, not on this loop: the sender takes the
    // encoded frames as it takes an application's (send_encoded).
    c.encoded = true;
    c.width = v.width;
    c.height = v.height;
    c.fps = v.fps;
    c.bitrate_kbps = v.bitrate_kbps;
    c.abs_send_time_extension = a.extensions.abs_send_time;
    line.video_sender = std::make_unique<session::VideoSender>(c);
    if (v.source != "encoded" && v.codec == "VP8") {
      if (line.encode_job) line.encode_job->cancel();
      std::weak_ptr<MediaLine> weak_line;
      for (const auto& l : media_) {
        if (l.get() == &line) weak_line = l;
      }
      std::weak_ptr<PeerImpl> weak = weak_from_this();
      line.encode_job = std::make_shared<VideoEncodeJob>(
          loop_, media::Vp8Config{.width = v.width, .height = v.height, .bitrate_kbps = v.bitrate_kbps, .fps = v.fps},
          [weak, weak_line](const media::EncodedFrame& frame) {
            auto self = weak.lock();
            auto line = weak_line.lock();
            if (!self || !line || self->closed_ || !self->srtp_ || !line->video_sender) return;
            line->video_sender->send_encoded(std::as_bytes(std::span(frame.data)), frame.keyframe, frame.timestamp_us,
                                             Clock::now(), self->media_sink_);
          });
    }
  } else {
    c.channels = line.local->audio.channels;
    c.bitrate_kbps = line.local->audio.bitrate_kbps;
    line.audio_sender = std::make_unique<session::AudioSender>(c);
  }
  line.local->store.set("codec", codec_name(codec));
}

void PeerImpl::media_negotiated() {
  bool any = false;
  for (auto& line : media_) {
    if (!line->agreed) continue;
    any = true;
    const auto& a = *line->agreed;
    if (line->started) {
      // A renegotiation may turn a section we only sent on into one the remote sends on too
      // (a browser's addTrack reuses the recvonly transceiver of that kind).
      if (a.receives() && !line->remote) add_remote_track(*line);
      if (!a.receives() && line->remote) end_remote_track(*line);
      // The remote may also stop or resume taking what we send (RFC 3264 section 6.1: send
      // only where the agreed direction says so).
      if (!a.sends()) {
        if (line->video_sender || line->audio_sender) send_bye(*line);
        line->video_sender.reset();
        line->audio_sender.reset();
      } else if (line->local && !line->video_sender && !line->audio_sender) {
        line->next_capture = Clock::now();
        start_sender(*line);
      }
      if (line->local) line->local->store.set("direction", std::string(sdp::to_string(a.direction)));
      continue;
    }
    line->started = true;
    line->next_capture = Clock::now();  // matters when SRTP already runs (a renegotiation)
    if (line->local) {
      line->local->store.set("mid", line->mid);
      line->local->store.set("direction", std::string(sdp::to_string(a.direction)));
    }
    if (a.sends() && line->local) start_sender(*line);
    if (a.receives()) add_remote_track(*line);
  }
  // A renegotiation that brings the first media to a connected session starts SRTP now.
  if (any && dtls_ && dtls_->state() == dtls::DtlsState::connected) start_media();
}

// --- SRTP and the tick ---------------------------------------------------------------------

void PeerImpl::start_media() {
  if (srtp_ || closed_) return;
  const bool any = std::any_of(media_.begin(), media_.end(), [](const auto& l) { return l->agreed.has_value(); });
  if (!any) return;
  const auto& keys = dtls_->srtp_keys();
  if (!keys || keys->profile == dtls::SrtpProfile::none) {
    report_error(Errc::dtls_failed, "the remote did not negotiate DTLS-SRTP (RFC 5764): no media can flow");
    return;
  }
  try {
    srtp_.emplace(*keys, srtp::SrtpOptions{.allow_repeat_tx = true});  // NACK retransmits the same packet
  } catch (const Error& e) {
    report_error(e.code(), e.what());
    return;
  }
  srtp_scratch_.resize(session::kPacketRoom + session::kSrtpRoom);
  media_sink_ = [this](std::span<std::byte> buffer, std::size_t length, bool rtcp) {
    send_media_packet(buffer, length, rtcp);
  };
  const auto now = Clock::now();
  for (auto& line : media_) line->next_capture = now;
  media_tick();
}

void PeerImpl::send_media_packet(std::span<std::byte> buffer, std::size_t length, bool rtcp) {
  if (!srtp_ || closed_) return;
  const auto error = rtcp ? srtp_->protect_rtcp(buffer, length) : srtp_->protect_rtp(buffer, length);
  if (error) {
    spdlog::debug("peer: srtp protect: {}", srtp::describe(*error));
    return;
  }
  ++datagrams_;
  ice_->send(buffer.first(length));
}

void PeerImpl::media_tick() {
  if (closed_ || !srtp_) return;
  const auto now = Clock::now();
  for (auto& line : media_) {
    if (!line->local) continue;
    const auto& t = *line->local;
    if (line->video_sender && t.video.source == "encoded") {
      // Frames the application encoded: sent as they come; a PLI/FIR is passed on to it.
      for (auto& e : line->local->take_encoded()) {
        line->video_sender->send_encoded(e.data, e.keyframe, e.timestamp_us, now, media_sink_);
      }
      if (line->video_sender->take_keyframe_request()) line->local->store.emit("keyframe request");
      continue;
    }
    if (line->video_sender && now >= line->next_capture) {
      const auto interval = std::chrono::microseconds(1000000 / t.video.fps);
      line->next_capture += interval;
      if (line->next_capture < now) line->next_capture = now + interval;  // fell behind: skip
      bool have = false;
      if (t.video.source == "push") {
        have = line->local->take_pushed(line->frame);
      } else if (t.video.source.starts_with("y4m:")) {
        if (!line->y4m) {
          auto opened = media::Y4mSource::open(t.video.source.substr(4));
          if (!opened.ok()) {
            report_error(Errc::invalid_argument, "video(): " + opened.message());
            line->video_sender.reset();
            continue;
          }
          line->y4m.emplace(std::move(opened).value());
        }
        have = line->y4m->next(line->frame).ok();
      } else {
        if (!line->pattern) line->pattern.emplace(t.video.width, t.video.height, t.video.fps);
        line->pattern->next(line->frame);
        have = true;
      }
      if (have) {
        if (!line->captured_any) line->first_capture = now;
        line->captured_any = true;
        line->frame.timestamp_us = std::chrono::duration_cast<std::chrono::microseconds>(now - line->first_capture).count();
        if (line->encode_job) {
          if (line->video_sender->take_keyframe_request()) line->encode_job->request_keyframe();
          line->encode_job->set_target_bps(line->video_sender->target_bps());
          line->encode_job->submit(line->frame);
        } else {
          line->video_sender->send_frame(line->frame, now, media_sink_);
        }
      }
    }
    if (line->audio_sender && now >= line->next_capture) {
      line->next_capture += std::chrono::milliseconds(20);
      if (line->next_capture < now) line->next_capture = now + std::chrono::milliseconds(20);
      line->pcm.resize(line->audio_sender->frame_samples() * static_cast<std::size_t>(t.audio.channels));
      if (t.audio.source == "push") {
        line->local->take_pushed(line->pcm);
      } else if (t.audio.source.starts_with("wav:")) {
        if (!line->wav) {
          auto opened = media::WavSource::open(t.audio.source.substr(4));
          if (!opened.ok() || opened->info().sample_rate != 48000 || opened->info().channels != t.audio.channels) {
            report_error(Errc::invalid_argument, "audio(): " + (opened.ok() ? std::string("the WAV file must be 48 kHz with the track's channel count")
                                                                             : opened.message()));
            line->audio_sender.reset();
            continue;
          }
          line->wav.emplace(std::move(opened).value());
        }
        line->wav->next(line->pcm);
      } else {
        if (!line->tone) line->tone.emplace(*tone_frequency(t.audio.source), 48000, t.audio.channels);  // checked by add_track
        line->tone->next(line->pcm);
      }
      line->audio_sender->send_pcm(line->pcm, now, media_sink_);
    }
  }
  poll_media(now);
  if (++media_ticks_ % kStatsTicks == 0) publish_media_stats();
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  media_timer_ = loop_->call_after(kMediaTick, [weak] {
    if (auto self = weak.lock()) self->media_tick();
  });
}

void PeerImpl::poll_media(rtp::TimePoint now) {
  for (auto& line : media_) {
    session::VideoReceiver::FrameSink on_frame;  // only while someone listens (on_srtp says why)
    if (line->remote && line->remote->has_video_listeners()) {
      on_frame = [&line](const media::VideoFrame& f) { line->remote->deliver(f); };
    }
    auto on_encoded = [&line](std::span<const std::byte> data, bool keyframe, std::int64_t timestamp_us) {
      if (line->remote && line->remote->has_encoded_listeners()) {
        line->remote->deliver_encoded({data, keyframe, line->receive_codec, timestamp_us});
      }
    };
    if (line->video_sender) {
      if (auto t = line->video_sender->next_timeout(); t && *t <= now) line->video_sender->handle_timeout(now);
      line->video_sender->poll(now, media_sink_);
      if (line->video_receiver) {
        if (auto rtt = line->video_sender->rtt()) line->video_receiver->set_rtt(*rtt);
      }
    }
    if (line->audio_sender) {
      if (auto t = line->audio_sender->next_timeout(); t && *t <= now) line->audio_sender->handle_timeout(now);
      line->audio_sender->poll(now, media_sink_);
    }
    if (line->video_receiver) {
      if (auto t = line->video_receiver->next_timeout(); t && *t <= now) line->video_receiver->handle_timeout(now, on_frame, on_encoded);
      line->video_receiver->poll(now, media_sink_);
    }
    if (line->audio_receiver) {
      if (auto t = line->audio_receiver->next_timeout(); t && *t <= now) line->audio_receiver->handle_timeout(now);
      line->audio_receiver->poll(now, media_sink_);
    }
  }
}

void PeerImpl::on_srtp(std::span<const std::byte> datagram) {
  if (!srtp_ || datagram.size() > srtp_scratch_.size()) return;
  std::copy(datagram.begin(), datagram.end(), srtp_scratch_.begin());
  std::size_t length = datagram.size();
  const auto now = Clock::now();
  if (is_rtcp(datagram)) {
    if (srtp_->unprotect_rtcp(srtp_scratch_, length)) return;  // forged, replayed: dropped
    const std::span<const std::byte> compound(srtp_scratch_.data(), length);
    // A BYE (RFC 3550 section 6.6): the remote's sender stopped. Its track is muted, not
    // ended (W3C webrtc: a description or a stopped transceiver ends it; a browser also says
    // BYE when a sender is merely paused); its next packet unmutes it.
    rtp::RtcpReader reader(compound);
    rtp::RtcpPacket rtcp;
    while (reader.next(rtcp)) {
      if (rtp::kind_of(rtcp) != rtp::RtcpKind::bye) continue;
      if (auto bye = rtp::parse_bye(rtcp)) {
        for (std::size_t i = 0; i < bye->size(); ++i) {
          for (auto& line : media_) {
            if (line->remote && !line->remote_muted && line->remote_ssrc != 0 && line->remote_ssrc == bye->ssrc(i)) {
              line->remote_muted = true;
              notify_track(line->remote, "mute");
            }
          }
        }
      }
    }
    for (auto& line : media_) {
      if (line->video_sender) line->video_sender->handle_rtcp(now, compound);
      if (line->audio_sender) line->audio_sender->handle_rtcp(now, compound);
      if (line->video_receiver) line->video_receiver->handle_rtcp(now, compound);
      if (line->audio_receiver) line->audio_receiver->handle_rtcp(now, compound);
    }
    // Retransmissions a NACK asked for, and a keyframe for a PLI, go out without waiting.
    for (auto& line : media_) {
      if (line->video_sender) line->video_sender->poll(now, media_sink_);
    }
    return;
  }
  if (srtp_->unprotect_rtp(srtp_scratch_, length)) return;
  auto packet = rtp::parse_rtp(std::span<const std::byte>(srtp_scratch_.data(), length));
  if (!packet.ok()) return;
  // Route (RFC 8843 section 9.2): a known SSRC; else the mid header extension; else the
  // payload type, when one receiving section has it. The SSRC is then learnt.
  MediaLine* target = nullptr;
  for (auto& line : media_) {
    if (line->remote && line->remote_ssrc == packet->ssrc()) target = line.get();
  }
  if (target == nullptr) {
    for (auto& line : media_) {
      if (!line->remote || !line->agreed || line->remote_ssrc != 0) continue;
      const int mid_id = line->agreed->extensions.mid;
      const auto ext = mid_id != 0 ? packet->find_extension(static_cast<std::uint8_t>(mid_id)) : std::nullopt;
      if (ext) {
        if (rtp::read_mid(*ext) == line->mid) target = line.get();
      } else {
        for (const auto& c : line->agreed->codecs) {
          if (c.payload_type == packet->payload_type()) target = line.get();
        }
      }
      if (target != nullptr) break;
    }
    if (target == nullptr) return;
    target->remote_ssrc = packet->ssrc();
  }
  MediaLine& line = *target;
  if (line.remote_muted) {
    line.remote_muted = false;
    notify_track(line.remote, "unmute");
  }
  const std::string& cname = media_cname();
  if (line.kind == session::MediaKind::video) {
    if (!line.video_receiver) {
      // The codec is the one the payload type names (the remote may send any it offered).
      std::string codec = "VP8";
      for (const auto& c : line.agreed->codecs) {
        if (c.payload_type == packet->payload_type() && session::named(c, "H264")) codec = "H264";
      }
      line.video_receiver = std::make_unique<session::VideoReceiver>(session::ReceiverConfig{
          .codec = codec,
          .remote_ssrc = line.remote_ssrc,
          .local_ssrc = line.local_ssrc,
          .cname = cname,
          .abs_send_time_extension = line.agreed->extensions.abs_send_time});
      line.remote->store.set("codec", codec == "H264" ? "H264/90000" : "VP8/90000");
      line.receive_codec = codec;
    }
    // Decoded only while someone listens for pictures (Track::on_video): a relay or a
    // recorder of the encoded frames costs no decoding.
    session::VideoReceiver::FrameSink on_frame;
    if (line.remote->has_video_listeners()) on_frame = [&line](const media::VideoFrame& f) { line.remote->deliver(f); };
    line.video_receiver->handle_rtp(
        now, *packet, on_frame,
        [&line](std::span<const std::byte> data, bool keyframe, std::int64_t timestamp_us) {
          if (line.remote->has_encoded_listeners()) {
            line.remote->deliver_encoded({data, keyframe, line.receive_codec, timestamp_us});
          }
        });
    line.video_receiver->poll(now, media_sink_);  // a NACK or PLI at once
  } else {
    if (!line.audio_receiver) {
      line.audio_receiver = std::make_unique<session::AudioReceiver>(session::ReceiverConfig{
          .remote_ssrc = line.remote_ssrc, .local_ssrc = line.local_ssrc, .cname = cname, .channels = 2});
    }
    line.audio_receiver->handle_rtp(now, *packet, [&line](std::span<const std::int16_t> pcm, int channels, std::uint32_t ts) {
      line.remote->deliver(pcm, channels, 48000, static_cast<std::int64_t>(ts) * 1000 / 48);
    });
  }
}

void PeerImpl::publish_media_stats() {
  for (auto& line : media_) {
    if (line->local) {
      json s = json::object();
      if (line->video_sender) s = line->video_sender->stats();
      if (line->audio_sender) s = line->audio_sender->stats();
      line->local->store.set("stats", s);
    }
    if (line->remote) {
      json s = json::object();
      if (line->video_receiver) s = line->video_receiver->stats();
      if (line->audio_receiver) s = line->audio_receiver->stats();
      line->remote->store.set("stats", s);
    }
  }
}

void PeerImpl::stop_media() {
  media_timer_.cancel();
  for (auto& line : media_) {
    for (const auto& t : {line->local, line->remote}) {
      if (t != nullptr && t->store.get("state") != "ended") notify_track(t, "ended");
    }
  }
  media_.clear();
  srtp_.reset();
}

}  // namespace peer::detail
