// Reading the manifest section of plugin files without loading them: real libraries built
// by the toolchain (tests/unit/plugin/fixtures), hand-made ELF images with one field broken
// at a time, and garbage. Every bad input must give an error naming the file, never a crash.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <dlfcn.h>

#include <gtest/gtest.h>

#include "busway/plugin/manifest.hpp"
#include "child_process.hpp"

namespace busway {
namespace {

const std::string kPlugin = BUSWAY_TEST_MANIFEST_PLUGIN;
const std::string kNotAPlugin = BUSWAY_TEST_NOT_A_PLUGIN;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void put(std::string& bytes, std::size_t offset, std::uint64_t value, int size) {
  for (int i = 0; i < size; ++i)
    bytes[offset + static_cast<std::size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
}

std::uint64_t get(const std::string& bytes, std::size_t offset, int size) {
  std::uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  }
  return value;
}

// A minimal ELF64 little-endian shared object with the given sections, laid out as
// [header][section contents][section header table]. Section 1 is always .shstrtab.
struct Section {
  std::string name;
  std::string content;
  std::uint32_t type = 1;  // SHT_PROGBITS
};

// Offsets of ELF header fields, to break one at a time.
constexpr std::size_t kType = 16, kShoff = 40, kShentsize = 58, kShnum = 60, kShstrndx = 62;
// Offsets inside a section header.
constexpr std::size_t kShName = 0, kShType = 4, kShOffset = 24, kShSize = 32;

struct Image {
  std::string bytes;
  std::uint64_t shoff = 0;
  // Offset of section header `index`.
  std::size_t header(std::size_t index) const {
    return static_cast<std::size_t>(shoff) + index * 64;
  }
};

Image buildElf(const std::vector<Section>& sections) {
  std::string names(1, '\0');
  std::vector<std::uint32_t> name_offsets;
  name_offsets.push_back(static_cast<std::uint32_t>(names.size()));
  names += std::string(".shstrtab") + '\0';
  for (const auto& s : sections) {
    name_offsets.push_back(static_cast<std::uint32_t>(names.size()));
    names += s.name + '\0';
  }
  Image image;
  image.bytes.assign(64, '\0');
  const std::string magic =
      "\x7f"
      "ELF";
  image.bytes.replace(0, 4, magic);
  image.bytes[4] = 2;             // 64-bit
  image.bytes[5] = 1;             // little-endian
  image.bytes[6] = 1;             // version
  put(image.bytes, kType, 3, 2);  // ET_DYN
  put(image.bytes, 18, 62, 2);    // x86_64
  put(image.bytes, 20, 1, 4);
  put(image.bytes, 52, 64, 2);  // e_ehsize

  std::vector<std::uint64_t> offsets;
  offsets.push_back(image.bytes.size());
  image.bytes += names;
  for (const auto& s : sections) {
    offsets.push_back(image.bytes.size());
    image.bytes += s.content;
  }
  while (image.bytes.size() % 8 != 0) image.bytes += '\0';
  image.shoff = image.bytes.size();
  const std::size_t count = sections.size() + 2;
  image.bytes.append(count * 64, '\0');  // section 0 stays all zero
  for (std::size_t i = 1; i < count; ++i) {
    const std::size_t h = image.header(i);
    const bool names_section = i == 1;
    put(image.bytes, h + kShName, name_offsets[i - 1], 4);
    put(image.bytes, h + kShType, names_section ? 3 : sections[i - 2].type, 4);
    put(image.bytes, h + kShOffset, offsets[i - 1], 8);
    put(image.bytes, h + kShSize, names_section ? names.size() : sections[i - 2].content.size(), 8);
  }
  put(image.bytes, kShoff, image.shoff, 8);
  put(image.bytes, kShentsize, 64, 2);
  put(image.bytes, kShnum, count, 2);
  put(image.bytes, kShstrndx, 1, 2);
  return image;
}

const std::string kJson = R"({"id":"x"})";

Image pluginImage() {
  return buildElf({{".text", "\xc3"}, {".busway_manifest", kJson + std::string(3, '\0')}});
}

std::string errorOf(const std::string& bytes) {
  const auto r = readManifestSectionFromBytes(bytes, "mem.so");
  EXPECT_FALSE(r.ok()) << "expected an error";
  return r.ok() ? std::string() : r.error().message;
}

// --- hand-made images -----------------------------------------------------------------

TEST(ElfReader, ReadsTheManifestOfAWellFormedImageAndStripsNulPadding) {
  const auto r = readManifestSectionFromBytes(pluginImage().bytes, "mem.so");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, kJson);
}

TEST(ElfReader, RefusesOtherElfClassesByteOrdersAndTypes) {
  auto image = pluginImage();
  image.bytes[4] = 1;
  EXPECT_TRUE(contains(errorOf(image.bytes), "mem.so: is a 32-bit ELF file"))
      << errorOf(image.bytes);
  image = pluginImage();
  image.bytes[5] = 2;
  EXPECT_TRUE(contains(errorOf(image.bytes), "big-endian"));
  image = pluginImage();
  put(image.bytes, kType, 2, 2);
  EXPECT_TRUE(contains(errorOf(image.bytes), "mem.so: is an ELF executable, not a shared library"));
  put(image.bytes, kType, 1, 2);
  EXPECT_TRUE(contains(errorOf(image.bytes), "is an ELF object file (.o)"));
}

TEST(ElfReader, RefusesBrokenSectionHeaderTables) {
  auto image = pluginImage();
  put(image.bytes, kShoff, 0, 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "without section headers"));

  // Offsets near 2^64 must not wrap around in the bounds checks.
  for (const std::uint64_t shoff :
       {UINT64_MAX, UINT64_MAX - 63, UINT64_MAX / 2, image.bytes.size() - 10}) {
    image = pluginImage();
    put(image.bytes, kShoff, shoff, 8);
    EXPECT_TRUE(
        contains(errorOf(image.bytes), "truncated or corrupt ELF file: the section header table"))
        << shoff;
  }
  image = pluginImage();
  put(image.bytes, kShentsize, 40, 2);
  EXPECT_TRUE(contains(errorOf(image.bytes), "section header size 40, expected 64"));

  image = pluginImage();
  put(image.bytes, kShnum, 200, 2);
  EXPECT_TRUE(contains(errorOf(image.bytes), "the section header table (200 entries)"));

  // Extended numbering: e_shnum 0 means "the count is in section 0"; a huge count there.
  image = pluginImage();
  put(image.bytes, kShnum, 0, 2);
  put(image.bytes, image.header(0) + kShSize, UINT64_MAX, 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "sections"));
  // ... and a correct one works.
  image = pluginImage();
  put(image.bytes, kShnum, 0, 2);
  put(image.bytes, image.header(0) + kShSize, 4, 8);
  EXPECT_TRUE(readManifestSectionFromBytes(image.bytes, "mem.so").ok());

  image = pluginImage();
  put(image.bytes, kShstrndx, 9, 2);
  EXPECT_TRUE(contains(errorOf(image.bytes),
                       "the section name table index 9 is not one of the 4 sections"));
  put(image.bytes, kShstrndx, 0, 2);
  EXPECT_TRUE(contains(errorOf(image.bytes), "section name table index 0"));
}

TEST(ElfReader, RefusesSectionsPointingOutsideTheFile) {
  auto image = pluginImage();
  put(image.bytes, image.header(1) + kShOffset, image.bytes.size() + 1, 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "the section name table (offset"));

  image = pluginImage();
  put(image.bytes, image.header(1) + kShSize, UINT64_MAX, 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "section name table claims"));

  image = pluginImage();
  put(image.bytes, image.header(2) + kShName, 5000, 4);
  EXPECT_TRUE(contains(errorOf(image.bytes),
                       "the name of section 2 points outside the section name table"));

  image = pluginImage();
  put(image.bytes, image.header(3) + kShOffset, UINT64_MAX - 4, 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "the .busway_manifest section (offset"));

  image = pluginImage();
  put(image.bytes, image.header(3) + kShSize, image.bytes.size(), 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "lies beyond the end of the file"));
}

TEST(ElfReader, CapsTheManifestAtOneMebibyte) {
  auto image = pluginImage();
  put(image.bytes, image.header(3) + kShSize, 1024 * 1024 + 1, 8);
  EXPECT_TRUE(contains(errorOf(image.bytes), "a manifest is at most 1048576 bytes"));
  const auto big = buildElf({{".busway_manifest", std::string(1024 * 1024 + 10, ' ')}});
  EXPECT_TRUE(contains(errorOf(big.bytes), "a manifest is at most"));
}

TEST(ElfReader, RefusesEmptyDuplicateAndBinaryManifests) {
  EXPECT_TRUE(contains(errorOf(buildElf({{".busway_manifest", std::string(8, '\0')}}).bytes),
                       "section is empty"));
  EXPECT_TRUE(contains(errorOf(buildElf({{".busway_manifest", "", 8}}).bytes), "section is empty"));
  EXPECT_TRUE(
      contains(errorOf(buildElf({{".busway_manifest", "{}"}, {".busway_manifest", "{}"}}).bytes),
               "has two .busway_manifest sections"));
  EXPECT_TRUE(contains(errorOf(buildElf({{".busway_manifest", std::string("{}\0{}", 5)}}).bytes),
                       "a NUL byte at offset 2"));
  // Only the exact name counts.
  EXPECT_TRUE(contains(errorOf(buildElf({{".busway_manifest2", "{}"}, {".busway", "{}"}}).bytes),
                       "not a busway plugin (no .busway_manifest section)"));
}

TEST(ElfReader, NamesTheFileAndSaysWhatIsWrongForShortFiles) {
  EXPECT_EQ(errorOf(""),
            "mem.so: not an ELF shared library (busway plugins are .so files built with "
            "busway_add_plugin())");
  EXPECT_TRUE(contains(errorOf("\x7f"
                               "EL"),
                       "mem.so: truncated ELF header (3 bytes"));
  EXPECT_TRUE(contains(errorOf(pluginImage().bytes.substr(0, 63)),
                       "mem.so: truncated ELF header (63 bytes"));
  EXPECT_TRUE(contains(errorOf("#!/bin/sh\necho hello\n"), "mem.so: not an ELF shared library"));
}

// --- real libraries -------------------------------------------------------------------

class MarkerEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    marker_ = dir_.file("marker");
    ::setenv("BUSWAY_TEST_MARKER", marker_.c_str(), 1);
  }
  void TearDown() override { ::unsetenv("BUSWAY_TEST_MARKER"); }
  testing::TempDir dir_;
  std::string marker_;
};

TEST_F(MarkerEnv, ReadingTheManifestNeverRunsThePluginsCode) {
  const auto text = readManifestSection(kPlugin);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(text->rfind("{\"manifest_version\":1,\"id\":\"test-marker\"", 0), 0u) << *text;
  EXPECT_EQ(text->back(), '}');
  const auto manifest = readManifest(kPlugin);
  ASSERT_TRUE(manifest.ok()) << manifest.error().message;
  EXPECT_EQ(manifest->id, "test-marker");
  EXPECT_EQ(manifest->version, "0.3.1");
  ASSERT_EQ(manifest->endpoints.size(), 1u);
  EXPECT_EQ(manifest->endpoints[0].options.size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(marker_))
      << "reading the manifest ran the plugin's static initialiser";
}

// The control for the test above: the marker does appear when the library is loaded, so
// its absence there means something.
TEST_F(MarkerEnv, LoadingThePluginDoesWriteTheMarker) {
  void* handle = ::dlopen(kPlugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << ::dlerror();
  EXPECT_TRUE(std::filesystem::exists(marker_));
  ::dlclose(handle);
}

TEST(ElfReader, FileAndMemoryReadersAgree) {
  const std::string bytes = readFile(kPlugin);
  const auto from_file = readManifestSection(kPlugin);
  const auto from_memory = readManifestSectionFromBytes(bytes, kPlugin);
  ASSERT_TRUE(from_file.ok() && from_memory.ok());
  EXPECT_EQ(*from_file, *from_memory);
}

TEST(ElfReader, ASharedLibraryWithoutManifestIsNotAPlugin) {
  const auto r = readManifestSection(kNotAPlugin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            kNotAPlugin +
                ": is a shared library but not a busway plugin (no .busway_manifest section); was "
                "it built with busway_add_plugin()?");
  EXPECT_FALSE(readManifest(kNotAPlugin).ok());
}

TEST(ElfReader, ATruncatedCopyOfARealPluginGivesACleanError) {
  testing::TempDir dir;
  const std::string bytes = readFile(kPlugin);
  const std::string cut = dir.file("cut.so");
  writeFile(cut, bytes.substr(0, 100));
  const auto r = readManifestSection(cut);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message.rfind(cut + ": truncated or corrupt ELF file: the section header table", 0),
      0u)
      << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "was the file cut short while copying?"));

  // Every shorter prefix: an error, never a crash (the section headers are at the end).
  for (std::size_t size = 0; size < bytes.size(); size += 61) {
    EXPECT_FALSE(readManifestSectionFromBytes(bytes.substr(0, size), "cut.so").ok()) << size;
  }
}

TEST(ElfReader, TextFilesMissingFilesAndFoldersAreRefused) {
  testing::TempDir dir;
  const std::string text = dir.write("readme.so", "this is not a library\n");
  EXPECT_EQ(readManifestSection(text).error().message,
            text +
                ": not an ELF shared library (busway plugins are .so files built with "
                "busway_add_plugin())");
  EXPECT_EQ(readManifestSection(dir.file("absent.so")).error().message,
            dir.file("absent.so") + ": no such file");
  EXPECT_EQ(readManifestSection(dir.path()).error().message,
            dir.path() + ": is a folder, not a plugin file");
}

TEST(ElfReader, RandomGarbageGivesAnErrorNotACrash) {
  std::mt19937 random(20240917);  // fixed seed: the same bytes on every run
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    std::string bytes(static_cast<std::size_t>(random() % 4096), '\0');
    for (auto& b : bytes) b = static_cast<char>(byte(random));
    if (round % 2 == 0 && bytes.size() >= 64) {
      // Half the rounds get a valid identification so the parser goes past the magic.
      const std::string ident(
          "\x7f"
          "ELF\x02\x01\x01",
          7);
      bytes.replace(0, ident.size(), ident);
      put(bytes, kType, 3, 2);
    }
    EXPECT_FALSE(readManifestSectionFromBytes(bytes, "garbage.so").ok()) << round;
  }
  testing::TempDir dir;
  std::string bytes(1000, '\0');
  for (auto& b : bytes) b = static_cast<char>(byte(random));
  const auto r = readManifestSection(dir.write("garbage.so", bytes));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "not an ELF shared library"));
}

// Flips bytes in the parts of a real plugin the reader trusts least: the ELF header and the
// section header table. Any outcome but a crash (or a sanitizer report) is fine.
TEST(ElfReader, MutatedRealPluginsNeverCrashTheReader) {
  const std::string original = readFile(kPlugin);
  ASSERT_GE(original.size(), 64u);
  const std::uint64_t shoff = get(original, kShoff, 8);
  const std::uint64_t table_size = get(original, kShnum, 2) * 64;
  ASSERT_LE(shoff + table_size, original.size());
  std::mt19937 random(7);
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = original;
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int f = 0; f < flips; ++f) {
      const std::size_t at = random() % 2 == 0
                                 ? random() % 64
                                 : static_cast<std::size_t>(shoff + random() % table_size);
      bytes[at] = static_cast<char>(random() & 0xff);
    }
    const auto r = readManifestSectionFromBytes(bytes, "mutated.so");
    if (!r.ok()) {
      ++errors;
      EXPECT_EQ(r.error().message.rfind("mutated.so: ", 0), 0u) << r.error().message;
    }
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace busway
