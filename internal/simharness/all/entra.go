package all

import _ "github.com/smartpt/smartpt/internal/vendors/entra/entrasim" // registers the Graph and login simulator
