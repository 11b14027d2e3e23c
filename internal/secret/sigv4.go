package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// AWS Signature Version 4 (AWS General Reference, "Create a signed AWS API
// request"). The canonical request is hashed into a string to sign. That
// string is signed with a key derived from the secret access key, the date,
// the region and the service.

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4TimeFormat = "20060102T150405Z"
	sigV4DateFormat = "20060102"
)

// awsCredentials are static credentials from the environment.
type awsCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // set for temporary credentials only
}

// signV4 adds the X-Amz-Date, X-Amz-Security-Token (with temporary
// credentials) and Authorization headers to req. Every header already set
// on req is signed, together with the host. body must be the exact request
// body.
func signV4(req *http.Request, body []byte, creds awsCredentials, region, service string, now time.Time) {
	now = now.UTC()
	req.Header.Set("X-Amz-Date", now.Format(sigV4TimeFormat))
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}

	canonical, signedHeaders := canonicalRequestV4(req, body)
	scope := now.Format(sigV4DateFormat) + "/" + region + "/" + service + "/aws4_request"
	signature := signatureV4(creds.SecretAccessKey, now, region, service, canonical)

	req.Header.Set("Authorization", sigV4Algorithm+" Credential="+creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+signature)
}

// canonicalRequestV4 builds the canonical request of req over all its
// headers and the host, and returns it with the signed header list.
func canonicalRequestV4(req *http.Request, body []byte) (canonical, signedHeaders string) {
	headers := map[string]string{"host": requestHost(req)}
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if lower == "authorization" {
			continue
		}
		trimmed := make([]string, len(values))
		for i, v := range values {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lower] = strings.Join(trimmed, ",")
	}
	return canonicalRequestFromParts(req.Method, req.URL, headers, body)
}

// canonicalRequestFromParts builds a canonical request from headers, whose
// names are lowercase and values already trimmed.
func canonicalRequestFromParts(method string, u *url.URL, headers map[string]string, body []byte) (canonical, signedHeaders string) {
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	sort.Strings(names)

	var canonHeaders strings.Builder
	for _, name := range names {
		canonHeaders.WriteString(name + ":" + headers[name] + "\n")
	}
	signedHeaders = strings.Join(names, ";")

	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	payloadHash := sha256.Sum256(body)

	canonical = strings.Join([]string{
		method,
		path,
		canonicalQueryV4(u.Query()),
		canonHeaders.String(),
		signedHeaders,
		hex.EncodeToString(payloadHash[:]),
	}, "\n")
	return canonical, signedHeaders
}

// canonicalQueryV4 sorts the parameters by name, then value, and encodes
// them with %20 for a space, as SigV4 requires.
func canonicalQueryV4(q url.Values) string {
	var pairs []string
	for name, values := range q {
		for _, v := range values {
			pairs = append(pairs, awsEscape(name)+"="+awsEscape(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// signatureV4 returns the hex signature of a canonical request.
func signatureV4(secretKey string, now time.Time, region, service, canonical string) string {
	now = now.UTC()
	scope := now.Format(sigV4DateFormat) + "/" + region + "/" + service + "/aws4_request"
	canonicalHash := sha256.Sum256([]byte(canonical))
	stringToSign := sigV4Algorithm + "\n" + now.Format(sigV4TimeFormat) + "\n" + scope + "\n" + hex.EncodeToString(canonicalHash[:])

	key := hmacSHA256([]byte("AWS4"+secretKey), now.Format(sigV4DateFormat))
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func requestHost(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}
