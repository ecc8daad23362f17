#include "servers/smtp_server.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "servers/server_support.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

SmtpServer::SmtpServer(const Settings& settings) {
  // Debian's python3 has aiosmtpd (python3-aiosmtpd); a python3 earlier on PATH may not.
  const std::string python = requireProgram({"/usr/bin/python3"}, "servers");
  const auto check = runCommand({python, "-c", "import aiosmtpd"});
  if (check.exit_code != 0) {
    runCommand({"bash", std::string(BUSWAY_SOURCE_DIR) + "/packaging/install-deps.sh", "--group",
                "servers"},
               std::chrono::minutes(10));
  }
  maildir_ = dir_.file("mail");
  std::filesystem::create_directories(maildir_);
  port_ = freePort();
  std::vector<std::string> argv{
      python,      std::string(BUSWAY_SOURCE_DIR) + "/tests/support/servers/smtp_server.py",
      "--port",    std::to_string(port_),
      "--maildir", maildir_};
  if (settings.starttls || settings.implicit_tls) {
    const std::string openssl = requireProgram({"openssl"}, "servers");
    cert_ = dir_.file("cert.pem");
    const std::string key = dir_.file("key.pem");
    const auto made =
        runCommand({openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert_, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    if (made.exit_code != 0)
      throw std::runtime_error("openssl could not make a test certificate: " + made.err);
    argv.insert(argv.end(), {"--tls-cert", cert_, "--tls-key", key});
    if (settings.implicit_tls) argv.push_back("--implicit-tls");
    if (settings.require_tls) argv.push_back("--require-tls");
  }
  if (!settings.user.empty())
    argv.insert(argv.end(), {"--user", settings.user, "--password", settings.password});
  if (!settings.reject.empty()) argv.insert(argv.end(), {"--reject", settings.reject});
  if (!process_.start(argv, dir_.path())) throw std::runtime_error("cannot start " + argv[1]);
  if (!process_.waitForOutput("ready " + std::to_string(port_), 30s)) {
    throw std::runtime_error("the SMTP test server did not start: " + log());
  }
}

SmtpServer::~SmtpServer() { process_.stop(5s); }

std::vector<SmtpServer::Mail> SmtpServer::mails() const {
  std::vector<Mail> out;
  for (int n = 1;; ++n) {
    const std::string stem = maildir_ + "/" + std::to_string(n);
    if (!std::filesystem::exists(stem + ".eml") || !std::filesystem::exists(stem + ".json")) break;
    out.push_back(Mail{slurp(stem + ".json"), slurp(stem + ".eml")});
  }
  return out;
}

bool SmtpServer::waitForMails(std::size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (mails().size() >= n) return true;
    std::this_thread::sleep_for(50ms);
  }
  return mails().size() >= n;
}

}  // namespace busway::testing
