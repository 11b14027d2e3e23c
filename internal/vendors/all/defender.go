package all

import _ "github.com/smartpt/smartpt/internal/vendors/defender" // registers the Defender for Endpoint client
