//go:build !unix

package server

import "io/fs"

// owner returns 0, 0: file ownership is a Unix notion (the probe runs on
// Linux; this file only lets the package build elsewhere).
func owner(fs.FileInfo) (uid, gid uint32) {
	return 0, 0
}

func inode(fs.FileInfo) uint64 { return 0 }
