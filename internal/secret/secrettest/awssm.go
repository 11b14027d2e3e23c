// Package secrettest provides loopback fakes of AWS Secrets Manager and
// HashiCorp Vault KV version 2 that speak their real HTTP protocols, for
// testing secret references.
package secrettest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test credentials of the AWS fake. They are the example credentials of the
// AWS documentation, not real ones.
const (
	AWSAccessKeyID     = "AKIDEXAMPLE"
	AWSSecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	AWSAccount         = "123456789012"
)

// maxClockSkew is how far X-Amz-Date may be from the fake's clock; AWS
// rejects requests signed more than 15 minutes away.
const maxClockSkew = 15 * time.Minute

// AWSSecretsManager is a fake of the AWS Secrets Manager GetSecretValue
// operation (AWS JSON 1.1 protocol). It verifies each request's Signature
// Version 4 against AWSSecretAccessKey and returns the real JSON shapes,
// including the "__type" error codes.
type AWSSecretsManager struct {
	URL    string // base URL of the fake, for Resolver.AWSEndpoint
	Region string // region of the ARNs that Put returns

	// SessionToken, when set, must arrive as X-Amz-Security-Token.
	SessionToken string

	calls atomic.Int64

	mu      sync.Mutex
	secrets map[string]awsSecret // guarded by mu; key is the ARN and also the name
}

type awsSecret struct {
	ARN    string
	Name   string
	String *string
	Binary []byte
}

// NewAWSSecretsManager starts the fake on loopback and stops it when the
// test ends.
func NewAWSSecretsManager(tb testing.TB) *AWSSecretsManager {
	tb.Helper()
	f := &AWSSecretsManager{Region: "eu-west-1", secrets: map[string]awsSecret{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	tb.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// PutString stores a secret with a SecretString and returns its ARN.
func (f *AWSSecretsManager) PutString(name, value string) string {
	return f.put(awsSecret{Name: name, String: &value})
}

// PutBinary stores a secret with a SecretBinary and returns its ARN.
func (f *AWSSecretsManager) PutBinary(name string, value []byte) string {
	return f.put(awsSecret{Name: name, Binary: value})
}

// Calls returns the number of requests the fake has received.
func (f *AWSSecretsManager) Calls() int { return int(f.calls.Load()) }

func (f *AWSSecretsManager) put(s awsSecret) string {
	f.mu.Lock()
	defer f.mu.Unlock()

	// Real ARNs end with a hyphen and six random characters.
	s.ARN = fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", f.Region, AWSAccount, s.Name)
	f.secrets[s.ARN] = s
	f.secrets[s.Name] = s
	return s.ARN
}

func (f *AWSSecretsManager) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, "SerializationException", "could not read the request body")
		return
	}

	if status, code, msg := f.verifySignature(r, body); code != "" {
		writeAWSError(w, status, code, msg)
		return
	}

	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeAWSError(w, http.StatusNotFound, "UnknownOperationException", "")
		return
	}
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		writeAWSError(w, http.StatusBadRequest, "UnknownOperationException", "")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeAWSError(w, http.StatusBadRequest, "SerializationException", "unexpected Content-Type "+ct)
		return
	}

	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeAWSError(w, http.StatusBadRequest, "SerializationException", "Start of structure or map found where not expected.")
		return
	}
	if in.SecretID == "" {
		writeAWSError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
		return
	}

	f.mu.Lock()
	s, ok := f.secrets[in.SecretID]
	f.mu.Unlock()
	if !ok {
		writeAWSError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}

	out := map[string]any{
		"ARN":           s.ARN,
		"Name":          s.Name,
		"VersionId":     "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   1.523477145713e9,
	}
	if s.String != nil {
		out["SecretString"] = *s.String
	} else {
		out["SecretBinary"] = s.Binary // encoding/json writes base64, as AWS does
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// verifySignature recomputes the SigV4 signature of r and returns the AWS
// error to send, or an empty code when the signature is valid.
func (f *AWSSecretsManager) verifySignature(r *http.Request, body []byte) (status int, code, msg string) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token"
	}

	// Authorization: AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return http.StatusBadRequest, "IncompleteSignatureException", "Unsupported signing algorithm in the Authorization header"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[name] = value
	}
	credential, signedList, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if credential == "" || signedList == "" || signature == "" {
		return http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters"
	}

	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return http.StatusBadRequest, "IncompleteSignatureException", "Credential should be scoped to a valid region and service"
	}
	if scope[0] != AWSAccessKeyID {
		return http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if scope[2] != f.Region || scope[3] != "secretsmanager" {
		return http.StatusBadRequest, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region and service secretsmanager, not '%s/%s'.", scope[2], scope[3])
	}
	if f.SessionToken != "" && r.Header.Get("X-Amz-Security-Token") != f.SessionToken {
		return http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid."
	}

	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || scope[1] != amzDate[:8] {
		return http.StatusBadRequest, "IncompleteSignatureException", "X-Amz-Date is missing or does not match the credential scope date"
	}
	if d := time.Since(signedAt); d > maxClockSkew || d < -maxClockSkew {
		return http.StatusBadRequest, "InvalidSignatureException", "Signature expired: " + amzDate + " is now earlier or later than the allowed 15 minutes."
	}

	signed := strings.Split(signedList, ";")
	for _, required := range []string{"host", "x-amz-date"} {
		if !contains(signed, required) {
			return http.StatusBadRequest, "InvalidSignatureException", "The request signature must cover the " + required + " header."
		}
	}

	// Canonical request (AWS General Reference, "Create a canonical request
	// for Signature Version 4").
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canon.WriteString(path + "\n")
	canon.WriteString(canonicalQuery(r) + "\n")
	for _, name := range signed {
		value := r.Header.Get(name)
		if name == "host" {
			value = r.Host
		}
		canon.WriteString(name + ":" + strings.Join(strings.Fields(value), " ") + "\n")
	}
	canon.WriteString("\n" + signedList + "\n")
	payload := sha256.Sum256(body)
	canon.WriteString(hex.EncodeToString(payload[:]))

	canonHash := sha256.Sum256([]byte(canon.String()))
	stringToSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(canonHash[:])
	key := []byte("AWS4" + AWSSecretAccessKey)
	for _, part := range []string{scope[1], scope[2], scope[3], "aws4_request"} {
		key = mac(key, part)
	}
	want := hex.EncodeToString(mac(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return http.StatusBadRequest, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	}
	return 0, "", ""
}

func canonicalQuery(r *http.Request) string {
	var pairs []string
	for name, values := range r.URL.Query() {
		for _, v := range values {
			pairs = append(pairs, escape(name)+"="+escape(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func escape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	body := map[string]string{"__type": code}
	if msg != "" {
		body["message"] = msg
	}
	json.NewEncoder(w).Encode(body)
}
