#include "core/underlay_addr.h"

#include <arpa/inet.h>

namespace vxtun {

bool UnderlayAddr::Parse(const std::string& s, UnderlayAddr* out) {
  uint8_t b[16];
  if (inet_pton(AF_INET, s.c_str(), b) == 1) {
    *out = V4(b);
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), b) == 1) {
    *out = V6(b);
    return true;
  }
  return false;
}

std::string UnderlayAddr::ToString() const {
  if (family == 0) return "none";
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
  return text;
}

}  // namespace vxtun
