package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// liveMem is the spawned host's memory right after a garbage collection:
// heap spans in use and goroutine stacks (the Go collector's
// go_memstats_heap_inuse_bytes and go_memstats_stack_inuse_bytes). Unlike
// RSS it does not count garbage the collector has not reached yet or freed
// pages the runtime has not returned, which depend on when the last GC ran.
type liveMem struct {
	heap, stacks int64
	ok           bool
}

// liveMemory forces a GC in the spawned host (its profiler's heap endpoint
// with gc=1) and reads its memory metrics; ok is false when the host was
// not spawned by this run or does not answer.
func (t *target) liveMemory(ctx context.Context) liveMem {
	if t.metricsAddr == "" || t.proc == nil {
		return liveMem{}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.metricsAddr+path, nil)
		if err != nil {
			return nil, err
		}
		return http.DefaultClient.Do(req)
	}
	resp, err := get("/debug/pprof/heap?gc=1")
	if err != nil {
		return liveMem{}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	resp, err = get("/metrics")
	if err != nil {
		return liveMem{}
	}
	defer resp.Body.Close()
	var m liveMem
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			dst = &m.heap
		case "go_memstats_stack_inuse_bytes":
			dst = &m.stacks
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return liveMem{}
		}
		*dst = int64(v)
		found++
	}
	m.ok = found == 2 && sc.Err() == nil
	return m
}

// perSession formats the growth from m to after per session, or "" when
// either reading is missing.
func (m liveMem) perSession(after liveMem, n int) string {
	if !m.ok || !after.ok || n == 0 {
		return ""
	}
	heap := float64(after.heap-m.heap) / float64(n) / 1024
	stacks := float64(after.stacks-m.stacks) / float64(n) / 1024
	return fmt.Sprintf("; after a GC: heap %.1f + stacks %.1f = %.1f KiB per session", heap, stacks, heap+stacks)
}
