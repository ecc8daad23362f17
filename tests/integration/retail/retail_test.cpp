// The retail example, run as the README runs it (docs/examples/retail/run.sh), and checked
// system by system: the inventory database, the shipping drops, the invoices, the CRM's
// webhooks and the answers the shop got.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"

namespace busway::testing {
namespace {

namespace fs = std::filesystem;

const std::string kBusway = BUSWAY_EXE;
const std::string kSource = BUSWAY_SOURCE_DIR;

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t filesIn(const fs::path& dir, const std::string& extension) {
  std::size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == extension) ++n;
  return n;
}

// sku -> qty, from the inventory database, through the sqlite3 program.
std::map<std::string, long> stock(const fs::path& db) {
  const auto r =
      runCommand({"sqlite3", "-separator", " ", db.string(), "SELECT sku, qty FROM stock"});
  std::map<std::string, long> out;
  std::istringstream in(r.out);
  std::string sku;
  long qty = 0;
  while (in >> sku >> qty) out[sku] = qty;
  return out;
}

TEST(RetailExample, EveryOrderEndsWhereItBelongs) {
  TempDir dir;
  const fs::path work = fs::path(dir.path()) / "retail";
  const auto run = runCommand({"bash", kSource + "/docs/examples/retail/run.sh", "--busway",
                               kBusway, "--dir", work.string(), "--orders", "20"},
                              std::chrono::minutes(3));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err << readFile(work / "bus.log");
  EXPECT_NE(run.out.find("every order is where it belongs."), std::string::npos) << run.out;

  // What the shop sent and what it got back.
  std::map<std::string, long> ordered;  // sku -> quantity of the accepted orders
  std::size_t accepted = 0, refused = 0;
  for (const auto& entry : fs::directory_iterator(work / "replies")) {
    const auto reply = nlohmann::json::parse(readFile(entry.path()));
    const auto order = nlohmann::json::parse(readFile(work / "orders" / entry.path().filename()));
    const std::string number = entry.path().stem().string();
    if (reply.at("status") == 201) {
      ++accepted;
      EXPECT_EQ(nlohmann::json::parse(reply.at("body").get<std::string>()).at("orderNumber"),
                number);
      for (const auto& item : order.at("items"))
        ordered[item.at("sku")] += std::stol(item.at("qty").get<std::string>());
      // Every accepted order reached each system, under its own number.
      EXPECT_TRUE(fs::exists(work / "shipping" / (number + ".csv"))) << number;
      EXPECT_TRUE(fs::exists(work / "accounting" / ("INV-" + number + ".xml"))) << number;
      EXPECT_TRUE(fs::exists(work / "crm" / (number + ".json"))) << number;
    } else {
      ++refused;
      EXPECT_EQ(reply.at("status"), 409) << number << ": " << reply.dump();
      EXPECT_TRUE(fs::exists(work / "backorders" / (number + ".json"))) << number;
      EXPECT_FALSE(fs::exists(work / "shipping" / (number + ".csv"))) << number;
    }
  }
  // Every fifth order wants 3 of the 3 desk lamps: the first gets them, the others are refused.
  EXPECT_EQ(accepted, 17u);
  EXPECT_EQ(refused, 3u);
  EXPECT_EQ(filesIn(work / "shipping", ".csv"), accepted);
  EXPECT_EQ(filesIn(work / "accounting", ".xml"), accepted);
  EXPECT_EQ(filesIn(work / "crm", ".json"), accepted);  // one webhook per order
  EXPECT_FALSE(fs::exists(work / "dead-letters"))
      << "nothing may be dead-lettered in a healthy run";

  // The inventory lost exactly what the accepted orders took (refused ones took nothing).
  const std::map<std::string, long> initial = {{"MUG-001", 40}, {"TEA-042", 25}, {"PEN-007", 12},
                                               {"INK-007", 30}, {"LMP-100", 3},  {"NBK-A5", 50}};
  const auto now = stock(work / "inventory.db");
  for (const auto& [sku, qty] : initial) EXPECT_EQ(now.at(sku), qty - ordered[sku]) << sku;
  EXPECT_EQ(now.at("LMP-100"), 0);

  // Shipping reads CSV with a header row; accounting gets invoices valid against the XSD.
  const std::string csv = readFile(work / "shipping" / "WS-10001.csv");
  EXPECT_EQ(csv.rfind("order,name,street,postcode,city,country,items\r\n", 0), 0u) << csv;
  EXPECT_NE(csv.find("WS-10001,Luca Meier,Seestrasse 12,8002,"), std::string::npos) << csv;
  const auto xsd =
      runCommand({"xmllint", "--noout", "--schema", kSource + "/schemas/canonical/invoice-1.xsd",
                  (work / "accounting" / "INV-WS-10001.xml").string()});
  EXPECT_EQ(xsd.exit_code, 0) << xsd.err;
  const auto webhook = nlohmann::json::parse(readFile(work / "crm" / "WS-10001.json"));
  EXPECT_EQ(webhook.at("event"), "order.created");
  EXPECT_EQ(webhook.at("currency"), "CHF");
}

TEST(RetailExample, ItsRouteTestsPass) {
  const auto r = runCommand({kBusway, "test", kSource + "/docs/examples/retail/tests"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 passed, 0 failed"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace busway::testing
