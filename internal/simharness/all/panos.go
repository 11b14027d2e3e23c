package all

import _ "github.com/smartpt/smartpt/internal/vendors/panos/panossim" // registers the PAN-OS simulator
