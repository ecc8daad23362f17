#include "busway/message/message.hpp"

#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "busway/message/exchange.hpp"

namespace busway {
namespace {

TEST(MessageTest, FreshMessageHasIdTimestampAndEmptyBody) {
  Message m;
  EXPECT_FALSE(m.id().empty());
  EXPECT_EQ(m.correlationId(), m.id());
  EXPECT_EQ(m.bodyText(), "");
  EXPECT_LE(m.timestamp(), std::chrono::system_clock::now());
}

TEST(MessageTest, IdsAreUniqueAcrossThreads) {
  std::vector<std::vector<std::string>> ids(4);
  std::vector<std::thread> threads;
  for (auto& list : ids) {
    threads.emplace_back([&list] {
      for (int i = 0; i < 2000; ++i) list.push_back(Message::newId());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& list : ids) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), 8000u);
}

TEST(MessageTest, IdIsHexWithProcessPrefix) {
  std::string a = Message::newId();
  std::string b = Message::newId();
  ASSERT_EQ(a.size(), 33u);
  EXPECT_EQ(a.substr(0, 17), b.substr(0, 17));  // same process, same prefix
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef-"), std::string::npos);
}

TEST(MessageTest, CopiesShareBodyAndHeadersUntilWritten) {
  Message m(Body::make("payload"));
  m.headers().set("h", std::string("1"));
  Message copy = m;
  EXPECT_EQ(copy.bodyPtr(), m.bodyPtr());
  copy.headers().set("h", std::string("2"));
  EXPECT_EQ(m.headers().text("h"), "1");
  copy.setBody("other", std::string(media::text));
  EXPECT_EQ(m.bodyText(), "payload");
  EXPECT_EQ(copy.bodyText(), "other");
  EXPECT_EQ(copy.body().mediaType(), media::text);
}

TEST(MessageTest, NullBodyBecomesEmpty) {
  Message m(nullptr);
  EXPECT_EQ(m.bodyText(), "");
  m.setBody(BodyPtr{});
  EXPECT_EQ(m.bodyText(), "");
}

TEST(MessageTest, HistoryIsCopyOnWrite) {
  const std::string* route = intern("orders");
  const std::string* step = intern("filter");
  Message m;
  EXPECT_TRUE(m.history().empty());
  m.recordStep(route, step);
  Message copy = m;
  EXPECT_EQ(&copy.history(), &m.history());  // shared
  copy.recordStep(route, intern("to"), true);
  EXPECT_EQ(m.history().size(), 1u);
  ASSERT_EQ(copy.history().size(), 2u);
  EXPECT_EQ(*copy.history()[1].step, "to");
  EXPECT_TRUE(copy.history()[1].failed);
  EXPECT_EQ(copy.history()[0].route, route);
}

TEST(MessageTest, DeriveGivesNewIdAndKeepsCorrelation) {
  Message parent(Body::make("x"));
  parent.headers().set("k", std::string("v"));
  Message child = parent.derive();
  EXPECT_NE(child.id(), parent.id());
  EXPECT_EQ(child.correlationId(), parent.id());
  EXPECT_EQ(child.bodyPtr(), parent.bodyPtr());
  EXPECT_EQ(child.headers().text("k"), "v");

  parent.setCorrelationId("conversation-1");
  Message grandchild = parent.derive().derive();
  EXPECT_EQ(grandchild.correlationId(), "conversation-1");
}

TEST(MessageTest, InternGivesStablePointers) {
  const std::string* a = intern("route-a");
  for (int i = 0; i < 1000; ++i) intern("filler-" + std::to_string(i));
  EXPECT_EQ(intern(std::string("route-a")), a);
  EXPECT_EQ(*a, "route-a");
  EXPECT_NE(intern("route-b"), a);
}

TEST(ExchangeTest, FailAndReply) {
  Exchange e(Message(Body::make("req")), ExchangePattern::in_out);
  EXPECT_FALSE(e.failed());
  EXPECT_EQ(&e.replyMessage(), &e.message);
  e.reply = Message(Body::make("rep"));
  EXPECT_EQ(e.replyMessage().bodyText(), "rep");
  e.fail(ErrorKind::timeout, "slow", "route/step");
  ASSERT_TRUE(e.failed());
  EXPECT_EQ(e.error->describe(), "route/step: slow (timeout)");
}

}  // namespace
}  // namespace busway
