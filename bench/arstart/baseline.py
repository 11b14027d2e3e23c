#!/usr/bin/env python3
"""Baseline for bench/arstart: a Wazuh Active Response script in Python 3
that does what `smartpt-wazuh ar` does, with the standard library only.

It reads one execd message line from stdin, prints check_keys with the agent
id and action, waits for continue or abort, POSTs the action to the SmartPT
API with urllib, and appends one JSON line to the log file. The config file is the same YAML file (keys url,
company_key, requester), read line by line because the standard library has
no YAML parser.

Usage: baseline.py --config FILE --log FILE ACTION
"""

import datetime
import json
import sys
import urllib.request


def read_config(path):
    config = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.partition(":")
            if sep and not line.startswith("#"):
                config[key.strip()] = value.strip().strip("'\"")
    return config


def main():
    args = sys.argv[1:]
    if len(args) != 5 or args[0] != "--config" or args[2] != "--log":
        print("usage: baseline.py --config FILE --log FILE ACTION", file=sys.stderr)
        return 2
    config = read_config(args[1])
    log_path = args[3]
    action = args[4]

    message = json.loads(sys.stdin.readline())
    alert = message["parameters"]["alert"]
    agent_id = alert["agent"]["id"]

    check_keys = {
        "version": 1,
        "origin": {"name": "baseline", "module": "active-response"},
        "command": "check_keys",
        "parameters": {"keys": [agent_id, action]},
    }
    sys.stdout.write(json.dumps(check_keys) + "\n")
    sys.stdout.flush()

    reply = json.loads(sys.stdin.readline())
    if reply.get("command") != "continue":
        return 0

    body = json.dumps({"action": action, "Email": config["requester"], "agent_id": agent_id}).encode()
    request = urllib.request.Request(
        config["url"].rstrip("/") + "/wazuh/agents",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "x-sha256": config["company_key"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        status = response.status

    entry = {
        "program": "baseline",
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "agent_id": agent_id,
        "action": action,
        "result": "success" if status == 200 else "failure",
    }
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
