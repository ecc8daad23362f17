// Ed25519 signatures of plugin files with OpenSSL 3.
//
// Ed25519 because keys and signatures are small (32 and 64 bytes), there is no parameter to
// get wrong (no hash choice, no padding mode) and signing is deterministic. The signature
// covers the whole file, so the host verifies exactly the bytes it is about to load.
#include "busway/plugin/signature.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace busway {
namespace {

constexpr std::string_view kSignatureHeader = "busway-signature-v1";
constexpr std::string_view kKeyIdPrefix = "key-id: ";
constexpr std::string_view kSignaturePrefix = "signature: ";
constexpr std::size_t kSignatureSize = 64;  // Ed25519
constexpr std::size_t kPublicKeySize = 32;  // Ed25519
constexpr std::size_t kKeyIdLength = 16;    // hex digits
// A PEM key is a few hundred bytes; a bigger .pub file is not a key.
constexpr std::uintmax_t kMaxKeyFileSize = 64 * 1024;

// Every OpenSSL object is owned by a unique_ptr, so no error path leaks one.
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

// The oldest OpenSSL error, for the message, and an empty queue afterwards so a later,
// unrelated OpenSSL call in the process does not report our failure.
std::string openSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  std::array<char, 256> buffer{};
  ERR_error_string_n(code, buffer.data(), buffer.size());
  return buffer.data();
}

Error cryptoError(const std::string& what) {
  return Error(ErrorKind::permanent, what + ": " + openSslError());
}

// PEM reading must never prompt on the terminal for a passphrase: an encrypted key simply
// fails to load.
int noPassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user*/) { return 0; }

Bio memoryBio(const std::string& text) {
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) return nullptr;
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return size > 0 && data != nullptr ? std::string(data, static_cast<std::size_t>(size))
                                     : std::string();
}

bool isEd25519(const EVP_PKEY* key) { return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519; }

Result<Pkey> readPublicKey(const std::string& pem) {
  Bio bio = memoryBio(pem);
  if (!bio) return cryptoError("cannot read the public key");
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    return Error(ErrorKind::invalid,
                 "not a PEM public key (expected '-----BEGIN PUBLIC KEY-----' as written by busway "
                 "plugins keygen)");
  }
  if (!isEd25519(key.get())) {
    return Error(ErrorKind::invalid,
                 "the public key is not an Ed25519 key; busway signatures use Ed25519 (make one "
                 "with busway plugins keygen)");
  }
  return key;
}

Result<Pkey> readPrivateKey(const std::string& pem) {
  Bio bio = memoryBio(pem);
  if (!bio) return cryptoError("cannot read the private key");
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    return Error(ErrorKind::invalid,
                 "not an unencrypted PEM private key (expected '-----BEGIN PRIVATE KEY-----' as "
                 "written by busway plugins keygen)");
  }
  if (!isEd25519(key.get())) {
    return Error(ErrorKind::invalid,
                 "the private key is not an Ed25519 key; busway signatures use Ed25519 (make one "
                 "with busway plugins keygen)");
  }
  return key;
}

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

Result<std::string> keyIdOf(EVP_PKEY* key) {
  std::array<unsigned char, kPublicKeySize> raw{};
  std::size_t raw_size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &raw_size) != 1 || raw_size != kPublicKeySize) {
    return cryptoError("cannot read the raw public key");
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_Digest(raw.data(), raw_size, digest.data(), &digest_size, EVP_sha256(), nullptr) != 1) {
    return cryptoError("cannot hash the public key");
  }
  return hex(digest.data(), digest_size).substr(0, kKeyIdLength);
}

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64Encode(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    const std::uint32_t b0 = data[i];
    const std::uint32_t b1 = i + 1 < size ? data[i + 1] : 0;
    const std::uint32_t b2 = i + 2 < size ? data[i + 2] : 0;
    const std::uint32_t triple = (b0 << 16) | (b1 << 8) | b2;
    out += kBase64Alphabet[(triple >> 18) & 0x3f];
    out += kBase64Alphabet[(triple >> 12) & 0x3f];
    out += i + 1 < size ? kBase64Alphabet[(triple >> 6) & 0x3f] : '=';
    out += i + 2 < size ? kBase64Alphabet[triple & 0x3f] : '=';
  }
  return out;
}

// Strict: standard alphabet, length a multiple of 4, '=' only as final padding.
std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  std::string out;
  std::uint32_t accumulator = 0;
  int bits = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const auto pos = kBase64Alphabet.find(text[i]);
    if (pos == std::string_view::npos) return std::nullopt;
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((accumulator >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<std::string> readSmallFile(const std::filesystem::path& path, std::string& problem) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    problem = "cannot read it: " + ec.message();
    return std::nullopt;
  }
  if (size > kMaxKeyFileSize) {
    problem = "is " + std::to_string(size) + " bytes, too big to be a public key";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in || !in.read(text.data(), static_cast<std::streamsize>(size))) {
    problem = "cannot read it (check its permissions)";
    return std::nullopt;
  }
  return text;
}

bool isHexKeyId(std::string_view id) {
  return id.size() == kKeyIdLength && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct ParsedSignature {
  std::string key_id;
  std::string signature;  // raw bytes
};

// Parses the text of a .sig file; on failure `problem` says what is wrong with it.
std::optional<ParsedSignature> parseSignature(const std::string& text, std::string& problem) {
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // edited on Windows
    lines.push_back(line);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  const std::string remedy = "; sign the file again with busway plugins sign";
  if (lines.empty() || lines[0] != kSignatureHeader) {
    problem = "the signature file is malformed: its first line must be '" +
              std::string(kSignatureHeader) + "'" + remedy;
    return std::nullopt;
  }
  if (lines.size() != 3 || lines[1].rfind(kKeyIdPrefix, 0) != 0 ||
      lines[2].rfind(kSignaturePrefix, 0) != 0) {
    problem = "the signature file is malformed: expected three lines ('" +
              std::string(kSignatureHeader) + "', 'key-id: ...', 'signature: ...')" + remedy;
    return std::nullopt;
  }
  ParsedSignature parsed;
  parsed.key_id = std::string(lines[1].substr(kKeyIdPrefix.size()));
  if (!isHexKeyId(parsed.key_id)) {
    problem = "the signature file is malformed: the key id '" + parsed.key_id + "' is not " +
              std::to_string(kKeyIdLength) + " lower-case hex digits" + remedy;
    return std::nullopt;
  }
  const auto decoded = base64Decode(lines[2].substr(kSignaturePrefix.size()));
  if (!decoded || decoded->size() != kSignatureSize) {
    problem = "the signature file is malformed: the signature is not " +
              std::to_string(kSignatureSize) + " bytes of base64" + remedy;
    return std::nullopt;
  }
  parsed.signature = *decoded;
  return parsed;
}

const unsigned char* bytesOf(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Result<KeyPair> generateKeyPair() {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1)
    return cryptoError("cannot set up Ed25519 key generation");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return cryptoError("cannot generate an Ed25519 key");
  const Pkey key(raw);

  KeyPair pair;
  const Bio private_bio(BIO_new(BIO_s_mem()));
  if (!private_bio || PEM_write_bio_PrivateKey(private_bio.get(), key.get(), nullptr, nullptr, 0,
                                               nullptr, nullptr) != 1) {
    return cryptoError("cannot write the private key");
  }
  pair.private_pem = bioText(private_bio.get());
  const Bio public_bio(BIO_new(BIO_s_mem()));
  if (!public_bio || PEM_write_bio_PUBKEY(public_bio.get(), key.get()) != 1) {
    return cryptoError("cannot write the public key");
  }
  pair.public_pem = bioText(public_bio.get());
  auto id = keyIdOf(key.get());
  if (!id) return std::move(id).error();
  pair.key_id = std::move(*id);
  return pair;
}

Result<std::string> keyIdOfPublicKey(const std::string& public_pem) {
  auto key = readPublicKey(public_pem);
  if (!key) return std::move(key).error();
  return keyIdOf(key->get());
}

Result<std::string> signBytes(const std::string& bytes, const std::string& private_pem) {
  auto key = readPrivateKey(private_pem);
  if (!key) return std::move(key).error();
  auto id = keyIdOf(key->get());
  if (!id) return std::move(id).error();

  const MdCtx ctx(EVP_MD_CTX_new());
  // Ed25519 hashes internally (PureEdDSA): the digest must be NULL and the whole message
  // goes to one EVP_DigestSign call.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return cryptoError("cannot set up signing");
  }
  std::array<unsigned char, kSignatureSize> signature{};
  std::size_t signature_size = signature.size();
  if (EVP_DigestSign(ctx.get(), signature.data(), &signature_size, bytesOf(bytes), bytes.size()) !=
          1 ||
      signature_size != kSignatureSize) {
    return cryptoError("cannot sign");
  }
  return std::string(kSignatureHeader) + "\n" + std::string(kKeyIdPrefix) + *id + "\n" +
         std::string(kSignaturePrefix) + base64Encode(signature.data(), signature_size) + "\n";
}

Result<TrustStore> TrustStore::loadFolder(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(folder, ec);
  if (ec || !fs::exists(status)) {
    return Error(ErrorKind::invalid,
                 folder +
                     ": trust store folder does not exist; create it and put the vendors' "
                     "public keys (*.pub, from busway plugins keygen) in it");
  }
  if (!fs::is_directory(status)) {
    return Error(ErrorKind::invalid,
                 folder + ": the trust store must be a folder of *.pub files, not a file");
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".pub") files.push_back(it->path());
  }
  if (ec)
    return Error(ErrorKind::invalid,
                 folder + ": cannot list the trust store folder: " + ec.message());
  std::sort(files.begin(),
            files.end());  // the same key order, and so the same signer, on every run

  TrustStore store;
  store.folder_ = folder;
  for (const auto& file : files) {
    std::string problem;
    const auto text = readSmallFile(file, problem);
    if (!text) {
      store.skipped_.push_back(file.string() + ": " + problem);
      continue;
    }
    auto id = keyIdOfPublicKey(*text);
    if (!id) {
      store.skipped_.push_back(file.string() + ": " + id.error().message);
      continue;
    }
    store.keys_.push_back(Key{file.filename().string(), std::move(*id), *text});
  }
  return store;
}

void TrustStore::add(const std::string& name, const std::string& public_pem) {
  auto id = keyIdOfPublicKey(public_pem);
  if (!id) {
    skipped_.push_back(name + ": " + id.error().message);
    return;
  }
  keys_.push_back(Key{name, std::move(*id), public_pem});
}

SignatureCheck TrustStore::verify(const std::string& bytes,
                                  const std::string& signature_text) const {
  SignatureCheck check;
  if (signature_text.empty()) {
    check.problem =
        "not signed; sign it with busway plugins sign --key VENDOR.key FILE (which writes "
        "FILE.sig), or "
        "get FILE.sig from the plugin's vendor";
    return check;
  }
  const auto parsed = parseSignature(signature_text, check.problem);
  if (!parsed) return check;
  check.signed_ = true;
  check.key_id = parsed->key_id;

  const Key* known = nullptr;
  for (const auto& key : keys_) {
    if (key.key_id != parsed->key_id) continue;
    known = &key;
    auto public_key = readPublicKey(key.public_pem);
    if (!public_key) continue;
    const MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx ||
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, public_key->get()) != 1) {
      check.problem = "cannot check the signature: " + openSslError();
      return check;
    }
    const int verdict = EVP_DigestVerify(ctx.get(), bytesOf(parsed->signature),
                                         parsed->signature.size(), bytesOf(bytes), bytes.size());
    ERR_clear_error();  // a failed verification leaves an entry in the queue
    if (verdict == 1) {
      check.valid = true;
      check.signer = key.name;
      check.problem.clear();
      return check;
    }
  }
  if (known != nullptr) {
    check.problem =
        "signature does not match the file: the file was changed after signing, or signed by "
        "another key";
    return check;
  }
  const std::string where = folder_.empty() ? "the trust store" : "the trust store " + folder_;
  check.problem = "signed by key " + parsed->key_id + ", which is not in " + where +
                  "; if you trust the vendor, add " +
                  "their public key (the .pub file whose id busway plugins keygen printed as " +
                  parsed->key_id + ") to " + (folder_.empty() ? "the trust store folder" : folder_);
  if (!skipped_.empty()) {
    check.problem += " (" + std::to_string(skipped_.size()) +
                     " key file(s) there could not be read: " + skipped_[0] +
                     (skipped_.size() > 1 ? ", ..." : "") + ")";
  }
  return check;
}

}  // namespace busway
