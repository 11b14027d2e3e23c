package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/notify"
)

// ChartContentID is the Content-ID of the inline chart, referenced from the
// HTML as cid:sign-ins-per-day.
const ChartContentID = "sign-ins-per-day"

// Build returns the JSON summary and the e-mail of a report. The e-mail's
// recipient is left empty for the engine to fill in.
func Build(in Input) (json.RawMessage, notify.Email, error) {
	s := Summarize(in)

	summary, err := json.Marshal(s)
	if err != nil {
		return nil, notify.Email{}, fmt.Errorf("marshal report summary: %w", err)
	}
	chart, err := Chart(s.SignIns.PerDay)
	if err != nil {
		return nil, notify.Email{}, fmt.Errorf("draw sign-in chart: %w", err)
	}
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, s); err != nil {
		return nil, notify.Email{}, fmt.Errorf("render report HTML: %w", err)
	}
	signInsCSV, err := CSV(in.SignIns)
	if err != nil {
		return nil, notify.Email{}, fmt.Errorf("write sign-ins CSV: %w", err)
	}

	name := fileSafe(s.User.UserPrincipalName)
	msg := notify.Email{
		Subject: "SmartPT user report: " + s.User.UserPrincipalName,
		Text:    Text(s),
		HTML:    html.String(),
		Inline: []notify.Part{{
			Name: "sign-ins-per-day.png", ContentType: "image/png", ContentID: ChartContentID, Data: chart,
		}},
		Attachments: []notify.Part{{
			Name: "sign-ins-" + name + ".csv", ContentType: "text/csv", Data: signInsCSV,
		}},
	}
	return summary, msg, nil
}

// csvHeader names the CSV columns, in Graph's property names.
var csvHeader = []string{"createdDateTime", "userPrincipalName", "status", "errorCode", "failureReason", "ipAddress", "countryOrRegion", "city", "appDisplayName", "clientAppUsed", "operatingSystem", "browser", "riskLevelDuringSignIn", "riskState", "conditionalAccessStatus", "id"}

// CSV writes the sign-ins as CSV with a header row. Cells that a
// spreadsheet would run as a formula (starting with = + - @ or a tab) get a
// leading single quote.
func CSV(signIns []SignIn) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(csvHeader); err != nil {
		return nil, err
	}
	for _, si := range signIns {
		status := "success"
		if !si.Succeeded() {
			status = "failure"
		}
		reason := ""
		if si.Status.FailureReason != nil {
			reason = *si.Status.FailureReason
		}
		row := []string{
			si.CreatedDateTime.UTC().Format(time.RFC3339), si.UserPrincipalName, status, strconv.Itoa(si.Status.ErrorCode), reason,
			si.IPAddress, si.Location.CountryOrRegion, si.Location.City, si.AppDisplayName, si.ClientAppUsed,
			si.DeviceDetail.OperatingSystem, si.DeviceDetail.Browser, si.RiskLevelDuringSignIn, si.RiskState, si.ConditionalAccess, si.ID,
		}
		for i := range row {
			row[i] = neutralizeFormula(row[i])
		}
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func neutralizeFormula(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// Text is the plain-text body, for mail clients that show no HTML.
func Text(s Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "User report for %s (%s)\n", s.User.UserPrincipalName, s.User.DisplayName)
	fmt.Fprintf(&b, "Period: %s to %s (UTC)\n\n", s.From.Format(time.DateOnly), s.To.Format(time.DateOnly))
	fmt.Fprintf(&b, "Account enabled: %t\nUser type: %s\n", s.User.AccountEnabled, s.User.UserType)
	if s.User.LastSignIn != nil {
		fmt.Fprintf(&b, "Last sign-in: %s\n", s.User.LastSignIn.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "\nSign-ins: %d (%d succeeded, %d failed)\n", s.SignIns.Total, s.SignIns.Succeeded, s.SignIns.Failed)
	fmt.Fprintf(&b, "IP addresses: %s\n", strings.Join(s.SignIns.IPAddresses, ", "))
	fmt.Fprintf(&b, "Countries: %s\n", strings.Join(s.SignIns.Countries, ", "))
	fmt.Fprintf(&b, "Applications: %s\n", strings.Join(s.SignIns.Applications, ", "))
	fmt.Fprintf(&b, "Risky sign-ins: %d\n", len(s.SignIns.Risky))
	fmt.Fprintf(&b, "Directory changes to the user: %d\n", len(s.Audits))
	for _, a := range s.Audits {
		fmt.Fprintf(&b, "  %s  %s  %s  by %s\n", a.Time.Format(time.RFC3339), a.Activity, a.Result, a.InitiatedBy)
	}
	if s.Truncated {
		b.WriteString("\nThe sign-in list was cut at the page limit: older entries are missing.\n")
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(&b, "\nWarning: %s\n", w)
	}
	b.WriteString("\nThe sign-ins are attached as CSV.\n")
	return b.String()
}

// fileSafe keeps letters, digits, "." "-" "_" and "@" of s for a file name.
func fileSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-_@", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"day":  func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
	"join": strings.Join,
	"tsp": func(t *time.Time) string {
		if t == nil {
			return "unknown"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>User report: {{.User.UserPrincipalName}}</title></head>
<body style="font-family: Segoe UI, Helvetica, Arial, sans-serif; color: #222;">
<h2>User report: {{.User.UserPrincipalName}}</h2>
<p>Period: {{day .From}} to {{day .To}} (UTC)</p>
<table cellpadding="4" style="border-collapse: collapse;">
<tr><th align="left">Display name</th><td>{{.User.DisplayName}}</td></tr>
<tr><th align="left">Object id</th><td>{{.User.ID}}</td></tr>
<tr><th align="left">Account enabled</th><td>{{.User.AccountEnabled}}</td></tr>
<tr><th align="left">User type</th><td>{{.User.UserType}}</td></tr>
<tr><th align="left">Sessions valid from</th><td>{{tsp .User.SessionsValidFrom}}</td></tr>
<tr><th align="left">Last sign-in</th><td>{{tsp .User.LastSignIn}}</td></tr>
</table>
<h3>Sign-ins: {{.SignIns.Total}} ({{.SignIns.Succeeded}} succeeded, {{.SignIns.Failed}} failed)</h3>
<p><img src="cid:` + ChartContentID + `" alt="Sign-ins per day: succeeded in green, failed in red" width="720" height="240"></p>
<table cellpadding="3" style="border-collapse: collapse; font-size: 12px;">
<tr><th align="left">Day</th><th align="right">Succeeded</th><th align="right">Failed</th></tr>
{{range .SignIns.PerDay}}{{if or .Succeeded .Failed}}<tr><td>{{.Date}}</td><td align="right">{{.Succeeded}}</td><td align="right">{{.Failed}}</td></tr>
{{end}}{{end}}</table>
<p><b>IP addresses:</b> {{join .SignIns.IPAddresses ", "}}<br>
<b>Countries:</b> {{join .SignIns.Countries ", "}}<br>
<b>Applications:</b> {{join .SignIns.Applications ", "}}</p>
<h3>Risky sign-ins: {{len .SignIns.Risky}}</h3>
{{if .SignIns.Risky}}<table cellpadding="3" style="border-collapse: collapse; font-size: 12px;">
<tr><th align="left">Time</th><th align="left">IP address</th><th align="left">Country</th><th align="left">Application</th><th align="left">Risk level</th><th align="left">Risk state</th></tr>
{{range .SignIns.Risky}}<tr><td>{{ts .Time}}</td><td>{{.IPAddress}}</td><td>{{.Country}}</td><td>{{.App}}</td><td>{{.RiskLevel}}</td><td>{{.RiskState}}</td></tr>
{{end}}</table>{{end}}
<h3>Directory changes to the user: {{len .Audits}}</h3>
{{if .Audits}}<table cellpadding="3" style="border-collapse: collapse; font-size: 12px;">
<tr><th align="left">Time</th><th align="left">Activity</th><th align="left">Result</th><th align="left">Initiated by</th></tr>
{{range .Audits}}<tr><td>{{ts .Time}}</td><td>{{.Activity}}</td><td>{{.Result}}</td><td>{{.InitiatedBy}}</td></tr>
{{end}}</table>{{end}}
{{if .Truncated}}<p><b>The sign-in list was cut at the page limit: older entries are missing.</b></p>{{end}}
{{range .Warnings}}<p><b>Warning:</b> {{.}}</p>{{end}}
<p>The sign-ins are attached as CSV.</p>
</body></html>
`))
