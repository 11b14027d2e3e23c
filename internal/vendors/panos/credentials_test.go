package panos

import "testing"

func TestRequireCredentials(t *testing.T) {
	cases := []struct {
		name    string
		secrets map[string]string
		wantErr bool
	}{
		{"api key", map[string]string{SecretAPIKey: "k"}, false},
		{"user and password", map[string]string{SecretUsername: "u", SecretPassword: "p"}, false},
		{"nothing", map[string]string{}, true},
		{"user without password", map[string]string{SecretUsername: "u"}, true},
		{"key and login", map[string]string{SecretAPIKey: "k", SecretUsername: "u", SecretPassword: "p"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := requireCredentials(nil, tc.secrets)
			if (err != nil) != tc.wantErr {
				t.Fatalf("requireCredentials(%v) error = %v, want error %v", tc.secrets, err, tc.wantErr)
			}
		})
	}
}
