// Package report builds the user audit report from Microsoft Graph data:
// the numbers for the JSON summary, an HTML e-mail with a PNG chart of
// sign-ins per day, and a CSV of the sign-ins. It does no I/O.
package report

import "time"

// Profile is the account part of the report.
type Profile struct {
	ID                string     `json:"id"`
	UserPrincipalName string     `json:"userPrincipalName"`
	DisplayName       string     `json:"displayName,omitempty"`
	UserType          string     `json:"userType,omitempty"`
	AccountEnabled    bool       `json:"accountEnabled"`
	SessionsValidFrom *time.Time `json:"signInSessionsValidFromDateTime,omitempty"`
	LastSignIn        *time.Time `json:"lastSignInDateTime,omitempty"`
}

// SignIn is one entry of GET /auditLogs/signIns (Graph v1.0 signIn
// resource), with the properties the report uses.
type SignIn struct {
	ID                    string    `json:"id"`
	CreatedDateTime       time.Time `json:"createdDateTime"`
	UserPrincipalName     string    `json:"userPrincipalName"`
	AppDisplayName        string    `json:"appDisplayName"`
	IPAddress             string    `json:"ipAddress"`
	ClientAppUsed         string    `json:"clientAppUsed"`
	ConditionalAccess     string    `json:"conditionalAccessStatus"`
	IsInteractive         bool      `json:"isInteractive"`
	RiskDetail            string    `json:"riskDetail"`
	RiskLevelAggregated   string    `json:"riskLevelAggregated"`
	RiskLevelDuringSignIn string    `json:"riskLevelDuringSignIn"`
	RiskState             string    `json:"riskState"`
	Status                struct {
		ErrorCode     int     `json:"errorCode"`
		FailureReason *string `json:"failureReason"`
	} `json:"status"`
	DeviceDetail struct {
		OperatingSystem string `json:"operatingSystem"`
		Browser         string `json:"browser"`
	} `json:"deviceDetail"`
	Location struct {
		City            string `json:"city"`
		State           string `json:"state"`
		CountryOrRegion string `json:"countryOrRegion"`
	} `json:"location"`
}

// Succeeded reports whether the sign-in succeeded: status.errorCode 0.
func (s SignIn) Succeeded() bool { return s.Status.ErrorCode == 0 }

// Risky reports whether Identity Protection flagged the sign-in: a risk
// level during sign-in or a risk state other than none. "hidden" (no P2
// licence) and an empty value do not count.
func (s SignIn) Risky() bool {
	flagged := func(v string) bool { return v != "" && v != "none" && v != "hidden" }
	return flagged(s.RiskLevelDuringSignIn) || flagged(s.RiskState)
}

// DirectoryAudit is one entry of GET /auditLogs/directoryAudits (Graph v1.0
// directoryAudit resource).
type DirectoryAudit struct {
	ID                  string    `json:"id"`
	ActivityDateTime    time.Time `json:"activityDateTime"`
	ActivityDisplayName string    `json:"activityDisplayName"`
	Category            string    `json:"category"`
	Result              string    `json:"result"`
	ResultReason        string    `json:"resultReason"`
	LoggedByService     string    `json:"loggedByService"`
	InitiatedBy         struct {
		User *struct {
			UserPrincipalName string `json:"userPrincipalName"`
		} `json:"user"`
		App *struct {
			DisplayName string `json:"displayName"`
		} `json:"app"`
	} `json:"initiatedBy"`
}

// Initiator returns who performed the change: a user's UPN or an app name.
func (a DirectoryAudit) Initiator() string {
	if u := a.InitiatedBy.User; u != nil && u.UserPrincipalName != "" {
		return u.UserPrincipalName
	}
	if app := a.InitiatedBy.App; app != nil && app.DisplayName != "" {
		return app.DisplayName
	}
	return "unknown"
}

// Input is everything the report is built from.
type Input struct {
	Profile   Profile
	SignIns   []SignIn
	Audits    []DirectoryAudit
	From, To  time.Time // the period covered, UTC
	Truncated bool      // the page limit stopped paging before the end
	Warnings  []string
	ActionID  string
}
