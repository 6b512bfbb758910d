package main

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// libDirs are where the dynamic loader of a Debian amd64 system looks.
var libDirs = []string{"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib", "/usr/lib64", "/lib64"}

// sharedLibraries returns every file (and symlink on the way to it) the given
// ELF files need at run time inside root: their interpreter and DT_NEEDED
// libraries, recursively. Paths are absolute within root.
func sharedLibraries(root string, files []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(p string) { // p and the symlinks leading to it
		for i := 0; i < 16 && !seen[p]; i++ {
			seen[p] = true
			out = append(out, p)
			target, err := os.Readlink(filepath.Join(root, p))
			if err != nil {
				return
			}
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			p = resolveDirLinks(root, target)
		}
	}
	queue := append([]string(nil), files...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		f, err := elf.Open(filepath.Join(root, resolveAll(root, p)))
		if err != nil {
			return nil, fmt.Errorf("read ELF %s: %w", p, err)
		}
		needed, err := f.ImportedLibraries()
		interp := ""
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				buf := make([]byte, prog.Filesz)
				if _, rerr := prog.ReadAt(buf, 0); rerr == nil {
					interp = strings.TrimRight(string(buf), "\x00")
				}
			}
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read ELF %s: %w", p, err)
		}
		if interp != "" && !seen[interp] {
			add(resolveDirLinks(root, interp))
		}
		for _, lib := range needed {
			found := ""
			for _, d := range libDirs {
				cand := resolveDirLinks(root, path.Join(d, lib))
				if _, err := os.Stat(filepath.Join(root, resolveAll(root, cand))); err == nil {
					found = cand
					break
				}
			}
			if found == "" {
				return nil, fmt.Errorf("%s needs %s, which is not in %s", p, lib, root)
			}
			if !seen[found] {
				add(found)
				queue = append(queue, found)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// resolveDirLinks resolves symlinks among the parent directories of p inside
// root (e.g. /lib -> usr/lib on a merged-/usr system), keeping the last element.
func resolveDirLinks(root, p string) string {
	dir, base := path.Split(path.Clean(p))
	return path.Join(resolveAll(root, path.Clean(dir)), base)
}

// resolveAll resolves every symlink of p inside root.
func resolveAll(root, p string) string {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	cur := "/"
	links := 0
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			cur = next
			continue
		}
		if links++; links > 40 {
			return next // a symlink loop: give up resolving
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		rest := append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), parts[i+1:]...)
		parts, i, cur = rest, -1, "/"
	}
	return cur
}
