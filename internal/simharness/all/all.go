// Package all registers every vendor simulator. Each simulator adds one file
// here with a blank import of its package.
package all
