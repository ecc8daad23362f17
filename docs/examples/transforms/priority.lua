-- Sets a priority header from the order total and stamps the order (see steps.xml).
local order = message.json
if order == nil then error("the body is not JSON") end
local total = order.totals and order.totals.total or 0
message.headers["priority"] = total > 1000 and "high" or "normal"
order.receivedBy = "busway"
return order
