package main

import (
	_ "github.com/smartpt/smartpt/internal/simharness/all" // registers every vendor simulator, for the demo
	_ "github.com/smartpt/smartpt/internal/vendors/all"    // registers every vendor client
)
