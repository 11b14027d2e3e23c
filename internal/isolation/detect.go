package isolation

import (
	"fmt"
	"os/exec"
	"runtime"
)

// Detect returns the backend for this host: the Windows firewall on
// Windows; nftables on Linux when nft is installed, otherwise iptables.
// name forces one backend: "nftables", "iptables", "windows-firewall", or
// "record" (then recordPath is required).
func Detect(name, recordPath string, runner Runner) (Backend, error) {
	switch name {
	case "", "auto":
	case "nftables":
		return &NFTables{Runner: runner}, nil
	case "iptables":
		return &IPTables{Runner: runner}, nil
	case "windows-firewall":
		return &WindowsFirewall{Runner: runner}, nil
	case "record":
		if recordPath == "" {
			return nil, fmt.Errorf("the record backend needs a record file path")
		}
		return &Record{Path: recordPath}, nil
	default:
		return nil, fmt.Errorf("unknown isolation backend %q; use auto, nftables, iptables, windows-firewall or record", name)
	}

	switch runtime.GOOS {
	case "windows":
		return &WindowsFirewall{Runner: runner}, nil
	case "linux":
		if path, err := exec.LookPath("nft"); err == nil {
			return &NFTables{Runner: runner, Binary: path}, nil
		}
		if _, err := exec.LookPath("iptables-restore"); err == nil {
			return &IPTables{Runner: runner}, nil
		}
		return nil, fmt.Errorf("neither nft nor iptables-restore is installed; install the nftables package")
	default:
		return nil, fmt.Errorf("host isolation is not supported on %s", runtime.GOOS)
	}
}
