//go:build !windows

package main

// paths are the default file locations of a Wazuh agent installation.
type paths struct{ log, state, ossecConf, clientKeys string }

func defaultPaths() paths {
	return paths{
		log:        "/var/ossec/logs/active-responses.log",
		state:      "/var/ossec/var/smartpt-isolation.json",
		ossecConf:  "/var/ossec/etc/ossec.conf",
		clientKeys: "/var/ossec/etc/client.keys",
	}
}
