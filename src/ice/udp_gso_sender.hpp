#pragma once
// Sends a batch of datagrams over the selected UDP pair with UDP generic segmentation
// offload (UDP_SEGMENT, Linux 4.18+): a run of equal-sized datagrams leaves in one sendmsg
// as one large buffer and the kernel cuts it into datagrams, so the per-datagram cost of
// the socket layer is paid once per run. docs/performance.md lever 6: the data path went from
// 219 to 347 MB/s with it. libnice has no such send, so this writes to the socket libnice
// selected, with the address libnice would use; libnice keeps receiving on it and keeps
// sending its own STUN (consent, keepalives) on it.
//
// Only for host, server-reflexive and peer-reflexive UDP pairs: TURN needs its framing
// (ChannelData / Send indications) and TCP its own, so those detach().

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

typedef struct _GSocket GSocket;

namespace peer::ice {

class UdpGsoSender {
 public:
  UdpGsoSender() = default;
  ~UdpGsoSender();
  UdpGsoSender(const UdpGsoSender&) = delete;
  UdpGsoSender& operator=(const UdpGsoSender&) = delete;

  // Sends to `remote` (a sockaddr_in or sockaddr_in6 of `remote_length` bytes) through
  // `socket` from now on; takes a reference on the socket. Replaces an earlier attach.
  void attach(GSocket* socket, const sockaddr* remote, socklen_t remote_length);
  // The same on a plain descriptor the caller owns and keeps open while attached (our own
  // agent's sockets, agent_transport.cpp).
  void attach_fd(int fd, const sockaddr* remote, socklen_t remote_length);
  void detach();
  bool active() const noexcept { return (socket_ != nullptr || fd_ >= 0) && !refused_; }

  // Sends the datagrams in order and returns how many left (a prefix of the batch): fewer
  // when the socket buffer is full. Returns 0 and turns inactive for good when the kernel
  // refuses UDP_SEGMENT (no support, or no checksum offload on the route): the caller then
  // sends through libnice.
  std::size_t send(std::span<const std::span<const std::byte>> datagrams);

 private:
  GSocket* socket_ = nullptr;
  int fd_ = -1;  // attach_fd: not owned
  sockaddr_storage remote_{};
  socklen_t remote_length_ = 0;
  bool refused_ = false;
  // Scratch reused between calls: no allocation per batch once grown.
  std::vector<iovec> iov_;
  std::vector<mmsghdr> messages_;
  std::vector<std::size_t> datagrams_in_message_;
  std::vector<std::byte> control_;
};

}  // namespace peer::ice
