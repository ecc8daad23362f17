#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "busway/endpoint/endpoint.hpp"
#include "busway/util/result.hpp"

namespace busway {

// What a plugin says about itself, embedded in its file (ELF section ".busway_manifest",
// JSON; schemas/plugin-manifest-1.schema.json) and read WITHOUT loading or running the
// library, so inspecting an untrusted file is safe.
struct PluginManifest {
  struct Offer {
    std::string name;  // URI scheme, format name or transformer name
    std::string doc;
    bool consumer = false;  // endpoints only
    bool producer = false;  // endpoints only
    // Endpoints only: the consumer calls deliver from a thread that has nothing else to do
    // until that message is done (a thread per connection), so the bus runs the route on
    // it instead of waking a pool thread: one thread switch less per message.
    bool inline_routes = false;
    std::vector<OptionSpec> options;
  };

  int manifest_version = 1;
  std::string id;  // [a-z0-9][a-z0-9-]*
  std::string name;
  std::string version;
  std::string vendor;
  std::string license;
  std::string description;
  std::string status;  // stable | beta | experimental
  std::uint32_t abi_major = 0;
  std::uint32_t abi_minor = 0;
  std::vector<Offer> endpoints;
  std::vector<Offer> formats;
  std::vector<Offer> transformers;
  std::vector<OptionSpec> config;  // options of the plugin itself

  static Result<PluginManifest> fromJson(const std::string& text);
  std::string toJson() const;  // canonical, pretty-printed
};

// Reads the manifest section of a shared library without loading it (bounded parsing of
// the ELF headers; a truncated or hostile file gives an error, never a crash).
Result<std::string> readManifestSection(const std::string& path);
// The same from bytes already in memory (the bytes that were verified and will be loaded).
Result<std::string> readManifestSectionFromBytes(const std::string& bytes,
                                                 const std::string& name_for_errors);

Result<PluginManifest> readManifest(const std::string& path);

}  // namespace busway
