// The http plugin as a server: curl (a real client) against a bus with http: routes.
#include <string>

#include "http_fixture.hpp"

namespace busway::testing::http {
namespace {

TEST(HttpServer, RequestReplyWithPathParametersAndHeaders) {
  TempDir dir;
  const int port = freePort();
  const std::string p = std::to_string(port);
  Bus bus(dir, "server",
          R"(
  <route id="orders">
    <from uri="http:127.0.0.1:)" +
              p + R"(/orders/{id}?methods=POST,PUT"/>
    <log message="ran ${header.http.param.id} ${header.http.method} ${header.http.path} q=${header.http.query} trace=${header.http.header.x-trace} tags=${header.http.header.x-tag}"/>
    <set-header name="http.response.header.X-Order" header="http.param.id"/>
    <set-header name="http.status" constant="201"/>
  </route>
  <route id="status">
    <from uri="http:127.0.0.1:)" +
              p + R"(/status"/>
    <set-body media-type="application/json">{"up": true, "method": "${header.http.method}"}</set-body>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();

  // The route's reply (here: the request body, unchanged) is the response.
  const std::string order = R"({"id":"A17","lines":[{"sku":"x","qty":2}]})";
  const Answer created =
      curl({"-X", "POST", "-H", "Content-Type: application/json; charset=utf-8", "-H",
            "X-Trace: t-1", "-H", "X-Tag: a", "-H", "X-Tag: b", "--data-binary", order},
           url(port, "/orders/A17?source=shop"));
  EXPECT_EQ(created.status, 201) << created.headers << created.curl_err << bus.output();
  EXPECT_EQ(created.body, order);
  EXPECT_TRUE(contains(created.headers, "X-Order: A17")) << created.headers;
  EXPECT_TRUE(contains(created.headers, "Content-Type: application/json")) << created.headers;
  EXPECT_TRUE(bus.waitFor("ran A17 POST /orders/A17 q=source=shop trace=t-1 tags=a, b"))
      << bus.output();

  // A second route on the same port (one server per port).
  const Answer status = curl({}, url(port, "/status"));
  EXPECT_EQ(status.status, 200) << status.headers << bus.output();
  EXPECT_EQ(status.body, R"({"up": true, "method": "GET"})");

  // Percent-encoded path parameters arrive decoded.
  const Answer encoded = curl({"-X", "PUT", "--data-binary", "{}"}, url(port, "/orders/a%20b"));
  EXPECT_EQ(encoded.status, 201) << encoded.headers;
  EXPECT_TRUE(contains(encoded.headers, "X-Order: a b")) << encoded.headers;
}

TEST(HttpServer, RefusesBadRequestsWithoutRunningTheRoute) {
  TempDir dir;
  const int port = freePort();
  const std::string p = std::to_string(port);
  Bus bus(dir, "server",
          R"(
  <route id="orders">
    <from uri="http:127.0.0.1:)" +
              p + R"(/orders/{id}?methods=POST&amp;max-body=1KB"/>
    <log message="route ran for ${header.http.param.id}"/>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();

  const Answer unknown = curl({}, url(port, "/invoices/1"));
  EXPECT_EQ(unknown.status, 404) << unknown.headers;
  EXPECT_TRUE(contains(unknown.body, "\"error\":\"no route for /invoices/1")) << unknown.body;

  const Answer wrong_method = curl({}, url(port, "/orders/1"));
  EXPECT_EQ(wrong_method.status, 405) << wrong_method.headers;
  EXPECT_TRUE(contains(wrong_method.headers, "Allow: POST")) << wrong_method.headers;

  const Answer too_large =
      curl({"-X", "POST", "--data-binary", std::string(2048, 'x')}, url(port, "/orders/2"));
  EXPECT_EQ(too_large.status, 413) << too_large.headers << too_large.curl_err;
  EXPECT_TRUE(contains(too_large.body, "max-body")) << too_large.body;

  // Chunked bodies are held to the same limit.
  const Answer too_large_chunked = curl(
      {"-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", std::string(4096, 'y')},
      url(port, "/orders/3"));
  EXPECT_EQ(too_large_chunked.status, 413)
      << too_large_chunked.headers << too_large_chunked.curl_err;

  // Not HTTP at all.
  const std::string garbage = rawExchange(port, "GARBAGE\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0U) << garbage;
  // HTTP with a Content-Length that is not a number.
  const std::string bad_length =
      rawExchange(port, "POST /orders/4 HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n{}");
  EXPECT_EQ(bad_length.rfind("HTTP/1.1 400", 0), 0U) << bad_length;
  // A body shorter than announced (the client gives up): no route either.
  const std::string short_body =
      rawExchange(port, "POST /orders/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}",
                  std::chrono::seconds(2));

  // Only a good request runs the route.
  const Answer good = curl({"-X", "POST", "--data-binary", "ok"}, url(port, "/orders/6"));
  EXPECT_EQ(good.status, 200) << good.headers;
  ASSERT_TRUE(bus.waitFor("route ran for 6")) << bus.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(count(bus.output(), "route ran for"), 1U) << bus.output();
}

TEST(HttpServer, RouteFailureGives500AndSlowRouteGives504) {
  TempDir dir;
  const int port = freePort();
  const int closed_port = freePort();  // nothing listens there
  const std::string p = std::to_string(port);
  Bus bus(dir, "server",
          R"(
  <route id="failing">
    <from uri="http:127.0.0.1:)" +
              p + R"(/fail"/>
    <to uri="http://127.0.0.1:)" +
              std::to_string(closed_port) + R"(/nowhere?connect-timeout=2s"/>
  </route>
  <route id="slow">
    <from uri="http:127.0.0.1:)" +
              p + R"(/slow?timeout=300ms"/>
    <delay duration="2s"/>
    <log message="slow route finished"/>
  </route>)");
  ASSERT_TRUE(bus.ready()) << bus.output();

  const Answer failed = curl({"-X", "POST", "--data-binary", "{}"}, url(port, "/fail"));
  EXPECT_EQ(failed.status, 500) << failed.headers << bus.output();
  EXPECT_TRUE(contains(failed.body, "connection refused")) << failed.body;
  EXPECT_TRUE(contains(failed.headers, "Content-Type: application/json")) << failed.headers;

  const Answer slow = curl({}, url(port, "/slow"));
  EXPECT_EQ(slow.status, 504) << slow.headers;
  EXPECT_TRUE(contains(slow.body, "may still complete")) << slow.body;
  // ...and it does.
  EXPECT_TRUE(bus.waitFor("slow route finished")) << bus.output();
}

}  // namespace
}  // namespace busway::testing::http
