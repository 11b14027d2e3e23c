package all

import _ "github.com/smartpt/smartpt/internal/vendors/cisco/ciscosim" // registers the Cisco Secure Endpoint simulator
