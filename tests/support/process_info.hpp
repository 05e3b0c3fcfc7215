#pragma once
// What the tests check after teardown: threads of a given name and open sockets of this
// process, read from /proc/self.
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <string_view>

namespace peer::test {

inline int count_threads_named(const std::string& name) {
  int count = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (auto* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + entry->d_name + "/comm");
    std::string line;
    std::getline(comm, line);
    if (line == name) ++count;
  }
  closedir(dir);
  return count;
}

inline int count_socket_fds() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (auto* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char target[256] = {};
    auto path = std::string("/proc/self/fd/") + entry->d_name;
    auto n = readlink(path.c_str(), target, sizeof target - 1);
    if (n > 0 && std::string_view(target, n).starts_with("socket:")) ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace peer::test
