.PHONY: demo test crd bed-up bed-down

# Bring up the local bed (kube-apiserver + etcd + AWS emulator), run trailwarden, apply a
# TrailPolicy, break the trail and watch it heal.
demo:
	hack/demo.sh

# The whole test suite against the real bed.
test:
	hack/test.sh

# Regenerate the committed CRD from the Rust types.
crd:
	cargo run --quiet -- crd > crds/trailpolicy.yaml

bed-up:
	hack/bed/up.sh .bed

bed-down:
	hack/bed/down.sh .bed
