package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// MasterKeyEnv is the environment variable that holds the master key.
const MasterKeyEnv = "SMARTPT_MASTER_KEY"

// LoadMasterKey returns the 32-byte master key from envValue (the value of
// SMARTPT_MASTER_KEY) when it is not empty, or else from keyFile. Both take
// 64 hex characters or the standard or URL base64 encoding of 32 bytes;
// surrounding white space, such as a trailing newline, is ignored. A key file
// that group or others may read is rejected. Errors never contain the key.
func LoadMasterKey(envValue, keyFile string) ([]byte, error) {
	if envValue != "" {
		key, err := parseMasterKey(envValue)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", MasterKeyEnv, err)
		}
		return key, nil
	}
	if keyFile == "" {
		return nil, fmt.Errorf("no master key: set %s to 64 hex characters, or give a key file", MasterKeyEnv)
	}
	return readKeyFile(keyFile)
}

// EnsureKeyFile returns the master key stored in path, first creating the
// file with a new random key and mode 0600 when it does not exist. The
// folder is created with mode 0700 when missing.
func EnsureKeyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create folder for master key file %s: %w", path, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("read random master key: %w", err)
	}

	// O_EXCL: when another process created the file first, use its key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create master key file %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write master key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write master key file %s: %w", path, err)
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	// Windows has no Unix mode bits; its ACLs are not checked here.
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s has mode %04o, so group or others may read it: run chmod 600 %s", path, info.Mode().Perm(), path)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	key, err := parseMasterKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}

func parseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) == 32 {
			return key, nil
		}
	}
	return nil, fmt.Errorf("invalid master key of %d characters: want 64 hex characters or base64 of 32 bytes (create one with: openssl rand -hex 32)", len(s))
}
