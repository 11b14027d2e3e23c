package all

import _ "github.com/smartpt/smartpt/internal/vendors/cortex/cortexsim" // registers the Cortex XDR simulator
