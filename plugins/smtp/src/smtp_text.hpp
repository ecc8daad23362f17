#pragma once

// Per-message text of an smtp: endpoint: `${header.NAME}`, `${id}`, `${correlationId}`,
// `${body}` and `${mediaType}` substituted into the subject, recipients, text part and
// attachment name; `$${` writes a literal `${`. Recipient lists split at ',' and ';'.

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace busway::smtp {

// Thrown for a template that cannot be expanded: an unknown operand or a missing header.
struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Looks up one operand ("header.to", "id", ...); nullopt when it has no value.
using Lookup = std::function<std::optional<std::string>(std::string_view operand)>;

// Checks the operands of `text` when the endpoint is made (unknown ones, an unclosed `${`).
void checkTemplate(std::string_view text);

// Expands `text`; throws TemplateError naming the operand that has no value.
std::string expand(std::string_view text, const Lookup& lookup);

// "a@x.org, Bob <b@y.org>; c@z" -> {"a@x.org", "Bob <b@y.org>", "c@z"}; blanks dropped.
std::vector<std::string> splitAddresses(std::string_view list);

// "Bob <b@y.org>" -> "b@y.org"; "b@y.org" -> "b@y.org".
std::string bareAddress(std::string_view address);

}  // namespace busway::smtp
