#!/usr/bin/env bash
# The whole test suite: unit tests, then the integration tests against a real
# kube-apiserver + etcd and the moto AWS emulator, which this script starts and stops.
# Everything it needs is built or installed on first use and cached under ~/.cache/trailwarden.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bed=$root/.bed

step() { printf '\n== %s\n' "$*"; }
t0=$(date +%s)

step "build (cargo build --workspace --all-targets --locked)"
cargo build --workspace --all-targets --locked

step "CloudFormation templates (event path, IAM roles) with cfn-lint from PyPI, and the deploy examples"
"$root/hack/cfn-lint.sh"

step "test bed: build or reuse kube-apiserver, etcd, moto; start them"
trap '"$root/hack/bed/down.sh" "$bed"' EXIT
"$root/hack/bed/up.sh" "$bed"
# shellcheck disable=SC1091
source "$bed/env"

step "the bed's AWS rules: each refuses what AWS refuses (hack/bed/tests, on a moto of their own)"
"$(hack/bed/moto-venv.sh)/bin/python" -m unittest discover -s "$root/hack/bed/tests" -t "$root/hack/bed/tests" -v

step "the log verifier against AWS CLI's validate-logs: a matrix of mutations (hack/bed/judge.py, on a moto of its own)"
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$root/hack/bed/judge.sh" "$target/debug/trailwarden"

step "tests (unit + integration against the bed)"
cargo test --workspace --all-targets --locked -- --test-threads "${TEST_THREADS:-4}" --show-output

step "the emulator restarted under a running controller (alone: it stops the shared moto)"
cargo test --locked --test emulator_restart -- --show-output

step "IAM policy against the AWS operations the suite performed"
cargo test --locked --test iam_policy -- --show-output

step "release pipeline: workflows (actionlint), versions, changelog"
"$root/hack/release-check.sh"

step "Helm chart, alerts and dashboard"
"$root/hack/chart-check.sh" "$bed/metrics.prom"

printf '\n== all tests passed in %ss\n' "$(( $(date +%s) - t0 ))"
