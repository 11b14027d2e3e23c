// Package attack drives a complete in-process SmartPT stack (SQLite store,
// action engine, API server and every registered vendor simulator) over
// real loopback HTTP with hostile requests: malformed and oversized bodies,
// path and query characters in identifiers, injection into vendor queries,
// slow clients, cross-company access, key guessing and secret leaks. The
// package holds tests only; this file carries its documentation.
package attack
