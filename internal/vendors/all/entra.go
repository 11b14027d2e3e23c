package all

import _ "github.com/smartpt/smartpt/internal/vendors/entra" // registers the Entra ID client
