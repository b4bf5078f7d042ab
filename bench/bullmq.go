package main

import (
	"context"
	"errors"
)

var errTODO = errors.New("todo")

type bullmqPeer struct{}

func prepareBullMQ(ctx context.Context, e *env) (func(), error) { return nil, errTODO }

func bullmqMeasure(scenario string, n func(*env) int) measureFunc { return nil }

var bullmqMemory measureFunc
