// Ed25519 plugin signatures: keys, .sig files and the trust store's verdicts, including
// the problems people read when a plugin is refused.
#include "busway/plugin/signature.hpp"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "child_process.hpp"

namespace busway {
namespace {

const std::string kFile = std::string(
    "\x7f"
    "ELF pretend plugin bytes\0with a NUL",
    36);

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

KeyPair makeKeys() {
  auto keys = generateKeyPair();
  EXPECT_TRUE(keys.ok()) << keys.error().message;
  return std::move(keys).value();
}

std::string sign(const std::string& bytes, const KeyPair& keys) {
  auto sig = signBytes(bytes, keys.private_pem);
  EXPECT_TRUE(sig.ok()) << sig.error().message;
  return sig.ok() ? *sig : std::string();
}

TEST(Signature, GeneratesEd25519KeysWithAStableId) {
  const auto keys = makeKeys();
  EXPECT_EQ(keys.private_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u) << keys.private_pem;
  EXPECT_EQ(keys.public_pem.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u) << keys.public_pem;
  ASSERT_EQ(keys.key_id.size(), 16u);
  EXPECT_EQ(keys.key_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  const auto id = keyIdOfPublicKey(keys.public_pem);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, keys.key_id);
  EXPECT_NE(makeKeys().key_id, keys.key_id);
}

TEST(Signature, SigFileHasThreeLines) {
  const auto keys = makeKeys();
  const std::string sig = sign(kFile, keys);
  EXPECT_EQ(sig.rfind("busway-signature-v1\nkey-id: " + keys.key_id + "\nsignature: ", 0), 0u)
      << sig;
  EXPECT_EQ(sig.back(), '\n');
  // 64 bytes of base64: 88 characters.
  const auto last = sig.substr(sig.rfind("signature: ") + 11);
  EXPECT_EQ(last.size(), 89u) << last;
}

TEST(Signature, SignAndVerify) {
  const auto keys = makeKeys();
  TrustStore store;
  store.add("acme.pub", keys.public_pem);
  ASSERT_EQ(store.size(), 1u);
  const auto check = store.verify(kFile, sign(kFile, keys));
  EXPECT_TRUE(check.signed_);
  EXPECT_TRUE(check.valid) << check.problem;
  EXPECT_EQ(check.key_id, keys.key_id);
  EXPECT_EQ(check.signer, "acme.pub");
  EXPECT_EQ(check.problem, "");
}

TEST(Signature, AFileChangedAfterSigningIsRefused) {
  const auto keys = makeKeys();
  TrustStore store;
  store.add("acme.pub", keys.public_pem);
  const std::string sig = sign(kFile, keys);
  std::string changed = kFile;
  changed[5] ^= 1;
  for (const auto& bytes : {changed, kFile + "x", kFile.substr(1), std::string()}) {
    const auto check = store.verify(bytes, sig);
    EXPECT_TRUE(check.signed_);
    EXPECT_FALSE(check.valid);
    EXPECT_EQ(check.problem,
              "signature does not match the file: the file was changed after signing, or signed by "
              "another key");
  }
}

TEST(Signature, AnUnsignedFileIsRefused) {
  TrustStore store;
  store.add("acme.pub", makeKeys().public_pem);
  const auto check = store.verify(kFile, "");
  EXPECT_FALSE(check.signed_);
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.problem.rfind("not signed; sign it with busway plugins sign", 0), 0u)
      << check.problem;
}

TEST(Signature, AnUnknownKeyIsRefusedNamingTheKeyAndTheFolder) {
  testing::TempDir dir;
  const auto trusted = makeKeys();
  dir.write("trusted.pub", trusted.public_pem);
  const auto store = TrustStore::loadFolder(dir.path());
  ASSERT_TRUE(store.ok()) << store.error().message;
  const auto stranger = makeKeys();
  const auto check = store->verify(kFile, sign(kFile, stranger));
  EXPECT_TRUE(check.signed_);
  EXPECT_FALSE(check.valid);
  EXPECT_EQ(check.key_id, stranger.key_id);
  EXPECT_TRUE(contains(check.problem, "signed by key " + stranger.key_id +
                                          ", which is not in the trust store " + dir.path()))
      << check.problem;
  EXPECT_TRUE(contains(check.problem, "add their public key")) << check.problem;
}

TEST(Signature, AForgedKeyIdDoesNotHelp) {
  // A signature made with key B but labelled with trusted key A's id.
  const auto a = makeKeys();
  const auto b = makeKeys();
  TrustStore store;
  store.add("a.pub", a.public_pem);
  std::string sig = sign(kFile, b);
  sig.replace(sig.find(b.key_id), b.key_id.size(), a.key_id);
  const auto check = store.verify(kFile, sig);
  EXPECT_FALSE(check.valid);
  EXPECT_TRUE(contains(check.problem, "signature does not match the file"));
}

TEST(Signature, PicksTheRightKeyAmongSeveral) {
  testing::TempDir dir;
  const auto a = makeKeys();
  const auto b = makeKeys();
  dir.write("a.pub", a.public_pem);
  dir.write("b.pub", b.public_pem);
  dir.write("notes.txt", "not a key, not a .pub: ignored");
  const auto store = TrustStore::loadFolder(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->size(), 2u);
  EXPECT_TRUE(store->skipped().empty());
  const auto check = store->verify(kFile, sign(kFile, b));
  EXPECT_TRUE(check.valid) << check.problem;
  EXPECT_EQ(check.signer, "b.pub");
}

TEST(Signature, MalformedSigFilesAreReported) {
  const auto keys = makeKeys();
  TrustStore store;
  store.add("k.pub", keys.public_pem);
  const std::string good = sign(kFile, keys);
  const std::string sig_line = good.substr(good.rfind("signature: "));
  const struct {
    std::string text;
    std::string expected;
  } cases[] = {
      {"hello\n", "its first line must be 'busway-signature-v1'"},
      {"busway-signature-v2\nkey-id: 0123456789abcdef\n" + sig_line, "its first line must be"},
      {"busway-signature-v1\n", "expected three lines"},
      {"busway-signature-v1\n" + sig_line, "expected three lines"},
      {"busway-signature-v1\nkey-id: XYZ\n" + sig_line,
       "the key id 'XYZ' is not 16 lower-case hex digits"},
      {"busway-signature-v1\nkey-id: " + keys.key_id + "\nsignature: !!!!\n",
       "not 64 bytes of base64"},
      {"busway-signature-v1\nkey-id: " + keys.key_id + "\nsignature: AAAA\n",
       "not 64 bytes of base64"},
      {good + "extra line\n", "expected three lines"},
  };
  for (const auto& c : cases) {
    const auto check = store.verify(kFile, c.text);
    EXPECT_FALSE(check.signed_) << c.text;
    EXPECT_FALSE(check.valid);
    EXPECT_TRUE(contains(check.problem, "the signature file is malformed")) << check.problem;
    EXPECT_TRUE(contains(check.problem, c.expected)) << check.problem;
  }
  // Line endings changed by an editor on Windows do not matter.
  std::string crlf;
  for (const char ch : good) crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
  EXPECT_TRUE(store.verify(kFile, crlf).valid);
}

TEST(Signature, TrustStoreFolderProblems) {
  testing::TempDir dir;
  const auto missing = TrustStore::loadFolder(dir.file("absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.error().message,
                       dir.file("absent") + ": trust store folder does not exist"));
  const auto file = TrustStore::loadFolder(dir.write("file", "x"));
  ASSERT_FALSE(file.ok());
  EXPECT_TRUE(contains(file.error().message, "must be a folder"));

  // Bad key files are skipped, with the reason, and the good ones still count.
  const auto keys = makeKeys();
  dir.write("good.pub", keys.public_pem);
  dir.write("broken.pub", "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n");
  dir.write("private.pub", keys.private_pem);
  const auto store = TrustStore::loadFolder(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->size(), 1u);
  ASSERT_EQ(store->skipped().size(), 2u);
  EXPECT_EQ(store->skipped()[0].rfind(dir.file("broken.pub") + ": not a PEM public key", 0), 0u)
      << store->skipped()[0];
  EXPECT_TRUE(store->verify(kFile, sign(kFile, keys)).valid);
  const auto stranger = store->verify(kFile, sign(kFile, makeKeys()));
  EXPECT_TRUE(contains(stranger.problem, "2 key file(s) there could not be read"))
      << stranger.problem;
}

TEST(Signature, BadKeysGiveErrorsNotCrashes) {
  const auto keys = makeKeys();
  EXPECT_FALSE(signBytes(kFile, keys.public_pem).ok());
  EXPECT_FALSE(signBytes(kFile, "").ok());
  const auto garbage =
      signBytes(kFile, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_TRUE(contains(garbage.error().message, "not an unencrypted PEM private key"))
      << garbage.error().message;
  EXPECT_FALSE(keyIdOfPublicKey("").ok());
  EXPECT_FALSE(keyIdOfPublicKey(keys.private_pem).ok());

  TrustStore store;
  store.add("bad.pub", "junk");
  EXPECT_EQ(store.size(), 0u);
  ASSERT_EQ(store.skipped().size(), 1u);
  EXPECT_EQ(store.skipped()[0].rfind("bad.pub: ", 0), 0u);
}

}  // namespace
}  // namespace busway
