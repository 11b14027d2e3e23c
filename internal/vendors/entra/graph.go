package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// graphUser is the part of a Microsoft Graph user resource the client
// reads.
type graphUser struct {
	ID                              string     `json:"id"`
	UserPrincipalName               string     `json:"userPrincipalName"`
	DisplayName                     string     `json:"displayName"`
	AccountEnabled                  *bool      `json:"accountEnabled"`
	UserType                        string     `json:"userType"`
	SignInSessionsValidFromDateTime *time.Time `json:"signInSessionsValidFromDateTime"`
	SignInActivity                  *struct {
		LastSignInDateTime               *time.Time `json:"lastSignInDateTime"`
		LastNonInteractiveSignInDateTime *time.Time `json:"lastNonInteractiveSignInDateTime"`
		LastSuccessfulSignInDateTime     *time.Time `json:"lastSuccessfulSignInDateTime"`
	} `json:"signInActivity"`
}

// parseUser decodes a Graph user body. A body without accountEnabled is
// rejected because every state decision depends on it.
func parseUser(body []byte) (graphUser, error) {
	var u graphUser
	if err := json.Unmarshal(body, &u); err != nil {
		return graphUser{}, fmt.Errorf("invalid user JSON: %w", err)
	}
	if u.AccountEnabled == nil {
		return graphUser{}, fmt.Errorf("user JSON has no accountEnabled property")
	}
	return u, nil
}

// toUser converts a Graph user to the vendor-neutral form. The last sign-in
// is the later of the interactive and non-interactive times.
func (u graphUser) toUser() vendor.User {
	out := vendor.User{
		ID:                u.ID,
		UserPrincipalName: u.UserPrincipalName,
		DisplayName:       u.DisplayName,
		AccountEnabled:    u.AccountEnabled != nil && *u.AccountEnabled,
		UserType:          u.UserType,
		SessionsValidFrom: u.SignInSessionsValidFromDateTime,
		IsGuest:           strings.EqualFold(u.UserType, "Guest") || IsGuestUPN(u.UserPrincipalName),
	}
	if a := u.SignInActivity; a != nil {
		out.LastSignIn = a.LastSignInDateTime
		if n := a.LastNonInteractiveSignInDateTime; n != nil && (out.LastSignIn == nil || n.After(*out.LastSignIn)) {
			out.LastSignIn = n
		}
	}
	return out
}

// call sends one Graph request and returns the response when its status is
// 2xx, or *vendor.Error otherwise.
func (c *Client) call(ctx context.Context, req vendorhttp.Request) (*vendorhttp.Response, error) {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Accept", "application/json")
	if req.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	if err := mslogin.EnsureToken(ctx, c.auth); err != nil {
		return nil, err
	}
	resp, err := c.graph.Do(ctx, req)
	if err != nil {
		return nil, vendor.FromTransport(vendor.KindEntra, req.Op, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, mslogin.MapError(vendor.KindEntra, req.Op, resp)
	}
	return resp, nil
}

// relativeNextLink turns an @odata.nextLink into a path relative to the
// client's base URL. A link to another host or outside the base path is
// rejected, so that the bearer token is never sent elsewhere.
func (c *Client) relativeNextLink(link string) (string, error) {
	base, err := url.Parse(c.graphBase)
	if err != nil {
		return "", err
	}
	next, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("invalid @odata.nextLink %q: %w", link, err)
	}
	if !strings.EqualFold(next.Scheme, base.Scheme) || !strings.EqualFold(next.Host, base.Host) || !strings.HasPrefix(next.EscapedPath(), base.EscapedPath()+"/") {
		return "", fmt.Errorf("@odata.nextLink %q points outside %s", link, c.graphBase)
	}
	rel := strings.TrimPrefix(next.EscapedPath(), base.EscapedPath())
	if next.RawQuery != "" {
		rel += "?" + next.RawQuery
	}
	return rel, nil
}
