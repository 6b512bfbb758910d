package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// writeTree writes root/sub (sub "" = the whole tree) into tw, with paths
// relative to root. Owners are numeric, hard links are kept as links.
func writeTree(tw *tar.Writer, root, sub string, exclude []string) error {
	excluded := map[string]bool{}
	for _, e := range exclude {
		excluded[strings.Trim(path.Clean(e), "/")] = true
	}
	start := filepath.Join(root, sub)
	if sub != "" {
		// Parents of the subtree, so that it unpacks with their real modes.
		for _, parent := range parents(strings.Trim(path.Clean(sub), "/")) {
			if err := writeTreeEntry(tw, root, filepath.Join(root, parent), nil); err != nil {
				return err
			}
		}
	}
	links := map[uint64]string{} // inode -> first path, for hard links
	return filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if excluded[filepath.ToSlash(rel)] {
			if d.IsDir() {
				// Keep the directory itself (empty) but none of its content.
				if err := writeTreeEntry(tw, root, p, nil); err != nil {
					return err
				}
				return filepath.SkipDir
			}
			return nil
		}
		return writeTreeEntry(tw, root, p, links)
	})
}

func writeTreeEntry(tw *tar.Writer, root, p string, links map[uint64]string) error {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return err
	}
	rel = filepath.ToSlash(rel)
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	target := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if target, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	hdr.Name = rel
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = fi.ModTime(), fi.ModTime()
	hdr.Format = tar.FormatPAX
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && fi.Mode().IsRegular() && st.Nlink > 1 && links != nil {
		if first, seen := links[st.Ino]; seen {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return tw.WriteHeader(hdr)
		}
		links[st.Ino] = rel
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}
