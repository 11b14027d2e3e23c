package all

import _ "github.com/smartpt/smartpt/internal/vendors/cisco" // registers the Cisco Secure Endpoint client
