package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/targets.golden")

// fullGroups has every group checkTargets looks at, with values on both
// sides of each limit, some differences marked insignificant ("~") and some
// cells missing, so each check's met, missed, within-noise and not-measured
// outcomes show up.
func fullGroups() map[string]*group {
	groups := map[string]*group{}
	g := func(name string) *group {
		if groups[name] == nil {
			groups[name] = newGroup(name)
		}
		return groups[name]
	}
	for i, name := range []string{"GetString", "SetString", "Prediction"} {
		k := float64(i + 1)
		for j, row := range []string{"conc=seq", "conc=p8", "conc=p64"} {
			base := k * float64(60-20*j) * 1e-6
			set(g(name), row, "goredis", "sec/op", base, "")
			set(g(name), row, "goredis", "allocs/op", 8, "")
			set(g(name), row, "rueidis", "sec/op", base*0.9, "-10%")
			set(g(name), row, "rueidis", "allocs/op", 3, "")
			set(g(name), row, "libdirect", "sec/op", base*1.02, "~")
			set(g(name), row, "libdirect", "allocs/op", 11, "")
			lib, vs := base*(0.95+0.07*float64(i+j)), "~"
			if i+j == 3 {
				vs = "+16%"
			}
			set(g(name), row, "lib", "sec/op", lib, vs)
			set(g(name), row, "lib", "allocs/op", float64(10+i+j), "")
		}
	}
	groups["GetString"].data["conc=p64"]["lib"]["sec/op"] = cell{val: 30e-6, ci: "4%", vs: "~", have: true}
	for i, op := range []string{"get", "set", "prediction"} {
		row := "op=" + op
		set(g("Overhead"), row, "goredis", "sec/op", 2e-6, "")
		set(g("Overhead"), row, "goredis", "allocs/op", 6, "")
		set(g("Overhead"), row, "libdirect", "sec/op", 2.4e-6, "+20%")
		set(g("Overhead"), row, "libdirect", "allocs/op", 8, "")
		set(g("Overhead"), row, "lib", "sec/op", 2.5e-6+float64(i)*2e-6, "+25%")
		set(g("Overhead"), row, "lib", "allocs/op", float64(8+2*i), "")
	}
	set(g("Batch"), "keys=1000", "goredis", "sec/op", 1e-3, "")
	set(g("Batch"), "keys=1000", "lib", "sec/op", 1.12e-3, "~")
	set(g("Batch"), "keys=1000", "seq", "sec/op", 30e-3, "+2900%")
	set(g("Stampede"), "", "lib", "loads/op", 1, "")
	set(g("Stampede"), "", "lib", "max-loads", 1, "")
	for _, m := range []struct {
		row     string
		lib, gr float64
		vs      string
	}{{"pubs=1", 95000, 100000, "~"}, {"pubs=8", 80000, 100000, "+20%"}} {
		set(g("PubSub"), m.row, "goredis", "msgs/s", m.gr, "")
		set(g("PubSub"), m.row, "lib", "msgs/s", m.lib, "")
		set(g("PubSub"), m.row, "lib", "sec/op", 1/m.lib, m.vs)
	}
	for _, m := range []struct {
		row                      string
		raw, lib, rawA, libA     float64
		consumeRaw, consumeLib   float64
		consumeRow, consumeNoise string
	}{
		{"conc=seq", 100e-6, 108e-6, 9, 12, 10000, 9500, "batch=10", "~"},
		{"conc=p8", 20e-6, 25e-6, 9, 12, 50000, 40000, "batch=100", "+25%"},
	} {
		set(g("StreamAdd"), m.row, "goredis", "sec/op", m.raw, "")
		set(g("StreamAdd"), m.row, "lib", "sec/op", m.lib, "~")
		set(g("StreamAdd"), m.row, "goredis", "allocs/op", m.rawA, "")
		set(g("StreamAdd"), m.row, "lib", "allocs/op", m.libA, "")
		set(g("StreamConsume"), m.consumeRow, "goredis", "msgs/s", m.consumeRaw, "")
		set(g("StreamConsume"), m.consumeRow, "lib", "msgs/s", m.consumeLib, "")
		set(g("StreamConsume"), m.consumeRow, "lib", "sec/op", 1/m.consumeLib, m.consumeNoise)
	}
	set(g("Decode"), "ser=msgpack", "raw", cpuUnit, 10e-6, "")
	set(g("Decode"), "ser=msgpack", "checked", cpuUnit, 10.4e-6, "~")
	set(g("Decode"), "ser=msgpack", "raw", "sec/op", 12e-6, "")
	set(g("Decode"), "ser=msgpack", "checked", "sec/op", 12.9e-6, "~")
	set(g("Decode"), "ser=msgpack", "raw", "allocs/op", 28, "")
	set(g("Decode"), "ser=msgpack", "checked", "allocs/op", 28, "")
	set(g("Decode"), "ser=json", "raw", "sec/op", 30e-6, "")
	set(g("Decode"), "ser=json", "checked", "sec/op", 33e-6, "+10%")
	set(g("HashInput"), "input=vec256", "jsonsha256", "sec/op", 50e-6, "")
	set(g("HashInput"), "input=vec256", "jsonsha256", "allocs/op", 3, "")
	set(g("HashInput"), "input=vec256", "lib", "sec/op", 3e-6, "-94%")
	set(g("HashInput"), "input=vec256", "lib", "allocs/op", 1, "")
	set(g("HashInput"), "input=map20", "jsonsha256", "sec/op", 20e-6, "")
	set(g("HashInput"), "input=map20", "jsonsha256", "allocs/op", 40, "")
	set(g("HashInput"), "input=map20", "lib", "sec/op", 12e-6, "~")
	set(g("HashInput"), "input=map20", "lib", "allocs/op", 3, "")
	for _, m := range []struct {
		row            string
		lib, rue, allo float64
	}{
		{"read=string/conc=seq", 120e-9, 150e-9, 0},
		{"read=string/conc=p8", 160e-9, 400e-9, 0},
		{"read=prediction/conc=seq", 200e-9, 900e-9, 0},
		{"read=prediction/conc=p8", 200e-9, 300e-9, 1},
	} {
		set(g("NearCache"), m.row, "lib", "sec/op", m.lib, "~")
		set(g("NearCache"), m.row, "rueidis", "sec/op", m.rue, "")
		set(g("NearCache"), m.row, "lib", "allocs/op", m.allo, "")
	}
	set(g("NearCacheInvalidation"), "", "lib", "p50-ms", 0.4, "")
	set(g("NearCacheInvalidation"), "", "lib", "p99-ms", 3.2, "")
	return groups
}

// sparseGroups has the same groups with most measurements missing, for the
// "not measured" rows; Overhead has no network groups to compare with.
func sparseGroups() map[string]*group {
	groups := map[string]*group{}
	for _, name := range []string{"Overhead", "Batch", "Stampede", "PubSub", "StreamAdd", "StreamConsume", "Decode", "HashInput", "NearCache", "NearCacheInvalidation", "Prediction"} {
		groups[name] = newGroup(name)
	}
	set(groups["Prediction"], "conc=seq", "lib", "sec/op", 100e-6, "")
	set(groups["Overhead"], "op=get", "lib", "sec/op", 2e-6, "")
	set(groups["Batch"], "keys=1000", "lib", "sec/op", 1e-3, "")
	set(groups["Stampede"], "", "lib", "max-loads", 2, "")
	set(groups["PubSub"], "pubs=1", "lib", "msgs/s", 1000, "")
	set(groups["StreamAdd"], "conc=seq", "lib", "sec/op", 1e-4, "")
	set(groups["StreamConsume"], "batch=10", "goredis", "msgs/s", 0, "")
	set(groups["StreamConsume"], "batch=10", "lib", "msgs/s", 10, "")
	set(groups["Decode"], "ser=json", "checked", "sec/op", 1e-5, "")
	set(groups["HashInput"], "input=map20", "lib", "sec/op", 1e-5, "")
	set(groups["NearCache"], "read=string/conc=seq", "lib", "sec/op", 1e-7, "")
	set(groups["NearCacheInvalidation"], "", "lib", "p50-ms", 1, "")
	return groups
}

// TestTargetsGolden pins checkTargets' rows, their order and their text for
// every group, as writeTargets prints them; go test -update rewrites the
// golden file.
func TestTargetsGolden(t *testing.T) {
	var out bytes.Buffer
	for _, s := range []struct {
		name        string
		groups      map[string]*group
		stampedeMax float64
	}{
		{"all groups, stampede max-loads 1", fullGroups(), 1},
		{"all groups, stampede max-loads unknown", fullGroups(), -1},
		{"missing measurements", sparseGroups(), -1},
		{"no groups", map[string]*group{}, -1},
	} {
		fmt.Fprintf(&out, "## %s\n\n", s.name)
		writeTargets(&out, checkTargets(s.groups, s.stampedeMax))
		fmt.Fprintln(&out)
	}
	const path = "testdata/targets.golden"
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("checkTargets output differs from %s (go test -update rewrites it):\n%s", path, out.String())
	}
}

func TestOverlap(t *testing.T) {
	c := func(v float64, ci string) cell { return cell{val: v, ci: ci, have: true} }
	for _, tc := range []struct {
		a, b cell
		want bool
	}{
		{c(10, "10%"), c(12, "10%"), true},   // 11 ≥ 10.8
		{c(10, "5%"), c(12, "5%"), false},    // 10.5 < 11.4
		{c(12, "5%"), c(10, "5%"), false},    // either order
		{c(10, "∞"), c(30, "1%"), false},     // unknown interval
		{c(22, "147%"), c(13, "334%"), true}, // the seq case of a loaded run
	} {
		if got := overlap(tc.a, tc.b); got != tc.want {
			t.Errorf("overlap(%v±%s, %v±%s) = %v", tc.a.val, tc.a.ci, tc.b.val, tc.b.ci, got)
		}
	}
}
