#include "media/audio_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numbers>

#include "peer/error.hpp"

namespace peer::media {

ToneGenerator::ToneGenerator(double frequency_hz, int sample_rate, int channels, double amplitude)
    : step_(2 * std::numbers::pi * frequency_hz / std::max(sample_rate, 1)),
      amplitude_(std::clamp(amplitude, 0.0, 1.0)),
      rate_(sample_rate),
      channels_(channels) {
  if (sample_rate < 1 || channels < 1 || channels > 8 || !(frequency_hz >= 0) ||
      frequency_hz > sample_rate / 2.0) {
    throw peer::Error(Errc::invalid_argument,
                      fmt::format("ToneGenerator: {} Hz at {} Hz, {} channels: the frequency must "
                                  "be within 0..rate/2, channels 1..8",
                                  frequency_hz, sample_rate, channels));
  }
}

void ToneGenerator::next(std::span<int16_t> pcm) noexcept {
  const std::size_t frames = pcm.size() / std::size_t(channels_);
  const double scale = 32767.0 * amplitude_;
  for (std::size_t i = 0; i < frames; ++i) {
    const auto s = int16_t(std::lround(scale * std::sin(phase_)));
    for (int c = 0; c < channels_; ++c) pcm[i * std::size_t(channels_) + std::size_t(c)] = s;
    phase_ += step_;
    if (phase_ >= 2 * std::numbers::pi) phase_ -= 2 * std::numbers::pi;
  }
  std::fill(pcm.begin() + std::ptrdiff_t(frames * std::size_t(channels_)), pcm.end(), int16_t{0});
}

namespace {

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
std::string fourcc(const uint8_t* p) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += (p[i] >= 32 && p[i] < 127) ? char(p[i]) : '?';
  return s;
}

Error wav_error(ErrorCode code, std::string message) { return {code, "WAV: " + std::move(message)}; }

}  // namespace

// RIFF layout (little-endian):
//   "RIFF" size:u32 "WAVE" then chunks: id:4 size:u32 body (padded to even)
//   "fmt ": format:u16 channels:u16 rate:u32 byte_rate:u32 block_align:u16 bits:u16
//           [cb_size:u16 valid_bits:u16 channel_mask:u32 subformat:GUID (format 0xFFFE)]
//   "data": the samples, interleaved
Result<WavInfo> parse_wav(std::span<const uint8_t> bytes, std::vector<int16_t>& samples) {
  const uint8_t* b = bytes.data();
  const std::size_t n = bytes.size();
  if (n < 12) return wav_error(ErrorCode::truncated, fmt::format("{} bytes cannot hold the 12-byte RIFF header", n));
  if (std::memcmp(b, "RIFF", 4) != 0 || std::memcmp(b + 8, "WAVE", 4) != 0) {
    return wav_error(ErrorCode::bad_format, fmt::format("not a RIFF/WAVE file (starts '{}', type '{}')",
                                                        fourcc(b), fourcc(b + 8)));
  }
  WavInfo info;
  bool have_fmt = false;
  std::size_t pos = 12;
  while (true) {
    if (pos + 8 > n) {
      return wav_error(have_fmt ? ErrorCode::truncated : ErrorCode::bad_format,
                       have_fmt ? "the file ends before a data chunk" : "no fmt chunk before the end");
    }
    const std::string id = fourcc(b + pos);
    const uint32_t size = le32(b + pos + 4);
    const std::size_t body = pos + 8;
    if (id == "fmt ") {
      if (size < 16 || body + 16 > n) {
        return wav_error(ErrorCode::truncated, fmt::format("fmt chunk of {} bytes at offset {} (16 needed, {} in the file)",
                                                           size, pos, n - body));
      }
      uint16_t format = le16(b + body);
      const uint16_t channels = le16(b + body + 2);
      const uint32_t rate = le32(b + body + 4);
      const uint16_t bits = le16(b + body + 14);
      if (format == 0xFFFE && size >= 40 && body + 40 <= n) format = le16(b + body + 24);  // subformat GUID's first two bytes
      if (format != 1) {
        return wav_error(ErrorCode::unsupported,
                         fmt::format("format {}{} is not PCM: only 16-bit PCM is read", format,
                                     format == 3 ? " (IEEE float)" : ""));
      }
      if (bits != 16) return wav_error(ErrorCode::unsupported, fmt::format("{} bits per sample: only 16-bit PCM is read", bits));
      if (channels < 1 || channels > 8) return wav_error(ErrorCode::bad_format, fmt::format("{} channels (1..8 read)", channels));
      if (rate < 1000 || rate > 384000) return wav_error(ErrorCode::bad_format, fmt::format("sample rate {} Hz", rate));
      info.channels = channels;
      info.sample_rate = int(rate);
      have_fmt = true;
    } else if (id == "data") {
      if (!have_fmt) return wav_error(ErrorCode::bad_format, "the data chunk comes before the fmt chunk");
      std::size_t len = size;
      if (size == 0 || size == 0xFFFFFFFF) {
        len = n - body;  // a streaming writer never went back to fill in the size
      } else if (body + len > n) {
        return wav_error(ErrorCode::truncated,
                         fmt::format("the data chunk says {} bytes, the file holds {} after its header", size, n - body));
      }
      const std::size_t frame_bytes = 2 * std::size_t(info.channels);
      info.frames = len / frame_bytes;
      samples.resize(info.frames * std::size_t(info.channels));
      for (std::size_t i = 0; i < samples.size(); ++i) samples[i] = int16_t(le16(b + body + 2 * i));
      return info;
    }
    pos = body + size + (size & 1);  // chunks are padded to an even length
  }
}

Status write_wav(const std::string& path, std::span<const int16_t> samples, int sample_rate, int channels) {
  if (sample_rate < 1 || channels < 1 || channels > 8 || samples.size() % std::size_t(channels) != 0 ||
      samples.size() * 2 > 0xFFFFFFFFu - 36) {
    return {ErrorCode::invalid_argument, fmt::format("{}: {} samples at {} Hz, {} channels cannot be a WAV file",
                                                     path, samples.size(), sample_rate, channels)};
  }
  std::vector<uint8_t> out(44 + samples.size() * 2);
  const auto put16 = [&](std::size_t at, uint32_t v) { out[at] = uint8_t(v); out[at + 1] = uint8_t(v >> 8); };
  const auto put32 = [&](std::size_t at, uint32_t v) { put16(at, v & 0xFFFF); put16(at + 2, v >> 16); };
  const auto data_bytes = uint32_t(samples.size() * 2);
  std::memcpy(out.data(), "RIFF", 4);
  put32(4, 36 + data_bytes);
  std::memcpy(out.data() + 8, "WAVEfmt ", 8);
  put32(16, 16);
  put16(20, 1);
  put16(22, uint32_t(channels));
  put32(24, uint32_t(sample_rate));
  put32(28, uint32_t(sample_rate * channels * 2));
  put16(32, uint32_t(channels * 2));
  put16(34, 16);
  std::memcpy(out.data() + 36, "data", 4);
  put32(40, data_bytes);
  for (std::size_t i = 0; i < samples.size(); ++i) put16(44 + 2 * i, uint16_t(samples[i]));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return {ErrorCode::io, fmt::format("{}: cannot create: {}", path, std::strerror(errno))};
  if (std::fwrite(out.data(), 1, out.size(), f.get()) != out.size() || std::fclose(f.release()) != 0) {
    return {ErrorCode::io, fmt::format("{}: cannot write: {}", path, std::strerror(errno))};
  }
  return {};
}

Result<WavSource> WavSource::open(const std::string& path, bool loop) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Error{ErrorCode::io, fmt::format("{}: cannot open: {}", path, std::strerror(errno))};
  std::vector<uint8_t> bytes;
  uint8_t chunk[65536];
  std::size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
  if (std::ferror(f.get())) return Error{ErrorCode::io, fmt::format("{}: cannot read: {}", path, std::strerror(errno))};
  WavSource s;
  auto info = parse_wav(bytes, s.samples_);
  if (!info) return Error{info.code(), path + ": " + info.message()};
  s.info_ = *info;
  s.loop_ = loop;
  return s;
}

std::size_t WavSource::next(std::span<int16_t> pcm) noexcept {
  std::size_t written = 0;
  while (written < pcm.size()) {
    if (pos_ == samples_.size()) {
      if (!loop_ || samples_.empty()) break;
      pos_ = 0;
    }
    const std::size_t take = std::min(pcm.size() - written, samples_.size() - pos_);
    std::memcpy(pcm.data() + written, samples_.data() + pos_, take * sizeof(int16_t));
    written += take;
    pos_ += take;
  }
  std::fill(pcm.begin() + std::ptrdiff_t(written), pcm.end(), int16_t{0});
  return written;
}

}  // namespace peer::media
