package isolation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Record is a backend that changes nothing on the host: it appends one JSON
// line per call to Path, with the nft script the NFTables backend would
// load. Tests and dry runs use it.
type Record struct {
	Path string

	mu sync.Mutex // serialises appends to Path
}

// RecordEntry is one line written by Record.
type RecordEntry struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // "isolate" or "release"
	Allow  []string  `json:"allow,omitempty"`
	Script string    `json:"nft_script"`
}

// Name returns "record".
func (r *Record) Name() string { return "record" }

// Isolate records an isolation with allow.
func (r *Record) Isolate(_ context.Context, allow []netip.Prefix) error {
	names := make([]string, len(allow))
	for i, p := range allow {
		names[i] = prefixString(p)
	}
	return r.append(RecordEntry{Action: "isolate", Allow: names, Script: NFTIsolateScript(allow)})
}

// Release records a release.
func (r *Record) Release(context.Context) error {
	return r.append(RecordEntry{Action: "release", Script: NFTReleaseScript()})
}

func (r *Record) append(e RecordEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()

	e.Time = time.Now().UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode record entry: %w", err)
	}
	f, err := os.OpenFile(r.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open record file: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write record file %s: %w", r.Path, err)
	}
	return nil
}
