// The retail flow of docs/examples/transforms/shop-order-to-invoice.xml, as shipped: a web
// shop order (JSON) -> <map> to the canonical Order (XML) -> <validate xsd> -> <xslt> to the
// canonical Invoice -> <validate xsd>. Only the two queue endpoints are swapped for mocks.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <pugixml.hpp>

#include "transform_test_support.hpp"

namespace busway::testing {
namespace {

using ::testing::HasSubstr;

const std::string kExamples = std::string(BUSWAY_SOURCE_DIR) + "/docs/examples/transforms/";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
}

// The example table with paths made absolute (the harness loads from memory) and mocks
// standing in for the queues.
std::string exampleTable() {
  std::string table = slurp(kExamples + "shop-order-to-invoice.xml");
  replaceAll(table, "xsd=\"../../../schemas/",
             "xsd=\"" + std::string(BUSWAY_SOURCE_DIR) + "/schemas/");
  replaceAll(table, "stylesheet=\"order-to-invoice.xsl\"",
             "stylesheet=\"" + kExamples + "order-to-invoice.xsl\"");
  replaceAll(table, "uri=\"queue:invoices\"", "uri=\"mock:invoices\"");
  replaceAll(table, "uri=\"queue:rejected-orders\"", "uri=\"mock:rejected\"");
  return table;
}

std::string text(const pugi::xml_document& doc, const char* xpath) {
  return doc.select_node(xpath).node().text().as_string();
}

TEST(RetailFlow, AShopOrderBecomesAValidCanonicalInvoice) {
  RouteHarness h;
  h.load(exampleTable());
  Message order(Body::make(slurp(kExamples + "shop-order.json"), "application/json"));
  order.headers().set("invoice-number", std::string("INV-2026-0001"));
  order.headers().set("issue-date", std::string("2026-03-02"));
  auto exchange = h.send("direct:shop-orders", order);
  ASSERT_TRUE(exchange);
  ASSERT_FALSE(exchange->failed()) << exchange->error->describe();
  ASSERT_EQ(h.mock("invoices").count(), 1u);
  const auto invoice = h.mock("invoices").messages()[0];
  EXPECT_EQ(invoice.body().mediaType(), "application/xml");
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(std::string(invoice.bodyText()).c_str())) << invoice.bodyText();
  EXPECT_EQ(text(doc, "/*[local-name()='Invoice']/*[local-name()='invoiceNumber']"),
            "INV-2026-0001");
  EXPECT_EQ(text(doc, "//*[local-name()='issueDate']"), "2026-03-02");
  EXPECT_EQ(text(doc, "//*[local-name()='dueDate']"), "2026-03-16");  // EXSLT date:add, 14 days
  EXPECT_EQ(text(doc, "//*[local-name()='orderNumber']"), "WS-10042");
  EXPECT_EQ(text(doc, "//*[local-name()='customer']/*[local-name()='name']"), "Anna Berg");
  EXPECT_EQ(text(doc, "//*[local-name()='billingAddress']/*[local-name()='country']"), "DE");
  EXPECT_EQ(doc.select_nodes("//*[local-name()='line']").size(), 2u);
  EXPECT_EQ(text(doc, "//*[local-name()='net']"), "28.10");
  EXPECT_EQ(text(doc, "//*[local-name()='gross']"), "33.12");
  EXPECT_EQ(h.mock("rejected").count(), 0u);
}

TEST(RetailFlow, AnOrderTheModelRejectsIsDeadLetteredWithTheReason) {
  RouteHarness h;
  h.load(exampleTable());
  std::string order = slurp(kExamples + "shop-order.json");
  replaceAll(order, "\"mail\": \"anna.berg@example.com\"", "\"mail\": \"anna.berg-at-example\"");
  replaceAll(order, "\"qty\": \"2\"", "\"qty\": \"0\"");
  h.sendBody("direct:shop-orders", order);
  ASSERT_TRUE(h.mock("rejected").waitFor(1));
  const auto dead = h.mock("rejected").messages()[0];
  const std::string reason = dead.headers().text("busway.failure.reason");
  EXPECT_THAT(reason, HasSubstr("schemas/canonical/order-1.xsd"));
  EXPECT_THAT(reason, HasSubstr("email"));
  EXPECT_THAT(reason, HasSubstr("quantity"));
  EXPECT_EQ(dead.headers().text("busway.failure.attempts"), "1");  // invalid: not retried
  EXPECT_EQ(dead.bodyText(), order);  // the original message, nothing lost
  EXPECT_EQ(h.mock("invoices").count(), 0u);
}

}  // namespace
}  // namespace busway::testing
