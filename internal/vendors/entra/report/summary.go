package report

import (
	"sort"
	"time"
)

// Summary is the JSON summary of a report, returned in the API response.
type Summary struct {
	User      Profile       `json:"user"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	SignIns   SignInSummary `json:"sign_ins"`
	Audits    []AuditLine   `json:"directory_audits"`
	Truncated bool          `json:"truncated"`
	Warnings  []string      `json:"warnings,omitempty"`
}

// SignInSummary counts the sign-ins of the period.
type SignInSummary struct {
	Total        int         `json:"total"`
	Succeeded    int         `json:"succeeded"`
	Failed       int         `json:"failed"`
	PerDay       []DayCount  `json:"per_day"`
	IPAddresses  []string    `json:"ip_addresses"`
	Countries    []string    `json:"countries"`
	Applications []string    `json:"applications"`
	Risky        []RiskyLine `json:"risky"`
}

// DayCount is the number of sign-ins on one UTC day.
type DayCount struct {
	Date      string `json:"date"` // YYYY-MM-DD
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
}

// RiskyLine is one sign-in flagged by Identity Protection.
type RiskyLine struct {
	Time      time.Time `json:"time"`
	IPAddress string    `json:"ip_address"`
	Country   string    `json:"country,omitempty"`
	App       string    `json:"application,omitempty"`
	RiskLevel string    `json:"risk_level"`
	RiskState string    `json:"risk_state"`
}

// AuditLine is one directory change that targeted the user.
type AuditLine struct {
	Time        time.Time `json:"time"`
	Activity    string    `json:"activity"`
	Result      string    `json:"result"`
	InitiatedBy string    `json:"initiated_by"`
}

// Summarize computes the summary. Every day of the period appears in
// PerDay, with zeros when the user did not sign in. Sign-ins outside the
// period are ignored.
func Summarize(in Input) Summary {
	s := Summary{User: in.Profile, From: in.From.UTC(), To: in.To.UTC(), Truncated: in.Truncated, Warnings: in.Warnings}

	days := map[string]*DayCount{}
	for d := truncateDay(s.From); !d.After(s.To); d = d.AddDate(0, 0, 1) {
		key := d.Format(time.DateOnly)
		days[key] = &DayCount{Date: key}
		s.SignIns.PerDay = append(s.SignIns.PerDay, DayCount{Date: key})
	}

	ips, countries, apps := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, si := range in.SignIns {
		t := si.CreatedDateTime.UTC()
		if t.Before(s.From) || t.After(s.To) {
			continue
		}
		s.SignIns.Total++
		day := days[t.Format(time.DateOnly)]
		if si.Succeeded() {
			s.SignIns.Succeeded++
			if day != nil {
				day.Succeeded++
			}
		} else {
			s.SignIns.Failed++
			if day != nil {
				day.Failed++
			}
		}
		addNonEmpty(ips, si.IPAddress)
		addNonEmpty(countries, si.Location.CountryOrRegion)
		addNonEmpty(apps, si.AppDisplayName)
		if si.Risky() {
			s.SignIns.Risky = append(s.SignIns.Risky, RiskyLine{
				Time: t, IPAddress: si.IPAddress, Country: si.Location.CountryOrRegion, App: si.AppDisplayName,
				RiskLevel: si.RiskLevelDuringSignIn, RiskState: si.RiskState,
			})
		}
	}
	for i := range s.SignIns.PerDay {
		s.SignIns.PerDay[i] = *days[s.SignIns.PerDay[i].Date]
	}
	s.SignIns.IPAddresses = sortedSet(ips)
	s.SignIns.Countries = sortedSet(countries)
	s.SignIns.Applications = sortedSet(apps)
	sort.Slice(s.SignIns.Risky, func(i, j int) bool { return s.SignIns.Risky[i].Time.After(s.SignIns.Risky[j].Time) })

	s.Audits = []AuditLine{}
	for _, a := range in.Audits {
		s.Audits = append(s.Audits, AuditLine{Time: a.ActivityDateTime.UTC(), Activity: a.ActivityDisplayName, Result: a.Result, InitiatedBy: a.Initiator()})
	}
	sort.Slice(s.Audits, func(i, j int) bool { return s.Audits[i].Time.After(s.Audits[j].Time) })
	if s.SignIns.Risky == nil {
		s.SignIns.Risky = []RiskyLine{}
	}
	return s
}

func truncateDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func addNonEmpty(set map[string]bool, v string) {
	if v != "" {
		set[v] = true
	}
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
