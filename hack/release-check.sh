#!/usr/bin/env bash
# Is the repository ready to be released? The same checks run in `make test` (hack/test.sh)
# and in .github/workflows/release.yml, which gives the pushed tag:
#   workflows   actionlint on .github/workflows (actionlint from hack/tools.sh; each run:
#               script is shellchecked too when shellcheck is on the PATH)
#   versions    Cargo.toml's version = Cargo.lock's = Chart.yaml's version and appVersion =
#               the chart's default image tag; the chart's default image, its Artifact Hub
#               annotation and the examples name the image and chart the release pushes
#   changelog   CHANGELOG.md has a "## [X.Y.Z] - YYYY-MM-DD" section for that version
#   tag         with --tag: the tag is "v" followed by that version
#   Dockerfile  multi-arch-ready (each platform's binary built for that platform), the
#               runtime stage distroless and non-root, the OCI labels
# Usage: hack/release-check.sh [--tag TAG] [--notes FILE]
#   --tag TAG     the git tag being released (release.yml passes $GITHUB_REF_NAME)
#   --notes FILE  also write the version's CHANGELOG section (the release notes) to FILE
# Each check prints PASS, FAIL or SKIP; the last line is "release-checks: N passed, M failed"
# and the exit status is non-zero when M > 0. Needs go (to build actionlint once) and
# python3 (PyYAML comes from a cached venv, hack/pyvenv.sh).
set -uo pipefail   # no -e here: each check runs in a subshell of its own with -e
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Where a release goes (docs/release.md). The chart's defaults, the examples and
# .github/workflows/release.yml must all name these.
IMAGE=ghcr.io/trailwarden/trailwarden
CHART_REPO=oci://ghcr.io/trailwarden/charts
SOURCE=https://github.com/trailwarden/trailwarden

tag="" notes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --tag=*) tag=${1#--tag=}; shift ;;
    --notes) notes=${2:?--notes needs a file}; shift 2 ;;
    --notes=*) notes=${1#--notes=}; shift ;;
    *) echo "usage: $0 [--tag vX.Y.Z] [--notes FILE]" >&2; exit 2 ;;
  esac
done

# shellcheck source=hack/checks.sh
source "$root/hack/checks.sh"

# ---------------------------------------------------------------------------------------
# The tools: actionlint, and a Python with PyYAML (tomllib is in the standard library).

tools_ready() {
  local actionlint py
  actionlint=$("$root/hack/tools.sh" actionlint)
  [ -x "$actionlint" ]
  py="$("$root/hack/pyvenv.sh" PyYAML==6.0.3)/bin/python"
  "$py" -c 'import sys, tomllib, yaml; assert sys.version_info >= (3, 11)'
  printf '%s\n%s\n' "$actionlint" "$py" > "$work/tools"
  echo "note: actionlint $("$actionlint" -version | head -n 1), $("$py" --version) with PyYAML"
}
check "actionlint and PyYAML are at hand (hack/tools.sh actionlint, hack/pyvenv.sh)" tools_ready
actionlint=$(sed -n 1p "$work/tools" 2>/dev/null || true); actionlint=${actionlint:-actionlint}
py=$(sed -n 2p "$work/tools" 2>/dev/null || true); py=${py:-python3}

# ---------------------------------------------------------------------------------------
# (a) The workflows.

workflows_lint() {
  local files=()
  mapfile -t files < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
  [ ${#files[@]} -gt 0 ] || { echo "no workflow files in .github/workflows"; return 1; }
  "$actionlint" -no-color "${files[@]}"
  if command -v shellcheck > /dev/null; then
    echo "note: ${#files[@]} workflows; run: scripts shellchecked ($(shellcheck --version | awk '/^version:/ {print $2}'))"
  else
    echo "note: ${#files[@]} workflows; shellcheck is not on the PATH, so run: scripts were not shellchecked"
  fi
}
check "the workflows pass actionlint (.github/workflows)" workflows_lint

# Every workflow: no token rights at the workflow level, each job its own, every step named;
# release.yml runs on version tags only, runs this script with the tag, and publishes what
# the rest of the repository names.
workflow_rules() {
  local files=()
  mapfile -t files < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
  "$py" - "$IMAGE" "$CHART_REPO" "${files[@]}" <<'PY'
import sys, yaml
image, chart_repo, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
problems, jobs = [], 0
for path in paths:
    wf = yaml.safe_load(open(path))
    if wf.get("permissions") not in ({}, None):
        problems.append(f"{path}: workflow-level permissions {wf.get('permissions')!r}: grant them per job")
    for name, job in (wf.get("jobs") or {}).items():
        jobs += 1
        if "permissions" not in job:
            problems.append(f"{path}: job {name} has no permissions of its own")
        for i, step in enumerate(job.get("steps") or []):
            if not step.get("name"):
                problems.append(f"{path}: job {name}, step {i + 1} has no name")
release = ".github/workflows/release.yml"
if release not in paths:
    problems.append(f"there is no {release}")
else:
    wf = yaml.safe_load(open(release))
    on = wf.get("on", wf.get(True)) or {}   # PyYAML reads the key `on` as True
    push = on.get("push") or {}
    tags = push.get("tags") or []
    if set(on) != {"push"} or set(push) != {"tags"}:
        problems.append(f"{release}: triggered by {on}: expected tag pushes only")
    if not tags or any(not t.startswith("v[0-9]+.[0-9]+.[0-9]+") for t in tags):
        problems.append(f"{release}: tag patterns {tags}, expected v[0-9]+.[0-9]+.[0-9]+ (and with a pre-release suffix)")
    env = wf.get("env") or {}
    if env.get("IMAGE") != image:
        problems.append(f"{release}: env.IMAGE is {env.get('IMAGE')!r}, expected {image!r}")
    if env.get("CHART_REPO") != chart_repo:
        problems.append(f"{release}: env.CHART_REPO is {env.get('CHART_REPO')!r}, expected {chart_repo!r}")
    if "GIT_REVISION=" not in open(release).read():
        problems.append(f"{release}: passes no GIT_REVISION build argument (build.rs: trailwarden_build_info{{revision}})")
    if 'hack/release-check.sh --tag "$GITHUB_REF_NAME"' not in open(release).read():
        problems.append(f"{release}: does not run hack/release-check.sh --tag \"$GITHUB_REF_NAME\"")
if problems:
    sys.exit("\n".join(problems))
print(f"note: {len(paths)} workflows, {jobs} jobs; release.yml publishes {image} and {chart_repo}/trailwarden")
PY
}
check "workflows: permissions per job, named steps; release.yml on version tags, gated by this script, pushing $IMAGE" workflow_rules

# ---------------------------------------------------------------------------------------
# (b) The versions.

# The version every other check compares with: Cargo.toml's.
cargo_version() {
  "$py" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["package"]["version"])' Cargo.toml
}
version=$(cargo_version 2>/dev/null || true)

semver() {
  [ -n "$version" ] || { echo "Cargo.toml has no [package] version"; return 1; }
  # Docker tags refuse '+', so build metadata is no part of a release version.
  echo "$version" | grep -Eq '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$' \
    || { echo "Cargo.toml's version $version is not MAJOR.MINOR.PATCH[-PRERELEASE]"; return 1; }
  echo "note: the version is $version"
}
check "Cargo.toml's version is a release version (MAJOR.MINOR.PATCH[-PRERELEASE])" semver

cargo_lock() {
  "$py" - Cargo.lock "$version" <<'PY'
import sys, tomllib
lock, want = sys.argv[1:3]
got = [p["version"] for p in tomllib.load(open(lock, "rb"))["package"] if p["name"] == "trailwarden"]
if got != [want]:
    sys.exit(f"Cargo.lock holds trailwarden {got}, Cargo.toml {want}: `cargo build --locked` (the Dockerfile's) would refuse it; run cargo build once and commit Cargo.lock")
PY
}
check "Cargo.lock's trailwarden is $version (cargo build --locked in the Dockerfile)" cargo_lock

chart_versions() {
  "$py" - charts/trailwarden/Chart.yaml "$version" <<'PY'
import sys, yaml
chart, want = yaml.safe_load(open(sys.argv[1])), sys.argv[2]
problems = [f"Chart.yaml {key} is {chart.get(key)!r}, Cargo.toml's version is {want!r}"
            for key in ("version", "appVersion") if str(chart.get(key)) != want]
if problems:
    sys.exit("\n".join(problems))
PY
}
check "charts/trailwarden/Chart.yaml version and appVersion are $version" chart_versions

# As templates/_helpers.tpl builds it: repository, then image.digest or the tag (image.tag,
# else appVersion).
chart_image() {
  "$py" - charts/trailwarden/Chart.yaml charts/trailwarden/values.yaml "$version" "$IMAGE" <<'PY'
import sys, yaml
chart, values = (yaml.safe_load(open(f)) for f in sys.argv[1:3])
want_version, want_image = sys.argv[3:5]
image = values.get("image") or {}
tag = image.get("tag") or chart.get("appVersion")
problems = []
if image.get("repository") != want_image:
    problems.append(f"values.yaml image.repository is {image.get('repository')!r}: the release pushes {want_image}")
if str(tag) != want_version:
    problems.append(f"the default image tag is {tag!r} (image.tag {image.get('tag')!r}, else appVersion), expected {want_version!r}")
if image.get("digest"):
    problems.append(f"values.yaml sets image.digest {image['digest']!r}: the default install would ignore the tag")
listed = yaml.safe_load((chart.get("annotations") or {}).get("artifacthub.io/images") or "[]") or []
images = [i.get("image") for i in listed]
if images != [f"{want_image}:{want_version}"]:
    problems.append(f"Chart.yaml annotation artifacthub.io/images lists {images}, expected ['{want_image}:{want_version}']")
if problems:
    sys.exit("\n".join(problems))
print(f"note: the chart installs {want_image}:{want_version} by default")
PY
}
check "the chart's default image is $IMAGE:$version (values.yaml image.*, appVersion, artifacthub.io/images)" chart_image

# The examples install the release the repository is at.
examples_pinned() {
  "$py" - "$version" "$IMAGE" "$CHART_REPO" "$SOURCE" examples/argocd/*.yaml examples/flux/*.yaml <<'PY'
import sys, yaml
version, image, chart_repo, source = sys.argv[1:5]
found, problems = set(), []
for path in sys.argv[5:]:
    text = open(path).read()
    if "example-org" in text:
        problems.append(f"{path}: still names example-org")
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        kind, spec = doc.get("kind"), doc.get("spec") or {}
        if kind == "Application" and (spec.get("source") or {}).get("repoURL", "").rstrip("/").removesuffix(".git") == source:
            found.add("argocd")
            if spec["source"].get("targetRevision") != f"v{version}":
                problems.append(f"{path}: targetRevision {spec['source'].get('targetRevision')!r}, expected 'v{version}'")
        if kind == "HelmRepository" and spec.get("url") == chart_repo:
            found.add("flux-repository")
            if spec.get("type") != "oci":
                problems.append(f"{path}: HelmRepository {chart_repo} without type: oci")
        if kind == "HelmRelease":
            found.add("flux-release")
            chart = (spec.get("chart") or {}).get("spec") or {}
            if str(chart.get("version")) != version:
                problems.append(f"{path}: HelmRelease chart version {chart.get('version')!r}, expected {version!r}")
        values = spec.get("values") if kind == "HelmRelease" else ((spec.get("source") or {}).get("helm") or {}).get("valuesObject")
        if values and "image" in values and (values["image"] or {}).get("repository") != image:
            problems.append(f"{path}: {kind} image.repository {(values['image'] or {}).get('repository')!r}, expected {image!r}")
missing = {"argocd", "flux-repository", "flux-release"} - found
if missing:
    problems.append(f"no example found for {sorted(missing)} (an Argo CD Application of {source}, a Flux HelmRepository {chart_repo}, a HelmRelease)")
if problems:
    sys.exit("\n".join(problems))
print(f"note: Argo CD at tag v{version}, Flux at chart {version} from {chart_repo}")
PY
}
check "examples/ install this release (tag v$version, chart $version, $IMAGE)" examples_pinned

# ---------------------------------------------------------------------------------------
# (c) The changelog.

changelog() {
  [ -f CHANGELOG.md ] || { echo "there is no CHANGELOG.md"; return 1; }
  "$py" - CHANGELOG.md "$version" "$work/notes.md" <<'PY'
import re, sys
path, version, out = sys.argv[1:4]
lines = open(path).read().splitlines()
heads = [(i, l) for i, l in enumerate(lines) if l.startswith("## ")]
problems = []
if not any(re.fullmatch(r"## \[Unreleased\]", l) for _, l in heads):
    problems.append("no '## [Unreleased]' section (Keep a Changelog)")
mine = [(n, (i, l)) for n, (i, l) in enumerate(heads) if l.startswith(f"## [{version}]")]
if not mine:
    sys.exit(f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section")
n, (start, head) = mine[0]
if not re.fullmatch(rf"## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}", head):
    problems.append(f"{head!r}: expected '## [{version}] - YYYY-MM-DD'")
end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
body = lines[start + 1:end]
# Link reference definitions at the end of the file are no part of the section.
while body and (not body[-1].strip() or re.match(r"\[[^\]]+\]: ", body[-1])):
    body.pop()
if not any(l.strip() for l in body):
    problems.append(f"the {version} section is empty")
if problems:
    sys.exit("\n".join(problems))
open(out, "w").write("\n".join(body).strip("\n") + "\n")
print(f"note: {head[3:]}, {len(body)} lines of release notes")
PY
  if [ -n "$notes" ]; then cp "$work/notes.md" "$notes"; fi
}
check "CHANGELOG.md has a '## [$version] - YYYY-MM-DD' section (the release notes)" changelog

# ---------------------------------------------------------------------------------------
# (d) The tag.

if [ -n "$tag" ]; then
  tag_matches() {
    echo "$tag" | grep -Eq '^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$' \
      || { echo "tag $tag is not vMAJOR.MINOR.PATCH[-PRERELEASE]"; return 1; }
    [ "$tag" = "v$version" ] || { echo "tag $tag, but Cargo.toml, Chart.yaml and CHANGELOG.md are at $version (v$version)"; return 1; }
  }
  check "the tag $tag is v$version" tag_matches
else
  skip "the tag names the version" "no --tag given"
fi

# ---------------------------------------------------------------------------------------
# (e) The Dockerfile.

dockerfile() {
  "$py" - Dockerfile "$SOURCE" <<'PY'
import re, shlex, sys
path, source = sys.argv[1:3]
# Instructions, with continuation lines joined and comments dropped.
instructions, current = [], ""
for raw in open(path).read().splitlines():
    line = raw.strip()
    if not current and (not line or line.startswith("#")):
        continue
    if line.startswith("#"):
        continue
    if line.endswith("\\"):
        current += line[:-1] + " "
        continue
    instructions.append(current + line)
    current = ""
stages = []
for ins in instructions:
    word, _, rest = ins.partition(" ")
    if word.upper() == "FROM":
        args = shlex.split(rest)
        platform = next((a.split("=", 1)[1] for a in args if a.startswith("--platform=")), None)
        args = [a for a in args if not a.startswith("--")]
        stages.append({"image": args[0], "name": args[2] if len(args) > 2 and args[1].upper() == "AS" else None,
                       "platform": platform, "body": []})
    elif stages:
        stages[-1]["body"].append((word.upper(), rest))
if len(stages) < 2:
    sys.exit("expected a build stage and a runtime stage")
problems = []
builds = [s for s in stages if any(w == "RUN" and "cargo build" in r for w, r in s["body"])]
if not builds:
    problems.append("no stage runs cargo build")
for s in builds:
    runs = [r for w, r in s["body"] if w == "RUN" and "cargo build" in r]
    if not any("--release" in r and "--locked" in r for r in runs):
        problems.append(f"stage {s['name']}: cargo build without --release --locked")
    # build.rs reads the revision from GIT_REVISION: the build context has no .git.
    before = s["body"][:next(i for i, (w, r) in enumerate(s["body"]) if w == "RUN" and "cargo build" in r)]
    if not any(w == "ARG" and r.split("=")[0].strip() == "GIT_REVISION" for w, r in before):
        problems.append(f"stage {s['name']}: no ARG GIT_REVISION before cargo build (build.rs: trailwarden_build_info{{revision}})")
for s in stages:
    p = s["platform"]
    if p is None:
        continue
    if p not in ("$BUILDPLATFORM", "${BUILDPLATFORM}"):
        problems.append(f"stage {s['name'] or s['image']}: --platform={p}: a fixed platform gives every image that platform's files")
        continue
    # Run on the build machine: only right when it cross-compiles for the target.
    text = " ".join(r for _, r in s["body"])
    if s in builds and not (re.search(r"cargo build[^&;]*--target", text) and re.search(r"TARGET(PLATFORM|ARCH)", text)):
        problems.append(f"stage {s['name']}: --platform=$BUILDPLATFORM, but cargo build has no --target from $TARGETPLATFORM/$TARGETARCH: "
                        "every platform's image would get the build machine's binary")
    if s is stages[-1]:
        problems.append("the runtime stage has --platform=$BUILDPLATFORM: every image would get the build machine's base")
runtime = stages[-1]
if not re.fullmatch(r"gcr\.io/distroless/[a-z0-9.-]+:nonroot", runtime["image"]):
    problems.append(f"the runtime stage is {runtime['image']}, expected a distroless :nonroot image")
users = [r.strip() for w, r in runtime["body"] if w == "USER"]
if not users or users[-1] not in ("65532:65532", "65532", "nonroot:nonroot", "nonroot"):
    problems.append(f"the runtime stage's USER is {users[-1] if users else None!r}, expected 65532:65532")
labels = {}
for w, r in runtime["body"]:
    if w == "LABEL":
        for item in shlex.split(r):
            key, _, value = item.partition("=")
            labels[key] = value
want = {"org.opencontainers.image.source": source}
for key, value in want.items():
    if labels.get(key) != value:
        problems.append(f"LABEL {key}={labels.get(key)!r}, expected {value!r}")
for key, arg in (("org.opencontainers.image.version", "VERSION"), ("org.opencontainers.image.revision", "REVISION"),
                 ("org.opencontainers.image.created", "CREATED")):
    if labels.get(key) not in (f"${arg}", f"${{{arg}}}"):
        problems.append(f"LABEL {key}={labels.get(key)!r}, expected ${{{arg}}} (a build argument release.yml sets)")
    if not any(w == "ARG" and r.split("=")[0].strip() == arg for w, r in runtime["body"]):
        problems.append(f"the runtime stage declares no ARG {arg}")
for key in ("title", "description", "licenses"):
    if not labels.get(f"org.opencontainers.image.{key}"):
        problems.append(f"no LABEL org.opencontainers.image.{key}")
if problems:
    sys.exit("\n".join(problems))
how = "cross-compiled on the build machine" if any(s["platform"] for s in builds) else "built on each target platform (QEMU for a foreign one)"
print(f"note: {len(stages)} stages; the binary is {how}; runtime {runtime['image']} as {users[-1]}; {len(labels)} OCI labels")
PY
}
check "Dockerfile: multi-arch-ready, cargo build --release --locked, distroless nonroot, OCI labels" dockerfile

[ "$skipped" = 0 ] || printf 'release checks skipped: %d\n' "$skipped"
printf 'release-checks: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
