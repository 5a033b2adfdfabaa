-- Argo CD health of a trailwarden.dev TrailPolicy, from the conditions trailwarden sets
-- (kstatus conventions): Stalled=True is Degraded (a person must act), Reconciling=True
-- is Progressing (trailwarden retries or corrects on its own), Ready=True is Healthy.
-- A status older than the spec (observedGeneration behind) is Progressing.
local hs = { status = "Progressing", message = "waiting for trailwarden to reconcile the policy" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.metadata ~= nil and obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "waiting for trailwarden to reconcile the latest spec"
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions) do
  conditions[condition.type] = condition
end
local function describe(condition)
  return (condition.reason or "") .. ": " .. (condition.message or "")
end
local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
local reconciling = conditions["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling)
  return hs
end
local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  local compliant = conditions["Compliant"]
  if compliant ~= nil then
    hs.message = "trail managed; compliance " .. describe(compliant)
  else
    hs.message = describe(ready)
  end
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
end
return hs
