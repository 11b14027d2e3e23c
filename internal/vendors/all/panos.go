package all

import _ "github.com/smartpt/smartpt/internal/vendors/panos" // registers the PAN-OS client
