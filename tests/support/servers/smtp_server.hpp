#pragma once

// A real SMTP server for tests: tests/support/servers/smtp_server.py (aiosmtpd, run with
// Debian's /usr/bin/python3) on 127.0.0.1 on a free port, writing every accepted mail into
// a temporary folder. Optional STARTTLS or implicit TLS with a throwaway self-signed
// certificate (made with openssl; its file doubles as the CA to trust), AUTH LOGIN/PLAIN
// with a user and password, or a server that rejects every recipient with a 5xx code.
// Stopped by PID in the destructor.

#include <chrono>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace busway::testing {

class SmtpServer {
 public:
  struct Settings {
    bool starttls = false;      // offer STARTTLS
    bool require_tls = false;   // refuse mail before STARTTLS
    bool implicit_tls = false;  // TLS from the first byte (smtps)
    std::string user;           // non-empty: AUTH required with user/password
    std::string password;
    std::string reject;  // e.g. "550": every RCPT TO is refused with this code
  };

  // One received mail: the envelope and the message as received (headers and MIME body).
  struct Mail {
    std::string envelope;  // {"from": ..., "to": [...], "login": ..., "tls": ...}
    std::string data;
  };

  SmtpServer() : SmtpServer(Settings{}) {}
  explicit SmtpServer(const Settings& settings);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  int port() const noexcept { return port_; }
  // The self-signed certificate (PEM) a client should trust; empty without TLS.
  const std::string& certificate() const noexcept { return cert_; }
  // The mails received so far, in order.
  std::vector<Mail> mails() const;
  // Waits until at least `n` mails arrived; false on timeout.
  bool waitForMails(std::size_t n, std::chrono::milliseconds timeout) const;
  std::string log() const { return process_.out() + process_.err(); }

 private:
  TempDir dir_;
  std::string maildir_;
  std::string cert_;
  int port_ = 0;
  ChildProcess process_;
};

}  // namespace busway::testing
