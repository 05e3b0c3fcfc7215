#include "server/http.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace peer::server {

namespace http = boost::beast::http;
namespace fs = std::filesystem;

std::string_view content_type(std::string_view path) {
  const auto dot = path.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "png") return "image/png";
  if (ext == "json") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::string resolve_static_path(const std::string& root, std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target.front() != '/') return {};
  if (target.find('\\') != std::string_view::npos || target.find('\0') != std::string_view::npos) return {};
  // Refuse ".." as a segment (also percent-encoded: we do not decode, so "%2e%2e" is
  // a literal name that cannot climb).
  for (std::size_t pos = 0; pos < target.size();) {
    auto next = target.find('/', pos + 1);
    const auto segment = target.substr(pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    if (segment == "..") return {};
    if (next == std::string_view::npos) break;
    pos = next;
  }
  std::error_code ec;
  const fs::path base = fs::canonical(root, ec);
  if (ec) return {};
  fs::path path = base / fs::path(std::string(target.substr(1)));
  if (fs::is_directory(path, ec)) path /= "index.html";
  const fs::path real = fs::canonical(path, ec);
  if (ec || !fs::is_regular_file(real, ec)) return {};
  const auto rel = real.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") return {};  // a symbolic link out of the folder
  return real.string();
}

namespace {

HttpResponse text_response(const HttpRequest& request, http::status status, std::string body,
                           std::string_view type = "text/plain; charset=utf-8") {
  HttpResponse response{status, request.version()};
  response.set(http::field::server, "peer-signal");
  response.set(http::field::content_type, boost::beast::string_view(type.data(), type.size()));
  response.keep_alive(false);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

}  // namespace

HttpResponse handle_http(const HttpRequest& request, const ServerOptions& options, const Metrics& metrics) {
  if (request.method() != http::verb::get) {
    auto r = text_response(request, http::status::method_not_allowed, "only GET\n");
    r.set(http::field::allow, "GET");
    return r;
  }
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") return text_response(request, http::status::ok, "ok\n");
  if (path == "/metrics") {
    return text_response(request, http::status::ok, metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (!options.files.empty()) {
    const auto file = options.files.find(path == "/" ? std::string_view("/index.html") : path);
    if (file != options.files.end()) {
      return text_response(request, http::status::ok, std::string(file->second), content_type(file->first));
    }
  }
  if (!options.static_dir.empty()) {
    const std::string file = resolve_static_path(options.static_dir, target);
    if (!file.empty()) {
      std::ifstream in(file, std::ios::binary);
      std::stringstream content;
      content << in.rdbuf();
      if (in) return text_response(request, http::status::ok, content.str(), content_type(file));
    }
  }
  return text_response(request, http::status::not_found, "not found\n");
}

}  // namespace peer::server
