// The sql plugin through the real busway binary, against a real SQLite file (sqlite3 CLI
// to set up and check) and a real PostgreSQL 15 started for this test binary.
#include <chrono>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "servers/postgres_server.hpp"
#include "servers/server_support.hpp"

namespace busway::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBusway = BUSWAY_EXE;

int count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1))
    ++n;
  return n;
}

std::string table(const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<routes xmlns=\"urn:busway:routes:1\" "
         "version=\"1\">\n" +
         body + "\n</routes>\n";
}

// Polls `probe` until it returns true or `timeout` passes.
bool eventually(const std::function<bool()>& probe, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return probe();
}

// ---------------------------------------------------------------------------------------
// SQLite

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override { sqlite3_ = requireProgram({"sqlite3"}, "servers"); }

  std::string db() const { return dir_.file("shop.db"); }
  std::string sql(const std::string& statements) const {
    const auto result = runCommand({sqlite3_, "-cmd", ".timeout 10000", db(), statements});
    EXPECT_EQ(result.exit_code, 0) << statements << ": " << result.err;
    std::string out = result.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  void run(const std::string& routes) {
    ASSERT_TRUE(bus_.start({kBusway, "run", dir_.write("routes.xml", table(routes))}, dir_.path()));
  }

  std::string logs() const { return bus_.out() + bus_.err(); }

  TempDir dir_;
  mutable ChildProcess bus_;
  std::string sqlite3_;
};

TEST_F(SqliteTest, InsertBindsHeadersAndBodyFieldsSoQuotesAndInjectionAreJustData) {
  sql("CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL, note TEXT);");
  run(R"(<route id="insert">
    <from uri="timer:go?period=100ms&amp;count=1"/>
    <set-header name="sku" constant="x'; DROP TABLE stock; --"/>
    <set-body media-type="application/json">{"qty": 7, "note": "it's \"quoted\"; DROP TABLE stock"}</set-body>
    <to uri="sql:)" +
      db() +
      R"x(?query=INSERT INTO stock(sku, qty, note) VALUES (:header.sku, :body.qty, :body.note)" pattern="in-out"/>
    <log message="inserted ${header.sql.row-count}"/>
  </route>)x");
  ASSERT_TRUE(bus_.waitForOutput("inserted 1", 30s)) << logs();
  EXPECT_EQ(sql("SELECT sku, qty, note FROM stock;"),
            "x'; DROP TABLE stock; --|7|it's \"quoted\"; DROP TABLE stock");
}

TEST_F(SqliteTest, SelectGivesAJsonArrayAndTheRowCount) {
  sql("CREATE TABLE stock(sku TEXT, qty INTEGER, price REAL); INSERT INTO stock VALUES ('a', 5, "
      "1.5), ('b', 0, NULL);");
  run(R"(<route id="select">
    <from uri="timer:go?period=100ms&amp;count=1"/>
    <set-header name="min" constant="0"/>
    <to uri="sql:)" +
      db() +
      R"(?query=SELECT sku, qty, price FROM stock WHERE qty >= :header.min ORDER BY sku" pattern="in-out"/>
    <log message="rows=${header.sql.row-count} body=${body}"/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput(
      R"(rows=2 body=[{"price":1.5,"qty":5,"sku":"a"},{"price":null,"qty":0,"sku":"b"}])", 30s))
      << logs();
}

TEST_F(SqliteTest, BatchInsertRunsOncePerElementInOneTransaction) {
  sql("CREATE TABLE lines(sku TEXT PRIMARY KEY, qty INTEGER);");
  run(R"(<route id="batch">
    <error-handler dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:go?period=500ms&amp;count=2"/>
    <choice>
      <when simple="header.timer.count == 1">
        <set-body media-type="application/json">[{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}, {"sku": "c", "qty": 3}]</set-body>
      </when>
      <otherwise>
        <!-- "d" is new but "a" is a duplicate: the whole batch is rolled back -->
        <set-body media-type="application/json">[{"sku": "d", "qty": 4}, {"sku": "a", "qty": 9}]</set-body>
      </otherwise>
    </choice>
    <to uri="sql:)" +
      db() +
      R"x(?query=INSERT INTO lines(sku, qty) VALUES (:body.sku, :body.qty)" pattern="in-out"/>
    <log message="batch rows=${header.sql.row-count}"/>
  </route>)x");
  ASSERT_TRUE(bus_.waitForOutput("batch rows=3", 30s)) << logs();
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  EXPECT_NE(logs().find("constraint violated"), std::string::npos) << logs();
  EXPECT_NE(logs().find("batch element 1"), std::string::npos) << logs();
  EXPECT_EQ(sql("SELECT sku || '=' || qty FROM lines ORDER BY sku;"), "a=1\nb=2\nc=3");
}

TEST_F(SqliteTest, ExpectRowsRollsBackEveryStatementAndDeadLetters) {
  sql("CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL); INSERT INTO stock VALUES "
      "('a', 1);"
      "CREATE TABLE orders(id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT);");
  // Two orders of one 'a' each: the first takes the last one, the second is out of stock.
  // The order INSERT comes first, so a rollback must undo it.
  run(R"(<route id="order">
    <error-handler max-attempts="3" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:go?period=500ms&amp;count=2"/>
    <set-body media-type="application/json">{"sku": "a", "qty": 1, "n": ${header.timer.count}}</set-body>
    <to uri="sql:)" +
      db() +
      R"(?query=INSERT INTO orders(sku) VALUES (:body.sku); UPDATE stock SET qty = qty - :body.qty WHERE sku = :body.sku AND qty >= :body.qty&amp;expect-rows=1" pattern="in-out"/>
    <log message="ordered ${$.n}"/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput("ordered 1", 30s)) << logs();
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  const std::string out = logs();
  EXPECT_NE(
      out.find("affected 0 row(s), expected 1 (expect-rows); the transaction was rolled back"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("busway.failure.kind=permanent"), std::string::npos) << out;
  EXPECT_NE(out.find("busway.failure.attempts=1"), std::string::npos)
      << out;  // permanent: not retried
  EXPECT_NE(out.find("timer.count=2, busway.failure.reason"), std::string::npos)
      << out;  // the second order
  EXPECT_EQ(sql("SELECT qty FROM stock;"), "0");
  EXPECT_EQ(sql("SELECT count(*) FROM orders;"), "1");
}

TEST_F(SqliteTest, ASessionIsUsableAgainAfterARolledBackTransaction) {
  sql("CREATE TABLE stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL); INSERT INTO stock VALUES "
      "('a', 0), ('b', 5);");
  // One session (pool-size=1): the first order ('a', out of stock) is rolled back, and the
  // same session must then run the next orders ('b') in fresh transactions that commit.
  run(R"(<route id="order">
    <error-handler max-attempts="1" dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:go?period=300ms&amp;count=3"/>
    <set-body media-type="application/json">{"n": ${header.timer.count}}</set-body>
    <choice>
      <when simple="$.n == 1"><set-body media-type="application/json">{"sku": "a", "n": 1}</set-body></when>
      <otherwise><set-body media-type="application/json">{"sku": "b", "n": ${header.timer.count}}</set-body></otherwise>
    </choice>
    <to uri="sql:)" +
      db() +
      R"(?pool-size=1&amp;query=UPDATE stock SET qty = qty - 1 WHERE sku = :body.sku AND qty >= 1&amp;expect-rows=1" pattern="in-out"/>
    <log message="ordered ${$.n}"/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput("ordered 3", 30s)) << logs();
  EXPECT_NE(logs().find("ordered 2"), std::string::npos) << logs();
  EXPECT_EQ(logs().find("within a transaction"), std::string::npos) << logs();
  EXPECT_EQ(sql("SELECT sku || '=' || qty FROM stock ORDER BY sku;"), "a=0\nb=3");
}

TEST_F(SqliteTest, ConcurrentWritersAllCommit) {
  sql("CREATE TABLE hits(n INTEGER PRIMARY KEY);");
  run(R"(<route id="hits">
    <error-handler max-attempts="10" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:go?period=10ms&amp;count=60"/>
    <set-body media-type="application/json">{"n": ${header.timer.count}}</set-body>
    <to uri="sql:)" +
      db() + R"x(?pool-size=4&amp;query=INSERT INTO hits(n) VALUES (:body.n)"/>
  </route>)x");
  ASSERT_TRUE(eventually([&] { return sql("SELECT count(*) FROM hits;") == "60"; }, 60s)) << logs();
  EXPECT_EQ(sql("SELECT min(n) || '-' || max(n) FROM hits;"), "1-60");
  EXPECT_EQ(logs().find("[dead]"), std::string::npos) << logs();
}

TEST_F(SqliteTest, MissingTableGoesToTheDeadLetterWithTheSqlError) {
  sql("CREATE TABLE t(x INTEGER);");
  run(R"(<route id="bad">
    <error-handler dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:go?period=100ms&amp;count=1"/>
    <set-body media-type="application/json">{"x": 1}</set-body>
    <to uri="sql:)" +
      db() + R"x(?query=INSERT INTO no_such_table(x) VALUES (:body.x)"/>
  </route>)x");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 30s)) << logs();
  EXPECT_NE(logs().find("no such table: no_such_table"), std::string::npos) << logs();
  EXPECT_NE(logs().find("busway.failure.kind=permanent"), std::string::npos) << logs();
}

TEST_F(SqliteTest, ConsumerMarksRowsDoneOnlyAfterTheRouteAcknowledged) {
  sql("CREATE TABLE outbox(id INTEGER PRIMARY KEY, payload TEXT, done INTEGER NOT NULL DEFAULT 0);"
      "INSERT INTO outbox(id, payload) VALUES (1, 'one'), (2, 'bad'), (3, 'three');");
  run(R"(<route id="outbox">
    <from uri="sql:)" +
      db() +
      R"(?query=SELECT id, payload FROM outbox WHERE done = 0 ORDER BY id&amp;poll=200ms&amp;on-consume=UPDATE outbox SET done = 1 WHERE id = :body.id"/>
    <choice>
      <when jsonpath="$.payload == 'bad'"><to uri="direct:nowhere"/></when>
    </choice>
    <log message="consumed ${$.payload}"/>
  </route>)");
  ASSERT_TRUE(eventually([&] { return sql("SELECT count(*) FROM outbox WHERE done = 1;") == "2"; }))
      << logs();
  // The failing row stays for the next poll and is tried again, never marked.
  ASSERT_TRUE(eventually([&] { return count(logs(), "direct:nowhere") >= 2; })) << logs();
  EXPECT_EQ(sql("SELECT id FROM outbox WHERE done = 0;"), "2");
  sql("INSERT INTO outbox(id, payload) VALUES (4, 'four');");
  ASSERT_TRUE(bus_.waitForOutput("consumed four", 30s)) << logs();
  ASSERT_TRUE(eventually([&] { return sql("SELECT done FROM outbox WHERE id = 4;") == "1"; }));
  const std::string out = logs();
  EXPECT_EQ(count(out, "consumed one"), 1) << out;
  EXPECT_EQ(count(out, "consumed three"), 1) << out;
  EXPECT_EQ(count(out, "consumed four"), 1) << out;
  EXPECT_EQ(count(out, "consumed bad"), 0) << out;
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: one server for the whole binary.

PostgresServer& postgres() {
  static PostgresServer server;
  return server;
}

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!postgres().running()) postgres().start();  // a test that stopped it and failed
  }
  // The endpoint's connection; the password comes from the environment through ${env:...}.
  static std::string database() {
    return "database=" + postgres().connectionString() + " password=${env:BUSWAY_TEST_PG_PASSWORD}";
  }
  static std::string uri(const std::string& query) {
    return "sql:shop?driver=postgresql&amp;" + database() + "&amp;query=" + query;
  }
  void run(const std::string& routes) {
    ASSERT_TRUE(bus_.start({kBusway, "run", dir_.write("routes.xml", table(routes))}, dir_.path(),
                           {{"BUSWAY_TEST_PG_PASSWORD", PostgresServer::password()}}));
  }

  std::string logs() const { return bus_.out() + bus_.err(); }

  TempDir dir_;
  mutable ChildProcess bus_;
};

TEST_F(PostgresTest, InsertAndSelectWithBoundParameters) {
  postgres().psql(
      "DROP TABLE IF EXISTS pg_stock; CREATE TABLE pg_stock(sku text PRIMARY KEY, qty integer NOT "
      "NULL, "
      "price numeric(8,2), active boolean)");
  run(R"(<route id="insert">
    <from uri="timer:go?period=300ms&amp;count=2"/>
    <set-header name="sku" constant="x'; DROP TABLE pg_stock; --"/>
    <set-body media-type="application/json">{"qty": ${header.timer.count}, "price": 2.5, "active": true}</set-body>
    <to uri=")" +
      uri("INSERT INTO pg_stock(sku, qty, price, active) VALUES (:header.sku || :body.qty::text, "
          ":body.qty, :body.price, :body.active)") +
      R"(" pattern="in-out"/>
    <to uri=")" +
      uri("SELECT sku, qty, price, active FROM pg_stock WHERE qty &lt;= :body.qty ORDER BY qty") +
      R"(" pattern="in-out"/>
    <log message="rows=${header.sql.row-count} body=${body}"/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput("rows=2 body=", 60s)) << logs();
  const std::string out = logs();
  EXPECT_NE(out.find(R"("active":true,"price":2.5,"qty":1,"sku":"x'; DROP TABLE pg_stock; --1")"),
            std::string::npos)
      << out;
  EXPECT_EQ(postgres().psql("SELECT count(*) FROM pg_stock"), "2");
}

TEST_F(PostgresTest, BatchAndExpectRowsRollBack) {
  postgres().psql(
      "DROP TABLE IF EXISTS pg_items, pg_orders; CREATE TABLE pg_items(sku text PRIMARY KEY, qty "
      "integer NOT NULL);"
      "CREATE TABLE pg_orders(id serial PRIMARY KEY, sku text, qty integer)");
  run(R"(<route id="load">
    <error-handler dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:load?period=100ms&amp;count=1"/>
    <set-body media-type="application/json">[{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]</set-body>
    <to uri=")" +
      uri("INSERT INTO pg_items(sku, qty) VALUES (:body.sku, :body.qty)") + R"(" pattern="in-out"/>
    <log message="loaded ${header.sql.row-count}"/>
    <to uri="queue:orders"/>
  </route>
  <route id="order">
    <error-handler dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="queue:orders"/>
    <!-- a and b together in one transaction: b runs out on the second order -->
    <set-body media-type="application/json">[{"sku": "a", "qty": 1}, {"sku": "b", "qty": 1}]</set-body>
    <to uri=")" +
      uri("INSERT INTO pg_orders(sku, qty) VALUES (:body.sku, :body.qty); UPDATE pg_items SET qty "
          "= qty - :body.qty::int WHERE sku = :body.sku AND qty >= :body.qty::int") +
      R"(&amp;expect-rows=1" pattern="in-out"/>
    <log message="ordered ${header.sql.row-count}"/>
    <to uri="queue:again"/>
  </route>
  <route id="again">
    <from uri="queue:again"/>
    <to uri="queue:orders"/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput("loaded 2", 60s)) << logs();
  ASSERT_TRUE(bus_.waitForOutput("ordered 4", 60s)) << logs();
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 60s)) << logs();
  EXPECT_NE(logs().find("expected 1 (expect-rows); the transaction was rolled back"),
            std::string::npos)
      << logs();
  EXPECT_EQ(postgres().psql("SELECT sku || '=' || qty FROM pg_items ORDER BY sku"), "a=1\nb=0");
  EXPECT_EQ(postgres().psql("SELECT count(*) FROM pg_orders"), "2");
}

TEST_F(PostgresTest, ConstraintViolationIsPermanentAndDeadLettered) {
  postgres().psql("DROP TABLE IF EXISTS pg_unique; CREATE TABLE pg_unique(id integer PRIMARY KEY)");
  run(R"(<route id="dup">
    <error-handler max-attempts="5" delay="100ms" dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:go?period=300ms&amp;count=2"/>
    <set-body media-type="application/json">{"id": 42}</set-body>
    <to uri=")" +
      uri("INSERT INTO pg_unique(id) VALUES (:body.id)") + R"("/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput("[dead]", 60s)) << logs();
  const std::string out = logs();
  EXPECT_NE(out.find("constraint violated"), std::string::npos) << out;
  EXPECT_NE(out.find("23505"), std::string::npos) << out;
  EXPECT_NE(out.find("busway.failure.attempts=1"), std::string::npos) << out;
  EXPECT_EQ(postgres().psql("SELECT count(*) FROM pg_unique"), "1");
}

TEST_F(PostgresTest, ListenNotifyTriggersAPollAtOnce) {
  postgres().psql(
      "DROP TABLE IF EXISTS pg_jobs; CREATE TABLE pg_jobs(id integer PRIMARY KEY, name text, "
      "done boolean NOT NULL DEFAULT false)");
  // An hour between polls: only the first poll and NOTIFY can bring rows in time.
  run(R"(<route id="jobs">
    <from uri=")" +
      uri("SELECT id, name FROM pg_jobs WHERE NOT done ORDER BY id") +
      R"(&amp;poll=1h&amp;listen=jobs&amp;on-consume=UPDATE pg_jobs SET done = true WHERE id = :body.id"/>
    <log message="job ${$.name}"/>
  </route>)");
  ASSERT_TRUE(bus_.waitForOutput("generation 1 running", 60s)) << logs();
  postgres().psql("INSERT INTO pg_jobs(id, name) VALUES (1, 'first'); NOTIFY jobs");
  ASSERT_TRUE(bus_.waitForOutput("job first", 30s)) << logs();
  ASSERT_TRUE(
      eventually([] { return postgres().psql("SELECT done FROM pg_jobs WHERE id = 1") == "t"; }));
  // The listener is certainly up now; this row can only come through NOTIFY.
  postgres().psql("INSERT INTO pg_jobs(id, name) VALUES (2, 'second'); NOTIFY jobs");
  ASSERT_TRUE(bus_.waitForOutput("job second", 30s)) << logs();
  ASSERT_TRUE(
      eventually([] { return postgres().psql("SELECT count(*) FROM pg_jobs WHERE done") == "2"; }));
  EXPECT_EQ(count(logs(), "job first"), 1) << logs();
}

TEST_F(PostgresTest, StoppedServerMakesSendsTransientAndTheyArriveAfterRestart) {
  postgres().psql("DROP TABLE IF EXISTS pg_ticks; CREATE TABLE pg_ticks(n integer)");
  run(R"(<route id="ticks">
    <error-handler max-attempts="100" delay="200ms" backoff="1.0" jitter="0" retry-on="transient"
                   dead-letter-uri="log:dead?show-headers=true"/>
    <from uri="timer:tick?period=200ms&amp;count=20"/>
    <set-body media-type="application/json">{"n": ${header.timer.count}}</set-body>
    <to uri=")" +
      uri("INSERT INTO pg_ticks(n) VALUES (:body.n)") + R"("/>
  </route>)");
  ASSERT_TRUE(eventually(
      [] { return std::stoi(postgres().psql("SELECT count(*) FROM pg_ticks")) >= 3; }, 60s))
      << logs();
  postgres().stop();  // pooled sessions are now dead, new ones cannot connect
  std::this_thread::sleep_for(2s);
  postgres().start();
  ASSERT_TRUE(eventually(
      [] { return postgres().psql("SELECT count(DISTINCT n) FROM pg_ticks") == "20"; }, 90s))
      << logs();
  EXPECT_EQ(postgres().psql("SELECT min(n) || '-' || max(n) FROM pg_ticks"), "1-20");
  EXPECT_EQ(logs().find("[dead]"), std::string::npos) << logs();
  bus_.stop();
  // The summary line of the route: received 20, completed 20, some redelivered.
  const std::string out = logs();
  const auto line = out.find("\nticks ");
  ASSERT_NE(line, std::string::npos) << out;
  std::istringstream fields(out.substr(line + 1, out.find('\n', line + 1) - line - 1));
  std::string name;
  int received = 0, completed = 0, failed = 0, dead = 0, redelivered = 0;
  fields >> name >> received >> completed >> failed >> dead >> redelivered;
  EXPECT_EQ(received, 20) << out;
  EXPECT_EQ(completed, 20) << out;
  EXPECT_EQ(dead, 0) << out;
  EXPECT_GT(redelivered, 0) << out;
}

}  // namespace
}  // namespace busway::testing
