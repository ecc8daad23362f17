#include "route_harness.hpp"

#include <gtest/gtest.h>

namespace busway::testing {
namespace {

ErrorKind kindFromText(const std::string& text) {
  if (text == "permanent") return ErrorKind::permanent;
  if (text == "invalid") return ErrorKind::invalid;
  if (text == "timeout") return ErrorKind::timeout;
  if (text == "rejected") return ErrorKind::rejected;
  return ErrorKind::transient;
}

class MockProducer final : public Processor {
 public:
  MockProducer(std::string name, MockEndpointState& state, int fail, ErrorKind kind,
               std::string reply, std::chrono::milliseconds delay, bool gate,
               boost::asio::any_io_executor executor)
      : name_(std::move(name)),
        state_(state),
        fail_(fail),
        kind_(kind),
        reply_(std::move(reply)),
        delay_(delay),
        gate_(gate),
        executor_(std::move(executor)) {}

  bool process(const ExchangePtr& exchange, Done done) override {
    const int attempt = state_.nextAttempt();
    state_.enter();
    auto act = [this, exchange, attempt] {
      if (attempt <= fail_) {
        exchange->fail(kind_, "mock:" + name_ + " fails attempt " + std::to_string(attempt),
                       "mock:" + name_);
        return;
      }
      state_.record(exchange->message);
      if (!reply_.empty() && exchange->pattern == ExchangePattern::in_out) {
        exchange->message.setBody(reply_, std::string(media::text));
      }
    };
    if (gate_) {
      act();
      if (state_.pass([this, done] {
            state_.leave();
            done();
          })) {
        state_.leave();
        return true;
      }
      return false;
    }
    if (delay_.count() == 0) {
      act();
      state_.leave();
      return true;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(executor_, delay_);
    timer->async_wait([this, timer, act, done](const boost::system::error_code&) {
      act();
      state_.leave();
      done();
    });
    return false;
  }

 private:
  std::string name_;
  MockEndpointState& state_;
  int fail_;
  ErrorKind kind_;
  std::string reply_;
  std::chrono::milliseconds delay_;
  bool gate_;
  boost::asio::any_io_executor executor_;
};

class MockEndpoint final : public Endpoint {
 public:
  MockEndpoint(Uri uri, MockEndpointState& state, std::vector<OptionSpec> specs,
               boost::asio::any_io_executor executor)
      : Endpoint(std::move(uri)),
        state_(state),
        specs_(std::move(specs)),
        executor_(std::move(executor)) {}
  Result<ProcessorPtr> createProducer() override {
    const UriOptions o(uri(), specs_);
    return ProcessorPtr(std::make_shared<MockProducer>(
        uri().path, state_, static_cast<int>(o.integer("fail")), kindFromText(o.text("fail-kind")),
        o.text("reply"), o.duration("delay"), o.boolean("gate"), executor_));
  }
  Result<std::unique_ptr<Consumer>> createConsumer(ProcessorPtr) override {
    return Error(ErrorKind::invalid, "mock: endpoints only receive");
  }

 private:
  MockEndpointState& state_;
  std::vector<OptionSpec> specs_;
  boost::asio::any_io_executor executor_;
};

}  // namespace

Result<EndpointPtr> MockComponent::resolve(const Uri& uri, BusContext& context) {
  return EndpointPtr(
      std::make_shared<MockEndpoint>(uri, state(uri.path), options(), context.executor()));
}

RouteHarness::RouteHarness(unsigned threads)
    : context_(std::make_unique<BusContext>(threads)),
      bus_(std::make_unique<Bus>(*context_)),
      mocks_(std::make_shared<MockComponent>()) {
  auto added = context_->components().add(mocks_, "tests");
  EXPECT_TRUE(added.ok());
}

RouteHarness::~RouteHarness() {
  mocks_->openAllGates();
  bus_->stop(std::chrono::seconds(5));
  bus_.reset();
  context_->join();
}

void RouteHarness::load(const std::string& xml) {
  Diagnostics diagnostics = loadWithErrors(xml);
  ASSERT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
}

Diagnostics RouteHarness::loadWithErrors(const std::string& xml) {
  Diagnostics diagnostics;
  auto table = loadTableFromString(xml, "test.xml", ".", diagnostics);
  auto compiled = compileTable(table, *context_, diagnostics);
  if (compiled && !diagnostics.hasErrors()) bus_->activate(std::move(compiled), diagnostics);
  return diagnostics;
}

ExchangePtr RouteHarness::send(const std::string& uri, Message message, ExchangePattern pattern,
                               std::chrono::milliseconds timeout) {
  auto endpoint = context_->components().resolve(uri);
  EXPECT_TRUE(endpoint.ok()) << (endpoint.ok() ? "" : endpoint.error().message);
  if (!endpoint) return nullptr;
  auto producer = (*endpoint)->createProducer();
  EXPECT_TRUE(producer.ok());
  if (!producer) return nullptr;
  auto exchange = makeExchange(std::move(message), pattern);
  auto finished = std::make_shared<std::promise<void>>();
  auto future = finished->get_future();
  runToCompletion(**producer, exchange, [finished] { finished->set_value(); });
  EXPECT_EQ(future.wait_for(timeout), std::future_status::ready)
      << "route did not finish within the timeout";
  return exchange;
}

ExchangePtr RouteHarness::sendBody(const std::string& uri, const std::string& body,
                                   const std::string& media_type) {
  return send(uri, Message(Body::make(body, media_type)));
}

}  // namespace busway::testing
