#pragma once

// What every real-server fixture in tests/support/servers/ shares: finding the server's
// program (installing its Debian package through packaging/install-deps.sh when it is
// missing, never skipping) and waiting for a port to accept connections.

#include <chrono>
#include <string>
#include <vector>

namespace busway::testing {

// The absolute path of the first of `candidates` that exists (an absolute path is taken as
// it is, a bare name is searched in PATH). When none exists, runs
// `packaging/install-deps.sh --group GROUP` once and looks again. Throws std::runtime_error
// naming the program and the group when it is still missing: a test fails, it never skips.
std::string requireProgram(const std::vector<std::string>& candidates,
                           const std::string& install_group);

// True once a TCP connection to 127.0.0.1:port succeeds, false after `timeout`.
bool waitForPort(int port, std::chrono::milliseconds timeout);

}  // namespace busway::testing
