.PHONY: demo test bench-heal bench-scale bench-org crd release bed-up bed-down

# Bring up the local bed (kube-apiserver + etcd + AWS emulator), run trailwarden, apply a
# TrailPolicy, break the trail and watch it heal.
demo:
	hack/demo.sh

# The whole test suite against the real bed.
test:
	hack/test.sh

# Heal times: StopLogging healed by the poll at resyncSeconds 5, without and with injected
# AWS faults; six breaks (StopLogging, validation off, DeleteTrail, selectors replaced,
# bucket policy loosened, key rotation off) healed by the event path at resyncSeconds 3600;
# p50 / p99 / max over HEAL_CYCLES cycles each (default 30).
bench-heal:
	hack/bench-heal.sh

# The release controller at scale on a bed of its own (.bed-scale): converge time and AWS
# calls by operation, steady-window calls per policy per resync (writes and AssumeRole
# apart), RSS and idle CPU, event-path heal time at scale, RSS after deleting all but 2,
# and the scale targets, each met or NOT MET.
POLICIES ?= 1000
ACCOUNTS ?= 250
bench-scale:
	POLICIES=$(POLICIES) ACCOUNTS=$(ACCOUNTS) hack/bench-scale.sh

# A TrailPolicySet over an organization of ACCOUNTS accounts on a bed of its own (.bed-org):
# convergence, Organizations calls per walk, new-account coverage time from its event, an
# account moved out (Retain, then Delete).
# (ACCOUNTS here defaults to 300, not bench-scale's 250.)
bench-org:
	ACCOUNTS=$(if $(filter command line environment,$(origin ACCOUNTS)),$(ACCOUNTS),300) hack/bench-org.sh

# Regenerate the committed CRD from the Rust types.
crd:
	cargo run --quiet -- crd > crds/trailpolicy.yaml
	cargo run --quiet -- crd --kind TrailPolicySet > crds/trailpolicyset.yaml
	cp crds/trailpolicy.yaml charts/trailwarden/files/trailpolicy-crd.yaml
	cp crds/trailpolicyset.yaml charts/trailwarden/files/trailpolicyset-crd.yaml

# The release binary, built exactly as the Dockerfile builds it.
release:
	cargo build --release --locked

bed-up:
	hack/bed/up.sh .bed

bed-down:
	hack/bed/down.sh .bed
