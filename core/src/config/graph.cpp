#include "busway/config/graph.hpp"

#include <map>
#include <sstream>
#include <vector>

namespace busway {
namespace {

struct Node {
  std::string id;
  std::string label;
  bool endpoint = false;
};

struct Edge {
  std::string from;
  std::string to;
  std::string label;
};

class GraphBuilder {
 public:
  explicit GraphBuilder(const TableDefinition& table) {
    for (const auto& e : table.endpoints) endpoint_uris_[e.id] = e.uri;
    for (const auto& route : table.routes) addRoute(route);
  }

  std::string dot() const {
    std::ostringstream out;
    out << "digraph busway {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
    for (const auto& n : endpoints_) {
      out << "  " << n.id << " [shape=ellipse, style=filled, fillcolor=\"#dbeafe\", label=\""
          << escape(n.label) << "\"];\n";
    }
    for (const auto& [route, nodes] : routes_) {
      out << "  subgraph cluster_" << sanitize(route) << " {\n    label=\"route " << escape(route)
          << "\";\n";
      for (const auto& n : nodes)
        out << "    " << n.id << " [shape=box, label=\"" << escape(n.label) << "\"];\n";
      out << "  }\n";
    }
    for (const auto& e : edges_) {
      out << "  " << e.from << " -> " << e.to;
      if (!e.label.empty()) out << " [label=\"" << escape(e.label) << "\"]";
      out << ";\n";
    }
    out << "}\n";
    return out.str();
  }

  std::string mermaid() const {
    std::ostringstream out;
    out << "flowchart LR\n";
    for (const auto& n : endpoints_)
      out << "  " << n.id << "([\"" << mermaidEscape(n.label) << "\"])\n";
    for (const auto& [route, nodes] : routes_) {
      out << "  subgraph " << sanitize(route) << "_route [\"route " << mermaidEscape(route)
          << "\"]\n";
      for (const auto& n : nodes)
        out << "    " << n.id << "[\"" << mermaidEscape(n.label) << "\"]\n";
      out << "  end\n";
    }
    for (const auto& e : edges_) {
      out << "  " << e.from << " -->";
      if (!e.label.empty()) out << "|\"" << mermaidEscape(e.label) << "\"|";
      out << " " << e.to << "\n";
    }
    return out.str();
  }

 private:
  static std::string sanitize(const std::string& s) {
    std::string out;
    for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return out;
  }
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }
  static std::string mermaidEscape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '"' ? std::string("#quot;") : std::string(1, c);
    return out;
  }

  std::string endpointNode(const StepDef& step) {
    std::string label;
    if (const auto* ref = step.attribute("ref")) {
      const auto it = endpoint_uris_.find(ref->value);
      label = it == endpoint_uris_.end() ? ref->value : ref->value + "\n" + it->second;
    } else if (const auto* uri = step.attribute("uri")) {
      label = uri->value;
    }
    // Endpoints are keyed by their URI without options so producer and consumer meet.
    std::string key = label;
    if (const auto* ref = step.attribute("ref"); ref != nullptr && endpoint_uris_.count(ref->value))
      key = endpoint_uris_[ref->value];
    key = key.substr(0, key.find('?'));
    auto& id = endpoint_ids_[key];
    if (id.empty()) {
      id = "ep" + std::to_string(endpoint_ids_.size());
      endpoints_.push_back(Node{id, label, true});
    }
    return id;
  }

  std::string stepNode(const std::string& route, const StepDef& step) {
    std::string label = step.kind;
    for (const char* a :
         {"xpath", "jsonpath", "header", "simple", "lines", "tokenize", "name", "rate", "duration",
          "strategy", "correlation-header", "correlation-jsonpath", "size", "timeout"}) {
      if (const auto* attr = step.attribute(a)) label += std::string("\n") + a + "=" + attr->value;
    }
    const std::string id = "s" + std::to_string(++counter_);
    routes_[route].push_back(Node{id, label, false});
    return id;
  }

  // Adds `steps` after `from`; returns the last node of the chain.
  std::string addPipeline(const std::string& route, const std::vector<StepDef>& steps,
                          std::string from, std::string label) {
    for (const auto& step : steps) {
      const bool sends = step.kind == "to" || step.kind == "wire-tap" || step.kind == "enrich";
      const std::string node = stepNode(route, step);
      edges_.push_back(Edge{from, node, label});
      label.clear();
      if (sends)
        edges_.push_back(Edge{node, endpointNode(step), step.kind == "wire-tap" ? "copy" : ""});
      if (step.kind == "choice") {
        for (const auto& branch : step.children) {
          std::string condition = branch.kind;
          for (const char* a : {"xpath", "jsonpath", "header", "simple"}) {
            if (const auto* attr = branch.attribute(a)) condition = attr->value;
          }
          addPipeline(route, branch.children, node, condition);
        }
      } else if (step.kind == "multicast") {
        for (const auto& branch : step.children) {
          if (branch.kind == "pipeline")
            addPipeline(route, branch.children, node, "branch");
          else
            addPipeline(route, {branch}, node, "branch");
        }
      } else if (step.kind == "recipient-list") {
        for (const auto& r : step.children)
          edges_.push_back(Edge{node, endpointNode(r), "recipient"});
      } else if (!step.children.empty()) {
        addPipeline(route, step.children, node, step.kind == "filter" ? "match" : "each");
      }
      from = node;
    }
    return from;
  }

  void addRoute(const RouteDef& route) {
    if (!route.from) return;
    const std::string source = endpointNode(*route.from);
    addPipeline(route.id, route.steps, source, "");
  }

  std::map<std::string, std::string> endpoint_uris_;
  std::map<std::string, std::string> endpoint_ids_;
  std::vector<Node> endpoints_;
  std::map<std::string, std::vector<Node>> routes_;
  std::vector<Edge> edges_;
  int counter_ = 0;
};

}  // namespace

std::string renderGraph(const TableDefinition& table, GraphFormat format) {
  GraphBuilder builder(table);
  return format == GraphFormat::dot ? builder.dot() : builder.mermaid();
}

}  // namespace busway
