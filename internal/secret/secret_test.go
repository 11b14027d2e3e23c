package secret

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testSealer(t *testing.T) *Sealer {
	t.Helper()
	s, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := testSealer(t)
	for _, plain := range []string{"", "client-secret", "ünïcode ✓", strings.Repeat("x", 10000)} {
		sealed, err := s.SealFor(plain, "cmp_1/defender/client_secret")
		if err != nil {
			t.Fatalf("SealFor: %v", err)
		}
		if !IsSealed(sealed) {
			t.Errorf("sealed value %q lacks prefix %q", sealed[:20], SealedPrefix)
		}
		if plain != "" && strings.Contains(sealed, plain) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := s.OpenFor(sealed, "cmp_1/defender/client_secret")
		if err != nil {
			t.Fatalf("OpenFor: %v", err)
		}
		if got != plain {
			t.Errorf("OpenFor = %q, want %q", got, plain)
		}
	}
}

func TestSealerNonceIsRandom(t *testing.T) {
	s := testSealer(t)
	a, _ := s.Seal("same")
	b, _ := s.Seal("same")
	if a == b {
		t.Errorf("two seals of one value are equal: %q", a)
	}
}

func TestSealerRejects(t *testing.T) {
	s := testSealer(t)
	sealed, err := s.SealFor("hunter2-secret", "ctx-a")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, SealedPrefix))

	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return SealedPrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	other, _ := NewSealer([]byte("fedcba9876543210fedcba9876543210"))

	cases := []struct {
		name    string
		sealer  *Sealer
		value   string
		context string
	}{
		{"wrong context", s, sealed, "ctx-b"},
		{"wrong key", other, sealed, "ctx-a"},
		{"flipped nonce bit", s, flip(0), "ctx-a"},
		{"flipped ciphertext bit", s, flip(13), "ctx-a"},
		{"flipped tag bit", s, flip(len(raw) - 1), "ctx-a"},
		{"truncated", s, sealed[:len(sealed)-4], "ctx-a"},
		{"too short", s, SealedPrefix + "AAAA", "ctx-a"},
		{"no prefix", s, strings.TrimPrefix(sealed, SealedPrefix), "ctx-a"},
		{"bad base64", s, SealedPrefix + "!!!!", "ctx-a"},
		{"plain value", s, "hunter2-secret", "ctx-a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sealer.OpenFor(tc.value, tc.context)
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("OpenFor error = %v, want ErrOpen", err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), tc.value) && tc.value != "" {
				t.Errorf("error %q contains the value", err)
			}
		})
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer(%d bytes) succeeded, want error", n)
		}
	}
}

func TestLoadMasterKey(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	hexKey := hex.EncodeToString(key)
	dir := t.TempDir()

	writeFile := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		return path
	}
	goodFile := writeFile("good", hexKey+"\n", 0o600)
	b64File := writeFile("b64", base64.StdEncoding.EncodeToString(key)+"\n", 0o400)
	openFile := writeFile("open", hexKey, 0o644)
	shortFile := writeFile("short", "abcd\n", 0o600)

	cases := []struct {
		name    string
		env     string
		file    string
		wantErr string
	}{
		{"env hex", hexKey, "", ""},
		{"env uppercase hex", strings.ToUpper(hexKey), "", ""},
		{"env base64", base64.StdEncoding.EncodeToString(key), "", ""},
		{"env base64url", base64.RawURLEncoding.EncodeToString(key), "", ""},
		{"env wins over file", hexKey, openFile, ""},
		{"file hex with newline", "", goodFile, ""},
		{"file base64 read-only", "", b64File, ""},
		{"env too short", "abcd", "", "invalid master key"},
		{"env 16 bytes base64", base64.StdEncoding.EncodeToString(key[:16]), "", "invalid master key"},
		{"file readable by others", "", openFile, "chmod 600 " + openFile},
		{"file too short", "", shortFile, "invalid master key"},
		{"file missing", "", filepath.Join(dir, "missing"), "no such file"},
		{"nothing set", "", "", "no master key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadMasterKey(tc.env, tc.file)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadMasterKey error = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), hexKey) {
					t.Errorf("error %q contains the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadMasterKey: %v", err)
			}
			if string(got) != string(key) {
				t.Errorf("LoadMasterKey = %x, want %x", got, key)
			}
		})
	}
}

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")

	first, err := EnsureKeyFile(path)
	if err != nil {
		t.Fatalf("EnsureKeyFile (create): %v", err)
	}
	if len(first) != 32 {
		t.Fatalf("key length = %d, want 32", len(first))
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", info.Mode().Perm())
	}

	second, err := EnsureKeyFile(path)
	if err != nil {
		t.Fatalf("EnsureKeyFile (existing): %v", err)
	}
	if string(first) != string(second) {
		t.Errorf("second EnsureKeyFile returned another key")
	}

	loaded, err := LoadMasterKey("", path)
	if err != nil || string(loaded) != string(first) {
		t.Errorf("LoadMasterKey of the created file = %x, %v; want %x", loaded, err, first)
	}
}

func FuzzOpenFor(f *testing.F) {
	s, _ := NewSealer(make([]byte, 32))
	sealed, _ := s.SealFor("value", "ctx")
	f.Add(sealed, "ctx")
	f.Add(SealedPrefix, "")
	f.Add("sealed:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Fuzz(func(t *testing.T, value, context string) {
		plain, err := s.OpenFor(value, context)
		// Only the seeds were sealed, each with plaintext "value" and
		// context "ctx"; the fuzzer cannot forge another sealed value.
		if err == nil && (context != "ctx" || plain != "value") {
			t.Errorf("OpenFor(%q, %q) opened a value that Seal did not make", value, context)
		}
	})
}
