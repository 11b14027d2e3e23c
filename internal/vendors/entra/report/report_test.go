package report

import (
	"bytes"
	"encoding/csv"
	"image/png"
	"strings"
	"testing"
	"time"
)

func signIn(at time.Time, ok bool, ip, country, app, risk string) SignIn {
	var s SignIn
	s.CreatedDateTime, s.IPAddress, s.Location.CountryOrRegion, s.AppDisplayName = at, ip, country, app
	s.RiskLevelDuringSignIn, s.RiskState = risk, "none"
	if !ok {
		s.Status.ErrorCode = 50126
	}
	return s
}

func TestSummarize(t *testing.T) {
	to := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	from := to.Add(-30 * 24 * time.Hour)
	in := Input{
		Profile: Profile{UserPrincipalName: "a@contoso.com"},
		From:    from, To: to,
		SignIns: []SignIn{
			signIn(to.Add(-time.Hour), true, "203.0.113.1", "US", "Teams", "none"),
			signIn(to.Add(-2*time.Hour), false, "203.0.113.2", "IL", "Teams", "high"),
			signIn(to.Add(-49*time.Hour), true, "203.0.113.1", "US", "Azure Portal", "hidden"),
			signIn(from.Add(-time.Hour), true, "198.51.100.1", "DE", "Old", "none"),
		},
	}

	s := Summarize(in)

	if s.SignIns.Total != 3 || s.SignIns.Succeeded != 2 || s.SignIns.Failed != 1 {
		t.Errorf("counts = %+v, want 3 total, 2 succeeded, 1 failed", s.SignIns)
	}
	if got := len(s.SignIns.PerDay); got != 31 {
		t.Errorf("days = %d, want 31", got)
	}
	last := s.SignIns.PerDay[len(s.SignIns.PerDay)-1]
	if last.Date != "2026-03-31" || last.Succeeded != 1 || last.Failed != 1 {
		t.Errorf("last day = %+v, want 2026-03-31 with 1 and 1", last)
	}
	if strings.Join(s.SignIns.IPAddresses, ",") != "203.0.113.1,203.0.113.2" {
		t.Errorf("IPs = %q", s.SignIns.IPAddresses)
	}
	if strings.Join(s.SignIns.Countries, ",") != "IL,US" {
		t.Errorf("countries = %q", s.SignIns.Countries)
	}
	if strings.Join(s.SignIns.Applications, ",") != "Azure Portal,Teams" {
		t.Errorf("applications = %q", s.SignIns.Applications)
	}
	if len(s.SignIns.Risky) != 1 || s.SignIns.Risky[0].RiskLevel != "high" {
		t.Errorf("risky = %+v, want the one high-risk sign-in", s.SignIns.Risky)
	}
}

func TestCSVNeutralizesFormulas(t *testing.T) {
	s := signIn(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true, "203.0.113.1", "US", "=HYPERLINK(\"x\")", "none")
	data, err := CSV([]SignIn{s})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[0]) != len(csvHeader) {
		t.Fatalf("rows = %d, columns = %d", len(rows), len(rows[0]))
	}
	if app := rows[1][8]; app != "'=HYPERLINK(\"x\")" {
		t.Errorf("application cell = %q, want a leading quote", app)
	}
}

func TestChartIsPNG(t *testing.T) {
	for _, days := range [][]DayCount{nil, {{Date: "2026-01-01"}}, {{Date: "a", Succeeded: 5, Failed: 2}, {Date: "b", Failed: 9}}} {
		data, err := Chart(days)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("decode chart: %v", err)
		}
		if b := img.Bounds(); b.Dx() != chartWidth || b.Dy() != chartHeight {
			t.Errorf("chart size = %v", b)
		}
	}
}

func TestBuildEscapesHTML(t *testing.T) {
	in := Input{Profile: Profile{UserPrincipalName: "a@contoso.com", DisplayName: "<script>alert(1)</script>"}, From: time.Now().Add(-time.Hour), To: time.Now()}

	_, msg, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.HTML, "<script>") {
		t.Errorf("HTML contains an unescaped display name")
	}
	if !strings.Contains(msg.HTML, "cid:"+ChartContentID) || msg.Inline[0].ContentID != ChartContentID {
		t.Errorf("HTML does not reference the inline chart")
	}
	if msg.Attachments[0].Name != "sign-ins-a@contoso.com.csv" {
		t.Errorf("attachment name = %q", msg.Attachments[0].Name)
	}
}
