// libFuzzer target for the media file parsers of peer_media: a WAV file (parse_wav: RIFF
// WAVE chunks, 16-bit PCM) when the input starts with "RIFF", else a Y4M stream header line
// (parse_y4m_header). Both must fail with a named error or succeed with sane
// values; neither may read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "media/audio_source.hpp"
#include "media/y4m.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  if (size >= 4 && data[0] == 'R' && data[1] == 'I' && data[2] == 'F' && data[3] == 'F') {
    std::vector<int16_t> samples;
    auto info = peer::media::parse_wav(bytes, samples);
    if (info.ok() && (info->channels < 1 || info->sample_rate <= 0)) std::abort();
    if (!info.ok() && info.message().empty()) std::abort();
    return 0;
  }
  const std::string line(reinterpret_cast<const char*>(data), size);
  auto header = peer::media::parse_y4m_header(line);
  if (header.ok() && (header->width <= 0 || header->height <= 0)) std::abort();
  if (!header.ok() && header.message().empty()) std::abort();
  return 0;
}
