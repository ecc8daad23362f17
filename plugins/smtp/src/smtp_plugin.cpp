// smtp / smtps: each message becomes one e-mail, sent through POCO Net.
//
//   <to
//   uri="smtp://mail.example.org:587?security=starttls&amp;user=bus&amp;password=${env:SMTP_PASSWORD}
//            &amp;from=shop@example.org&amp;to=${header.customer.email}&amp;subject=Order
//            ${header.order.id}"/>
//
// Subject, recipients, the text part and the attachment name are templates expanded per
// message (${header.NAME}, ${id}, ${body}...). The body goes out as text/plain or text/html
// by its media type, or, with attach=true, as an attachment next to a short text part.
// A 5xx reply fails the message permanently; a connection failure or a 4xx reply
// transiently, so the route's error handler retries it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <Poco/Base64Encoder.h>
#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/MailMessage.h>
#include <Poco/Net/MailRecipient.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SMTPClientSession.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StringPartSource.h>
#include <Poco/Timespan.h>
#include <Poco/Timestamp.h>

#include "smtp_text.hpp"
#include <busway/plugin.hpp>
#include <busway/sdk/worker_pool.hpp>

namespace busway::smtpplugin {
namespace {

namespace sdk = busway::sdk;
using busway::smtp::TemplateError;

enum class Security { none, starttls, tls };

bool isAscii(const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) > 127) return false;
  }
  return true;
}

// The SMTP reply code in POCO's exception (its code, or the first three digits of the reply).
int replyCode(const Poco::Exception& e) {
  if (e.code() >= 200 && e.code() < 600) return e.code();
  const std::string text = e.message();
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    if (text[i] >= '2' && text[i] <= '5' &&
        std::isdigit(static_cast<unsigned char>(text[i + 1])) != 0 &&
        std::isdigit(static_cast<unsigned char>(text[i + 2])) != 0 &&
        (i + 3 == text.size() || text[i + 3] == ' ' || text[i + 3] == '-')) {
      return std::stoi(text.substr(i, 3));
    }
  }
  return 0;
}

// POCO's session plus STARTTLS on a socket we connected ourselves (with a timeout):
// SecureSMTPClientSession only verifies the host name when it made the connection itself,
// without a connect timeout.
class Session : public Poco::Net::SMTPClientSession {
 public:
  using SMTPClientSession::SMTPClientSession;

  // STARTTLS: the reply code when the server refuses, 0 when the connection is now TLS.
  int startTls(const Poco::Net::Context::Ptr& context, const std::string& host,
               std::string& response) {
    const int status = sendCommand("STARTTLS", response);
    if (status != 220) return status == 0 ? -1 : status;
    Poco::Net::SecureStreamSocket secure =
        Poco::Net::SecureStreamSocket::attach(socket(), host, context);
    socket() = secure;
    return 0;
  }
};

class SmtpPlugin;

// smtp: and smtps: differ only in the default security and port.
template <bool Implicit>
class MailEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = Implicit ? "smtps" : "smtp";

  MailEndpoint(SmtpPlugin& plugin, const sdk::Options& options);

  // Runs on one of the endpoint's own threads (busway/sdk/worker_pool.hpp), never on the bus's.
  void send(sdk::Sending& sending) override {
    workers_->send(sending, where_, [this](sdk::Sending& later) { execute(later); });
  }

 private:
  static constexpr std::size_t kQueueCapacity = 10000;

  // The send itself, blocking; throws sdk::Error.
  void execute(sdk::Sending& sending) {
    const sdk::MessageRef message = sending.message();
    const busway::smtp::Lookup lookup =
        [&message](std::string_view operand) -> std::optional<std::string> {
      if (operand.rfind("header.", 0) == 0) {
        const auto value = message.header(operand.substr(7));
        if (!value) return std::nullopt;
        return std::string(*value);
      }
      if (operand == "id") return std::string(message.id());
      if (operand == "correlationId") return std::string(message.correlationId());
      if (operand == "body") return std::string(message.body());
      if (operand == "mediaType") return std::string(message.mediaType());
      return std::nullopt;
    };
    Poco::Net::MailMessage mail;
    try {
      build(mail, message, lookup);
    } catch (const TemplateError& e) {
      throw sdk::InvalidError(where_ + ": " + e.what());
    }
    deliver(mail);
    host_.metric("sent");
  }

  void build(Poco::Net::MailMessage& mail, const sdk::MessageRef& message,
             const busway::smtp::Lookup& lookup) const {
    const std::string sender = busway::smtp::expand(from_, lookup);
    mail.setSender(isAscii(sender) ? sender : Poco::Net::MailMessage::encodeWord(sender));
    std::size_t recipients = 0;
    const auto add = [&](const std::string& list, Poco::Net::MailRecipient::RecipientType type) {
      for (const auto& address : busway::smtp::splitAddresses(busway::smtp::expand(list, lookup))) {
        const std::string bare = busway::smtp::bareAddress(address);
        if (bare.find('@') == std::string::npos ||
            bare.find_first_of(" \r\n") != std::string::npos) {
          throw sdk::InvalidError(where_ + ": '" + address + "' is not a mail address");
        }
        std::string name;
        if (const auto open = address.rfind('<'); open != std::string::npos) {
          name = address.substr(0, open);
          while (!name.empty() && (name.back() == ' ' || name.back() == '"')) name.pop_back();
          while (!name.empty() && (name.front() == ' ' || name.front() == '"')) name.erase(0, 1);
        }
        mail.addRecipient(Poco::Net::MailRecipient(
            type, bare, isAscii(name) ? name : Poco::Net::MailMessage::encodeWord(name)));
        ++recipients;
      }
    };
    add(to_, Poco::Net::MailRecipient::PRIMARY_RECIPIENT);
    add(cc_, Poco::Net::MailRecipient::CC_RECIPIENT);
    add(bcc_, Poco::Net::MailRecipient::BCC_RECIPIENT);
    if (recipients == 0) {
      throw sdk::InvalidError(where_ +
                              ": no recipient: 'to', 'cc' and 'bcc' gave no address for message " +
                              std::string(message.id()));
    }
    const std::string subject = busway::smtp::expand(subject_, lookup);
    mail.setSubject(isAscii(subject) ? subject : Poco::Net::MailMessage::encodeWord(subject));
    mail.setDate(Poco::Timestamp());
    mail.set("X-Busway-Message-Id", std::string(message.id()));

    const std::string media_type =
        message.mediaType().empty() ? "application/octet-stream" : std::string(message.mediaType());
    const bool html = media_type.rfind("text/html", 0) == 0;
    const std::string text_type =
        std::string(html ? "text/html" : "text/plain") + "; charset=utf-8";
    if (!attach_) {
      const std::string text =
          text_.empty() ? std::string(message.body()) : busway::smtp::expand(text_, lookup);
      mail.set("MIME-Version", "1.0");
      mail.setContentType(text_type);
      mail.setContent(text, Poco::Net::MailMessage::ENCODING_QUOTED_PRINTABLE);
      return;
    }
    const std::string name = busway::smtp::expand(attachment_name_, lookup);
    if (name.empty() || name.find_first_of("/\\\r\n") != std::string::npos) {
      throw sdk::InvalidError(where_ + ": attachment-name gave '" + name + "', not a file name");
    }
    const std::string note = text_.empty() ? "Attached: " + name + " (" +
                                                 std::to_string(message.body().size()) +
                                                 " bytes, " + media_type + ").\n"
                                           : busway::smtp::expand(text_, lookup);
    mail.addContent(new Poco::Net::StringPartSource(note, "text/plain; charset=utf-8"),
                    Poco::Net::MailMessage::ENCODING_QUOTED_PRINTABLE);
    mail.addAttachment(
        isAscii(name) ? name : Poco::Net::MailMessage::encodeWord(name),
        new Poco::Net::StringPartSource(std::string(message.body()), media_type, name),
        Poco::Net::MailMessage::ENCODING_BASE64);
  }

  Poco::Net::Context::Ptr context() const {
    Poco::Net::Context::Params params;
    params.verificationMode =
        verify_ ? Poco::Net::Context::VERIFY_RELAXED : Poco::Net::Context::VERIFY_NONE;
    params.loadDefaultCAs = true;
    params.caLocation = ca_file_;
    Poco::Net::Context::Ptr context =
        new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    context->enableExtendedCertificateVerification(verify_);
    return context;
  }

  // EHLO, then AUTH when a user is set. AUTH is spoken here rather than through POCO's
  // login(method, ...), which expects the exact challenge texts "Username:"/"Password:" and
  // does not report every refusal; here every reply is checked and a refusal throws with
  // the server's code (535: wrong credentials, permanent).
  void login(Poco::Net::SMTPClientSession& session) const {
    session.login(helo_);
    if (user_.empty()) return;
    const auto expect = [](int status, int wanted, const std::string& step,
                           const std::string& response) {
      if (status != wanted) throw Poco::Net::SMTPException(step + " failed", response, status);
    };
    std::string response;
    if (auth_plain_) {
      const std::string token =
          base64(std::string(1, '\0') + user_ + std::string(1, '\0') + password_);
      expect(session.sendCommand("AUTH PLAIN " + token, response), 235, "AUTH PLAIN", response);
      return;
    }
    expect(session.sendCommand("AUTH LOGIN", response), 334, "AUTH LOGIN", response);
    expect(session.sendCommand(base64(user_), response), 334, "AUTH LOGIN (user name)", response);
    expect(session.sendCommand(base64(password_), response), 235, "AUTH LOGIN (password)",
           response);
  }

  static std::string base64(const std::string& text) {
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder << text;
    encoder.close();
    return out.str();
  }

  void deliver(const Poco::Net::MailMessage& mail) const {
    const Poco::Timespan timeout(static_cast<Poco::Timespan::TimeDiff>(timeout_.count()) * 1000);
    const std::string server = host_name_ + ":" + std::to_string(port_);
    std::string stage = "connecting to " + server;
    try {
      Poco::Net::StreamSocket socket;
      const Poco::Net::SocketAddress address(host_name_, port_);
      if (security_ == Security::tls) {
        Poco::Net::SecureStreamSocket secure(context());
        secure.setPeerHostName(host_name_);
        secure.connect(address, timeout);
        socket = secure;
      } else {
        socket.connect(address, timeout);
      }
      Session session(socket);
      session.setTimeout(timeout);
      if (security_ == Security::starttls) {
        stage = "EHLO at " + server;
        session.login(helo_);
        stage = "STARTTLS at " + server;
        std::string response;
        if (const int refused = session.startTls(context(), host_name_, response); refused != 0) {
          throw sdk::Error(sdk::Status::permanent,
                           where_ + ": " + server + " refused STARTTLS (" + response +
                               "); use security=tls (smtps) or security=none");
        }
      }
      stage = user_.empty() ? "EHLO at " + server : "AUTH at " + server;
      login(session);
      stage = "sending to " + server;
      session.sendMessage(mail);
      session.close();
    } catch (const sdk::Error&) {
      throw;
    } catch (const Poco::Net::SMTPException& e) {
      const int code = replyCode(e);
      const std::string text = where_ + ": " + stage + ": " + e.displayText();
      if (code >= 500)
        throw sdk::Error(sdk::Status::permanent,
                         text + " (permanent " + std::to_string(code) + " reply)");
      throw sdk::TransientError(
          text +
          (code >= 400 ? " (temporary " + std::to_string(code) + " reply, will retry)" : ""));
    } catch (const Poco::Net::CertificateValidationException& e) {
      throw sdk::Error(sdk::Status::permanent,
                       where_ + ": " + stage +
                           ": the server's certificate is not trusted: " + e.displayText() +
                           "; give its CA in ca-file (or verify=false for tests)");
    } catch (const Poco::Net::SSLException& e) {
      // OpenSSL's "certificate verify failed" during the handshake: a configuration
      // problem (ca-file, host name), not a passing one.
      if (e.displayText().find("certificate verify failed") != std::string::npos) {
        throw sdk::Error(sdk::Status::permanent,
                         where_ + ": " + stage +
                             ": the server's certificate is not trusted: " + e.displayText() +
                             "; give its CA in ca-file (or verify=false for tests)");
      }
      throw sdk::TransientError(where_ + ": " + stage + ": TLS failed: " + e.displayText());
    } catch (const Poco::TimeoutException& e) {
      throw sdk::TransientError(where_ + ": " + stage + ": timed out: " + e.displayText());
    } catch (const Poco::Exception& e) {
      throw sdk::TransientError(where_ + ": " + stage + ": " + e.displayText());
    }
  }

  sdk::Host host_;
  std::string where_;
  std::string host_name_;
  Poco::UInt16 port_ = 25;
  Security security_ = Security::none;
  std::string from_, to_, cc_, bcc_, subject_, text_, attachment_name_;
  bool attach_ = false;
  std::string user_, password_;
  bool auth_plain_ = false;
  bool verify_ = true;
  std::string ca_file_;
  std::string helo_;
  std::chrono::milliseconds timeout_{};
  std::unique_ptr<busway::sdk::WorkerPool> workers_;  // last: joined first
};

class SmtpPlugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<MailEndpoint<false>, MailEndpoint<true>>;

  SmtpPlugin(sdk::Host host, const sdk::Options& config) : Plugin(host, config) {
    Poco::Net::initializeSSL();
  }
  ~SmtpPlugin() override {
    try {
      Poco::Net::uninitializeSSL();
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing to do at unload
    }
  }
  SmtpPlugin(const SmtpPlugin&) = delete;
  SmtpPlugin& operator=(const SmtpPlugin&) = delete;
  SmtpPlugin(SmtpPlugin&&) = delete;
  SmtpPlugin& operator=(SmtpPlugin&&) = delete;
};

template <bool Implicit>
MailEndpoint<Implicit>::MailEndpoint(SmtpPlugin& plugin, const sdk::Options& options)
    : host_(plugin.host()),
      from_(options.text("from")),
      to_(options.text("to", "")),
      cc_(options.text("cc", "")),
      bcc_(options.text("bcc", "")),
      subject_(options.text("subject", "")),
      text_(options.text("text", "")),
      attachment_name_(options.text("attachment-name", "attachment")),
      attach_(options.boolean("attach", false)),
      user_(options.text("user", "")),
      password_(options.text("password", "")),
      auth_plain_(options.text("auth", "login") == "plain"),
      verify_(options.boolean("verify", true)),
      ca_file_(options.text("ca-file", "")),
      helo_(options.text("helo", "busway")),
      timeout_(options.duration("timeout", std::chrono::seconds(30))) {
  // The path of smtp://HOST:PORT is //HOST:PORT.
  std::string authority = options.path();
  while (!authority.empty() && authority.front() == '/') authority.erase(0, 1);
  while (!authority.empty() && authority.back() == '/') authority.pop_back();
  where_ = std::string(scheme) + "://" + authority;
  if (Implicit) {
    security_ = Security::tls;
  } else {
    const std::string security = options.text("security", "none");
    security_ = security == "starttls" ? Security::starttls
                : security == "tls"    ? Security::tls
                                       : Security::none;
  }
  port_ = security_ == Security::tls ? 465 : 25;
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    authority.resize(colon);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535) {
      throw sdk::InvalidError(where_ + ": '" + port + "' is not a port (1..65535)");
    }
    port_ = static_cast<Poco::UInt16>(std::stoi(port));
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']')
    authority = authority.substr(1, authority.size() - 2);
  if (authority.empty())
    throw sdk::InvalidError(where_ + ": no mail server: write " + std::string(scheme) +
                            "://HOST[:PORT]?from=...");
  host_name_ = authority;
  try {
    for (const std::string* text :
         {&from_, &to_, &cc_, &bcc_, &subject_, &text_, &attachment_name_}) {
      busway::smtp::checkTemplate(*text);
    }
  } catch (const TemplateError& e) {
    throw sdk::InvalidError(where_ + ": " + e.what());
  }
  if (to_.empty() && cc_.empty() && bcc_.empty())
    throw sdk::InvalidError(where_ + ": give at least one of to, cc, bcc");
  const auto concurrency = options.integer("connections", 2);
  if (concurrency < 1 || concurrency > 100)
    throw sdk::InvalidError(where_ + ": connections must be 1..100");
  workers_ = std::make_unique<busway::sdk::WorkerPool>(static_cast<std::size_t>(concurrency),
                                                       kQueueCapacity);
  if (!password_.empty() && user_.empty())
    throw sdk::InvalidError(where_ + ": 'password' without 'user'");
}

}  // namespace
}  // namespace busway::smtpplugin

BUSWAY_PLUGIN(busway::smtpplugin::SmtpPlugin);
