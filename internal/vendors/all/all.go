// Package all registers every vendor client. Each vendor adds one file here
// with a blank import of its package.
package all
