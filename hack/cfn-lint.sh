#!/usr/bin/env bash
# Lints the CloudFormation templates the project ships (deploy/events/*.yaml: the event
# path; deploy/iam/*.yaml: the controller's, the member accounts' and the log-archive roles) with cfn-lint,
# the AWS CloudFormation linter from PyPI, pinned and cached like the emulator:
#   ~/.cache/trailwarden/venv/cfn-lint-<version>/  (created once; only PyPI is reached)
# cfn-lint checks every resource against the CloudFormation resource specification,
# including the parts the emulator skips when the tests deploy the templates (the queue
# policy, the bus policy, the IAM role's policy documents, SSE settings).
# Fails on any error; warnings are shown and fail too, informational notes do not.
# Then hack/deploy-check.py, with the same venv's Python (PyYAML comes with cfn-lint):
# the controller role's policy equals deploy/iam-policy.json, the member role is that
# policy less the queue, sts:AssumeRole and the TrailPolicySet organization walk and
# limited to its account, and the Argo CD and
# Flux examples are well-formed and give only values the chart has.
# Usage: hack/cfn-lint.sh [TEMPLATE...]   (default: every template in deploy/events/ and deploy/iam/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CFN_LINT_VERSION=1.58.0
venv=$("$root/hack/pyvenv.sh" "cfn-lint==$CFN_LINT_VERSION")

if [ $# -eq 0 ]; then
  set -- "$root"/deploy/events/*.yaml "$root"/deploy/iam/*.yaml
fi
"$venv/bin/cfn-lint" --version
# Regions the templates are meant for; cfn-lint checks resource availability in each.
"$venv/bin/cfn-lint" --regions us-east-1 us-west-2 eu-west-1 -- "$@"
echo "cfn-lint: $# template(s) clean"
"$venv/bin/python" "$root/hack/deploy-check.py"
