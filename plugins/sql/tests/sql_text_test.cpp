#include "sql_text.hpp"

#include <gtest/gtest.h>

namespace busway::sql {
namespace {

TEST(SqlText, NamedParametersBecomePositionalForSqlite) {
  const auto statements =
      compile("INSERT INTO t(a, b) VALUES (:header.sku, :body.qty)", Dialect::sqlite);
  ASSERT_EQ(statements.size(), 1U);
  EXPECT_EQ(statements[0].text, "INSERT INTO t(a, b) VALUES (?, ?)");
  ASSERT_EQ(statements[0].parameters.size(), 2U);
  EXPECT_EQ(statements[0].parameters[0].source, Parameter::Source::header);
  EXPECT_EQ(statements[0].parameters[0].name, "sku");
  EXPECT_EQ(statements[0].parameters[1].source, Parameter::Source::body);
  EXPECT_EQ(statements[0].parameters[1].name, "qty");
}

TEST(SqlText, PostgresNumbersPlaceholdersPerStatementAndKeepsCasts) {
  const auto statements = compile(
      "UPDATE s SET q = q - :body.qty::int WHERE sku = :body.sku; INSERT INTO o VALUES "
      "(:header.x-id)",
      Dialect::postgresql);
  ASSERT_EQ(statements.size(), 2U);
  EXPECT_EQ(statements[0].text, "UPDATE s SET q = q - $1::int WHERE sku = $2");
  EXPECT_EQ(statements[1].text, " INSERT INTO o VALUES ($1)");
  EXPECT_EQ(statements[1].parameters[0].name, "x-id");
}

TEST(SqlText, QuotesAndCommentsAreLeftAlone) {
  const auto statements = compile(
      "SELECT ':body.x', \"a;b\" FROM t -- :header.y;\nWHERE c = 'it''s; :no' /* ; :body.z */",
      Dialect::sqlite);
  ASSERT_EQ(statements.size(), 1U);
  EXPECT_TRUE(statements[0].parameters.empty());
}

TEST(SqlText, NamesEndBeforeOperatorsAndDots) {
  const auto statements = compile("SELECT :body.qty-1, :body.items.0.sku.", Dialect::sqlite);
  ASSERT_EQ(statements[0].parameters.size(), 2U);
  EXPECT_EQ(statements[0].parameters[0].name, "qty");
  EXPECT_EQ(statements[0].text, "SELECT ?-1, ?.");
  EXPECT_EQ(statements[0].parameters[1].name, "items.0.sku");
  EXPECT_EQ(splitPath("items.0.sku"), (std::vector<std::string>{"items", "0", "sku"}));
}

TEST(SqlText, WholeBodyAndEmptyStatements) {
  const auto statements = compile(";INSERT INTO t VALUES (:body);; ", Dialect::sqlite);
  ASSERT_EQ(statements.size(), 1U);
  EXPECT_TRUE(statements[0].parameters[0].name.empty());
}

TEST(SqlText, ErrorsSayWhatAndWhere) {
  try {
    compile("SELECT * FROM t WHERE id = :id", Dialect::sqlite);
    FAIL() << "no error";
  } catch (const SqlTextError& e) {
    EXPECT_NE(std::string(e.what()).find(":id"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("character 28"), std::string::npos) << e.what();
  }
  EXPECT_THROW(compile("SELECT 'open", Dialect::sqlite), SqlTextError);
  EXPECT_THROW(compile("  ; -- nothing", Dialect::sqlite), SqlTextError);
}

TEST(SqlText, SqlStateFromPocoText) {
  EXPECT_EQ(
      sqlState("postgresql_stmt_execute error: ERROR: duplicate key Severity: ERROR State: 23505 "
               "Detail: N/A"),
      "23505");
  EXPECT_EQ(
      sqlState("server closed the connection unexpectedly Severity: N/A State: N/A Detail: N/A"),
      "");
  EXPECT_EQ(sqlState("no state here"), "");
}

TEST(SqlText, ConnectTimeoutIsAddedOnce) {
  using std::chrono::seconds;
  EXPECT_EQ(withConnectTimeout("host=db dbname=shop", seconds(10)),
            "host=db dbname=shop connect_timeout=10");
  EXPECT_EQ(withConnectTimeout("postgresql://bus@db/shop", seconds(7)),
            "postgresql://bus@db/shop?connect_timeout=7");
  EXPECT_EQ(withConnectTimeout("postgresql://db/shop?sslmode=require", seconds(1)),
            "postgresql://db/shop?sslmode=require&connect_timeout=2");
  EXPECT_EQ(withConnectTimeout("host=db connect_timeout=3", seconds(10)),
            "host=db connect_timeout=3");
}

}  // namespace
}  // namespace busway::sql
