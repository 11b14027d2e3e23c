package all

import _ "github.com/smartpt/smartpt/internal/vendors/cortex" // registers the Cortex XDR client
