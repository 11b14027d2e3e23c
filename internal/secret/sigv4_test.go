package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignV4Example checks the signer against the worked example of the AWS
// General Reference ("Signature Version 4 signing process", IAM ListUsers
// on 2015-08-30 with the documentation's example credentials).
func TestSignV4Example(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	creds := awsCredentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

	signV4(req, nil, creds, "us-east-1", "iam", now)

	canonical, _ := canonicalRequestV4(req, nil)
	sum := sha256.Sum256([]byte(canonical))
	if got, want := hex.EncodeToString(sum[:]), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"; got != want {
		t.Errorf("canonical request hash = %s, want %s\ncanonical request:\n%s", got, want, canonical)
	}
	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization =\n%s\nwant\n%s", got, want)
	}
}

func TestSignV4SessionToken(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "https://secretsmanager.eu-west-1.amazonaws.com/", nil)
	creds := awsCredentials{AccessKeyID: "AKID", SecretAccessKey: "secret", SessionToken: "token"}
	signV4(req, []byte("{}"), creds, "eu-west-1", "secretsmanager", time.Now())

	if got := req.Header.Get("X-Amz-Security-Token"); got != "token" {
		t.Errorf("X-Amz-Security-Token = %q, want %q", got, "token")
	}
	if got := req.Header.Get("Authorization"); !strings.Contains(got, "SignedHeaders=host;x-amz-date;x-amz-security-token,") {
		t.Errorf("Authorization %q does not sign the session token", got)
	}
}
