package all

import _ "github.com/smartpt/smartpt/internal/vendors/defender/defendersim" // registers the Defender for Endpoint simulator
