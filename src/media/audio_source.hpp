#pragma once
// Audio sources, pull-style: next(pcm) fills the caller's span of interleaved 16-bit samples.
//
// ToneGenerator: a sine (phase kept across calls, so frames join without clicks).
// WavSource: a RIFF/WAVE file of 16-bit PCM, read whole into memory when opened (the one
// allocation; a minute of 48 kHz stereo is 11 MB), looping by default.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "media/status.hpp"

namespace peer::media {

class ToneGenerator {
 public:
  // amplitude: 0..1 of full scale. Throws peer::Error(invalid_argument) for a frequency not
  // within 0..rate/2, a rate below 1, or channels not 1..8.
  explicit ToneGenerator(double frequency_hz = 440.0, int sample_rate = 48000, int channels = 1,
                         double amplitude = 0.5);
  // Fills pcm (interleaved: every channel gets the same sample); its size must be a
  // multiple of the channel count (extra samples are zeroed).
  void next(std::span<int16_t> pcm) noexcept;
  int sample_rate() const noexcept { return rate_; }
  int channels() const noexcept { return channels_; }

 private:
  double step_;       // radians per sample
  double phase_ = 0;  // radians, kept within [0, 2 pi)
  double amplitude_;
  int rate_;
  int channels_;
};

struct WavInfo {
  int sample_rate = 0;
  int channels = 0;
  std::size_t frames = 0;  // samples per channel
};

// Parses a WAV file's bytes (16-bit PCM: format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM
// subformat) into its samples (interleaved). Errors name the chunk or field at fault.
// A data chunk that claims more than the file holds is `truncated`, except the sizes
// 0 and 0xFFFFFFFF that streaming writers leave: then the samples run to the end.
Result<WavInfo> parse_wav(std::span<const uint8_t> bytes, std::vector<int16_t>& samples);
// Writes 16-bit PCM as a canonical 44-byte-header WAV file.
Status write_wav(const std::string& path, std::span<const int16_t> samples, int sample_rate,
                 int channels);

class WavSource {
 public:
  static Result<WavSource> open(const std::string& path, bool loop = true);
  const WavInfo& info() const noexcept { return info_; }
  // Fills pcm from the file (interleaved as in the file). Returns the samples written: all
  // of pcm when looping; fewer at the end of a file that does not loop (the rest of pcm is
  // zeroed), then 0.
  std::size_t next(std::span<int16_t> pcm) noexcept;

 private:
  WavSource() = default;
  WavInfo info_;
  std::vector<int16_t> samples_;
  std::size_t pos_ = 0;
  bool loop_ = true;
};

}  // namespace peer::media
