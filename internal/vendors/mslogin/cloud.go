// Package mslogin contains what the Microsoft connectors share: the national
// cloud host presets, the client-credentials token request against the
// Microsoft identity platform, the JSON error envelope of Graph and the
// Defender for Endpoint API, and OData string quoting.
package mslogin

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

// Cloud is one Microsoft cloud: the login host and the API hosts with the
// scope each API's tokens are requested for.
type Cloud struct {
	Login         string // Microsoft identity platform, for example https://login.microsoftonline.com
	Graph         string // Microsoft Graph, without the version segment
	GraphScope    string
	Defender      string // Defender for Endpoint API, without the /api segment
	DefenderScope string
}

// Clouds are the presets for the "cloud" setting. Sources: Microsoft Learn,
// "Microsoft Defender for Endpoint for US Government customers" (API table:
// GCC keeps the commercial login with api-gcc.securitycenter.microsoft.us,
// while GCC High and DoD use login.microsoftonline.us with
// api-gov.securitycenter.microsoft.us) and "Microsoft Graph national cloud
// deployments" (graph.microsoft.us for US Government L4).
var Clouds = map[string]Cloud{
	"global": {
		Login:         "https://login.microsoftonline.com",
		Graph:         "https://graph.microsoft.com",
		GraphScope:    "https://graph.microsoft.com/.default",
		Defender:      "https://api.security.microsoft.com",
		DefenderScope: "https://api.securitycenter.microsoft.com/.default",
	},
	"gcc": {
		Login:         "https://login.microsoftonline.com",
		Graph:         "https://graph.microsoft.com",
		GraphScope:    "https://graph.microsoft.com/.default",
		Defender:      "https://api-gcc.securitycenter.microsoft.us",
		DefenderScope: "https://api-gcc.securitycenter.microsoft.us/.default",
	},
	"usgov": {
		Login:         "https://login.microsoftonline.us",
		Graph:         "https://graph.microsoft.us",
		GraphScope:    "https://graph.microsoft.us/.default",
		Defender:      "https://api-gov.securitycenter.microsoft.us",
		DefenderScope: "https://api-gov.securitycenter.microsoft.us/.default",
	},
}

// DefenderRegions are the regional Defender for Endpoint API hosts of the
// global cloud, for the "region" setting. Source: Microsoft Learn, "Use
// Microsoft Defender for Endpoint APIs" (tip: use a server closer to your
// geolocation).
var DefenderRegions = map[string]string{
	"us":  "https://us.api.security.microsoft.com",
	"eu":  "https://eu.api.security.microsoft.com",
	"uk":  "https://uk.api.security.microsoft.com",
	"au":  "https://au.api.security.microsoft.com",
	"swa": "https://swa.api.security.microsoft.com",
	"ina": "https://ina.api.security.microsoft.com",
	"aea": "https://aea.api.security.microsoft.com",
}

// LookupCloud returns the preset named name. An empty name means "global".
func LookupCloud(name string) (Cloud, error) {
	if name == "" {
		name = "global"
	}
	c, ok := Clouds[strings.ToLower(name)]
	if !ok {
		return Cloud{}, fmt.Errorf("unknown cloud %q: use one of %s", name, strings.Join(sortedKeys(Clouds), ", "))
	}
	return c, nil
}

// LookupRegion returns the Defender API host of a region of the global
// cloud.
func LookupRegion(name string) (string, error) {
	host, ok := DefenderRegions[strings.ToLower(name)]
	if !ok {
		return "", fmt.Errorf("unknown Defender region %q: use one of %s", name, strings.Join(sortedKeys(DefenderRegions), ", "))
	}
	return host, nil
}

// BaseURL checks an override URL from the settings and returns it without
// a trailing slash. Only https is accepted, except for loopback hosts, which
// the simulators use.
func BaseURL(setting, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%s %q is not an absolute URL: use https://host[/path]", setting, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%s %q must not carry a query, fragment or user info", setting, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return "", fmt.Errorf("%s %q uses plain http: use https (http is accepted for loopback hosts only)", setting, raw)
		}
	default:
		return "", fmt.Errorf("%s %q has scheme %q: use https", setting, raw, u.Scheme)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
