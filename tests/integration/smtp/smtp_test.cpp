// The smtp plugin through the real busway binary, against a real SMTP server (aiosmtpd,
// tests/support/servers/smtp_server.py) on 127.0.0.1.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "servers/smtp_server.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBusway = BUSWAY_EXE;

std::string table(const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<routes xmlns=\"urn:busway:routes:1\" "
         "version=\"1\">\n" +
         body + "\n</routes>\n";
}

class SmtpTest : public ::testing::Test {
 protected:
  // One route: a timer message with headers and a body, sent to `uri`.
  void send(const std::string& uri,
            const std::string& body = "Hello Ann, your order A-17 is on its way.",
            const std::string& media_type = "text/plain", const std::string& error_handler = "") {
    const std::string routes =
        R"x(<route id="mail">
    )x" +
        (error_handler.empty()
             ? std::string(R"x(<error-handler dead-letter-uri="log:dead?show-headers=true"/>)x")
             : error_handler) +
        R"x(
    <from uri="timer:go?period=100ms&amp;count=1"/>
    <set-header name="email" constant="ann@example.org"/>
    <set-header name="order" constant="A-17"/>
    <set-header name="file.name" constant="order-A-17.json"/>
    <set-body media-type=")x" +
        media_type + "\">" + body + R"x(</set-body>
    <to uri=")x" +
        uri + R"x("/>
    <log message="mailed ${header.order}"/>
  </route>)x";
    ASSERT_TRUE(bus_.start({kBusway, "run", dir_.write("routes.xml", table(routes))}, dir_.path(),
                           {{"BUSWAY_TEST_SMTP_PASSWORD", "s3cret"}}));
  }
  static std::string at(const SmtpServer& server, const std::string& scheme = "smtp") {
    return scheme + "://127.0.0.1:" + std::to_string(server.port());
  }
  std::string logs() const { return bus_.out() + bus_.err(); }

  TempDir dir_;
  ChildProcess bus_;
};

TEST_F(SmtpTest, MailArrivesWithSubjectRecipientsAndBody) {
  SmtpServer server;
  send(at(server) +
       "?from=Shop &lt;shop@example.org&gt;&amp;to=${header.email}, Bob &lt;bob@example.org&gt;"
       "&amp;cc=boss@example.org&amp;bcc=audit@example.org&amp;subject=Order ${header.order} "
       "shipped");
  ASSERT_TRUE(server.waitForMails(1, 30s)) << logs() << server.log();
  ASSERT_TRUE(bus_.waitForOutput("mailed A-17", 30s)) << logs();
  const auto mail = server.mails().at(0);
  EXPECT_NE(mail.envelope.find(R"("from": "shop@example.org")"), std::string::npos)
      << mail.envelope;
  EXPECT_NE(
      mail.envelope.find(
          R"("to": ["ann@example.org", "bob@example.org", "boss@example.org", "audit@example.org"])"),
      std::string::npos)
      << mail.envelope;
  EXPECT_NE(mail.data.find("Subject: Order A-17 shipped"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("From: Shop <shop@example.org>"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("ann@example.org"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("CC: <boss@example.org>"), std::string::npos) << mail.data;
  EXPECT_EQ(mail.data.find("audit@example.org"), std::string::npos)
      << "bcc must not be in the headers\n"
      << mail.data;
  EXPECT_NE(mail.data.find("Content-Type: text/plain; charset=utf-8"), std::string::npos)
      << mail.data;
  EXPECT_NE(mail.data.find("Hello Ann, your order A-17 is on its way."), std::string::npos)
      << mail.data;
  EXPECT_NE(mail.data.find("X-Busway-Message-Id: "), std::string::npos) << mail.data;
}

TEST_F(SmtpTest, HtmlBodyGoesOutAsHtml) {
  SmtpServer server;
  send(at(server) +
           "?from=shop@example.org&amp;to=${header.email}&amp;subject=Grüße zu ${header.order}",
       "&lt;p&gt;Hello &lt;b&gt;Ann&lt;/b&gt;&lt;/p&gt;", "text/html");
  ASSERT_TRUE(server.waitForMails(1, 30s)) << logs() << server.log();
  const auto mail = server.mails().at(0);
  EXPECT_NE(mail.data.find("Content-Type: text/html; charset=utf-8"), std::string::npos)
      << mail.data;
  EXPECT_NE(mail.data.find("<p>Hello <b>Ann</b></p>"), std::string::npos) << mail.data;
  // Non-ASCII subjects are RFC 2047 encoded words.
  EXPECT_NE(mail.data.find("Subject: =?UTF-8?q?Gr=C3=BC=C3=9Fe"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("A-17"), std::string::npos) << mail.data;
}

TEST_F(SmtpTest, BodyAsAttachmentNamedByAHeader) {
  SmtpServer server;
  // {"order":"A-17"} in base64 is eyJvcmRlciI6IkEtMTcifQ==
  send(at(server) +
           "?from=shop@example.org&amp;to=${header.email}&amp;subject=Your order"
           "&amp;attach=true&amp;attachment-name=${header.file.name}",
       R"({"order":"A-17"})", "application/json");
  ASSERT_TRUE(server.waitForMails(1, 30s)) << logs() << server.log();
  const auto mail = server.mails().at(0);
  EXPECT_NE(mail.data.find("multipart/mixed"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("Attached: order-A-17.json (16 bytes, application/json)."),
            std::string::npos)
      << mail.data;
  EXPECT_NE(mail.data.find("Content-Disposition: attachment; filename=order-A-17.json"),
            std::string::npos)
      << mail.data;
  EXPECT_NE(mail.data.find("Content-Type: application/json"), std::string::npos) << mail.data;
  EXPECT_NE(mail.data.find("eyJvcmRlciI6IkEtMTcifQ=="), std::string::npos) << mail.data;
}

TEST_F(SmtpTest, StartTlsWithAuthLoginAndThePasswordFromTheEnvironment) {
  SmtpServer::Settings settings;
  settings.starttls = true;
  settings.require_tls = true;
  settings.user = "bus";
  settings.password = "s3cret";
  SmtpServer server(settings);
  send(at(server) + "?security=starttls&amp;ca-file=" + server.certificate() +
       "&amp;user=bus&amp;password=${env:BUSWAY_TEST_SMTP_PASSWORD}&amp;from=shop@example.org&amp;"
       "to=${header.email}"
       "&amp;subject=Secure");
  ASSERT_TRUE(server.waitForMails(1, 30s)) << logs() << server.log();
  const auto mail = server.mails().at(0);
  EXPECT_NE(mail.envelope.find(R"("login": "bus")"), std::string::npos) << mail.envelope;
  EXPECT_NE(mail.envelope.find(R"("tls": true)"), std::string::npos) << mail.envelope;
  EXPECT_NE(mail.data.find("Subject: Secure"), std::string::npos) << mail.data;
}

TEST_F(SmtpTest, ImplicitTlsWithAuthPlain) {
  SmtpServer::Settings settings;
  settings.implicit_tls = true;
  settings.user = "bus";
  settings.password = "s3cret";
  SmtpServer server(settings);
  send(at(server, "smtps") + "?ca-file=" + server.certificate() +
       "&amp;user=bus&amp;auth=plain&amp;password=${env:BUSWAY_TEST_SMTP_PASSWORD}&amp;from=shop@"
       "example.org"
       "&amp;to=${header.email}&amp;subject=Implicit");
  ASSERT_TRUE(server.waitForMails(1, 30s)) << logs() << server.log();
  const auto mail = server.mails().at(0);
  EXPECT_NE(mail.envelope.find(R"("login": "bus")"), std::string::npos) << mail.envelope;
  EXPECT_NE(mail.envelope.find(R"("tls": true)"), std::string::npos) << mail.envelope;
}

TEST_F(SmtpTest, UntrustedCertificateIsRefused) {
  SmtpServer::Settings settings;
  settings.starttls = true;
  SmtpServer server(settings);
  send(at(server) + "?security=starttls&amp;from=shop@example.org&amp;to=${header.email}");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  EXPECT_NE(logs().find("the server's certificate is not trusted"), std::string::npos) << logs();
  EXPECT_NE(logs().find("busway.failure.kind=permanent"), std::string::npos) << logs();
  EXPECT_TRUE(server.mails().empty());
}

TEST_F(SmtpTest, NoStartTlsOnTheServerIsPermanentNeverPlainText) {
  SmtpServer server;  // offers no STARTTLS
  send(
      at(server) + "?security=starttls&amp;from=shop@example.org&amp;to=${header.email}", "x",
      "text/plain",
      R"(<error-handler max-attempts="3" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>)");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  EXPECT_NE(logs().find("refused STARTTLS"), std::string::npos) << logs();
  EXPECT_NE(logs().find("busway.failure.attempts=1"), std::string::npos) << logs();
  EXPECT_TRUE(server.mails().empty());
}

TEST_F(SmtpTest, WrongPasswordIsPermanent) {
  SmtpServer::Settings settings;
  settings.user = "bus";
  settings.password = "other";
  SmtpServer server(settings);
  send(
      at(server) +
          "?user=bus&amp;password=${env:BUSWAY_TEST_SMTP_PASSWORD}&amp;from=shop@example.org"
          "&amp;to=${header.email}",
      "x", "text/plain",
      R"(<error-handler max-attempts="3" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>)");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  EXPECT_NE(logs().find("535"), std::string::npos) << logs();
  EXPECT_NE(logs().find("busway.failure.kind=permanent"), std::string::npos) << logs();
  EXPECT_NE(logs().find("busway.failure.attempts=1"), std::string::npos) << logs();
  EXPECT_TRUE(server.mails().empty());
}

TEST_F(SmtpTest, RejectingServerSendsTheMessageToTheDeadLetter) {
  SmtpServer::Settings settings;
  settings.reject = "550";
  SmtpServer server(settings);
  send(
      at(server) + "?from=shop@example.org&amp;to=${header.email}", "x", "text/plain",
      R"(<error-handler max-attempts="3" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>)");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  const std::string out = logs();
  EXPECT_NE(out.find("550"), std::string::npos) << out;
  EXPECT_NE(out.find("mailbox unavailable (test server rejects everything) (permanent 550 reply)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("busway.failure.kind=permanent"), std::string::npos) << out;
  EXPECT_NE(out.find("busway.failure.attempts=1"), std::string::npos) << out;
  EXPECT_EQ(out.find("mailed A-17"), std::string::npos) << out;
}

TEST_F(SmtpTest, NoServerIsTransientAndRetried) {
  const int port = freePort();  // nobody listens there
  send(
      "smtp://127.0.0.1:" + std::to_string(port) + "?from=shop@example.org&amp;to=${header.email}",
      "x", "text/plain",
      R"(<error-handler max-attempts="3" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>)");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  const std::string out = logs();
  EXPECT_NE(out.find("busway.failure.kind=transient"), std::string::npos) << out;
  EXPECT_NE(out.find("busway.failure.attempts=3"), std::string::npos) << out;
  EXPECT_NE(out.find("connecting to 127.0.0.1:" + std::to_string(port)), std::string::npos) << out;
}

}  // namespace
}  // namespace busway::testing
