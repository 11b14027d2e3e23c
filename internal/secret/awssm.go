package secret

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// AWSEndpointEnv overrides the AWS Secrets Manager endpoint when
// Resolver.AWSEndpoint is empty.
const AWSEndpointEnv = "SMARTPT_AWS_SM_ENDPOINT"

// maxResponseBytes bounds the AWS and Vault response bodies and the secret
// files read. A Secrets Manager secret holds at most 65,536 bytes (AWS
// Secrets Manager quotas).
const maxResponseBytes = 1 << 20

// secretARN is the part of an ARN that the client needs.
type secretARN struct {
	Partition string
	Region    string
}

// parseSecretARN checks the form
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME.
func parseSecretARN(arn string) (secretARN, error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[1] == "" || parts[2] != "secretsmanager" ||
		parts[3] == "" || parts[4] == "" || parts[5] != "secret" || parts[6] == "" {
		return secretARN{}, errors.New("want aws-sm:arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME, optionally followed by #JSONKEY")
	}
	return secretARN{Partition: parts[1], Region: parts[3]}, nil
}

// getSecretValueOutput is the part of the GetSecretValue response used here
// (AWS Secrets Manager API Reference, GetSecretValue, Response Syntax).
type getSecretValueOutput struct {
	ARN          string `json:"ARN"`
	Name         string `json:"Name"`
	SecretString *string
	SecretBinary []byte // base64 in JSON, which encoding/json decodes
}

// awsError is the error body of the AWS JSON 1.1 protocol.
type awsError struct {
	Type         string `json:"__type"`
	Message      string `json:"message"`
	MessageUpper string `json:"Message"`
}

func (r *Resolver) resolveAWS(ctx context.Context, ref Reference) (string, error) {
	secretString, err := r.cached(SchemeAWSSM+":"+ref.Target, func() (string, error) {
		return r.getSecretValue(ctx, ref.Target)
	})
	if err != nil {
		return "", err
	}
	if ref.Field == "" {
		return secretString, nil
	}
	return jsonField(secretString, ref.Field, "the secret's SecretString")
}

// getSecretValue calls GetSecretValue for arn and returns SecretString, or
// SecretBinary as raw bytes when the secret has no string.
func (r *Resolver) getSecretValue(ctx context.Context, arn string) (string, error) {
	parsed, err := parseSecretARN(arn)
	if err != nil {
		return "", err
	}
	creds, err := r.awsCredentials()
	if err != nil {
		return "", err
	}

	endpoint := r.AWSEndpoint
	if endpoint == "" {
		endpoint, _ = r.getenv(AWSEndpointEnv)
	}
	if endpoint == "" {
		endpoint = awsEndpoint(parsed)
	}

	body, err := json.Marshal(map[string]string{"SecretId": arn})
	if err != nil {
		return "", fmt.Errorf("encode GetSecretValue request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("invalid AWS Secrets Manager endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	signV4(req, body, creds, parsed.Region, "secretsmanager", time.Now())

	resp, err := r.httpClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("call AWS Secrets Manager at %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("read AWS Secrets Manager response: %w", err)
	}

	if resp.StatusCode != http.StatusOK {
		return "", awsCallError(resp.StatusCode, data, parsed.Region)
	}

	var out getSecretValueOutput
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("decode AWS Secrets Manager GetSecretValue response: %w", err)
	}
	if out.SecretString != nil {
		return *out.SecretString, nil
	}
	if out.SecretBinary != nil {
		return string(out.SecretBinary), nil
	}
	return "", errors.New("AWS Secrets Manager returned neither SecretString nor SecretBinary")
}

func (r *Resolver) awsCredentials() (awsCredentials, error) {
	id, _ := r.getenv("AWS_ACCESS_KEY_ID")
	key, _ := r.getenv("AWS_SECRET_ACCESS_KEY")
	token, _ := r.getenv("AWS_SESSION_TOKEN")
	if id == "" || key == "" {
		// NOTE: only static credentials from the environment are supported;
		// instance profiles, SSO and shared credential files are not read.
		return awsCredentials{}, errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials) in the gateway's environment")
	}
	return awsCredentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: token}, nil
}

// awsEndpoint returns the public regional endpoint (AWS General Reference,
// "AWS Secrets Manager endpoints and quotas").
func awsEndpoint(arn secretARN) string {
	if arn.Partition == "aws-cn" {
		return "https://secretsmanager." + arn.Region + ".amazonaws.com.cn"
	}
	return "https://secretsmanager." + arn.Region + ".amazonaws.com"
}

// awsCallError turns an error response into an error that names the AWS
// error code and what to check.
func awsCallError(status int, body []byte, region string) error {
	var e awsError
	json.Unmarshal(body, &e)

	// Some AWS services qualify the code, as in "namespace#Code".
	code := e.Type
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	msg := e.Message
	if msg == "" {
		msg = e.MessageUpper
	}
	if code == "" {
		return fmt.Errorf("AWS Secrets Manager returned HTTP %d", status)
	}

	hint := ""
	switch code {
	case "ResourceNotFoundException":
		hint = "; check the ARN and that the secret exists in region " + region
	case "AccessDeniedException":
		hint = "; grant secretsmanager:GetSecretValue on this secret to the gateway's AWS identity"
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException", "ExpiredTokenException":
		hint = "; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, and the system clock"
	}
	return fmt.Errorf("AWS Secrets Manager returned HTTP %d %s: %s%s", status, code, msg, hint)
}

// jsonField returns one key of a JSON object. A string is returned as is;
// any other JSON value is returned as its JSON text.
func jsonField(doc, field, what string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &obj); err != nil {
		return "", fmt.Errorf("%s is not a JSON object, so key %q cannot be selected", what, field)
	}
	raw, ok := obj[field]
	if !ok {
		return "", fmt.Errorf("%s has no key %q", what, field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	return string(raw), nil
}
