#pragma once

#include <memory>

#include "busway/endpoint/endpoint.hpp"

namespace busway {

std::shared_ptr<Component> makeDirectComponent();
std::shared_ptr<Component> makeQueueComponent();
std::shared_ptr<Component> makeTimerComponent();
std::shared_ptr<Component> makeLogComponent();
std::shared_ptr<Component> makeDlqComponent();

}  // namespace busway
