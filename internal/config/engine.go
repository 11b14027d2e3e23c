package config

import (
	"fmt"
	"time"
)

// Engine tunes the action engine's timings. A zero value keeps the
// engine's default, given beside each field.
type Engine struct {
	// DispatchTimeout bounds one isolate, release, block or unblock vendor
	// call, retries included. Default 2m.
	DispatchTimeout time.Duration `yaml:"dispatch_timeout"`

	// ConfirmDeadline is how long a pending vendor action is polled before
	// it is recorded as expired. Default 15m.
	ConfirmDeadline time.Duration `yaml:"confirm_deadline"`

	// PollMin and PollMax bound the wait between two confirmation polls.
	// Defaults 2s and 1m.
	PollMin time.Duration `yaml:"poll_min"`
	PollMax time.Duration `yaml:"poll_max"`

	// SweepInterval is how often unfinished actions whose confirmation job
	// was lost (a killed process) are looked for; SweepSlack is how late an
	// action's check must be before it is resumed. Defaults 30s and 1m.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	SweepSlack    time.Duration `yaml:"sweep_slack"`

	// JobPollInterval is how often the confirmation workers look for due
	// jobs. Default 1s.
	JobPollInterval time.Duration `yaml:"job_poll_interval"`

	// LeaseSlack is added to DispatchTimeout to give how long a running
	// vendor call holds its action: an action left by a killed process is
	// settled once that lease ends. Default 30s.
	LeaseSlack time.Duration `yaml:"lease_slack"`
}

// engineEnv maps each SMARTPT_ENGINE_* variable to its field.
func (e *Engine) engineEnv() []struct {
	name    string
	setting string
	field   *time.Duration
} {
	return []struct {
		name    string
		setting string
		field   *time.Duration
	}{
		{"SMARTPT_ENGINE_DISPATCH_TIMEOUT", "engine.dispatch_timeout", &e.DispatchTimeout},
		{"SMARTPT_ENGINE_CONFIRM_DEADLINE", "engine.confirm_deadline", &e.ConfirmDeadline},
		{"SMARTPT_ENGINE_POLL_MIN", "engine.poll_min", &e.PollMin},
		{"SMARTPT_ENGINE_POLL_MAX", "engine.poll_max", &e.PollMax},
		{"SMARTPT_ENGINE_SWEEP_INTERVAL", "engine.sweep_interval", &e.SweepInterval},
		{"SMARTPT_ENGINE_SWEEP_SLACK", "engine.sweep_slack", &e.SweepSlack},
		{"SMARTPT_ENGINE_JOB_POLL_INTERVAL", "engine.job_poll_interval", &e.JobPollInterval},
		{"SMARTPT_ENGINE_LEASE_SLACK", "engine.lease_slack", &e.LeaseSlack},
	}
}

// applyEnv reads the SMARTPT_ENGINE_* variables: Go durations such as
// "500ms" or "2m".
func (e *Engine) applyEnv(getenv func(string) string) error {
	for _, v := range e.engineEnv() {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s %q is not a duration; write it as 500ms, 30s or 2m", v.name, s)
		}
		*v.field = d
	}
	return nil
}

// validate rejects negative durations and a PollMax below PollMin.
func (e Engine) validate() error {
	for _, v := range e.engineEnv() {
		if *v.field < 0 {
			return fmt.Errorf("%s %s is negative; use a positive duration, or 0 for the default", v.setting, *v.field)
		}
	}
	if e.PollMin > 0 && e.PollMax > 0 && e.PollMax < e.PollMin {
		return fmt.Errorf("engine.poll_max %s is below engine.poll_min %s", e.PollMax, e.PollMin)
	}
	return nil
}
