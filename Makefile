# Test command used by README.md and .ci/run.
.PHONY: test build demo
test:
	go test -race -count=1 -timeout 15m ./...

build:
	go build -o bin/ ./cmd/...

demo:
	go run ./cmd/smartpt demo
