package all

import _ "github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim" // registers the Wazuh simulator
