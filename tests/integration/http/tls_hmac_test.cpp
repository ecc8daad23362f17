// TLS with a throwaway CA made by openssl, and HMAC-signed webhooks.
#include <string>

#include "http_fixture.hpp"

namespace busway::testing::http {
namespace {

// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
void makeCertificates(const TempDir& dir) {
  const std::string openssl = requireProgram({"/usr/bin/openssl", "openssl"}, "servers");
  const auto run = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {openssl};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = runCommand(argv);
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  };
  run({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("ca.key"), "-out",
       dir.file("ca.pem"), "-days", "2", "-subj", "/CN=busway test CA"});
  run({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("server.key"), "-out",
       dir.file("server.csr"), "-subj", "/CN=127.0.0.1"});
  dir.write("ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  run({"x509", "-req", "-in", dir.file("server.csr"), "-CA", dir.file("ca.pem"), "-CAkey",
       dir.file("ca.key"), "-CAcreateserial", "-out", dir.file("server.pem"), "-days", "2",
       "-extfile", dir.file("ext.cnf")});
}

TEST(HttpTls, ServerWithCertificateAndClientWithCaFile) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(makeCertificates(dir));
  const int port = freePort();
  const std::string p = std::to_string(port);
  Bus server(dir, "server",
             R"(
  <route id="secure">
    <from uri="https:127.0.0.1:)" +
                 p + R"(/secure?cert=)" + dir.file("server.pem") +
                 "&amp;key=" + dir.file("server.key") + R"("/>
    <log message="secure route ran"/>
    <set-body media-type="application/json">{"secure": true}</set-body>
  </route>)");
  ASSERT_TRUE(server.ready()) << server.output();

  // curl trusts it with the CA...
  const std::string https = "https://127.0.0.1:" + p + "/secure";
  const Answer trusted = curl({"--cacert", dir.file("ca.pem")}, https);
  EXPECT_EQ(trusted.status, 200) << trusted.headers << trusted.curl_err << server.output();
  EXPECT_EQ(trusted.body, R"({"secure": true})");
  // ...and not without it.
  const Answer untrusted = curl({}, https);
  EXPECT_NE(untrusted.curl_exit, 0);
  EXPECT_EQ(untrusted.status, 0) << untrusted.headers;

  // A second bus as client: with the CA file it gets the reply; without, a clear TLS error.
  Bus client(dir, "client",
             R"(
  <route id="with-ca">
    <from uri="timer:with-ca?period=1h&amp;count=1"/>
    <set-body media-type="application/json">{}</set-body>
    <to uri="https://127.0.0.1:)" +
                 p + R"(/secure?ca-file=)" + dir.file("ca.pem") + R"(" pattern="in-out"/>
    <log message="trusted reply ${header.http.status} ${body}"/>
  </route>
  <route id="without-ca">
    <error-handler max-attempts="1" dead-letter-uri="log:untrusted?show-headers=true"/>
    <from uri="timer:without-ca?period=1h&amp;count=1"/>
    <to uri="https://127.0.0.1:)" +
                 p + R"(/secure"/>
    <log message="untrusted call went through"/>
  </route>)");
  ASSERT_TRUE(client.ready()) << client.output();
  EXPECT_TRUE(client.waitFor(R"(trusted reply 200 {"secure": true})")) << client.output();
  EXPECT_TRUE(client.waitFor("sent to dead letter")) << client.output();
  EXPECT_TRUE(contains(client.output(), "TLS failed")) << client.output();
  EXPECT_TRUE(contains(client.output(), "ca-file=")) << client.output();
  EXPECT_FALSE(contains(client.output(), "untrusted call went through"));
  EXPECT_TRUE(server.waitForCount("secure route ran", 2)) << server.output();
}

std::string hmac(const TempDir& dir, const std::string& secret, const std::string& body_file) {
  const std::string openssl = requireProgram({"/usr/bin/openssl", "openssl"}, "servers");
  const auto result = runCommand({openssl, "dgst", "-sha256", "-hmac", secret, "-r", body_file});
  static_cast<void>(dir);
  return result.out.substr(0, 64);
}

TEST(HttpHmac, OnlyCorrectlySignedWebhooksRunTheRoute) {
  TempDir dir;
  const int port = freePort();
  Bus bus(
      dir, "server",
      R"(
  <route id="webhook">
    <from uri="http:127.0.0.1:)" +
          std::to_string(port) +
          R"(/hooks/payment?methods=POST&amp;hmac-secret=${env:HOOK_SECRET}&amp;hmac-header=X-Hub-Signature-256"/>
    <log message="webhook ran with ${body}"/>
    <set-header name="http.status" constant="202"/>
  </route>)",
      {{"HOOK_SECRET", "s3cret"}});
  ASSERT_TRUE(bus.ready()) << bus.output();
  const std::string body_file = dir.write("body.json", R"({"paid":true})");
  const std::string signature = hmac(dir, "s3cret", body_file);
  ASSERT_EQ(signature.size(), 64U);
  const std::string hook = url(port, "/hooks/payment");

  const Answer good = curl(
      {"-H", "X-Hub-Signature-256: sha256=" + signature, "--data-binary", "@" + body_file}, hook);
  EXPECT_EQ(good.status, 202) << good.headers << good.body << bus.output();
  EXPECT_TRUE(bus.waitFor(R"(webhook ran with {"paid":true})")) << bus.output();

  const std::string wrong = hmac(dir, "not-the-secret", body_file);
  const Answer bad =
      curl({"-H", "X-Hub-Signature-256: sha256=" + wrong, "--data-binary", "@" + body_file}, hook);
  EXPECT_EQ(bad.status, 401) << bad.headers;
  EXPECT_TRUE(contains(bad.body, "does not match")) << bad.body;

  // A signature of another body.
  const Answer tampered =
      curl({"-H", "X-Hub-Signature-256: " + signature, "--data-binary", R"({"paid":false})"}, hook);
  EXPECT_EQ(tampered.status, 401) << tampered.headers;

  const Answer unsigned_request = curl({"--data-binary", "@" + body_file}, hook);
  EXPECT_EQ(unsigned_request.status, 401) << unsigned_request.headers;
  EXPECT_TRUE(contains(unsigned_request.body, "missing signature header X-Hub-Signature-256"))
      << unsigned_request.body;

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(bus.output(), "webhook ran with"), 1U) << bus.output();
}

}  // namespace
}  // namespace busway::testing::http
