package all

import _ "github.com/smartpt/smartpt/internal/vendors/wazuh" // registers the Wazuh client
