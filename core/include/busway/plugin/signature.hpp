#pragma once

#include <string>
#include <vector>

#include "busway/util/result.hpp"

namespace busway {

// Ed25519 detached signatures over the whole plugin file. The signature lives next to the
// file as FILE.sig (text: "busway-signature-v1", the key id, base64 signature).
// Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public). A key id is the first
// 16 hex digits of SHA-256 over the raw 32-byte public key.

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
  std::string key_id;
};

Result<KeyPair> generateKeyPair();
Result<std::string> keyIdOfPublicKey(const std::string& public_pem);

// Signs `bytes` with the private key; returns the text of a .sig file.
Result<std::string> signBytes(const std::string& bytes, const std::string& private_pem);

struct SignatureCheck {
  bool signed_ = false;  // a .sig file exists and parses
  bool valid = false;    // the signature verifies against a trusted key
  std::string key_id;    // of the signature
  std::string signer;    // name of the trusted key file that verified it
  std::string problem;   // for people, when not valid: what is wrong and what to do
};

// Public keys a bus trusts: every *.pub (PEM) file in a folder.
class TrustStore {
 public:
  static Result<TrustStore> loadFolder(const std::string& folder);
  void add(const std::string& name, const std::string& public_pem);
  std::size_t size() const noexcept { return keys_.size(); }
  // Key files that were skipped (unreadable, not an Ed25519 public key), one line each for
  // people: "FILE: problem". Empty when every key loaded.
  const std::vector<std::string>& skipped() const noexcept { return skipped_; }

  // Verifies `bytes` (the whole file, exactly as it will be loaded) against the text of
  // its .sig file; an empty `signature_text` means unsigned.
  SignatureCheck verify(const std::string& bytes, const std::string& signature_text) const;

 private:
  struct Key {
    std::string name;
    std::string key_id;
    std::string public_pem;
  };
  std::vector<Key> keys_;
  std::vector<std::string> skipped_;
  std::string folder_;  // where the keys came from (loadFolder), to tell people where to add one
};

}  // namespace busway
