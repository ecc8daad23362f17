#include "smtp_text.hpp"

namespace busway::smtp {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool known(std::string_view operand) {
  return (operand.rfind("header.", 0) == 0 && operand.size() > 7) || operand == "id" ||
         operand == "correlationId" || operand == "body" || operand == "mediaType";
}

template <class OnText, class OnOperand>
void walk(std::string_view text, OnText on_text, OnOperand on_operand) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find('$', pos);
    if (open == std::string_view::npos) break;
    if (text.compare(open, 3, "$${") == 0) {  // escaped: a literal "${"
      on_text(text.substr(pos, open - pos));
      on_text("${");
      pos = open + 3;
      continue;
    }
    if (text.compare(open, 2, "${") != 0) {
      on_text(text.substr(pos, open + 1 - pos));
      pos = open + 1;
      continue;
    }
    const auto close = text.find('}', open);
    if (close == std::string_view::npos) {
      throw TemplateError("unclosed '${' at character " + std::to_string(open + 1) + " of '" +
                          std::string(text) + "'");
    }
    on_text(text.substr(pos, open - pos));
    on_operand(trim(text.substr(open + 2, close - open - 2)));
    pos = close + 1;
  }
  if (pos < text.size()) on_text(text.substr(pos));
}

}  // namespace

void checkTemplate(std::string_view text) {
  walk(
      text, [](std::string_view) {},
      [&text](std::string_view operand) {
        if (!known(operand)) {
          throw TemplateError(
              "unknown operand '${" + std::string(operand) + "}' in '" + std::string(text) +
              "': use ${header.NAME}, ${id}, ${correlationId}, ${body} or ${mediaType}");
        }
      });
}

std::string expand(std::string_view text, const Lookup& lookup) {
  std::string out;
  walk(
      text, [&out](std::string_view part) { out.append(part); },
      [&](std::string_view operand) {
        auto value = lookup(operand);
        if (!value) {
          throw TemplateError(
              "'${" + std::string(operand) + "}' has no value" +
              (operand.rfind("header.", 0) == 0
                   ? " (the message has no header '" + std::string(operand.substr(7)) + "')"
                   : std::string()));
        }
        out += *value;
      });
  return out;
}

std::vector<std::string> splitAddresses(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size() && list[i] == '"') quoted = !quoted;
    if (i == list.size() || (!quoted && (list[i] == ',' || list[i] == ';'))) {
      const auto part = trim(list.substr(start, i - start));
      if (!part.empty()) out.emplace_back(part);
      start = i + 1;
    }
  }
  return out;
}

std::string bareAddress(std::string_view address) {
  const auto open = address.rfind('<');
  const auto close = address.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    return std::string(trim(address.substr(open + 1, close - open - 1)));
  }
  return std::string(trim(address));
}

}  // namespace busway::smtp
