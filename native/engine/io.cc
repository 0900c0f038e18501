#include "engine/io.h"

#include <string.h>

namespace vxtun {

SysError::SysError(const std::string& what, const std::string& sys, int e)
    : std::runtime_error(what + ": " + ErrnoName(e) + " (" + strerror(e) + ")"), err(e), syscall(sys) {}

std::string ErrnoName(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "E" + std::to_string(e);
}

}  // namespace vxtun
