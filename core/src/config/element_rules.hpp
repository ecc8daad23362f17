#pragma once

#include <map>
#include <string>
#include <vector>

namespace busway {

// What each element of a routing table may carry. The XSD in schemas/ says the same for
// editors; this is what the loader enforces (with positions and suggestions).
struct OneOf {
  std::vector<std::string> names;
  bool required = false;
  std::string describe() const;
};

struct ElementRule {
  std::string name;
  std::vector<std::string> attributes;
  std::vector<std::string> required;
  std::vector<OneOf> one_of;
  std::vector<std::string> children;  // allowed child elements
  bool text = false;                  // takes text content

  bool allows(const std::string& attribute) const;
  std::vector<std::string> attributeNames() const { return attributes; }
  std::string attributeList() const;
};

const std::map<std::string, ElementRule>& rules();
bool isStep(const std::string& name);
const std::vector<std::string>& stepNames();
// The attributes that hold an expression, in the order they are looked for.
const std::vector<std::string>& expressionAttributes();

}  // namespace busway
