#pragma once
// Plain HTTP on the signaling port: GET /healthz, GET /metrics and, with --static, files.
// One request per connection (answered with "Connection: close"): these are probes and a
// demo page, not a web server.

#include <boost/beast/http.hpp>

#include "server/metrics.hpp"
#include "server/options.hpp"

namespace peer::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

HttpResponse handle_http(const HttpRequest& request, const ServerOptions& options, const Metrics& metrics);

// The file under `root` that `target` names, or an empty path when it names nothing there:
// query dropped, "/" and folders give index.html, and any ".." segment, backslash or NUL is
// refused before the file system is asked; the result must still lie under `root` once
// symbolic links are resolved.
std::string resolve_static_path(const std::string& root, std::string_view target);

std::string_view content_type(std::string_view path);

}  // namespace peer::server
