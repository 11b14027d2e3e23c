//go:build windows

package main

// paths are the default file locations of a Wazuh agent installation.
type paths struct{ log, state, ossecConf, clientKeys string }

func defaultPaths() paths {
	const dir = `C:\Program Files (x86)\ossec-agent\`
	return paths{
		log:        dir + `active-response\active-responses.log`,
		state:      dir + `smartpt-isolation.json`,
		ossecConf:  dir + `ossec.conf`,
		clientKeys: dir + `client.keys`,
	}
}
