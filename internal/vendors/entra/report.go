package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/entra/report"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// Report limits.
const (
	// reportWindow is the period the report covers. Premium (P1 or P2)
	// tenants keep sign-in logs for 30 days, free tenants 7 (MSIdentityTools
	// Get-MsIdAzureUsers documentation).
	reportWindow = 30 * 24 * time.Hour

	// maxPages bounds the @odata.nextLink pages read per list, so that a
	// very busy account cannot keep a report running for minutes.
	maxPages = 50

	// pageSize is the $top of each list request (Graph allows up to 1,000
	// for signIns).
	pageSize = 500
)

// signInsPath is GET /auditLogs/signIns for one user since a time.
func signInsPath(upn string, since time.Time) string {
	filter := "userPrincipalName eq " + mslogin.QuoteString(upn) + " and createdDateTime ge " + since.UTC().Format(time.RFC3339)
	return "/auditLogs/signIns" + mslogin.EncodeQuery(
		mslogin.Param{Key: "$filter", Value: filter},
		mslogin.Param{Key: "$top", Value: fmt.Sprint(pageSize)},
	)
}

// auditsPath is GET /auditLogs/directoryAudits for the entries that
// targeted one user since a time.
func auditsPath(upn string, since time.Time) string {
	filter := "targetResources/any(t:t/userPrincipalName eq " + mslogin.QuoteString(upn) + ") and activityDateTime ge " + since.UTC().Format(time.RFC3339)
	return "/auditLogs/directoryAudits" + mslogin.EncodeQuery(
		mslogin.Param{Key: "$filter", Value: filter},
		mslogin.Param{Key: "$top", Value: fmt.Sprint(pageSize)},
	)
}

// Report builds the audit report of a user over the last 30 days: profile,
// sign-ins and directory changes that targeted the user. A list Graph
// rejects with 403 (no licence or no AuditLog.Read.All) is left out with a
// warning instead of failing the report.
func (c *Client) Report(ctx context.Context, upn string, opts vendor.Options) (vendor.Report, error) {
	if err := ValidateUPN(upn); err != nil {
		return vendor.Report{}, invalidUPN("build user report", err)
	}
	to := c.now().UTC()
	from := to.Add(-reportWindow)

	status, err := c.Status(ctx, upn)
	if err != nil {
		return vendor.Report{}, err
	}
	in := report.Input{
		Profile: report.Profile{
			ID: status.User.ID, UserPrincipalName: status.User.UserPrincipalName, DisplayName: status.User.DisplayName,
			UserType: status.User.UserType, AccountEnabled: status.User.AccountEnabled,
			SessionsValidFrom: status.User.SessionsValidFrom, LastSignIn: status.User.LastSignIn,
		},
		From: from, To: to, Warnings: status.Warnings, ActionID: opts.ActionID,
	}

	signIns, truncated, err := listAll[report.SignIn](ctx, c, "list sign-ins", signInsPath(upn, from))
	switch {
	case isForbidden(err):
		in.Warnings = append(in.Warnings, "sign-ins are missing: "+err.Error()+"; the app needs AuditLog.Read.All and Directory.Read.All, and the tenant a Microsoft Entra ID P1 or P2 licence")
	case err != nil:
		return vendor.Report{}, err
	}
	in.SignIns, in.Truncated = signIns, truncated

	audits, truncatedAudits, err := listAll[report.DirectoryAudit](ctx, c, "list directory audits", auditsPath(upn, from))
	switch {
	case isForbidden(err):
		in.Warnings = append(in.Warnings, "directory audits are missing: "+err.Error()+"; the app needs AuditLog.Read.All")
	case err != nil:
		return vendor.Report{}, err
	}
	in.Audits, in.Truncated = audits, in.Truncated || truncatedAudits

	summary, msg, err := report.Build(in)
	if err != nil {
		return vendor.Report{}, fmt.Errorf("build report for %s: %w", upn, err)
	}
	c.logger.Info("user report built", "action_id", opts.ActionID, "upn", upn, "sign_ins", len(in.SignIns), "audits", len(in.Audits), "truncated", in.Truncated)
	return vendor.Report{Summary: summary, Email: msg}, nil
}

// page is one page of a Graph collection.
type page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// listAll reads a collection, following @odata.nextLink for at most
// maxPages pages. truncated is true when pages were left unread.
func listAll[T any](ctx context.Context, c *Client, op, path string) (items []T, truncated bool, err error) {
	for n := 0; path != ""; n++ {
		if n == maxPages {
			c.logger.Warn("page limit reached, list truncated", "op", op, "pages", maxPages)
			return items, true, nil
		}
		resp, err := c.call(ctx, vendorhttp.Request{Op: op, Method: http.MethodGet, Path: path, Idempotent: true})
		if err != nil {
			return nil, false, err
		}
		var p page[T]
		if err := json.Unmarshal(resp.Body, &p); err != nil {
			return nil, false, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindEntra, Op: op, Status: resp.Status, Detail: "invalid collection JSON: " + err.Error()}
		}
		items = append(items, p.Value...)

		path = ""
		if p.NextLink != "" {
			if path, err = c.relativeNextLink(p.NextLink); err != nil {
				return nil, false, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindEntra, Op: op, Detail: err.Error()}
			}
		}
	}
	return items, false, nil
}

func isForbidden(err error) bool {
	ve, ok := vendor.AsError(err)
	return ok && ve.Kind == vendor.ErrForbidden
}
