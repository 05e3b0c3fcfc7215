#pragma once
// YUV4MPEG2 (.y4m) files: a header line, then "FRAME" lines each followed by one raw
// picture. Only 8-bit 4:2:0 is read and written (C420jpeg, C420, C420paldv, C420mpeg2 differ
// only in chroma siting, which we do not resample; a missing C tag means 4:2:0 too).
//
//   YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n
//   FRAME\n <Y: W*H bytes> <U: ceil(W/2)*ceil(H/2)> <V: same>
//   FRAME\n ...
//
// Reading errors name what was wrong and where (the header tag, the frame index). The
// reader and writer keep one FILE each and allocate only when opened; reading or writing a
// frame allocates nothing (a frame of another size is resized once).

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "media/status.hpp"
#include "media/video_frame.hpp"

namespace peer::media {

struct Y4mInfo {
  int width = 0;
  int height = 0;
  int fps_num = 30;  // F tag; 30:1 when absent
  int fps_den = 1;
  std::string colour_space = "420jpeg";  // the C tag's value as written in the file
};

namespace detail {
struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;
}  // namespace detail

// Parses a YUV4MPEG2 stream header line (without its '\n'); Y4mReader::open uses it. Errors
// name the bad parameter.
Result<Y4mInfo> parse_y4m_header(const std::string& line);

class Y4mReader {
 public:
  // Opens the file and parses its header.
  static Result<Y4mReader> open(const std::string& path);

  const Y4mInfo& info() const noexcept { return info_; }
  // Reads the next frame into `frame` (resized to the file's size). Its timestamp is
  // frame_index * fps_den / fps_num seconds. end_of_stream when the file ends cleanly
  // between frames; truncated or bad_format otherwise.
  Status read(VideoFrame& frame);
  // Goes back to the first frame.
  Status rewind();
  // Frames read since open() or rewind().
  int64_t frame_index() const noexcept { return index_; }

 private:
  Y4mReader() = default;
  detail::File file_;
  std::string path_;
  Y4mInfo info_;
  long first_frame_ = 0;  // file offset of the first "FRAME"
  int64_t index_ = 0;
};

class Y4mWriter {
 public:
  // Creates (truncates) the file and writes the header: C420jpeg, progressive, square pixels.
  static Result<Y4mWriter> open(const std::string& path, int width, int height, int fps_num = 30,
                                int fps_den = 1);
  // Appends one frame; it must have the size given to open().
  Status write(const VideoFrame& frame);
  // Flushes and closes; errors of the last writes show here (the destructor ignores them).
  Status close();

 private:
  Y4mWriter() = default;
  detail::File file_;
  std::string path_;
  int width_ = 0;
  int height_ = 0;
};

// A looping Y4M file as a pull source: next() gives the file's frames in order and starts
// again after the last one; timestamps keep rising across loops.
class Y4mSource {
 public:
  static Result<Y4mSource> open(const std::string& path);
  const Y4mInfo& info() const noexcept { return reader_.info(); }
  Status next(VideoFrame& frame);

 private:
  explicit Y4mSource(Y4mReader reader) : reader_(std::move(reader)) {}
  Y4mReader reader_;
  int64_t produced_ = 0;
};

}  // namespace peer::media
