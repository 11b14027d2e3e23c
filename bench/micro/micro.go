// Package micro holds Go benchmarks (testing.B) of the steps on the path of
// one action that can be measured without a running server: the audit
// append on both stores, the Active Response message parser, and the load
// harness's own histogram. Run them with
//
//	go test -run '^$' -bench . -benchmem ./bench/micro
package micro
