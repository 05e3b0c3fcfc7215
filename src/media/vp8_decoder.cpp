#include "media/vp8_decoder.hpp"

#include <fmt/format.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>

#include <cstring>

#include "peer/error.hpp"

namespace peer::media {

bool vp8_is_keyframe(std::span<const uint8_t> frame) noexcept {
  return frame.size() >= 10 && (frame[0] & 0x01) == 0 && frame[3] == 0x9d && frame[4] == 0x01 &&
         frame[5] == 0x2a;
}

struct Vp8Decoder::Impl {
  vpx_codec_ctx_t ctx{};
  bool need_keyframe = true;
  int64_t frames = 0;
  ~Impl() { vpx_codec_destroy(&ctx); }
};

Vp8Decoder::Vp8Decoder(int threads) : impl_(std::make_unique<Impl>()) {
  if (threads < 1 || threads > 2) {
    throw peer::Error(Errc::invalid_argument, fmt::format("Vp8Decoder: threads {} is not 1 or 2", threads));
  }
  vpx_codec_dec_cfg_t cfg{};
  cfg.threads = unsigned(threads);
  if (vpx_codec_dec_init(&impl_->ctx, vpx_codec_vp8_dx(), &cfg, 0) != VPX_CODEC_OK) {
    throw peer::Error(Errc::internal,
                      std::string("Vp8Decoder: libvpx init failed: ") + vpx_codec_error(&impl_->ctx));
  }
}

Vp8Decoder::~Vp8Decoder() = default;
Vp8Decoder::Vp8Decoder(Vp8Decoder&&) noexcept = default;
Vp8Decoder& Vp8Decoder::operator=(Vp8Decoder&&) noexcept = default;

bool Vp8Decoder::needs_keyframe() const noexcept { return impl_->need_keyframe; }
int64_t Vp8Decoder::frames_decoded() const noexcept { return impl_->frames; }

Status Vp8Decoder::decode(std::span<const uint8_t> data, int64_t timestamp_us, VideoFrame& out) {
  Impl& s = *impl_;
  if (data.size() < 3) {
    s.need_keyframe = true;
    return {ErrorCode::corrupt,
            fmt::format("VP8: {} bytes cannot hold a frame tag (3 bytes, RFC 6386 section 9.1)",
                        data.size())};
  }
  const bool key = vp8_is_keyframe(data);
  if (!key && s.need_keyframe) {
    return {ErrorCode::need_keyframe,
            s.frames == 0 ? "VP8: a delta frame before any keyframe: request one (PLI)"
                          : "VP8: a delta frame after a damaged one: request a keyframe (PLI)"};
  }
  if (vpx_codec_decode(&s.ctx, data.data(), unsigned(data.size()), nullptr, 0) != VPX_CODEC_OK) {
    s.need_keyframe = true;
    const char* detail = vpx_codec_error_detail(&s.ctx);
    return {ErrorCode::corrupt, fmt::format("VP8: undecodable {} frame of {} bytes: {}{}{}",
                                            key ? "key" : "delta", data.size(),
                                            vpx_codec_error(&s.ctx), detail ? ": " : "",
                                            detail ? detail : "")};
  }
  // libvpx conceals what a short frame lacks and says so only here (RFC 6386 section 9.11
  // leaves a partial frame to the decoder); a damaged picture is not shown.
  int corrupted = 0;
  if (vpx_codec_control(&s.ctx, VP8D_GET_FRAME_CORRUPTED, &corrupted) == VPX_CODEC_OK && corrupted) {
    s.need_keyframe = true;
    vpx_codec_iter_t iter = nullptr;
    while (vpx_codec_get_frame(&s.ctx, &iter) != nullptr) {
    }
    return {ErrorCode::corrupt,
            fmt::format("VP8: {} frame of {} bytes decoded damaged (truncated or lost partition)",
                        key ? "key" : "delta", data.size())};
  }
  vpx_codec_iter_t iter = nullptr;
  const vpx_image_t* img = vpx_codec_get_frame(&s.ctx, &iter);
  if (img == nullptr) {
    // VP8 frames with show_frame = 0 (an encoder's alt-ref) update references only.
    return {ErrorCode::no_picture, "VP8: the frame updates references only (show_frame = 0)"};
  }
  if (img->fmt != VPX_IMG_FMT_I420) {
    s.need_keyframe = true;
    return {ErrorCode::corrupt, fmt::format("VP8: decoded image format {} is not I420", int(img->fmt))};
  }
  out.resize(int(img->d_w), int(img->d_h));  // allocates only when `out` is smaller
  for (int p = 0; p < 3; ++p) {
    const auto w = std::size_t(out.plane_width(p));
    for (int y = 0; y < out.plane_height(p); ++y) {
      std::memcpy(out.row(p, y), img->planes[p] + std::ptrdiff_t(y) * img->stride[p], w);
    }
  }
  out.timestamp_us = timestamp_us;
  if (key) s.need_keyframe = false;
  ++s.frames;
  return {};
}

}  // namespace peer::media
