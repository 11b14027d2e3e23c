package action

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/smartpt/smartpt/internal/store"
)

// IdempotencyWindow is how long an Idempotency-Key is remembered.
const IdempotencyWindow = 24 * time.Hour

// requestHash identifies what a request asks for, so that a key reused for
// another request is detected. The requester and request id are left out:
// a retry by a client may change them.
func requestHash(req Request) string {
	b, _ := json.Marshal([]string{string(req.Service), string(req.Action), req.Target, req.Comment, req.IsolationType, req.UnlockCode, fmt.Sprint(req.DryRun)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// executeIdempotent runs req once per company and key: a repeat of the same
// request within IdempotencyWindow gets the first successful result (without
// an unlock code, which is returned once), a repeat while the first runs
// gets its action id, and the same key with another request gets 422. A
// failed first attempt releases the key, so the client may retry with it.
func (e *Engine) executeIdempotent(ctx context.Context, req Request) (*Result, error) {
	hash := requestHash(req)
	now := time.Now().UTC()

	claimed := false
	var storedHash, response, actionID string
	err := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var created int64
		err := tx.QueryRowContext(ctx, e.db.Rebind("SELECT request_hash, response, action_id, created_at FROM idempotency_keys WHERE company_id = ? AND idem_key = ?"+e.db.ForUpdate()),
			req.CompanyID, req.IdempotencyKey).Scan(&storedHash, &response, &actionID, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case now.Sub(store.TimeFromUnixNanos(created)) < IdempotencyWindow:
			return nil
		default:
			if _, err := tx.ExecContext(ctx, e.db.Rebind("DELETE FROM idempotency_keys WHERE company_id = ? AND idem_key = ?"), req.CompanyID, req.IdempotencyKey); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, e.db.Rebind("INSERT INTO idempotency_keys (company_id, idem_key, request_hash, created_at) VALUES (?, ?, ?, ?)"),
			req.CompanyID, req.IdempotencyKey, hash, store.UnixNanos(now))
		claimed = err == nil
		return err
	})
	if store.IsUniqueViolation(err) {
		return nil, &Error{Status: http.StatusConflict, Message: "Conflict: a request with this Idempotency-Key is being processed; retry shortly"}
	}
	if err != nil {
		return nil, internalError(req.Action, err)
	}

	if !claimed {
		if storedHash != hash {
			return nil, &Error{Status: http.StatusUnprocessableEntity, Message: "Unprocessable Entity: this Idempotency-Key was used for a different request in the last 24 hours; use a new key for a new request"}
		}
		if response == "" {
			if actionID == "" {
				return nil, &Error{Status: http.StatusConflict, Message: "Conflict: a request with this Idempotency-Key is being processed; retry shortly"}
			}
			return &Result{ActionID: actionID, State: Requested, Deduplicated: true}, nil
		}
		var res Result
		if err := json.Unmarshal([]byte(response), &res); err != nil {
			return nil, internalError(req.Action, err)
		}
		res.Deduplicated = true
		return &res, nil
	}

	res, runErr := e.execute(ctx, req)
	bg := context.WithoutCancel(ctx)
	if runErr != nil {
		if _, err := e.db.SQL.ExecContext(bg, e.db.Rebind("DELETE FROM idempotency_keys WHERE company_id = ? AND idem_key = ?"), req.CompanyID, req.IdempotencyKey); err != nil {
			e.log.Error("cannot release an idempotency key", "company", req.CompanyID, "error", err)
		}
		return nil, runErr
	}
	stored := *res
	stored.UnlockCode = ""
	data, _ := json.Marshal(stored)
	if _, err := e.db.SQL.ExecContext(bg, e.db.Rebind("UPDATE idempotency_keys SET response = ?, action_id = ? WHERE company_id = ? AND idem_key = ?"),
		string(data), res.ActionID, req.CompanyID, req.IdempotencyKey); err != nil {
		e.log.Error("cannot store an idempotent result", "company", req.CompanyID, "action_id", res.ActionID, "error", err)
	}
	return res, nil
}
