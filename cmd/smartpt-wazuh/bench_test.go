package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// BenchmarkARStartToRequest measures one run of the compiled "ar" program
// as wazuh-execd drives it: process start, stdin message, check_keys,
// continue, and the request's arrival at a loopback API.
func BenchmarkARStartToRequest(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "smartpt-wazuh")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}

	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	cfgPath := filepath.Join(dir, "smartpt.yaml")
	cfg := "url: " + srv.URL + "\ncompany_key: bench-key\nrequester: soc@example.com\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	input := `{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"add","parameters":{"extra_args":["isolate"],"alert":{"id":"1.1","agent":{"id":"005"}},"program":"/var/ossec/active-response/bin/smartpt-wazuh"}}` + "\n"

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "ar", "--config", cfgPath, "--log", filepath.Join(dir, "ar.log"))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		_, _ = stdin.Write([]byte(input))
		if _, err := wazuhar.ReadLine(bufio.NewReader(stdout), wazuhar.MaxLineBytes); err != nil {
			b.Fatal(err)
		}
		_ = wazuhar.WriteControl(stdin, "node01", wazuhar.CommandContinue)
		<-arrived
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
