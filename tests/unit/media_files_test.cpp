// Y4M and WAV files: write then read round trips, the looping sources, and errors that name
// what was wrong (bad headers, truncated frames and chunks). Lives in the unit_media binary.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>
#include <iterator>
#include <string>
#include <vector>

#include "media/audio_source.hpp"
#include "media/test_pattern.hpp"
#include "media/y4m.hpp"

namespace peer::media {
namespace {

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "peer_media_" + std::to_string(::getpid()) + "_" + name;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

bool same_picture(const VideoFrame& a, const VideoFrame& b) {
  if (a.width() != b.width() || a.height() != b.height()) return false;
  for (int p = 0; p < 3; ++p) {
    for (int y = 0; y < a.plane_height(p); ++y) {
      if (std::memcmp(a.row(p, y), b.row(p, y), std::size_t(a.plane_width(p))) != 0) return false;
    }
  }
  return true;
}

TEST(Y4m, WriteThenReadRoundTrips) {
  const std::string path = temp_path("rt.y4m");
  TestPattern pattern(322, 242, 25);  // odd chroma sizes: 161 x 121
  std::vector<VideoFrame> written;
  {
    auto w = Y4mWriter::open(path, 322, 242, 25, 1);
    ASSERT_TRUE(w) << w.message();
    for (int i = 0; i < 3; ++i) {
      written.emplace_back();
      pattern.next(written.back());
      ASSERT_TRUE(w->write(written.back()));
    }
    VideoFrame wrong(64, 64);
    EXPECT_EQ(w->write(wrong).code(), ErrorCode::invalid_argument);
    ASSERT_TRUE(w->close());
  }
  const std::string bytes = read_all(path);
  EXPECT_EQ(bytes.rfind("YUV4MPEG2 W322 H242 F25:1 Ip A1:1 C420jpeg\nFRAME\n", 0), 0u);
  const std::size_t picture = 322 * 242 + 2 * 161 * 121;
  EXPECT_EQ(bytes.size(), 43 + 3 * (6 + picture));

  auto r = Y4mReader::open(path);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->info().width, 322);
  EXPECT_EQ(r->info().height, 242);
  EXPECT_EQ(r->info().fps_num, 25);
  EXPECT_EQ(r->info().colour_space, "420jpeg");
  VideoFrame frame;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(r->read(frame)) << i;
    EXPECT_TRUE(same_picture(frame, written[std::size_t(i)])) << i;
    EXPECT_EQ(frame.timestamp_us, i * 40000);
    EXPECT_EQ(read_frame_number(frame), uint32_t(i));
  }
  const auto end = r->read(frame);
  EXPECT_EQ(end.code(), ErrorCode::end_of_stream);

  // The source loops, and its timestamps keep rising.
  auto source = Y4mSource::open(path);
  ASSERT_TRUE(source);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(source->next(frame)) << i;
    EXPECT_EQ(read_frame_number(frame), uint32_t(i % 3)) << i;
    EXPECT_EQ(frame.timestamp_us, i * 40000);
  }
  std::remove(path.c_str());
}

TEST(Y4m, ReadsC420AndFrameParameters) {
  const std::string path = temp_path("c420.y4m");
  std::string file = "YUV4MPEG2 H2 W4 C420 XYSCSS=420 F30000:1001\nFRAME Ixyz\n";
  file += std::string(8, 'y') + "uuvv";  // Y 4x2, U and V 2x1
  write_all(path, file);
  auto r = Y4mReader::open(path);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->info().colour_space, "420");
  EXPECT_EQ(r->info().fps_den, 1001);
  VideoFrame frame;
  ASSERT_TRUE(r->read(frame));
  EXPECT_EQ(frame.width(), 4);
  EXPECT_EQ(frame.row(VideoFrame::kY, 1)[3], 'y');
  EXPECT_EQ(frame.row(VideoFrame::kU, 0)[1], 'u');
  EXPECT_EQ(frame.row(VideoFrame::kV, 0)[1], 'v');
  std::remove(path.c_str());
}

// Each bad file gives the expected code and a message naming the fault.
TEST(Y4m, ErrorsNameTheFault) {
  struct Case {
    std::string bytes;
    bool fails_on_open;
    ErrorCode code;
    std::string says;
  };
  const std::string ok_header = "YUV4MPEG2 W4 H2 F30:1 C420jpeg\n";
  const std::vector<Case> cases = {
      {"", true, ErrorCode::truncated, "empty file"},
      {"RIFF1234WAVE\n", true, ErrorCode::bad_format, "not a Y4M file"},
      {"YUV4MPEG2 W4 F30:1\n", true, ErrorCode::bad_format, "no H (height) tag"},
      {"YUV4MPEG2 W0 H2\n", true, ErrorCode::bad_format, "width tag 'W0'"},
      {"YUV4MPEG2 W4 H2 Fx\n", true, ErrorCode::bad_format, "frame rate tag 'Fx'"},
      {"YUV4MPEG2 W4 H2 C444\n", true, ErrorCode::unsupported, "colour space 'C444'"},
      {"YUV4MPEG2 W4 H2", true, ErrorCode::truncated, "no end of line"},
      {ok_header + "FRAMX\n", false, ErrorCode::bad_format, "expected 'FRAME', found 'FRAMX'"},
      {ok_header + "FRA", false, ErrorCode::truncated, "inside the FRAME marker"},
      {ok_header + "FRAME\n" + std::string(5, 'y'), false, ErrorCode::truncated,
       "frame 0: the file ends in the Y plane, row 1 of 2"},
      {ok_header + "FRAME\n" + std::string(11, 'y'), false, ErrorCode::truncated, "in the V plane"},
      {ok_header + "FRAMES\n", false, ErrorCode::bad_format, "not a space"},
  };
  const std::string path = temp_path("bad.y4m");
  for (const auto& c : cases) {
    write_all(path, c.bytes);
    auto r = Y4mReader::open(path);
    Status s;
    if (c.fails_on_open) {
      ASSERT_FALSE(r) << c.says;
      s = r.status();
    } else {
      ASSERT_TRUE(r) << c.says << ": " << r.message();
      VideoFrame frame;
      s = r->read(frame);
      ASSERT_FALSE(s) << c.says;
    }
    EXPECT_EQ(s.code(), c.code) << c.says << ": " << s.message();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  }
  std::remove(path.c_str());
  const auto missing = Y4mReader::open(temp_path("missing.y4m"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.code(), ErrorCode::io);
  EXPECT_NE(missing.message().find("No such file"), std::string::npos) << missing.message();
}

TEST(Wav, GeneratedFileParses) {
  const std::string path = temp_path("tone.wav");
  ToneGenerator tone(440, 48000, 2, 0.25);
  std::vector<int16_t> pcm(2 * 4800);
  tone.next(pcm);
  ASSERT_TRUE(write_wav(path, pcm, 48000, 2));
  const std::string bytes = read_all(path);
  ASSERT_EQ(bytes.size(), 44 + pcm.size() * 2);

  std::vector<int16_t> samples;
  const auto info = parse_wav(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), samples);
  ASSERT_TRUE(info) << info.message();
  EXPECT_EQ(info->sample_rate, 48000);
  EXPECT_EQ(info->channels, 2);
  EXPECT_EQ(info->frames, 4800u);
  EXPECT_EQ(samples, pcm);

  // The source loops; without looping it ends with a short read and zeros.
  auto looping = WavSource::open(path);
  ASSERT_TRUE(looping) << looping.message();
  std::vector<int16_t> out(2 * 3000);
  EXPECT_EQ(looping->next(out), out.size());
  EXPECT_EQ(looping->next(out), out.size());  // wraps after 4800 frames
  EXPECT_EQ(out[2 * 1800], pcm[0]);
  auto once = WavSource::open(path, false);
  ASSERT_TRUE(once);
  EXPECT_EQ(once->next(out), out.size());
  EXPECT_EQ(once->next(out), 2u * 1800);
  EXPECT_EQ(out.back(), 0);
  EXPECT_EQ(once->next(out), 0u);
  std::remove(path.c_str());
}

TEST(Wav, TruncatedAndBadFilesAreNamed) {
  const std::string path = temp_path("cut.wav");
  std::vector<int16_t> pcm(1000, 7);
  ASSERT_TRUE(write_wav(path, pcm, 16000, 1));
  const std::string full = read_all(path);
  std::vector<int16_t> samples;
  const auto parse = [&](const std::string& b) {
    return parse_wav(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()), samples);
  };
  const auto cut = parse(full.substr(0, 44 + 1000));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.code(), ErrorCode::truncated);
  EXPECT_NE(cut.message().find("data chunk says 2000 bytes, the file holds 1000"), std::string::npos)
      << cut.message();
  EXPECT_EQ(parse(full.substr(0, 30)).code(), ErrorCode::truncated);  // inside fmt
  EXPECT_EQ(parse(full.substr(0, 8)).code(), ErrorCode::truncated);
  EXPECT_EQ(parse(full.substr(0, 36)).code(), ErrorCode::truncated);  // no data chunk
  // Streaming writers leave the size 0: the samples run to the end.
  std::string streamed = full;
  streamed[40] = streamed[41] = streamed[42] = streamed[43] = 0;
  const auto s = parse(streamed.substr(0, 44 + 600));
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(s->frames, 300u);

  std::string not_riff = full;
  not_riff[0] = 'X';
  const auto nr = parse(not_riff);
  EXPECT_EQ(nr.code(), ErrorCode::bad_format);
  EXPECT_NE(nr.message().find("not a RIFF/WAVE file (starts 'XIFF'"), std::string::npos) << nr.message();
  std::string float_wav = full;
  float_wav[20] = 3;
  const auto fl = parse(float_wav);
  EXPECT_EQ(fl.code(), ErrorCode::unsupported);
  EXPECT_NE(fl.message().find("IEEE float"), std::string::npos) << fl.message();
  std::string eight_bit = full;
  eight_bit[34] = 8;
  EXPECT_NE(parse(eight_bit).message().find("8 bits per sample"), std::string::npos);
  // An unknown chunk before data is skipped (odd size: padded).
  std::string with_list = full.substr(0, 36) + std::string("LIST\x03\0\0\0abc\0", 12) + full.substr(36);
  const auto wl = parse(with_list);
  ASSERT_TRUE(wl) << wl.message();
  EXPECT_EQ(wl->frames, 1000u);

  write_all(path, full.substr(0, 44 + 1000));
  const auto src = WavSource::open(path);
  ASSERT_FALSE(src);
  EXPECT_EQ(src.code(), ErrorCode::truncated);
  EXPECT_EQ(src.message().rfind(path + ": WAV: ", 0), 0u) << src.message();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace peer::media
