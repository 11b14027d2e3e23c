package vendor

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// Setting describes one configuration value of an integration kind.
type Setting struct {
	Name     string // key in Config.Settings or Config.Secrets
	Secret   bool   // stored sealed or as a secret reference, never shown
	Required bool
	Help     string // one line for the CLI: what it sets and in what unit
}

// Config is one company's integration, with secrets already resolved.
type Config struct {
	CompanyID string
	Service   Service
	Kind      Kind
	Settings  map[string]string
	Secrets   map[string]string
}

// Deps are the shared facilities a client is built with.
type Deps struct {
	// HTTP builds the vendor HTTP client (timeouts, retries, rate budget)
	// for this company and integration.
	HTTP   *vendorhttp.Pool
	Logger *slog.Logger
}

// Factory builds clients of one Kind. Exactly one of NewContainment and
// NewDirectory is set.
type Factory struct {
	Kind     Kind
	Services []Service // the routes this kind may serve
	Settings []Setting

	NewContainment func(cfg Config, deps Deps) (Containment, error)
	NewDirectory   func(cfg Config, deps Deps) (Directory, error)

	// Check performs the vendor's cheapest authenticated read, for
	// "smartpt integration test".
	Check func(cfg Config, deps Deps) error

	// Validate, when set, checks at save time what the Required flags
	// cannot express, such as "one of two credentials". Secrets may still
	// be references (env:NAME, file:PATH, ...), so it checks presence, not
	// their values.
	Validate func(settings, secrets map[string]string) error
}

var (
	registryMu sync.RWMutex
	registry   = map[Kind]Factory{}
)

// Register adds a factory, with RateSettings appended to its Settings. It
// panics on a duplicate kind, because two packages claiming one kind is a
// programming error found at start.
func Register(f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()

	if _, dup := registry[f.Kind]; dup {
		panic(fmt.Sprintf("vendor: kind %q registered twice", f.Kind))
	}
	f.Settings = withRateSettings(f.Settings)
	registry[f.Kind] = f
}

// Lookup returns the factory for kind.
func Lookup(kind Kind) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()

	f, ok := registry[kind]
	return f, ok
}

// Kinds returns the registered kinds, sorted.
func Kinds() []Kind {
	registryMu.RLock()
	defer registryMu.RUnlock()

	kinds := make([]Kind, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	return kinds
}

// ServiceKinds lists the kinds that may serve each service.
var ServiceKinds = map[Service][]Kind{
	ServiceAzureAD:  {KindEntra},
	ServiceDefender: {KindDefender},
	ServiceWazuh:    {KindWazuh},
	ServiceCisco:    {KindCisco},
	ServiceCortex:   {KindCortex},
	ServicePaloAlto: {KindCortex, KindPANOS},
}

// Routes maps each public route to its service.
var Routes = map[string]Service{
	"/azuread/users":      ServiceAzureAD,
	"/wazuh/agents":       ServiceWazuh,
	"/paloalto/endpoints": ServicePaloAlto,
	"/cisco/computers":    ServiceCisco,
	"/cortex/endpoints":   ServiceCortex,
	"/defender/machines":  ServiceDefender,
}
