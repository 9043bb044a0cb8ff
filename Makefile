# The two commands a newcomer needs:
#   make demo   start the local Cassandra node if needed and run the quickstart
#   make test   unit tests, then integration tests against a real node (started if needed)
#
# Where the node comes from: CASSANDRA_HOSTS if set, else a Docker engine if one
# answers, else a local JVM node (see test/cassandra/node.sh and docs/testing.md).

GO          ?= go
NODE        := bash test/cassandra/node.sh
NODES       ?= 3
N           ?= 2
GOTESTFLAGS ?=
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Modules: the library, its tests against a node, the Docker launcher, the
# exporters and the examples, the last three kept out of the library's go.mod.
MODULES     := . test test/docker otelcassandra promcassandra examples
# The modules whose tests need a node.
NODE_TESTS  := test otelcassandra promcassandra examples

.PHONY: test unit integration test-faults demo lint bench load soak bench-python \
        cassandra-up cassandra-down cassandra-status cluster-up secure-up secure-down \
        node-stop node-kill node-freeze node-thaw node-restart

test: unit integration

## unit: the library's own tests (no Cassandra needed), with the race detector.
unit:
	$(GO) test -race -count=1 $(GOTESTFLAGS) ./...

## integration: tests against a real node, started first if none answers
## (promcassandra's end-to-end test, the examples' tests and the package's
## Example functions with output need the node too), and against the
## secure node (test/secure: TLS and a password), started first as well.
integration: cassandra-up secure-up
	CASSANDRA_HOSTS=$${CASSANDRA_HOSTS:-127.0.0.1} $(GO) test -race -count=1 -run '^Example' $(GOTESTFLAGS) .
	@for m in $(NODE_TESTS); do echo "cd $$m && go test -race ./..."; (cd $$m && $(GO) test -race -count=1 $(GOTESTFLAGS) ./...) || exit 1; done

## test-faults: the 3-node fault tests (test/faults, build tag "faults"): they
## stop and restart node 2 of the local cluster, which cluster-up starts.
test-faults: cluster-up
	cd test && $(GO) test -race -count=1 -timeout 60m -tags faults $(GOTESTFLAGS) ./faults/...

demo: cassandra-up
	cd examples && $(GO) run ./quickstart

## bench: the library's micro-benchmarks and the benchmarks against the real node.
bench: cassandra-up
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd test && $(GO) test -run '^$$' -bench . -benchmem ./...

## load: Execute against raw gocql in alternating slices (test/cmd/abload); OP=read|write.
OP ?= read
load: cassandra-up
	cd test && $(GO) run ./cmd/abload -op $(OP) -c 1,64,512 -pairs 150

## soak: about 10 minutes of mixed load at 70% of the measured capacity,
## checking that memory and goroutines stay flat (test/cmd/soak; not in test).
SOAKFLAGS ?=
soak: cassandra-up
	cd test && $(GO) run ./cmd/soak $(SOAKFLAGS)

## bench-python: this library (cmd/cassload) and the Python original
## (async-cassandra, in bench/python/.venv) in turn, side by side; ROUNDS=4.
ROUNDS ?= 4
bench-python: cassandra-up
	bash bench/python/compare.sh $(ROUNDS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && $(GO) vet -tags faults ./...) || exit 1; done
	@for m in $(filter-out test/docker,$(MODULES)); do (cd $$m && $(GO) run $(STATICCHECK) -tags faults ./...) || exit 1; done

cassandra-up:
	$(NODE) up 1
cluster-up:
	$(NODE) up $(NODES)
cassandra-down:
	$(NODE) down
cassandra-status:
	$(NODE) status

## The secure node on 127.0.0.4 (TLS and PasswordAuthenticator), beside the
## others; cassandra-down stops it too.
secure-up:
	$(NODE) up-secure
secure-down:
	$(NODE) down-secure

# Faults on one node of the local cluster, for fault tests and by hand: make node-kill N=2
node-stop:
	$(NODE) stop $(N)
node-kill:
	$(NODE) kill $(N)
node-freeze:
	$(NODE) freeze $(N)
node-thaw:
	$(NODE) thaw $(N)
node-restart:
	$(NODE) restart $(N)
