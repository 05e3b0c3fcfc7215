#include "media/y4m.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace peer::media {
namespace {

constexpr std::string_view kMagic = "YUV4MPEG2";
constexpr std::size_t kMaxLine = 4096;  // header and FRAME lines; real ones are < 100 bytes

// Reads up to '\n' (consumed, not stored). Returns false at end of file before any byte;
// `overlong`/`unterminated` tell why a line was cut.
bool read_line(std::FILE* f, std::string& line, bool& unterminated, bool& overlong) {
  line.clear();
  unterminated = overlong = false;
  int c = 0;
  while ((c = std::fgetc(f)) != EOF) {
    if (c == '\n') return true;
    if (line.size() == kMaxLine) {
      overlong = true;
      return true;
    }
    line.push_back(char(c));
  }
  unterminated = true;
  return !line.empty();
}

bool parse_int(std::string_view s, int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 32 && c < 127) ? c : '?';
  if (s.size() > 40) out += "...";
  return out;
}

Status parse_header(const std::string& line, const std::string& path, Y4mInfo& info) {
  std::string_view rest(line);
  if (rest.substr(0, kMagic.size()) != kMagic ||
      (rest.size() > kMagic.size() && rest[kMagic.size()] != ' ')) {
    return {ErrorCode::bad_format,
            fmt::format("{}: not a Y4M file: the first line starts with '{}', not 'YUV4MPEG2'",
                        path, printable(rest.substr(0, 12)))};
  }
  rest.remove_prefix(kMagic.size());
  bool have_w = false;
  bool have_h = false;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const auto end = rest.find(' ');
    const std::string_view tag = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    const std::string_view value = tag.substr(1);
    switch (tag.front()) {
      case 'W':
      case 'H': {
        int n = 0;
        if (!parse_int(value, n) || n < 1 || n > 16384) {
          return {ErrorCode::bad_format,
                  fmt::format("{}: Y4M header: {} tag '{}' is not a size in 1..16384", path,
                              tag.front() == 'W' ? "width" : "height", printable(tag))};
        }
        (tag.front() == 'W' ? info.width : info.height) = n;
        (tag.front() == 'W' ? have_w : have_h) = true;
        break;
      }
      case 'F': {
        const auto colon = value.find(':');
        int num = 0;
        int den = 0;
        if (colon == std::string_view::npos || !parse_int(value.substr(0, colon), num) ||
            !parse_int(value.substr(colon + 1), den) || num < 1 || den < 1) {
          return {ErrorCode::bad_format,
                  fmt::format("{}: Y4M header: frame rate tag '{}' is not F<num>:<den> with both "
                              "above 0",
                              path, printable(tag))};
        }
        info.fps_num = num;
        info.fps_den = den;
        break;
      }
      case 'C': {
        // 4:2:0 variants differ in chroma siting only; anything else has other plane sizes.
        if (value != "420jpeg" && value != "420" && value != "420paldv" && value != "420mpeg2") {
          return {ErrorCode::unsupported,
                  fmt::format("{}: Y4M header: colour space 'C{}' is not supported (only 8-bit "
                              "4:2:0: C420jpeg, C420, C420paldv, C420mpeg2)",
                              path, printable(value))};
        }
        info.colour_space = std::string(value);
        break;
      }
      default:  // I (interlacing), A (aspect), X (comments) and unknown tags: ignored
        break;
    }
  }
  if (!have_w || !have_h) {
    return {ErrorCode::bad_format,
            fmt::format("{}: Y4M header has no {} tag", path, have_w ? "H (height)" : "W (width)")};
  }
  return {};
}

}  // namespace

Result<Y4mReader> Y4mReader::open(const std::string& path) {
  Y4mReader r;
  r.path_ = path;
  r.file_.reset(std::fopen(path.c_str(), "rb"));
  if (!r.file_) {
    return Error{ErrorCode::io, fmt::format("{}: cannot open: {}", path, std::strerror(errno))};
  }
  std::string line;
  bool unterminated = false;
  bool overlong = false;
  if (!read_line(r.file_.get(), line, unterminated, overlong)) {
    return Error{ErrorCode::truncated, fmt::format("{}: empty file, no Y4M header", path)};
  }
  if (overlong || unterminated) {
    if (line.substr(0, kMagic.size()) != kMagic) {
      if (auto s = parse_header(line, path, r.info_); !s) return s;
    }
    return Error{overlong ? ErrorCode::bad_format : ErrorCode::truncated,
                 fmt::format("{}: Y4M header line {}", path,
                             overlong ? "is longer than 4096 bytes" : "has no end of line")};
  }
  if (auto s = parse_header(line, path, r.info_); !s) return s;
  r.first_frame_ = std::ftell(r.file_.get());
  return r;
}

Status Y4mReader::rewind() {
  if (std::fseek(file_.get(), first_frame_, SEEK_SET) != 0) {
    return {ErrorCode::io, fmt::format("{}: cannot seek back: {}", path_, std::strerror(errno))};
  }
  index_ = 0;
  return {};
}

Status Y4mReader::read(VideoFrame& frame) {
  std::FILE* f = file_.get();
  // The FRAME line, read without a std::string (no allocation per frame).
  char marker[5];
  const std::size_t got = std::fread(marker, 1, sizeof marker, f);
  if (got == 0 && std::feof(f)) {
    return {ErrorCode::end_of_stream, fmt::format("{}: end after {} frames", path_, index_)};
  }
  if (got < sizeof marker) {
    return {ErrorCode::truncated,
            fmt::format("{}: frame {}: the file ends inside the FRAME marker", path_, index_)};
  }
  if (std::memcmp(marker, "FRAME", 5) != 0) {
    return {ErrorCode::bad_format,
            fmt::format("{}: frame {}: expected 'FRAME', found '{}'", path_, index_,
                        printable(std::string_view(marker, 5)))};
  }
  // Frame parameters (rare) up to the newline are skipped.
  int c = 0;
  std::size_t skipped = 0;
  while ((c = std::fgetc(f)) != '\n') {
    if (c == EOF) {
      return {ErrorCode::truncated,
              fmt::format("{}: frame {}: the FRAME line has no end of line", path_, index_)};
    }
    if (skipped++ == 0 && c != ' ') {
      return {ErrorCode::bad_format,
              fmt::format("{}: frame {}: 'FRAME' is followed by byte {}, not a space or end of line",
                          path_, index_, c)};
    }
    if (skipped > kMaxLine) {
      return {ErrorCode::bad_format,
              fmt::format("{}: frame {}: the FRAME line is longer than 4096 bytes", path_, index_)};
    }
  }
  frame.resize(info_.width, info_.height);
  static constexpr const char* kPlaneName[3] = {"Y", "U", "V"};
  for (int p = 0; p < 3; ++p) {
    const auto w = std::size_t(frame.plane_width(p));
    for (int y = 0; y < frame.plane_height(p); ++y) {
      if (std::fread(frame.row(p, y), 1, w, f) != w) {
        return {ErrorCode::truncated,
                fmt::format("{}: frame {}: the file ends in the {} plane, row {} of {}", path_,
                            index_, kPlaneName[p], y, frame.plane_height(p))};
      }
    }
  }
  frame.timestamp_us = index_ * 1000000 * info_.fps_den / info_.fps_num;
  ++index_;
  return {};
}

Result<Y4mWriter> Y4mWriter::open(const std::string& path, int width, int height, int fps_num,
                                  int fps_den) {
  if (width < 1 || height < 1 || fps_num < 1 || fps_den < 1) {
    return Error{ErrorCode::invalid_argument,
                 fmt::format("{}: Y4M size {}x{} and rate {}:{} must all be above 0", path, width,
                             height, fps_num, fps_den)};
  }
  Y4mWriter w;
  w.path_ = path;
  w.width_ = width;
  w.height_ = height;
  w.file_.reset(std::fopen(path.c_str(), "wb"));
  if (!w.file_) {
    return Error{ErrorCode::io, fmt::format("{}: cannot create: {}", path, std::strerror(errno))};
  }
  if (std::fprintf(w.file_.get(), "YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 C420jpeg\n", width, height,
                   fps_num, fps_den) < 0) {
    return Error{ErrorCode::io, fmt::format("{}: cannot write: {}", path, std::strerror(errno))};
  }
  return w;
}

Status Y4mWriter::write(const VideoFrame& frame) {
  if (!file_) return {ErrorCode::invalid_argument, fmt::format("{}: writer is closed", path_)};
  if (frame.width() != width_ || frame.height() != height_) {
    return {ErrorCode::invalid_argument,
            fmt::format("{}: frame is {}x{}, the file is {}x{}", path_, frame.width(),
                        frame.height(), width_, height_)};
  }
  std::FILE* f = file_.get();
  bool ok = std::fwrite("FRAME\n", 1, 6, f) == 6;
  for (int p = 0; p < 3 && ok; ++p) {
    const auto w = std::size_t(frame.plane_width(p));
    for (int y = 0; y < frame.plane_height(p) && ok; ++y) ok = std::fwrite(frame.row(p, y), 1, w, f) == w;
  }
  if (!ok) return {ErrorCode::io, fmt::format("{}: cannot write: {}", path_, std::strerror(errno))};
  return {};
}

Status Y4mWriter::close() {
  if (!file_) return {};
  std::FILE* f = file_.release();
  if (std::fclose(f) != 0) {
    return {ErrorCode::io, fmt::format("{}: cannot finish writing: {}", path_, std::strerror(errno))};
  }
  return {};
}

Result<Y4mSource> Y4mSource::open(const std::string& path) {
  auto reader = Y4mReader::open(path);
  if (!reader) return reader.error();
  return Y4mSource(std::move(reader).value());
}

Status Y4mSource::next(VideoFrame& frame) {
  auto s = reader_.read(frame);
  if (s.code() == ErrorCode::end_of_stream && !s.ok()) {
    if (reader_.frame_index() == 0) {
      return {ErrorCode::end_of_stream, s.message() + ": the file holds no frame to loop"};
    }
    if (auto r = reader_.rewind(); !r) return r;
    s = reader_.read(frame);
  }
  if (!s) return s;
  const auto& info = reader_.info();
  frame.timestamp_us = produced_ * 1000000 * info.fps_den / info.fps_num;
  ++produced_;
  return {};
}

Result<Y4mInfo> parse_y4m_header(const std::string& line) {
  Y4mInfo info;
  if (auto s = parse_header(line, "(header)", info); !s) return s.error();
  return info;
}

}  // namespace peer::media
