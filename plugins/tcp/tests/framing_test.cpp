// Framing and HL7 helpers of the tcp plugin, without sockets.
#include "framing.hpp"

#include <string>

#include <gtest/gtest.h>

namespace busway::tcp {
namespace {

const std::string kMessage =
    "MSH|^~\\&|LAB|NORTH|BUS|HOSP|20261201120000||ORU^R01|MSG00042|P|2.5\rPID|1||123\r";

TEST(TcpDecoder, MllpFramesAcrossReadsAndBackToBack) {
  Decoder decoder(Framing::mllp, 4, 1024);
  const std::string both =
      encode(Framing::mllp, 4, "one") + "\r\n" + encode(Framing::mllp, 4, "two");
  decoder.feed(both.substr(0, 4));
  EXPECT_FALSE(decoder.next());
  EXPECT_TRUE(decoder.partial());
  decoder.feed(both.substr(4));
  EXPECT_EQ(decoder.next(), "one");
  EXPECT_EQ(decoder.next(), "two");
  EXPECT_FALSE(decoder.next());
  EXPECT_FALSE(decoder.partial());
}

TEST(TcpDecoder, MllpBrokenFramesAreErrors) {
  Decoder junk(Framing::mllp, 4, 1024);
  junk.feed("xx\x0bhello\x1c\r");
  EXPECT_THROW(junk.next(), FrameError);
  Decoder no_cr(Framing::mllp, 4, 1024);
  no_cr.feed("\x0bhello\x1cX");
  EXPECT_THROW(no_cr.next(), FrameError);
  Decoder too_big(Framing::mllp, 4, 8);
  too_big.feed("\x0b" + std::string(20, 'a'));
  EXPECT_THROW(too_big.next(), FrameError);
}

TEST(TcpDecoder, NewlineSkipsBlankLinesAndDropsCarriageReturns) {
  Decoder decoder(Framing::newline, 4, 16);
  decoder.feed("a\r\n\nbb\nccc");
  EXPECT_EQ(decoder.next(), "a");
  EXPECT_EQ(decoder.next(), "bb");
  EXPECT_FALSE(decoder.next());
  decoder.feed(std::string(20, 'x'));
  EXPECT_THROW(decoder.next(), FrameError);
}

TEST(TcpDecoder, LengthPrefixedFourAndTwoBytes) {
  for (const std::size_t size : {std::size_t{4}, std::size_t{2}}) {
    Decoder decoder(Framing::length_prefixed, size, 1024);
    const std::string frame = encode(Framing::length_prefixed, size, "hello");
    EXPECT_EQ(frame.size(), size + 5);
    decoder.feed(frame.substr(0, size + 2));
    EXPECT_FALSE(decoder.next());
    decoder.feed(frame.substr(size + 2));
    EXPECT_EQ(decoder.next(), "hello");
  }
  Decoder huge(Framing::length_prefixed, 4, 1024);
  huge.feed(std::string("\x7f\0\0\0", 4));
  EXPECT_THROW(huge.next(), FrameError);
  EXPECT_THROW(encode(Framing::length_prefixed, 2, std::string(70000, 'a')), std::length_error);
}

TEST(TcpHl7, ReadsTheHeaderAndBuildsAnAck) {
  const auto header = parseHl7Header(kMessage);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->control_id, "MSG00042");
  EXPECT_EQ(header->message_type, "ORU^R01");
  EXPECT_EQ(header->version, "2.5");
  const std::string ack = makeAck(*header, "AE", "peer down | retry\r", "20261202000000", "A1");
  EXPECT_EQ(ack,
            "MSH|^~\\&|BUS|HOSP|LAB|NORTH|20261202000000||ACK^R01|A1|P|2.5\rMSA|AE|MSG00042|peer "
            "down   retry \r");
  EXPECT_EQ(ackCode(ack), "AE");
  EXPECT_FALSE(parseHl7Header("hello"));
  EXPECT_FALSE(ackCode("MSH|^~\\&|x\r"));
}

}  // namespace
}  // namespace busway::tcp
