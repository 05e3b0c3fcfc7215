#include "media/vp8_encoder.hpp"

#include <fmt/format.h>
#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

#include <algorithm>

#include "peer/error.hpp"

namespace peer::media {
namespace {

// libvpx's timestamps are in g_timebase units; microseconds keep ours as they are.
constexpr int kTimebaseDen = 1000000;

std::string vpx_error(vpx_codec_ctx_t* ctx) {
  const char* detail = vpx_codec_error_detail(ctx);
  return detail ? fmt::format("{} ({})", vpx_codec_error(ctx), detail) : vpx_codec_error(ctx);
}

void check_config(const Vp8Config& c) {
  const auto bad = [](const std::string& what) {
    throw peer::Error(Errc::invalid_argument, "Vp8Encoder: " + what);
  };
  if (c.width < 1 || c.height < 1 || c.width > 16384 || c.height > 16384)
    bad(fmt::format("size {}x{} is not within 1..16384", c.width, c.height));
  if (c.bitrate_kbps < 10 || c.bitrate_kbps > 100000)
    bad(fmt::format("bitrate {} kbit/s is not within 10..100000", c.bitrate_kbps));
  if (c.fps < 1 || c.fps > 240) bad(fmt::format("fps {} is not within 1..240", c.fps));
  if (c.cpu_used < -16 || c.cpu_used > 16) bad(fmt::format("cpu_used {} is not within -16..16", c.cpu_used));
  if (c.threads < 1 || c.threads > 2) bad(fmt::format("threads {} is not 1 or 2", c.threads));
  if (c.max_keyframe_interval < 1)
    bad(fmt::format("max_keyframe_interval {} is below 1", c.max_keyframe_interval));
  if (c.min_quantizer < 0 || c.max_quantizer > 63 || c.min_quantizer > c.max_quantizer)
    bad(fmt::format("quantizers {}..{} are not within 0..63 in order", c.min_quantizer,
                    c.max_quantizer));
}

}  // namespace

struct Vp8Encoder::Impl {
  Vp8Config config;
  vpx_codec_enc_cfg_t cfg{};
  vpx_codec_ctx_t ctx{};
  bool open = false;
  bool keyframe_requested = false;
  int64_t last_pts = -1;
  int64_t frames = 0;

  ~Impl() { close(); }

  void close() {
    if (open) vpx_codec_destroy(&ctx);
    open = false;
  }

  // Settings after WebRTC's LibvpxVp8Encoder (real-time, one layer).
  void start() {
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) {
      throw peer::Error(Errc::internal, "Vp8Encoder: libvpx has no default VP8 config");
    }
    cfg.g_w = unsigned(config.width);
    cfg.g_h = unsigned(config.height);
    cfg.g_timebase = {1, kTimebaseDen};
    cfg.g_threads = unsigned(config.threads);
    cfg.g_lag_in_frames = 0;  // no lookahead: a frame in, its bytes out
    cfg.g_pass = VPX_RC_ONE_PASS;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.rc_end_usage = VPX_CBR;
    cfg.rc_target_bitrate = unsigned(config.bitrate_kbps);
    cfg.rc_min_quantizer = unsigned(config.min_quantizer);
    cfg.rc_max_quantizer = unsigned(config.max_quantizer);
    cfg.rc_dropframe_thresh = config.allow_frame_drop ? 30 : 0;
    cfg.rc_resize_allowed = 0;
    cfg.rc_undershoot_pct = 100;
    cfg.rc_overshoot_pct = 15;
    cfg.rc_buf_initial_sz = 500;  // ms
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_buf_sz = 1000;
    cfg.kf_mode = VPX_KF_AUTO;
    cfg.kf_min_dist = 0;
    cfg.kf_max_dist = unsigned(config.max_keyframe_interval);
    if (vpx_codec_enc_init(&ctx, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) {
      throw peer::Error(Errc::internal, "Vp8Encoder: libvpx init failed: " + vpx_error(&ctx));
    }
    open = true;
    // Keyframes may not exceed 0.5 * optimal buffer (600 ms) * fps / 10 percent of an
    // average frame (WebRTC's MaxIntraTarget): a huge keyframe would stall the link.
    const unsigned max_intra = std::max(300u, unsigned(0.5 * 600 * config.fps / 10));
    vpx_codec_control(&ctx, VP8E_SET_CPUUSED, config.cpu_used);
    vpx_codec_control(&ctx, VP8E_SET_NOISE_SENSITIVITY, 0);
    vpx_codec_control(&ctx, VP8E_SET_STATIC_THRESHOLD, 1);
    vpx_codec_control(&ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra);
    vpx_codec_control(&ctx, VP8E_SET_TOKEN_PARTITIONS,
                      config.threads > 1 ? VP8_TWO_TOKENPARTITION : VP8_ONE_TOKENPARTITION);
    last_pts = -1;
  }
};

Vp8Encoder::Vp8Encoder(const Vp8Config& config) : impl_(std::make_unique<Impl>()) {
  check_config(config);
  impl_->config = config;
  impl_->start();
}

Vp8Encoder::~Vp8Encoder() = default;
Vp8Encoder::Vp8Encoder(Vp8Encoder&&) noexcept = default;
Vp8Encoder& Vp8Encoder::operator=(Vp8Encoder&&) noexcept = default;

const Vp8Config& Vp8Encoder::config() const noexcept { return impl_->config; }
int64_t Vp8Encoder::frames_encoded() const noexcept { return impl_->frames; }
void Vp8Encoder::request_keyframe() noexcept { impl_->keyframe_requested = true; }

Status Vp8Encoder::set_bitrate(int kbps) {
  Impl& s = *impl_;
  s.config.bitrate_kbps = std::clamp(kbps, 10, 100000);
  s.cfg.rc_target_bitrate = unsigned(s.config.bitrate_kbps);
  if (vpx_codec_enc_config_set(&s.ctx, &s.cfg) != VPX_CODEC_OK) {
    return {ErrorCode::codec, "VP8: cannot set the bitrate: " + vpx_error(&s.ctx)};
  }
  return {};
}

Status Vp8Encoder::encode(const VideoFrame& frame, EncodedFrame& out) {
  Impl& s = *impl_;
  out.data.clear();
  if (frame.empty()) return {ErrorCode::invalid_argument, "VP8: the frame has no picture"};
  if (frame.width() != s.config.width || frame.height() != s.config.height) {
    // libvpx cannot grow a VP8 encoder's size in place: start again at the new size.
    s.close();
    s.config.width = frame.width();
    s.config.height = frame.height();
    try {
      s.start();
    } catch (const peer::Error& e) {
      return {ErrorCode::codec, e.what()};
    }
  }
  // Wrap our planes; vpx_img_wrap's own plane layout is replaced by ours (no copy).
  vpx_image_t img;
  vpx_img_wrap(&img, VPX_IMG_FMT_I420, unsigned(frame.width()), unsigned(frame.height()), 1,
               const_cast<uint8_t*>(frame.data(VideoFrame::kY)));
  for (int p = 0; p < 3; ++p) {
    img.planes[p] = const_cast<uint8_t*>(frame.data(p));
    img.stride[p] = frame.stride(p);
  }
  const int64_t nominal = kTimebaseDen / s.config.fps;
  int64_t pts = frame.timestamp_us;
  if (s.last_pts >= 0 && pts <= s.last_pts) pts = s.last_pts + 1;
  const int64_t duration = s.last_pts >= 0 ? std::clamp<int64_t>(pts - s.last_pts, 1, 1000000)
                                           : nominal;
  vpx_enc_frame_flags_t flags = 0;
  if (s.keyframe_requested) flags |= VPX_EFLAG_FORCE_KF;
  if (vpx_codec_encode(&s.ctx, &img, pts, static_cast<unsigned long>(duration), flags,
                       VPX_DL_REALTIME) != VPX_CODEC_OK) {
    return {ErrorCode::codec, "VP8: encode failed: " + vpx_error(&s.ctx)};
  }
  s.keyframe_requested = false;
  s.last_pts = pts;
  ++s.frames;
  out.keyframe = false;
  out.timestamp_us = frame.timestamp_us;
  out.width = frame.width();
  out.height = frame.height();
  vpx_codec_iter_t iter = nullptr;
  while (const vpx_codec_cx_pkt_t* pkt = vpx_codec_get_cx_data(&s.ctx, &iter)) {
    if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
    const auto* bytes = static_cast<const uint8_t*>(pkt->data.frame.buf);
    out.data.insert(out.data.end(), bytes, bytes + pkt->data.frame.sz);  // allocates only to grow
    out.keyframe = out.keyframe || (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
  }
  return {};
}

}  // namespace peer::media
