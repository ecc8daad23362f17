#pragma once

// What the http plugin's integration tests share: a bus running a routing table, curl as
// a real client, raw bytes over a socket, and a tiny Python HTTP peer.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "servers/server_support.hpp"

namespace busway::testing::http {

inline const std::string kBusway = BUSWAY_EXE;

inline std::string table(const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<routes xmlns=\"urn:busway:routes:1\" version=\"1\">\n" +
         body + "\n</routes>\n";
}

inline std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A bus running `routes` (a table body) until destroyed.
class Bus {
 public:
  Bus(const TempDir& dir, const std::string& name, const std::string& routes,
      const std::map<std::string, std::string>& env = {}) {
    const std::string file = dir.write(name + ".xml", table(routes));
    const std::string logs = dir.file(name + "-logs");
    std::filesystem::create_directories(logs);
    started_ = process_.start({kBusway, "run", file}, logs, env);
  }
  ~Bus() { process_.stop(std::chrono::seconds(20)); }
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Waits for the table to run (and its listeners to be up).
  bool ready(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return started_ && process_.waitForOutput("running:", timeout);
  }
  std::string output() const { return process_.out() + process_.err(); }
  bool waitFor(const std::string& text,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return process_.waitForOutput(text, timeout);
  }
  // Waits until `text` appears `n` times in the output.
  bool waitForCount(const std::string& text, std::size_t n,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(output(), text) >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  ChildProcess& process() { return process_; }

 private:
  ChildProcess process_;
  bool started_ = false;
};

// An HTTP answer as curl saw it.
struct Answer {
  int status = 0;
  std::string headers;  // raw header block, lower-cased names kept as sent
  std::string body;
  int curl_exit = -1;
  std::string curl_err;
};

// Runs curl with `args` (plus -s -i) against `url`.
inline Answer curl(const std::vector<std::string>& args, const std::string& url) {
  std::vector<std::string> argv = {"curl", "-s", "-S", "-i", "--max-time", "60"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  const auto result = runCommand(argv, std::chrono::seconds(90));
  Answer answer;
  answer.curl_exit = result.exit_code;
  answer.curl_err = result.err;
  std::string out = result.out;
  // Skip "HTTP/1.1 100 Continue" blocks.
  while (out.rfind("HTTP/1.1 100", 0) == 0) {
    const auto end = out.find("\r\n\r\n");
    if (end == std::string::npos) break;
    out.erase(0, end + 4);
  }
  const auto end = out.find("\r\n\r\n");
  answer.headers = out.substr(0, end);
  if (end != std::string::npos) answer.body = out.substr(end + 4);
  std::smatch m;
  if (std::regex_search(answer.headers, m, std::regex("^HTTP/[0-9.]+ ([0-9]{3})")))
    answer.status = std::stoi(m[1]);
  return answer;
}

inline std::string url(int port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// Sends `bytes` over a plain TCP connection and returns what came back until the peer
// closed or `timeout` passed.
inline std::string rawExchange(int port, const std::string& bytes,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{};
  tv.tv_sec =
      static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
      out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// A real HTTP peer: Debian's Python http.server answering POSTs with `code` for the first
// `failures` requests and 200 {"ok":true} after that; each request is one line in `log`.
class PythonPeer {
 public:
  // `delay_ms`: how long the peer waits before each answer.
  PythonPeer(const TempDir& dir, int failures, int code, int delay_ms = 0)
      : port_(freePort()), log_(dir.file("peer-requests.log")) {
    const std::string python = requireProgram({"/usr/bin/python3"}, "servers");
    const std::string script = dir.write("peer.py", R"PY(
import http.server, sys, threading, time
port, failures, code, log, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
lock = threading.Lock()
count = 0
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        with lock:
            count += 1
            n = count
            with open(log, 'a') as f:
                f.write('%s %s trace=%s %s\n' % (self.command, self.path, self.headers.get('X-Trace', ''), body.decode()))
        time.sleep(delay / 1000.0)
        if n <= failures:
            status, out = code, b'{"error":"not now"}'
        else:
            status, out = 200, b'{"ok":true,"n":%d}' % n
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('X-Peer', 'python')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_PUT = do_POST
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler).serve_forever()
)PY");
    const std::string logs = dir.file("peer-logs");
    std::filesystem::create_directories(logs);
    process_.start({python, script, std::to_string(port_), std::to_string(failures),
                    std::to_string(code), log_, std::to_string(delay_ms)},
                   logs);
    ready_ = waitForPort(port_, std::chrono::seconds(30));
  }
  ~PythonPeer() { process_.stop(std::chrono::seconds(5)); }
  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string requests() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::size_t requestCount() const { return count(requests(), "\n"); }

 private:
  int port_;
  std::string log_;
  ChildProcess process_;
  bool ready_ = false;
};

}  // namespace busway::testing::http
